/*
 * loop.h - the one-thread main loop shared by the running modes (collect,
 * exporter, agent): epoll over the sampler's timerfd and GPU worker, a
 * signalfd, and the sinks' descriptors (the control socket).  Every
 * snapshot the sampler publishes goes to the pipeline.
 *
 * SIGTERM and SIGINT stop it once the tick in hand is written (a tick
 * whose GPU job is still running within its budget is waited for, never
 * longer); SIGHUP and SIGUSR1 call the reopen hook (logrotate).  Signals
 * are blocked before anything else starts, so none is lost, and handled
 * in the loop, never in a handler.  SIGPIPE and SIGXFSZ are ignored so a
 * closed socket or a file size limit turns into an error the writer
 * handles.  Nothing in the loop waits on a driver.
 */
#ifndef GPUTEL_LOOP_H
#define GPUTEL_LOOP_H

#include <stdint.h>

#include "pipeline.h"
#include "sampler.h"

/* Blocks the handled signals and returns a signalfd for them, or -1. */
int loop_signals(void);

/* What the loop does with SIGHUP and SIGUSR1 beyond the sinks' reopen (the agent's reload). */
typedef void (*loop_signal_fn)(void *ctx, int signo);

/*
 * Starts the sampler and hands every snapshot to p, until a stop signal,
 * the policy's done(), or -- last_tick > 0 -- tick last_tick.  on_signal,
 * when not NULL, runs for SIGHUP and SIGUSR1 before the sinks reopen.
 * *loop_cpu_ns gets the process CPU time spent after tick 1.  Returns 0,
 * or 1 when the loop could not run.
 */
int loop_run(struct sampler *s, int sfd, uint64_t last_tick, struct pipeline *p,
	     loop_signal_fn on_signal, void *signal_ctx, int64_t *loop_cpu_ns);

#endif
