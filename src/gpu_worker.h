/*
 * gpu_worker.h - GPU sampling on a thread of its own.
 *
 * A driver call can hang: a GSP timeout, Xid 119, a GPU falling off the
 * bus.  NVML then blocks the calling thread for seconds or for good.  So
 * the loop thread never calls the GPU backend while it runs: it posts a
 * job to this worker, goes on serving signals, the control socket and the
 * sinks, and collects the result when the worker's eventfd turns readable.
 * The sampler (sampler.c) bounds how long it waits for a job and publishes
 * the tick without GPU values when the worker overruns.
 *
 * One job at a time.  While a job runs, the worker alone touches the
 * backend and its result; gpu_worker_collect() hands the result over.  A
 * worker stuck inside the driver cannot be joined: gpu_worker_stop() then
 * leaves it to die with the process and says so, and the backend must not
 * be closed under it.
 */
#ifndef GPUTEL_GPU_WORKER_H
#define GPUTEL_GPU_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "gpu.h"
#include "snapshot.h"

struct gpu_worker;

struct gpu_job {
	bool full;      /* every field; else utilisation and health only (lite) */
	bool fresh;     /* slow fields read now, not their held values (gpu.h, set_fresh) */
};

/*
 * gpu_open() on the worker's thread, waited for here: the worker's first
 * job.  The first driver calls (loading the library, nvmlInit, listing
 * the GPUs) can hang like any other; while they run, SIGTERM or SIGINT
 * ends the wait (see gpu_worker_wait).  A warning says so when the driver
 * takes more than GPU_OPEN_SLOW_NS.  Returns what gpu_open() returned, or
 * GPU_OPEN_STOPPED with *signo set: the worker is then left inside the
 * driver, and the process should exit.
 */
#define GPU_OPEN_SLOW_NS (5 * 1000 * 1000 * 1000LL)
int gpu_worker_open(struct gpu_worker *w, const struct gpu_options *opt, int *signo);

/*
 * Waits until fd is readable (1), until_ns passes on CLOCK_MONOTONIC (0;
 * until_ns < 0: no limit), or SIGTERM or SIGINT arrives (-1, *signo set,
 * the signal taken).  Signals count only when the calling thread has them
 * blocked, as the running modes do for their signalfd; where they are not
 * blocked they end the process as usual.
 */
int gpu_worker_wait(int fd, int64_t until_ns, int *signo);

/* Starts the thread, for the backend gpus (opened by gpu_worker_open, or already open).  Returns 0 or -errno. */
int gpu_worker_start(struct gpu_worker **out, struct gpu_set *gpus);

/* Readable once a job has finished (the loop watches it). */
int gpu_worker_fd(const struct gpu_worker *w);

/* Starts a job.  Returns 0, or -EBUSY while the previous one runs. */
int gpu_worker_post(struct gpu_worker *w, struct gpu_job job);

/*
 * The finished job's GPU readings (snap->gpu, n_gpus, gpu_src, backend),
 * or NULL when none has finished since the last call.  Valid until the
 * next gpu_worker_post().
 */
const struct snapshot *gpu_worker_collect(struct gpu_worker *w);

/*
 * Stops and joins the thread and frees w; true.  A job in flight is given
 * wait_ns to finish; false when it is still inside the driver then: the
 * thread is left to end with the process, and the caller must not close
 * the backend.
 */
bool gpu_worker_stop(struct gpu_worker *w, int64_t wait_ns);

#endif
