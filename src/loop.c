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

/* Drains the signalfd; returns true when a stop signal came. */
static bool handle_signals(int sfd, const struct loop_hooks *h)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP || si.ssi_signo == SIGUSR1) {
			if (h->reopen)
				h->reopen(h->ctx, (int)si.ssi_signo);
		} else {
			stop = true;
		}
	}
	return stop;
}

int loop_run(struct sampler *s, struct snapshot *snap, int sfd, uint64_t last_tick,
	     const struct loop_hooks *h, int64_t *loop_cpu_ns)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int tfd, ep, rc = 0;
	bool stop = false;

	*loop_cpu_ns = 0;
	tfd = sampler_start(s, snap);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (tfd < 0 || ep < 0) {
		log_error("cannot start the tick timer: %s", strerror(errno));
		if (ep >= 0)
			close(ep);
		return 1;
	}
	h->tick(h->ctx, snap);
	*loop_cpu_ns = process_cpu_ns();
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	if (h->io && h->io_fd >= 0) {
		ev.data.fd = h->io_fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, h->io_fd, &ev);
	}
	while (!stop && !(last_tick && s->seq >= last_tick)) {
		struct epoll_event evs[3];
		int n = epoll_wait(ep, evs, 3, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("epoll_wait: %s", strerror(errno));
			rc = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd) {
				stop |= handle_signals(sfd, h);
			} else if (h->io && evs[i].data.fd == h->io_fd) {
				h->io(h->ctx);
			} else if (sampler_tick(s, snap)) {
				/* Past the duration: a late wake-up must not add a tick beyond it. */
				if (last_tick && snap->seq > last_tick) {
					stop = true;
					break;
				}
				h->tick(h->ctx, snap);
				/* Timeouts of the other descriptor's connections are kept here. */
				if (h->io)
					h->io(h->ctx);
			}
		}
		if (h->done && h->done(h->ctx))
			stop = true;
	}
	*loop_cpu_ns = process_cpu_ns() - *loop_cpu_ns;
	close(ep);
	return rc;
}
