/*
 * gputel.h - the client library of gputel's allocation API.
 *
 * An orchestrator tells the node's gputel agent when it hands GPUs to a job
 * and when the job gives them back; the agent keeps telemetry on while any
 * allocation is live and accounts each allocation's energy and use.  The
 * calls speak HTTP/1.1 with JSON to the agent's control socket.
 *
 *   char *summary = NULL;
 *   struct gputel_alloc_spec spec = { .id = "job-42", .gpus = "0,1", .owner = "slurm" };
 *   int r = gputel_alloc_begin(NULL, &spec, NULL);
 *   ... the job runs ...
 *   r = gputel_alloc_end(NULL, "job-42", &summary);
 *   if (r == GPUTEL_OK) { puts(summary); gputel_free(summary); }
 *   else fprintf(stderr, "gputel: %s\n", gputel_strerror(r));
 *
 * Socket: the socket argument, else $JN_CONTROL_SOCKET, else
 * /run/gputel/control.sock.  Every call opens its own connection, so the
 * library is thread-safe; it keeps no state between calls and no global
 * state except reading the environment.  Calls block for at most
 * GPUTEL_TIMEOUT_MS per request (plus autostart, below).
 *
 * Autostart: with GPU_TELEMETRY_AUTOSTART set to 1, true or yes,
 * gputel_alloc_begin() makes sure an agent runs when none answers: first
 * `systemctl start justnews-gpu-telemetry.service`, and if systemctl is
 * missing or fails, a local `gputel agent --exit-when-idle
 * --log-to-state-dir` ($GPUTEL_AGENT, else gputel on PATH), detached, which
 * logs to agent.log in its state directory; then it waits up to
 * GPUTEL_AUTOSTART_WAIT_MS for the socket.  Without the variable nothing
 * is ever started, and GPUTEL_E_NOAGENT says no agent answered.
 *
 * Replies: where a call takes `char **json`, it receives the agent's JSON
 * reply on success and its {"error": "..."} on a refusal (NULL when there
 * was no reply); free it with gputel_free().  Pass NULL to ignore it.
 */
#ifndef GPUTEL_H
#define GPUTEL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Set by the library's own build to export these names; empty for users. */
#ifndef GPUTEL_EXPORT
#define GPUTEL_EXPORT
#endif

#define GPUTEL_DEFAULT_SOCKET "/run/gputel/control.sock"
#define GPUTEL_TIMEOUT_MS 10000
#define GPUTEL_AUTOSTART_WAIT_MS 15000

/* Return codes: 0, or one of these (negative). */
enum gputel_status {
	GPUTEL_OK = 0,
	GPUTEL_E_INVALID = -1,      /* a bad argument to the call itself */
	GPUTEL_E_NOAGENT = -2,      /* no agent answers on the socket */
	GPUTEL_E_PERMISSION = -3,   /* the socket refuses this user (not in its group) */
	GPUTEL_E_BADREQUEST = -4,   /* 400: the agent refused the request (see the JSON), e.g. an unknown GPU */
	GPUTEL_E_NOTFOUND = -5,     /* 404: no such allocation */
	GPUTEL_E_CONFLICT = -6,     /* 409: the id is taken, or there is no TTL to renew */
	GPUTEL_E_SERVER = -7,       /* 5xx: the agent failed (e.g. could not save its state) */
	GPUTEL_E_PROTOCOL = -8,     /* a reply that is not HTTP/JSON, or a timeout */
	GPUTEL_E_NOMEM = -9,
	GPUTEL_E_AUTOSTART = -10,   /* autostart ran, but no agent came up in time */
};

/* What to allocate.  Only id is required. */
struct gputel_alloc_spec {
	const char *id;             /* 1..64 of [A-Za-z0-9._:@-] */
	const char *gpus;           /* "0,1" or "GPU-uuid,..." ; NULL or "": every GPU */
	const char *owner;          /* free text, e.g. "slurm"; may be NULL */
	long pid;                   /* end the allocation when this process exits; 0: no */
	double ttl_seconds;         /* end it unless renewed within this; 0: no TTL */
	const char *labels_json;    /* a JSON object of strings, e.g. {"job":"7"}; may be NULL */
};

/* Begins an allocation.  *json (if given) gets the allocation as the agent holds it. */
GPUTEL_EXPORT int gputel_alloc_begin(const char *socket, const struct gputel_alloc_spec *spec, char **json);

/*
 * The same, as a child span of a W3C trace context ("00-<trace id>-<span
 * id>-<flags>", e.g. the TRACEPARENT a job was started with; NULL or "":
 * a new trace).  The reply's "traceparent" names the allocation's own
 * span, for the job's spans to nest under.
 */
GPUTEL_EXPORT int gputel_alloc_begin_traced(const char *socket, const struct gputel_alloc_spec *spec,
					    const char *traceparent, char **json);

/* Ends an allocation.  *json (if given) gets its summary: duration, energy, use. */
GPUTEL_EXPORT int gputel_alloc_end(const char *socket, const char *id, char **json);

/* Extends an allocation's TTL from now (ttl_seconds 0: by its own TTL). */
GPUTEL_EXPORT int gputel_alloc_renew(const char *socket, const char *id, double ttl_seconds, char **json);

/*
 * Clears a GPU's health: forgets the Xids that made it degraded or
 * unhealthy (once it was looked after; conditions it still shows, such as
 * a pending row remap, remain).  gpu: an index, a UUID or a PCI bus id.
 * *json (if given) gets the GPU's health after the clear.
 * GPUTEL_E_BADREQUEST: no such GPU on the node.
 */
GPUTEL_EXPORT int gputel_health_clear(const char *socket, const char *gpu, char **json);

/* The agent's status ({"version", "allocations", "backend", "gpus", "health", ...}). */
GPUTEL_EXPORT int gputel_status(const char *socket, char **json);

/* GET of any API path ("/v1/allocations", "/v1/allocations/ID"), for tools. */
GPUTEL_EXPORT int gputel_get(const char *socket, const char *path, char **json);

/* A one-line description of a return code; never NULL. */
GPUTEL_EXPORT const char *gputel_strerror(int status);

/* Frees a reply. */
GPUTEL_EXPORT void gputel_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
