/*
 * sampler.h - the only code that touches sensors.
 *
 * It owns the GPU backend and the host sensors and takes one snapshot per
 * tick.  Ticks run on CLOCK_MONOTONIC through an absolute periodic timerfd,
 * so the schedule never drifts: tick k is due at start + (k-1)*interval,
 * whatever the previous ticks cost.  A tick that could not run in time
 * (the process was stopped, a driver call hung) is skipped, and the
 * sequence number jumps over it so that readers can see the gap.
 */
#ifndef GPUTEL_SAMPLER_H
#define GPUTEL_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "gpu.h"
#include "host.h"
#include "snapshot.h"

/* Wake-up lateness histogram: 10 µs buckets up to 100 ms. */
#define SAMPLER_LATE_BUCKET_NS 10000
#define SAMPLER_LATE_BUCKETS 10000

struct sampler_stats {
	uint64_t ticks;          /* snapshots taken */
	uint64_t missed;         /* ticks skipped because we woke too late */
	int64_t late_max_ns;
	uint32_t late_hist[SAMPLER_LATE_BUCKETS + 1];
};

struct sampler {
	struct gpu_set gpus;
	struct host *host;
	int64_t interval_ns;
	int64_t start_ns;        /* CLOCK_MONOTONIC time tick 1 was due */
	int timerfd;
	uint64_t seq;
	int lite;                /* sample only what the activity decision needs */
	struct sampler_stats stats;
};

/*
 * Opens the GPU backend and the host sensors.  Returns 0; GPU_OPEN_BAD_CONFIG
 * with err filled (exit 2); or -1 (out of memory).
 */
int sampler_open(struct sampler *s, const struct gpu_options *opt, char *err, size_t errlen);

/* Takes tick 1 now and arms the timer for the next ones. Returns the timerfd or -1. */
int sampler_start(struct sampler *s, struct snapshot *snap);

/*
 * Call when the timerfd is readable: takes the due snapshot.  Returns 1
 * when snap was filled, 0 on a spurious wake-up.
 */
int sampler_tick(struct sampler *s, struct snapshot *snap);

/*
 * Changes the period from the next tick on (a configuration reload); the
 * new schedule starts at the last tick's due time.  Returns 0 or -1.
 */
int sampler_set_interval(struct sampler *s, int64_t interval_ns);

/*
 * Lite sampling (the agent while idle): GPU utilisation and health only,
 * no host sensors; every other value is VAL_ABSENT.  Applies from the next
 * snapshot.
 */
void sampler_set_lite(struct sampler *s, int lite);

/*
 * Samples the current tick again into snap (same seq, not counted as a
 * tick): the agent does so in full when its decision was taken on a lite
 * sample.
 */
void sampler_resample(struct sampler *s, struct snapshot *snap);

/*
 * Like sampler_resample, in full and with every value read afresh (no
 * repeated slow reads): an allocation's begin and end are measured on it.
 */
void sampler_resample_fresh(struct sampler *s, struct snapshot *snap);

/* One snapshot now, outside any schedule (`gputel gpus`). */
void sampler_take(struct sampler *s, struct snapshot *snap);

/* Lateness percentile (0..100) in ns, from the histogram. */
int64_t sampler_late_percentile_ns(const struct sampler_stats *st, double pct);

void sampler_close(struct sampler *s);

#endif
