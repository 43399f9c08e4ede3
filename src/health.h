/*
 * health.h - a GPU's health, healthy, degraded or unhealthy, and the
 * reason in words, from the faults the driver reported (Xids, judged by
 * the catalog in xid.h) and from what the GPU's own readings show (lost,
 * not answering, row remaps, uncorrectable ECC errors).
 *
 * Every rule is here, in one pure function (health_eval) over the
 * previous state, what came since (Xids, a clear) and the GPU's latest
 * reading; nothing here reads a clock, a file or the environment.  The
 * agent's sink (sink_health.c) keeps one state per GPU, persists it and
 * serves it; `gputel gpus` and `gputel doctor` judge one reading with the
 * same function when no agent answers.
 *
 * An Xid's effect lasts until the GPU is reset (it is lost or drops off
 * the node, then answers again), the node boots again (the sink forgets
 * the saved state of another boot), or an operator clears it (`gputel
 * health clear`): a fault the driver reported once is not news again, so
 * it must not fade by itself.  A reading's condition lasts while the
 * readings show it.  docs/events.md has the table of rules.
 */
#ifndef GPUTEL_HEALTH_H
#define GPUTEL_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "kevent.h"
#include "outbuf.h"
#include "snapshot.h"
#include "xid.h"

/* In order of badness: the worse of two is the greater. */
enum health_state {
	HEALTH_HEALTHY = 0,
	HEALTH_DEGRADED = 1,      /* usable, but needs attention when idle (a reset to apply a remap) */
	HEALTH_UNHEALTHY = 2,     /* take it out of service: drain, reset or reboot */
};
#define HEALTH_STATES 3

#define HEALTH_REASON_MAX 320

/* What the last reading said of the GPU. */
enum health_seen {
	HEALTH_SEEN_NONE = 0,     /* no reading yet */
	HEALTH_SEEN_UP,
	HEALTH_SEEN_LOST,         /* GPU_HEALTH_DOWN: lost, or every query fails */
	HEALTH_SEEN_STALE,        /* GPU_HEALTH_STALE: the driver did not answer in time */
	HEALTH_SEEN_GONE,         /* no longer on the node */
};

struct health {
	enum health_state state;
	char reason[HEALTH_REASON_MAX];   /* "" while healthy */
	int64_t since_ns;                 /* wall clock when the state began; 0 before any */
	/* What lasts until a reset, a new boot or a clear (persisted). */
	enum health_state xid_state;      /* the worst Xid's effect since; HEALTHY: none */
	int xid_code;                     /* that Xid (the first of the worst), -1 none */
	int64_t xid_wall_ns;              /* when it happened */
	bool lost;                        /* last seen lost or gone: its next answer is a reset (persisted) */
	/* What the readings last showed; kept over ticks that did not read them (lite, failed reads). */
	enum health_seen seen;
	bool remap_pending, remap_failure;
	int64_t ecc_uncorrected;          /* volatile count; -1 never read */
};

/* One GPU's health as a run holds it (sink_health.c): /status reads these through run_state. */
struct health_gpu {
	struct gpu_ident id;            /* as the latest snapshot named it */
	char pci[KEVENT_PCI_LEN];       /* its bus address in the compared form (kevent.h) */
	bool present;                   /* on the node in the latest snapshot */
	struct health h;
};

/* An Xid on the GPU: its code and when it happened (wall clock, ns). */
struct health_xid {
	int code;
	int64_t wall_ns;
};

/* What came since the previous state, applied in this order: reading, Xids, clear. */
struct health_input {
	const struct gpu_reading *reading;  /* a new reading of the GPU, or NULL: none (an Xid, a clear) */
	bool gone;                          /* with no reading: the GPU is no longer on the node */
	const struct health_xid *xids;      /* Xids on the GPU, in order */
	unsigned int n_xids;
	bool clear;                         /* an operator's clear: the Xids so far are forgotten */
	int64_t now_ns;                     /* wall clock: when a state that begins now began */
};

/* A GPU nothing is known of: healthy, never read. */
void health_init(struct health *h);

/* The next state of a GPU: pure; prev and out may be the same. */
void health_eval(const struct health *prev, const struct health_input *in, struct health *out);

/* What an Xid does to a GPU, by the catalog's severity, fault and action. */
enum health_state health_of_xid(const struct xid_info *x);

/* "healthy", "degraded", "unhealthy". */
const char *health_state_name(enum health_state s);

/* The state a name gives; -1 for none of them. */
int health_state_parse(const char *name);

/*
 * {"gpu": N, "uuid": ..., "pci_bus_id": ..., "name": ..., "state": ...,
 * "reason": ... or null, "since": ISO 8601 or null[, more]}: /status and
 * the control API's replies.  more: further members ("\"k\": v, ...") or NULL.
 */
void health_json(struct outbuf *o, const struct gpu_ident *id, const struct health *h, const char *more);

#endif
