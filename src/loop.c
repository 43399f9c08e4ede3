/* loop.c - see loop.h. */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define LOOP_FDS_MAX (3 + PIPELINE_SINKS_MAX)
/* A stop waits this long at most for the tick in flight (a slow driver's). */
#define LOOP_STOP_WAIT_NS (1000 * 1000 * 1000LL)

static int64_t process_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return timespec_to_ns(&ts);
}

int loop_signals(void)
{
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

struct loop {
	struct sampler *s;
	struct pipeline *p;
	int sfd;
	loop_signal_fn on_signal;
	void *signal_ctx;
	bool stopping;
	int64_t stop_at_ns;
};

static void stop(struct loop *l)
{
	if (!l->stopping)
		l->stop_at_ns = mono_now_ns();
	l->stopping = true;
}

/* Whether to go round again, and for how long to wait (ns, -1: no limit) when so. */
static bool keep_going(const struct loop *l, int64_t *wait_ns)
{
	int64_t left;

	*wait_ns = sampler_wait_ns(l->s);
	if (!l->stopping)
		return true;
	left = l->stop_at_ns + LOOP_STOP_WAIT_NS - mono_now_ns();
	if (!sampler_tick_in_flight(l->s) || left <= 0)
		return false;
	if (*wait_ns < 0 || *wait_ns > left)
		*wait_ns = left;
	return true;
}

/* Drains the signalfd. */
static void handle_signals(struct loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP || si.ssi_signo == SIGUSR1) {
			if (l->on_signal)
				l->on_signal(l->signal_ctx, (int)si.ssi_signo);
			pipeline_reopen(l->p);
		} else {
			stop(l);
		}
	}
}

static void watch(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (fd >= 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Milliseconds for epoll_wait, rounded up so that a deadline is never woken for early. */
static int wait_ms(int64_t ns)
{
	if (ns < 0)
		return -1;
	if (ns > 3600 * NS_PER_SEC)
		ns = 3600 * NS_PER_SEC;
	return (int)((ns + 999999) / 1000000);
}

int loop_run(struct sampler *s, int sfd, uint64_t last_tick, struct pipeline *p,
	     loop_signal_fn on_signal, void *signal_ctx, int64_t *loop_cpu_ns)
{
	struct loop l = { s, p, sfd, on_signal, signal_ctx, false, 0 };
	int sink_fds[PIPELINE_SINKS_MAX];
	size_t n_sink_fds = pipeline_fds(p, sink_fds, PIPELINE_SINKS_MAX);
	bool first = true;
	int64_t wait_ns;
	int ep, r, rc = 0;

	*loop_cpu_ns = 0;
	ep = epoll_create1(EPOLL_CLOEXEC);
	r = ep < 0 ? -errno : sampler_start(s);
	if (r != 0) {
		log_error("cannot start sampling: %s", strerror(-r));
		if (ep >= 0)
			close(ep);
		return 1;
	}
	watch(ep, sampler_timer_fd(s));
	watch(ep, sampler_worker_fd(s));
	watch(ep, sfd);
	for (size_t i = 0; i < n_sink_fds; i++)
		watch(ep, sink_fds[i]);
	/* A stop waits a little for the tick in flight, so that its rows are written. */
	while (keep_going(&l, &wait_ns)) {
		struct epoll_event evs[LOOP_FDS_MAX];
		int n = epoll_wait(ep, evs, LOOP_FDS_MAX, wait_ms(wait_ns));
		unsigned int got = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("epoll_wait: %s", strerror(errno));
			rc = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd) {
				handle_signals(&l);
			} else if (fd == sampler_timer_fd(s)) {
				unsigned int bits = sampler_on_timer(s);

				/* Stopping: no new tick starts (the timer is drained all the same). */
				got |= l.stopping ? bits & ~(unsigned int)SAMPLER_TICK : bits;
			} else if (fd == sampler_worker_fd(s)) {
				got |= sampler_on_worker(s);
			} else {
				pipeline_io(p, fd);
			}
		}
		got |= sampler_on_time(s);
		if (got & SAMPLER_FRESH)
			pipeline_fresh(p, sampler_fresh(s));
		if (got & SAMPLER_TICK) {
			const struct snapshot *snap = sampler_snapshot(s);

			/* Past the duration: a late wake-up must not add a tick beyond it. */
			if (last_tick && snap->seq > last_tick)
				break;
			pipeline_tick(p, snap);
			if (first) {
				*loop_cpu_ns = process_cpu_ns();
				first = false;
			}
			/* Timeouts of the sinks' connections are kept here. */
			pipeline_io(p, -1);
			if (last_tick && snap->seq >= last_tick && !sampler_tick_in_flight(s))
				stop(&l);
		}
		if (pipeline_done(p))
			stop(&l);
	}
	*loop_cpu_ns = first ? 0 : process_cpu_ns() - *loop_cpu_ns;
	close(ep);
	return rc;
}
