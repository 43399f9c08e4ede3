/* control.c - see control.h. */
#include "control.h"

#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdlimit.h"
#include "log.h"
#include "mhd.h"
#include "outbuf.h"
#include "util.h"

/*
 * Connections at once: at most CONNECTION_LIMIT and a quarter of the open
 * files the limit leaves beyond the reserve (the exporter takes half), so
 * that clients of the socket cannot take the agent's descriptors for files.
 */
#define CONNECTION_LIMIT 1024
#define CONNECTION_SHARE_PCT 25
#define CONNECTION_TIMEOUT_S 10
#define CONNECTION_MEMORY (32 * 1024)   /* bounds a request's headers */
#define STREAM_BLOCK 4096
/* Bounds one control_run(): the loop's other work is never starved. */
#define CONTROL_ROUNDS_MAX 64

/* One request, from its first header to its completion. */
struct creq {
	struct control *c;
	struct MHD_Connection *conn;
	char *body;
	size_t len;
	bool headers_seen;        /* handle() has had its first, headers-only call */
	bool nul_in_target;       /* the request target holds %00 */
	bool too_big;
	bool handled;             /* ops.handle ran: never twice for one request */
	bool answered;            /* the reply below is ready to be queued */
	struct control_reply reply;
	struct creq *next;        /* in c->pending, c->deferred or c->waiting */
	bool listed;
	char method[16];          /* kept for a deferred request's second run */
	char *url;
	/* GET /v1/events */
	bool stream;
	uint64_t cursor;          /* the next event to send */
	size_t offset;            /* bytes of that event already sent */
};

struct control {
	struct MHD_Daemon *daemon;
	bool loaded;
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_ops ops;
	struct creq *pending;     /* suspended until the next commit */
	struct creq *deferred;    /* suspended until control_resume_deferred() */
	struct creq *waiting;     /* streams suspended until the next event */
	unsigned int streams;
	bool stopping;
	unsigned long long requests;
	/* The last CONTROL_EVENT_BACKLOG events, event k at k % backlog. */
	uint64_t next_seq;
	char *event[CONTROL_EVENT_BACKLOG];
	size_t event_len[CONTROL_EVENT_BACKLOG];
};

static const char json_type[] = "application/json";

static void unlist(struct creq **head, struct creq *q)
{
	for (struct creq **p = head; *p; p = &(*p)->next)
		if (*p == q) {
			*p = q->next;
			q->next = NULL;
			q->listed = false;
			return;
		}
}

static void push(struct creq **head, struct creq *q)
{
	q->next = *head;
	*head = q;
	q->listed = true;
}

void control_error(struct control_reply *r, unsigned int status, const char *msg)
{
	size_t cap = 6 * strlen(msg) + 32;
	struct outbuf o = { malloc(cap), 0, cap, false };

	r->status = status;
	r->commit = false;
	free(r->body);
	r->body = o.p;
	r->len = 0;
	if (!o.p)
		return;
	ob_puts(&o, "{\"error\": ");
	ob_put_json_str(&o, msg);
	ob_puts(&o, "}\n");
	r->len = o.len;
}

static enum MHD_Result queue(struct MHD_Connection *conn, const struct control_reply *r)
{
	struct MHD_Response *resp = mhd.response_from_buffer(r->len, r->body ? r->body : (void *)"",
							     MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	mhd.add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, json_type);
	if (r->allow)
		mhd.add_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	ret = mhd.queue_response(conn, r->status, resp);
	mhd.destroy_response(resp);
	return ret;
}

/* ---- /v1/events ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct creq *q = cls;
	struct control *c = q->c;
	size_t n = 0;

	(void)pos;
	if (c->stopping)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* Fallen behind the backlog: skip to the oldest event still held. */
	if (c->next_seq > CONTROL_EVENT_BACKLOG && q->cursor < c->next_seq - CONTROL_EVENT_BACKLOG) {
		q->cursor = c->next_seq - CONTROL_EVENT_BACKLOG;
		q->offset = 0;
	}
	while (q->cursor < c->next_seq && n < max) {
		size_t k = (size_t)(q->cursor % CONTROL_EVENT_BACKLOG);
		size_t left = c->event_len[k] - q->offset;
		size_t take = left < max - n ? left : max - n;

		memcpy(buf + n, c->event[k] + q->offset, take);
		n += take;
		q->offset += take;
		if (q->offset == c->event_len[k]) {
			q->cursor++;
			q->offset = 0;
		}
	}
	if (n > 0)
		return (ssize_t)n;
	/* Nothing to send: sleep until control_publish() wakes the stream. */
	mhd.suspend_connection(q->conn);
	push(&c->waiting, q);
	return 0;
}

static enum MHD_Result start_stream(struct control *c, struct creq *q)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (c->streams >= CONTROL_STREAMS_MAX) {
		control_error(&q->reply, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "too many event streams; close one of them first");
		return queue(q->conn, &q->reply);
	}
	resp = mhd.response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, q, NULL);
	if (!resp)
		return MHD_NO;
	mhd.add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
	q->stream = true;
	q->cursor = c->next_seq;
	c->streams++;
	ret = mhd.queue_response(q->conn, MHD_HTTP_OK, resp);
	mhd.destroy_response(resp);
	return ret;
}

void control_publish(struct control *c, const char *json, size_t len)
{
	size_t k;
	char *line;

	if (!c)
		return;
	line = malloc(len + 1);
	if (!line)
		return;
	memcpy(line, json, len);
	line[len] = '\n';
	k = (size_t)(c->next_seq % CONTROL_EVENT_BACKLOG);
	free(c->event[k]);
	c->event[k] = line;
	c->event_len[k] = len + 1;
	c->next_seq++;
	/*
	 * Woken streams are served by the next control_run(): this may be
	 * called from inside a request handler, where MHD_run must not recurse.
	 */
	while (c->waiting) {
		struct creq *q = c->waiting;

		unlist(&c->waiting, q);
		mhd.resume_connection(q->conn);
	}
}

/* ---- requests ---- */

static bool commit_pending(struct control *c);

/*
 * A handled request's reply: held for the next commit when it changed
 * state (true), else marked ready to queue (false).  suspended: its
 * connection is already held (a deferred request).
 */
static bool settle(struct control *c, struct creq *q, bool suspended)
{
	if (!q->reply.body && q->reply.status != MHD_HTTP_NO_CONTENT)
		control_error(&q->reply, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	if (q->reply.commit) {
		/* Answered after the next commit, which covers every request ready now. */
		if (!suspended)
			mhd.suspend_connection(q->conn);
		push(&c->pending, q);
		return true;
	}
	q->answered = true;
	return false;
}

/*
 * Called with the request target as sent, before libmicrohttpd decodes
 * it: a %00 decodes to a NUL that would end the path early (DELETE of
 * "job%00x" would end "job"), so it is looked for here, the one place it
 * can be seen.  The request's record starts here and is freed by
 * completed(), as libmicrohttpd documents for this callback.
 */
static void *begin_request(void *cls, const char *target, struct MHD_Connection *conn)
{
	struct creq *q = calloc(1, sizeof *q);

	if (!q)
		return NULL;
	q->c = cls;
	q->conn = conn;
	for (const char *p = target; p && (p = strchr(p, '%')) != NULL; p++)
		if (p[1] == '0' && p[2] == '0')
			q->nul_in_target = true;
	return q;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct control *c = cls;
	struct creq *q = *con_cls;

	(void)version;
	if (!q)
		return MHD_NO;   /* begin_request() found no memory for it */
	if (!q->headers_seen) {
		/* First call: headers only.  Refuse an announced oversized body at once. */
		const char *cl = mhd.lookup_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

		q->headers_seen = true;
		c->requests++;
		if (cl && strtoull(cl, NULL, 10) > CONTROL_BODY_MAX)
			q->too_big = true;
		return MHD_YES;
	}
	if (q->answered)
		return queue(conn, &q->reply);   /* resumed after a commit */
	/*
	 * libmicrohttpd may call again in the same round, before the suspension
	 * takes effect: the request is already held for the commit.
	 */
	if (q->handled)
		return MHD_YES;
	if (*upload_size) {
		if (!q->too_big && q->len + *upload_size <= CONTROL_BODY_MAX) {
			char *b = realloc(q->body, q->len + *upload_size + 1);

			if (!b)
				return MHD_NO;
			q->body = b;
			memcpy(q->body + q->len, upload, *upload_size);
			q->len += *upload_size;
			q->body[q->len] = '\0';
		} else {
			q->too_big = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->too_big) {
		char msg[96];

		str_fmt(msg, sizeof msg, "the body is larger than %d bytes; send less", CONTROL_BODY_MAX);
		control_error(&q->reply, MHD_HTTP_CONTENT_TOO_LARGE, msg);
		return queue(conn, &q->reply);
	}
	if (q->nul_in_target) {
		control_error(&q->reply, MHD_HTTP_BAD_REQUEST,
			      "the path holds %00, a NUL byte; no id or path contains one");
		return queue(conn, &q->reply);
	}
	if (strcmp(url, "/v1/events") == 0) {
		if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
			return start_stream(c, q);
		control_error(&q->reply, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET on /v1/events");
		q->reply.allow = "GET";
		return queue(conn, &q->reply);
	}
	q->handled = true;
	str_copy(q->method, method, sizeof q->method);
	q->url = strdup(url);
	if (!q->url)
		return MHD_NO;
	c->ops.handle(c->ops.ctx, method, url, q->body ? q->body : "", q->len, &q->reply);
	if (q->reply.defer) {
		mhd.suspend_connection(conn);
		push(&c->deferred, q);
		return MHD_YES;
	}
	if (settle(c, q, false))
		return MHD_YES;
	return queue(conn, &q->reply);
}

bool control_has_deferred(const struct control *c)
{
	return c && c->deferred;
}

void control_resume_deferred(struct control *c)
{
	if (!c)
		return;
	while (c->deferred) {
		struct creq *q = c->deferred;

		unlist(&c->deferred, q);
		free(q->reply.body);
		q->reply = (struct control_reply){ .resumed = true };
		c->ops.handle(c->ops.ctx, q->method, q->url, q->body ? q->body : "", q->len, &q->reply);
		/* Asked to wait once more: it has had its sample, so it is answered as it stands. */
		q->reply.defer = false;
		if (!settle(c, q, true))
			mhd.resume_connection(q->conn);
	}
	commit_pending(c);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode why)
{
	struct control *c = cls;
	struct creq *q = *con_cls;

	(void)conn;
	(void)why;
	if (!q)
		return;
	if (q->listed) {
		unlist(&c->pending, q);
		unlist(&c->deferred, q);
		unlist(&c->waiting, q);
	}
	if (q->stream)
		c->streams--;
	free(q->url);
	free(q->body);
	free(q->reply.body);
	free(q);
	*con_cls = NULL;
}

/* Saves once for every held request, then answers them all. */
static bool commit_pending(struct control *c)
{
	char err[512] = "";
	int r;

	if (!c->pending)
		return false;
	r = c->ops.commit(c->ops.ctx, err, sizeof err);
	while (c->pending) {
		struct creq *q = c->pending;

		unlist(&c->pending, q);
		if (r != 0)
			control_error(&q->reply, MHD_HTTP_INTERNAL_SERVER_ERROR, err);
		q->answered = true;
		mhd.resume_connection(q->conn);
	}
	return true;
}

void control_run(struct control *c)
{
	if (!c)
		return;
	/*
	 * Each round may hold requests for a commit; answering them takes
	 * another round.  libmicrohttpd watches its sockets edge-triggered: a
	 * body larger than one read, or a connection left to close, is work it
	 * has already been told about, so our epoll is not woken for it again.
	 * A timeout of 0 says such work is waiting: run until there is none,
	 * so that the request is served now rather than at the next tick.
	 */
	for (int round = 0; round < CONTROL_ROUNDS_MAX; round++) {
		MHD_UNSIGNED_LONG_LONG timeout_ms = 1;
		bool committed;

		mhd.run(c->daemon);
		committed = commit_pending(c);
		if (!committed && (mhd.get_timeout(c->daemon, &timeout_ms) != MHD_YES || timeout_ms > 0))
			break;
	}
}

int control_fd(const struct control *c)
{
	const union MHD_DaemonInfo *info = mhd.get_daemon_info(c->daemon, MHD_DAEMON_INFO_EPOLL_FD);

	return info ? info->epoll_fd : -1;
}

unsigned long long control_requests(const struct control *c)
{
	return c ? c->requests : 0;
}

/* ---- the socket ---- */

/*
 * A socket file left by an agent that died is removed; one that still
 * answers belongs to a running agent, and starting a second is refused.
 */
static int clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : (str_fmt(err, errlen, "control socket %s: %s", path, strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		str_fmt(err, errlen, "control socket %s exists and is not a socket; move it away or set JN_CONTROL_SOCKET",
			path);
		return -1;
	}
	str_copy(sa.sun_path, path, sizeof sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		str_fmt(err, errlen, "cannot create a socket: %s", strerror(errno));
		return -1;
	}
	r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	if (r == 0) {
		str_fmt(err, errlen, "another agent serves %s; stop it first (systemctl stop justnews-gpu-telemetry) "
			"or give this one another JN_CONTROL_SOCKET", path);
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		str_fmt(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int listen_unix(const struct control_options *opt, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old_mask;
	int fd, r;

	if (strlen(opt->path) >= sizeof sa.sun_path) {
		str_fmt(err, errlen, "control socket path %s is longer than %zu bytes; pick a shorter one",
			opt->path, sizeof sa.sun_path - 1);
		return -1;
	}
	if (clear_stale(opt->path, err, errlen) != 0)
		return -1;
	str_copy(sa.sun_path, opt->path, sizeof sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		str_fmt(err, errlen, "cannot create a socket: %s", strerror(errno));
		return -1;
	}
	/* Never world-accessible, not even between bind and chmod. */
	old_mask = umask(0777 & ~opt->mode);
	r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old_mask);
	if (r != 0 || listen(fd, 256) != 0) {
		int e = errno;

		str_fmt(err, errlen, "cannot listen on %s: %s; %s", opt->path, strerror(e),
			e == ENOENT ? "create its directory (systemd: RuntimeDirectory=gputel)"
				    : "check the directory's permissions");
		close(fd);
		return -1;
	}
	if (chmod(opt->path, opt->mode) != 0)
		log_warn("control: chmod %o %s: %s", opt->mode, opt->path, strerror(errno));
	if (opt->group && *opt->group) {
		char buf[4096];
		struct group gr, *res = NULL;

		if (getgrnam_r(opt->group, &gr, buf, sizeof buf, &res) != 0 || !res) {
			str_fmt(err, errlen, "group '%s' for %s does not exist; create it (groupadd %s) or set JN_GROUP",
				opt->group, opt->path, opt->group);
			close(fd);
			unlink(opt->path);
			return -1;
		}
		if (chown(opt->path, (uid_t)-1, res->gr_gid) != 0)
			log_warn("control: cannot give %s to group %s (%s); only this user can use it",
				 opt->path, opt->group, strerror(errno));
	}
	return fd;
}

int control_start(struct control **out, const struct control_options *opt,
		  const struct control_ops *ops, char *err, size_t errlen)
{
	struct control *c = calloc(1, sizeof *c);

	if (!c) {
		str_copy(err, "out of memory", errlen);
		return -1;
	}
	c->ops = *ops;
	c->listen_fd = -1;
	if (mhd_load(opt->library, err, errlen) != 0)
		goto fail;
	c->loaded = true;
	c->listen_fd = listen_unix(opt, err, errlen);
	if (c->listen_fd < 0)
		goto fail;
	str_copy(c->path, opt->path, sizeof c->path);
	c->daemon = mhd.start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, handle, c,
		MHD_OPTION_LISTEN_SOCKET, c->listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, fdlimit_connections(CONNECTION_SHARE_PCT, CONNECTION_LIMIT),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_URI_LOG_CALLBACK, begin_request, c,
		MHD_OPTION_NOTIFY_COMPLETED, completed, c,
		MHD_OPTION_END);
	if (!c->daemon) {
		str_fmt(err, errlen, "libmicrohttpd could not serve %s", opt->path);
		unlink(c->path);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->loaded)
		mhd_unload();
	free(c);
	return -1;
}

void control_stop(struct control *c)
{
	if (!c)
		return;
	/* Held requests and sleeping streams are woken so that they end cleanly. */
	c->stopping = true;
	while (c->deferred) {
		struct creq *q = c->deferred;

		unlist(&c->deferred, q);
		control_error(&q->reply, MHD_HTTP_SERVICE_UNAVAILABLE, "the agent is stopping; try again once it is back");
		q->answered = true;
		mhd.resume_connection(q->conn);
	}
	commit_pending(c);
	while (c->waiting) {
		struct creq *q = c->waiting;

		unlist(&c->waiting, q);
		mhd.resume_connection(q->conn);
	}
	mhd.run(c->daemon);
	mhd.stop_daemon(c->daemon);
	close(c->listen_fd);
	unlink(c->path);
	for (size_t k = 0; k < CONTROL_EVENT_BACKLOG; k++)
		free(c->event[k]);
	mhd_unload();
	free(c);
}
