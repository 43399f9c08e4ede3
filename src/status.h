/*
 * status.h - the /status document: one writer for the exporter's and the
 * agent's GET /status and the control socket's GET /v1/status, so that
 * every one of them serves the same fields (docs/metrics.md lists them).
 */
#ifndef GPUTEL_STATUS_H
#define GPUTEL_STATUS_H

#include "outbuf.h"
#include "sink.h"
#include "snapshot.h"

/* Room for the document: its fields, and each GPU's health with every string escaped at worst. */
#define STATUS_JSON_MAX (8192 + GPUTEL_MAX_GPUS * 3584)

/*
 * Writes the JSON object, without a trailing newline: version, mode, pid,
 * backend, driver_version, gpus, gpus_up, gpus_stale, last_tick, seq,
 * telemetry_active, activity (null without a policy), active_periods,
 * allocations, log_file, health (each GPU's, health.h; null without).  snap may be NULL before the first tick.
 */
void status_json(struct outbuf *o, const struct snapshot *snap, const struct run_state *st);

#endif
