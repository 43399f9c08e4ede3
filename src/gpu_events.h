/*
 * gpu_events.h - one event per GPU fault, whichever source saw it first.
 *
 * Two sources report an Xid: the driver's kernel log line (kevent.h: the
 * process, the text, the time to the microsecond) and NVML's event
 * (snapshot.h: a running count per GPU and code).  A node usually has
 * both; either may be missing (no access to the kernel log, a driver
 * without event support).  An Xid seen by both within GPU_EVENTS_MATCH_NS
 * is one event: a kernel line is published at once and absorbs the NVML
 * event that follows it; an NVML event is held up to GPU_EVENTS_HOLD_NS
 * for its kernel line, and published alone when none comes.  "GPU has
 * fallen off the bus" counts as Xid 79, once with its Xid 79 line.
 *
 * The bus address in a kernel line is joined to the GPU (index, UUID,
 * name) through the snapshots' GPU identities, and through the driver's
 * own "GPU at PCI:...: GPU-<uuid>" lines for a GPU NVML no longer lists.
 *
 * Also counts every Xid per GPU and code, and every NVSwitch SXid per
 * switch and code, for the exporter.
 */
#ifndef GPUTEL_GPU_EVENTS_H
#define GPUTEL_GPU_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kevent.h"
#include "kmsg.h"
#include "snapshot.h"
#include "xid.h"

#define GPU_EVENTS_HOLD_NS (2 * 1000 * 1000 * 1000LL)
#define GPU_EVENTS_MATCH_NS (10 * 1000 * 1000 * 1000LL)

/* The GPU an event is about; index -1 when the bus address matches no GPU known. */
struct gpu_event_gpu {
	int index;
	char uuid[KEVENT_UUID_MAX];
	char name[96];
	char pci[KEVENT_PCI_LEN];
};

struct gpu_event {
	enum kevent_kind kind;          /* KEVENT_XID (79 included), KEVENT_SXID or KEVENT_NVRM */
	const char *source;             /* "kernel", "nvml" or "kernel+nvml" */
	int code;                       /* -1 for KEVENT_NVRM */
	const struct xid_info *info;    /* the catalog's entry (KEVENT_XID), else NULL */
	int64_t wall_ns;
	int level;                      /* the kernel's priority 0..7; 3 (error) for NVML */
	bool has_seq;                   /* from the kernel: seq and boot are its record's */
	uint64_t seq;
	struct gpu_event_gpu gpu;
	int gpu_instance, compute_instance;  /* MIG, -1 none */
	int64_t pid;                    /* -1 none */
	char process[KEVENT_NAME_MAX];
	int fatal;                      /* SXid: 1 fatal, 0 not; -1 otherwise */
	const char *text;               /* the kernel's message (not NUL-terminated); NULL from NVML */
	size_t text_len;
};

typedef void (*gpu_event_fn)(void *ctx, const struct gpu_event *ev);

/* A counter for the exporter: Xids per GPU and code (kind KEVENT_XID), SXids per switch and code. */
struct gpu_event_count {
	enum kevent_kind kind;
	int code;
	struct gpu_event_gpu gpu;       /* for an SXid, the switch's bus address only */
	uint64_t count;
	int64_t last_wall_ns;
	uint64_t last_seq;              /* when it was last counted, in the order of all counts: 1, 2, ... */
};

struct gpu_events;

struct gpu_events *gpu_events_new(void);
void gpu_events_free(struct gpu_events *e);

/*
 * A snapshot: refreshes the GPU identities, takes the NVML events that are
 * new since the last snapshot, and publishes (through fn) the held ones
 * whose kernel line did not come in time.
 */
void gpu_events_snapshot(struct gpu_events *e, const struct snapshot *snap, gpu_event_fn fn, void *ctx);

/* A kernel record, published through fn when it is an event (an Xid, an SXid, an NVRM warning or worse). */
void gpu_events_kernel(struct gpu_events *e, const struct kmsg_record *rec, gpu_event_fn fn, void *ctx);

/* The counters, in the order first seen. */
const struct gpu_event_count *gpu_events_counts(const struct gpu_events *e, size_t *n);

/*
 * The code of the last Xid of the GPU at bus address pci (any form
 * kevent_pci_normalize takes), or 0 when it has had none.
 */
int gpu_events_last_xid(const struct gpu_events *e, const char *pci);

/* Events dropped because the bookkeeping was full (a storm): published without merging, counted. */
uint64_t gpu_events_unmerged(const struct gpu_events *e);

#endif
