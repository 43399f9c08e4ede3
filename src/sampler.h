/*
 * sampler.h - the only code that touches sensors.
 *
 * It owns the GPU backend and the host sensors and produces one snapshot
 * per tick.  Ticks run on CLOCK_MONOTONIC through an absolute periodic
 * timerfd, so the schedule never drifts: tick k is due at
 * start + (k-1)*interval, whatever the previous ticks cost.
 *
 * The GPUs are read on a worker thread (gpu_worker.h), the host sensors on
 * the loop's thread at the tick's instant, so a hung driver call never
 * holds up the loop.  The loop drives it (loop.c):
 *
 *	sampler_start(s)                     tick 1 is posted at once
 *	on the timerfd:  sampler_on_timer()  a tick is due
 *	on the worker's fd: sampler_on_worker()
 *	on the timeout sampler_wait_ns() gives: sampler_on_time()
 *
 * Each returns SAMPLER_TICK when sampler_snapshot() holds a tick for the
 * sinks, and SAMPLER_FRESH when sampler_fresh() answers a
 * sampler_request_fresh().
 *
 * Budget: a GPU job that has not finished within its budget -- 1 s, or
 * four times what the driver's jobs usually take when that is longer (a
 * slow driver is not a hung one), at most 10 s -- counts as hung.  Its
 * tick, and every tick that comes due while the driver stays silent, is
 * published at once with each GPU marked GPU_HEALTH_STALE and every GPU
 * value VAL_ERROR -- never the previous values as if fresh, never 0 -- and
 * snap->gpu_answered_ns stays at the last answer, so /healthz turns 503.
 * Sampling resumes when the driver answers again.  A tick that comes due
 * while a job within its budget runs waits for it; when a second one
 * comes due meanwhile, the first is skipped and the sequence number jumps
 * over it, so readers see the gap.
 */
#ifndef GPUTEL_SAMPLER_H
#define GPUTEL_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu.h"
#include "host.h"
#include "snapshot.h"

/* Wake-up lateness histogram: 10 µs buckets up to 100 ms. */
#define SAMPLER_LATE_BUCKET_NS 10000
#define SAMPLER_LATE_BUCKETS 10000

#define SAMPLER_BUDGET_MIN_NS (1000 * 1000 * 1000LL)
#define SAMPLER_BUDGET_MAX_NS (10 * 1000 * 1000 * 1000LL)
/* sampler_close() waits this long for a job still within its budget. */
#define SAMPLER_CLOSE_WAIT_NS (250 * 1000 * 1000LL)

struct sampler_stats {
	uint64_t ticks;          /* snapshots published (a resampled tick counts once) */
	uint64_t missed;         /* ticks skipped because the previous one was still running */
	uint64_t stale;          /* ticks published without GPU values (the driver did not answer) */
	int64_t late_max_ns;
	uint32_t late_hist[SAMPLER_LATE_BUCKETS + 1];
};

struct gpu_worker;

enum sampler_job { SAMPLER_JOB_NONE, SAMPLER_JOB_TICK, SAMPLER_JOB_FRESH };

struct sampler {
	struct gpu_set gpus;
	struct host *host;
	int64_t interval_ns;
	int64_t start_ns;        /* CLOCK_MONOTONIC time tick 1 was due */
	int timerfd;
	uint64_t seq;            /* the latest tick due */
	bool lite;               /* sample only what the activity decision needs */
	struct sampler_stats stats;

	/* Asynchronous sampling (sampler_start). */
	struct gpu_worker *worker;  /* NULL without a GPU backend */
	int64_t job_typical_ns;     /* a moving average of how long jobs take */
	enum sampler_job job;       /* in flight */
	int64_t job_posted_ns;
	bool stuck;                 /* the job in flight overran its budget */
	bool tick_wanted;           /* a tick is due and waits for the worker */
	bool full_wanted;           /* ... to be sampled in full (a resample) */
	bool fresh_wanted;          /* sampler_request_fresh() waits for the worker */
	bool fresh_ok;
	int64_t answered_ns;        /* the GPU source's last answer */
	struct snapshot pending;    /* the host part of the job in flight, and its time */
	struct snapshot snap;       /* the latest tick, published */
	struct snapshot fresh;      /* the latest fresh sample */
};

/*
 * Opens the GPU backend and the host sensors.  Returns 0; -EINVAL with err
 * filled when the user named a backend or library that is wrong (exit 2);
 * -EINTR with err filled when SIGTERM or SIGINT, blocked by the caller,
 * came while the driver was starting and hung; or -ENOMEM.  After -EINTR
 * the driver call is left running and the process should end with
 * _exit(): that call may be a dlopen() holding the dynamic loader's lock,
 * which exit() takes (and would wait for).
 */
int sampler_open(struct sampler *s, const struct gpu_options *opt, char *err, size_t errlen);

/* Logs the backend in use and why (the running modes; `gputel gpus` prints it). */
void sampler_log_backend(const struct sampler *s);

/* One snapshot now, on this thread, outside any schedule (`gputel gpus`, doctor). */
void sampler_take(struct sampler *s, struct snapshot *snap);

/*
 * One snapshot now, outside any schedule, with the GPUs read on the worker
 * thread while this one waits at most wait_ns for them (`gputel gpus`).
 * Returns 0; -ETIMEDOUT when the driver did not answer in time (snap
 * holds the host values and no GPU); or -EINTR, *signo set, when SIGTERM
 * or SIGINT -- blocked by the caller -- came first.  After either, the
 * driver call is left running: sampler_close() leaves the backend open.
 */
int sampler_take_within(struct sampler *s, struct snapshot *snap, int64_t wait_ns, int *signo);

/*
 * Starts the schedule and the GPU worker, and asks for tick 1 at once.
 * Returns 0 or -errno.
 */
int sampler_start(struct sampler *s);

/* The descriptors the loop watches; the worker's is -1 without a GPU backend. */
int sampler_timer_fd(const struct sampler *s);
int sampler_worker_fd(const struct sampler *s);

enum { SAMPLER_TICK = 1, SAMPLER_FRESH = 2 };

/* The timerfd is readable: a tick is due.  Returns SAMPLER_* bits. */
unsigned int sampler_on_timer(struct sampler *s);

/* The worker's fd is readable: its job is done.  Returns SAMPLER_* bits. */
unsigned int sampler_on_worker(struct sampler *s);

/* The loop woke up at the time sampler_wait_ns() gave.  Returns SAMPLER_* bits. */
unsigned int sampler_on_time(struct sampler *s);

/* How long the loop may sleep before sampler_on_time() is due, in ns; -1: no limit. */
int64_t sampler_wait_ns(const struct sampler *s);

/* True while a tick's GPU job runs within its budget (the loop lets it finish before it stops). */
bool sampler_tick_in_flight(const struct sampler *s);

/* The latest tick.  Valid until the next sampler_on_*() call. */
const struct snapshot *sampler_snapshot(const struct sampler *s);

/*
 * Asks for a fresh, full sample (an allocation's begin or end is measured
 * on one): it comes as SAMPLER_FRESH.  Returns false, asking nothing, when
 * the driver is not answering: then use sampler_snapshot().
 */
bool sampler_request_fresh(struct sampler *s);

/* The fresh sample asked for, or NULL when the driver did not give one in time. */
const struct snapshot *sampler_fresh(const struct sampler *s);

/*
 * Samples the latest tick again, in full, and publishes it again (same
 * seq) as SAMPLER_TICK: the agent does so when its decision on a lite
 * sample needs every field.  Returns false when the driver is not
 * answering (the lite tick is all there is).
 */
bool sampler_resample(struct sampler *s);

/*
 * Changes the period from the next tick on (a configuration reload); the
 * new schedule starts at the last tick's due time.  Returns 0 or -1.
 */
int sampler_set_interval(struct sampler *s, int64_t interval_ns);

/*
 * Lite sampling (the agent while idle): GPU utilisation and health only,
 * no host sensors; every other value is VAL_ABSENT.  Applies from the
 * next tick.
 */
void sampler_set_lite(struct sampler *s, bool lite);

/* Lateness percentile (0..100) in ns, from the histogram. */
int64_t sampler_late_percentile_ns(const struct sampler_stats *st, double pct);

/* Stops the worker and closes everything; a backend stuck in the driver is left open. */
void sampler_close(struct sampler *s);

#endif
