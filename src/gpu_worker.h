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

/* Starts the thread.  Returns 0 or -errno. */
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
