/*
 * alloc.h - the node's allocations: which GPUs an orchestrator handed to
 * whom, and what they used while they held them.
 *
 * The agent owns one table.  The control API (control.c) begins, renews
 * and ends allocations in it; every tick alloc_account() adds the tick's
 * energy, utilisation, memory, temperature, throttling and Xids to each
 * live allocation; alloc_due() finds those whose owner process died or
 * whose TTL lapsed, to be ended.  The table is saved whole, atomically (temp file,
 * fsync, rename), and loaded back after a restart, so that no allocation is
 * lost or duplicated and its accounting goes on where it stopped.
 *
 * Energy is taken from counters that outlive the agent where possible: the
 * NVML energy counter (since the driver loaded) and the RAPL zone counters
 * (the kernel's energy_uj), so the time the agent was down is counted too.
 * Where a GPU has no energy counter, its power is integrated over ticks.
 * CPU package and DRAM energy are the whole host's, not the allocation's.
 */
#ifndef GPUTEL_ALLOC_H
#define GPUTEL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outbuf.h"
#include "snapshot.h"
#include "tracectx.h"

#define ALLOC_ID_MAX 64            /* [A-Za-z0-9._:@-], used in URLs and labels */
#define ALLOC_OWNER_MAX 128
#define ALLOC_LABELS_MAX 16
#define ALLOC_LABEL_KEY_MAX 64
#define ALLOC_LABEL_VALUE_MAX 256
#define ALLOC_LIVE_MAX 4096        /* live allocations per node */
#define ALLOC_TTL_MAX_S (366LL * 86400)
#define ALLOC_UUID_MAX 95

/*
 * Bounds a loaded state file is held to, and where the accounting stops
 * adding (saturates) rather than overflow: 10^18 µJ is 10^12 J, a
 * megawatt for 30 years; 10^15 samples or Xids is more than a node sees.
 */
#define ALLOC_ENERGY_UJ_MAX 1000000000000000000LL
#define ALLOC_COUNT_MAX 1000000000000000LL
#define ALLOC_TIME_MAX_NS (4102444800LL * 1000000000LL)   /* 2100-01-01 */

/* Clock-event reasons that count as throttling (not idle, not settings). */
#define ALLOC_THROTTLE_MASK 0xecULL

/* A POST /v1/allocations body, parsed and checked but not yet resolved. */
struct alloc_request {
	char id[ALLOC_ID_MAX + 1];
	char owner[ALLOC_OWNER_MAX + 1];
	int64_t pid;                    /* 0: none */
	int64_t ttl_ns;                 /* 0: none */
	bool gpus_all;                  /* "gpus" left out: every GPU of the node */
	unsigned int n_gpus;
	char gpu[GPUTEL_MAX_GPUS][ALLOC_UUID_MAX + 1];  /* indices ("0") or UUIDs, as given */
	char *labels_json;              /* the labels as a canonical JSON object; NULL: none */
	bool has_parent;                /* a W3C traceparent was given: the allocation's span is its child */
	uint8_t parent_trace_id[TRACE_ID_LEN];
	uint8_t parent_span_id[SPAN_ID_LEN];
	uint8_t parent_flags;
};

/*
 * Parses and checks a request body.  Returns 0, or -1 with err set to one
 * line naming the field and the fix ("id: ...; ...").  On success the
 * caller owns req->labels_json (alloc_request_release).
 */
int alloc_request_parse(const char *body, size_t len, struct alloc_request *req, char *err,
			size_t errlen);
void alloc_request_release(struct alloc_request *req);

/* One of an allocation's GPUs. */
struct alloc_gpu {
	int pos;                        /* snapshot position; -1 when not on the node */
	unsigned int index;             /* NVML index when resolved */
	char uuid[ALLOC_UUID_MAX + 1];
	int64_t energy_uj;              /* this GPU's share of use.gpu_energy_uj */
	int64_t energy_mark_mj;         /* counter at the last tick counted */
	bool energy_have;
	uint64_t xid_mark;
	bool xid_have;
};

/* What the allocation used; summed or maxed over its GPUs and ticks. */
/*
 * The Xids an allocation saw, as the agent published them (one per fault,
 * kernel log and NVML merged: gpu_events.h): the first ALLOC_XID_EVENTS_MAX,
 * the rest counted.
 */
#define ALLOC_XID_EVENTS_MAX 16

struct alloc_xid_event {
	int32_t code;
	int32_t gpu_index;              /* -1: the GPU's index was not known */
	int64_t wall_ns;
};

struct alloc_usage {
	int64_t gpu_energy_uj;          /* counter deltas, or integrated power */
	uint64_t gpu_energy_integrated; /* GPU-ticks measured by integrating power */
	int64_t cpu_energy_uj;          /* RAPL package zones: whole host */
	int64_t dram_energy_uj;         /* RAPL dram zones: whole host */
	bool cpu_energy_known, dram_energy_known;
	uint64_t util_sum_pct;          /* utilisation summed over GPU-ticks ... */
	uint64_t util_samples;          /* ... and how many there were */
	int util_peak_pct;              /* -1: none seen */
	int64_t mem_peak_bytes;         /* on any one of its GPUs; -1: none seen */
	int64_t temp_peak_mc;           /* INT64_MIN: none seen */
	int64_t throttle_ns;            /* time any of its GPUs was throttled */
	uint64_t xids;
	/*
	 * GPU-time whose energy is not in gpu_energy_uj, summed over its GPUs:
	 * the GPU was lost or gone, or had neither an energy counter nor a
	 * power reading.  Above 0, the energy figure is partial.
	 */
	int64_t gpu_unmeasured_ns;
	unsigned int n_xid_events;
	uint64_t xid_events_dropped;
	struct alloc_xid_event xid_events[ALLOC_XID_EVENTS_MAX];
};

struct alloc {
	char id[ALLOC_ID_MAX + 1];
	char owner[ALLOC_OWNER_MAX + 1];
	int64_t pid;
	int64_t ttl_ns;
	char *labels_json;              /* owned; NULL: none */
	unsigned int n_gpus;
	struct alloc_gpu *gpu;          /* owned, n_gpus */
	int64_t begun_wall_ns;
	int64_t expires_wall_ns;        /* 0: no TTL */
	int64_t ended_wall_ns;          /* 0 while live */
	const char *end_reason;         /* "released", "owner exited", "ttl expired" */
	struct trace_ctx trace;         /* its span: made at begin, exported at the end */
	bool span_exported;             /* the agent exports spans: replies name the span (traceparent) */
	struct alloc_usage use;
	/* Where the host counters stood at the last tick counted. */
	int64_t mark_mono_ns;           /* 0: no tick counted since (re)start */
	uint64_t cpu_mark_uj, dram_mark_uj;
	bool cpu_mark_have, dram_mark_have;
};

/*
 * The GPUs a request names, resolved against the node's GPUs (index or
 * UUID, case-insensitive): fills a->gpu and a->n_gpus.  Returns 0, or -1
 * with err naming the GPU that is not on the node, or -ENOMEM.
 */
int alloc_resolve_gpus(struct alloc *a, const struct alloc_request *req,
		       const struct snapshot *snap, char *err, size_t errlen);

/* Frees what an allocation owns (its GPUs and labels). */
void alloc_release(struct alloc *a);

/*
 * Where the ledger (alloc_api.h) stood when the table was saved.  Every
 * allocation in a saved table was still live then, so a ledger line for
 * one of them can only come after this point: after a restart, the agent
 * reads the ledger from here to find allocations that were ended but whose
 * state save failed or was cut short, and does not restore them.
 */
struct alloc_ledger_mark {
	bool have;                      /* false: no ledger then, or a file from before the mark */
	uint64_t dev, ino;              /* which file: a rotated ledger is another */
	int64_t size;                   /* its length, at a line boundary */
};

struct alloc_table {
	struct alloc *a;                /* n live, in begin order */
	size_t n, cap;
	uint64_t changes;               /* bumped by every change worth saving */
	struct alloc_ledger_mark ledger;  /* saved with the table, loaded back */
	bool spans_exported;            /* the agent exports spans (OTLP): each allocation's span_exported */
};

void alloc_table_init(struct alloc_table *t);
void alloc_table_release(struct alloc_table *t);

struct alloc *alloc_find(struct alloc_table *t, const char *id);

/*
 * Adds an allocation from a request: resolves its GPUs against snap and
 * takes over req->labels_json.  Returns 0 with *out set; -EEXIST when the
 * id is taken; -ENOSPC at ALLOC_LIVE_MAX; -EINVAL with err set when a GPU
 * is not on the node; -ENOMEM.
 */
int alloc_begin(struct alloc_table *t, struct alloc_request *req, const struct snapshot *snap,
		int64_t now_wall_ns, struct alloc **out, char *err, size_t errlen);

/* Extends the TTL from now (ttl_ns 0: by the allocation's own TTL). -ENOENT, -EINVAL. */
int alloc_renew(struct alloc_table *t, const char *id, int64_t ttl_ns, int64_t now_wall_ns);

/*
 * Removes an allocation and hands it to *out (which then owns its GPUs and
 * labels: alloc_release) with its end time and reason.  -ENOENT.
 */
int alloc_end(struct alloc_table *t, const char *id, int64_t now_wall_ns, const char *reason,
	      struct alloc *out);

/*
 * The Xids an allocation saw: NVML's count, or the faults it lists (kernel
 * log and NVML merged) where those are more -- an Xid only the kernel log
 * reported.  One fault seen by both counts once.
 */
uint64_t alloc_xid_count(const struct alloc_usage *u);

/* Adds one tick to every live allocation.  Never allocates. */
void alloc_account(struct alloc_table *t, const struct snapshot *snap);

/*
 * The first allocation at or after position from (0: the first) that is
 * due to be reaped (owner pid gone, or TTL lapsed at now), with *reason
 * set; NULL when none.  pid_alive may be NULL in tests that reap by TTL
 * only.
 */
struct alloc *alloc_due(struct alloc_table *t, size_t from, int64_t now_wall_ns,
			bool (*pid_alive)(int64_t pid), const char **reason);

/*
 * An Xid the agent published (sink_events.c): listed in every live
 * allocation that holds the GPU uuid and had begun by then.  Returns how
 * many allocations it went to.
 */
size_t alloc_note_xid(struct alloc_table *t, const char *uuid, int gpu_index, int code, int64_t wall_ns);

/* kill(pid, 0) says the process exists (EPERM counts as alive). */
bool alloc_pid_alive(int64_t pid);

/*
 * The allocation as one JSON object: identity, GPUs, times, and its usage
 * so far (a summary once ended).
 */
void alloc_json(struct outbuf *o, const struct alloc *a);

/*
 * Saves every live allocation to path atomically: PATH.tmp, fsync, rename,
 * fsync of the directory.  Returns 0 or -errno with err set.
 */
int alloc_save(const struct alloc_table *t, const char *path, char *err, size_t errlen);

/*
 * Loads a saved table into an empty one, placing each GPU by UUID on the
 * node that snap shows (a GPU that is gone is kept, with pos -1).  Every
 * entry is held to what a begin accepts and to bounds on its figures
 * (alloc.h).  Returns 0; the number of damaged entries (> 0), each logged
 * with what is wrong, with the good ones loaded and err set; -ENOENT when
 * there is no file (a first start); or -EINVAL/-errno with err set, the
 * table left empty, for a file that does not parse at all.
 */
int alloc_load(struct alloc_table *t, const char *path, const struct snapshot *snap, char *err,
	       size_t errlen);

#endif
