/*
 * loop.h - the one-thread main loop shared by the running modes (collect,
 * exporter, later the agent): epoll over the sampler's timerfd and a
 * signalfd.  SIGTERM and SIGINT stop it after the tick in hand; SIGHUP and
 * SIGUSR1 call the reopen hook (logrotate).  Signals are blocked before
 * anything else starts, so none is lost, and handled in the loop, never in
 * a handler.  SIGPIPE and SIGXFSZ are ignored so a closed socket or a file
 * size limit turns into an error the writer handles.
 */
#ifndef GPUTEL_LOOP_H
#define GPUTEL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "sampler.h"
#include "snapshot.h"

struct loop_hooks {
	void (*tick)(void *ctx, const struct snapshot *snap);  /* every snapshot, tick 1 included */
	void (*reopen)(void *ctx, int signo);                   /* SIGHUP, SIGUSR1; may be NULL */
	void *ctx;
	/*
	 * Another descriptor to serve in the loop (the control socket): io()
	 * runs when io_fd is readable, and after every tick.  io NULL: none.
	 */
	void (*io)(void *ctx);
	int io_fd;
	/* Asked after every tick and io(): true stops the loop. May be NULL. */
	bool (*done)(void *ctx);
};

/* Blocks the handled signals and returns a signalfd for them, or -1. */
int loop_signals(void);

/*
 * Takes tick 1 and then one snapshot per interval, handing each to the
 * tick hook, until a stop signal or, when last_tick > 0, until tick
 * last_tick.  *loop_cpu_ns gets the process CPU time spent after tick 1.
 * Returns 0, or 1 when the loop could not run.
 */
int loop_run(struct sampler *s, struct snapshot *snap, int sfd, uint64_t last_tick,
	     const struct loop_hooks *h, int64_t *loop_cpu_ns);

#endif
