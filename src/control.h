/*
 * control.h - the agent's control socket: HTTP/1.1 with JSON bodies over a
 * unix socket (default /run/gputel/control.sock, mode 0660, group JN_GROUP).
 *
 * libmicrohttpd runs inside the agent's own loop (no thread of its own):
 * control_fd() is an epoll descriptor for the loop to watch, and
 * control_run() serves whatever is ready.  So requests are handled on the
 * loop's thread, between ticks, and touch the allocation table without
 * locks.
 *
 * Requests that change state are answered only after the change is saved.
 * They are held (suspended) while control_run() serves every request that
 * is ready, then the owner's commit() saves once for all of them, and then
 * they are answered: one fsync covers many clients.
 *
 * A request can also wait for something the loop will bring (a fresh
 * sample to measure an allocation on): handle() sets reply.defer, the
 * request is held, and control_resume_deferred() runs handle() again for
 * every held one, with reply.resumed set.  Nothing blocks meanwhile.
 *
 * GET /v1/events streams newline-delimited JSON events as they are
 * published (control_publish); a client that falls more than
 * CONTROL_EVENT_BACKLOG events behind skips the oldest ones.
 *
 * Request bodies are bounded (CONTROL_BODY_MAX, else 413), and so are the
 * headers, the number of connections and their idle time.
 */
#ifndef GPUTEL_CONTROL_H
#define GPUTEL_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#define CONTROL_BODY_MAX (64 * 1024)
#define CONTROL_EVENT_BACKLOG 1024
#define CONTROL_STREAMS_MAX 64

struct control;

/* The answer to one request; body is malloc()ed JSON that control frees. */
struct control_reply {
	unsigned int status;
	char *body;
	size_t len;
	const char *allow;       /* for 405: the Allow header */
	bool commit;             /* changed state: answer once commit() has saved it */
	bool defer;              /* waits: handle() runs again at control_resume_deferred() */
	bool resumed;            /* set by control on that second run */
};

/* Fills r with status and {"error": msg} (msg escaped); r->body is replaced. */
void control_error(struct control_reply *r, unsigned int status, const char *msg);

struct control_ops {
	/*
	 * Answers a request.  path is the URL path; body is NUL-terminated.
	 * GET /v1/events is handled by control itself.
	 */
	void (*handle)(void *ctx, const char *method, const char *path, const char *body,
		       size_t len, struct control_reply *r);
	/*
	 * Saves what the requests since the last commit changed.  Returns 0,
	 * or -1 with err set (those requests are then answered 500 with err).
	 */
	int (*commit)(void *ctx, char *err, size_t errlen);
	void *ctx;
};

struct control_options {
	const char *path;        /* the socket's path */
	unsigned int mode;       /* e.g. 0660 */
	const char *group;       /* group name for the socket; NULL or "": the process's */
	const char *library;     /* libmicrohttpd; NULL: the default */
};

/*
 * Creates the socket and starts serving.  Returns 0, or -1 with err set to
 * one line naming the problem and the fix (missing directory, another
 * agent on the socket, unknown group).
 */
int control_start(struct control **out, const struct control_options *opt,
		  const struct control_ops *ops, char *err, size_t errlen);

/* The descriptor the loop watches for readability. */
int control_fd(const struct control *c);

/* Serves what is ready; call when control_fd() is readable and on every tick (timeouts). */
void control_run(struct control *c);

/* True while a request waits for control_resume_deferred(). */
bool control_has_deferred(const struct control *c);

/*
 * Runs handle() again for every deferred request (reply.resumed set), then
 * commits and answers them as usual.
 */
void control_resume_deferred(struct control *c);

/* Sends one event (a JSON object, without newline) to every /v1/events stream. */
void control_publish(struct control *c, const char *json, size_t len);

/* Requests served so far. */
unsigned long long control_requests(const struct control *c);

/* Stops serving, closes every connection and removes the socket file. */
void control_stop(struct control *c);

#endif
