/*
 * alloc_api.h - the control API's allocation semantics, on top of the
 * allocation table (alloc.c) and the control socket (control.c):
 *
 *   POST   /v1/allocations              begin       201, the allocation
 *   GET    /v1/allocations              list        200
 *   GET    /v1/allocations/{id}         show        200 | 404
 *   PUT    /v1/allocations/{id}/renew   extend TTL  200 | 404 | 409
 *   DELETE /v1/allocations/{id}         end         200, the summary
 *   GET    /v1/status                   the agent   200
 *
 * Other paths go to the host's route() (POST /v1/gpus/{gpu}/health/clear).
 *
 * Every error is a 4xx with {"error": "..."} naming the problem; nothing
 * changes.  A begin or an end is measured on a fresh sample, which the
 * request waits for (never longer than the sampler's budget) without
 * holding up the loop.  Begins and renewals are saved to the state file
 * before they are answered; a begin whose save fails is undone and
 * answered 500.
 * An ended allocation (released or reaped) is appended as one line to the
 * ledger (allocations.jsonl in the log directory), made durable, before it
 * is removed, and emitted as an event.  That line is the end's record: an
 * end is answered 200 once it is written (the state file follows at the
 * next save), 500 only when it could not be (the allocation stays live),
 * and a restart does not restore an allocation the ledger has ended.
 *
 * The agent owns one struct alloc_api and calls alloc_api_tick() on every
 * snapshot.  docs/control-api.md describes the API for its users.
 */
#ifndef GPUTEL_ALLOC_API_H
#define GPUTEL_ALLOC_API_H

#include <stdbool.h>
#include <stddef.h>

#include "alloc.h"
#include "control.h"
#include "outbuf.h"
#include "snapshot.h"

#define ALLOC_API_PATH_MAX 4096
#define ALLOC_STATE_FILE "allocations.json"
#define ALLOC_LEDGER_FILE "allocations.jsonl"

/* What the agent provides. */
struct alloc_api_host {
	/*
	 * Asks for a fresh, full sample (begin and end are measured at their
	 * instant): true when one will come, and the request is then deferred
	 * until it does (alloc_api.fresh, control_resume_deferred); false
	 * when none can be had (the driver is not answering): the latest tick
	 * is used.  NULL: always the latest tick.
	 */
	bool (*want_fresh)(void *ctx);
	/* Writes the GET /v1/status document (status.h). */
	void (*status)(void *ctx, struct outbuf *o);
	/* An allocation ended (released or reaped), its summary as in the ledger.  NULL: not told. */
	void (*ended)(void *ctx, const struct alloc *a);
	/*
	 * Serves a request on a path that is not the allocations' (the GPUs'
	 * health, sink_health.c); false when nothing serves it (404).  NULL: none.
	 */
	bool (*route)(void *ctx, const char *method, const char *path, const char *body, size_t len,
		      struct control_reply *r);
	void *ctx;
	bool spans_exported;            /* allocations are exported as spans (OTLP) */
};

struct alloc_api {
	struct alloc_table table;
	char state_path[ALLOC_API_PATH_MAX];
	char ledger_path[ALLOC_API_PATH_MAX];
	struct control *control;        /* events go there; may be NULL */
	struct alloc_api_host host;
	const struct snapshot *snap;    /* the latest tick, for GPU names and /v1/status */
	const struct snapshot *fresh;   /* while deferred requests run again: their sample, or NULL */
	uint64_t saved_changes;         /* table.changes at the last save */
	int64_t saved_mono_ns;          /* when the accounting was last saved */
	/* Begun since the last commit: undone if that commit fails. */
	char (*batch)[ALLOC_ID_MAX + 1];
	size_t batch_n, batch_cap;
	bool warned_save;
	bool warned_ledger;             /* a reap could not be written to the ledger (said once) */
};

/*
 * Sets the paths (state_dir/allocations.json, log_dir/allocations.jsonl)
 * and loads the saved allocations, placing their GPUs on the node that snap
 * shows.  Returns 0, or -1 with err set when the saved state cannot be
 * read (a missing file is a first start, not an error).
 */
int alloc_api_init(struct alloc_api *api, const char *state_dir, const char *log_dir,
		   const struct alloc_api_host *host, const struct snapshot *snap, char *err,
		   size_t errlen);
void alloc_api_release(struct alloc_api *api);

/* The control socket's callbacks, bound to api. */
struct control_ops alloc_api_ops(struct alloc_api *api);

/*
 * One snapshot: accounting, then reaping (dead owners, lapsed TTLs), then a
 * save every ALLOC_API_SAVE_NS while allocations are live.
 */
#define ALLOC_API_SAVE_NS (10LL * 1000000000LL)
void alloc_api_tick(struct alloc_api *api, const struct snapshot *snap);

/* Publishes {"event": name, "time": ..., <fields>} to /v1/events. fields may be NULL. */
void alloc_api_event(struct alloc_api *api, const char *name, const char *fields);

static inline size_t alloc_api_live(const struct alloc_api *api)
{
	return api->table.n;
}

#endif
