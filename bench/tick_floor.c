/*
 * tick_floor.c - what an empty tick costs on this machine: the same
 * absolute periodic timerfd + epoll loop gputel runs, doing nothing.  The
 * CPU per tick it prints is the floor under gputel's own figure (waking a
 * process is not free, least of all in a virtual machine).
 * Usage: tick_floor INTERVAL_NS TICKS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long long ns = argc > 1 ? atoll(argv[1]) : 1000000000LL;
	int ticks = argc > 2 ? atoi(argv[2]) : 10;
	struct itimerspec its = { { ns / 1000000000LL, ns % 1000000000LL },
				  { ns / 1000000000LL, ns % 1000000000LL } };
	struct epoll_event ev = { .events = EPOLLIN };
	struct timespec a, b;
	int t = timerfd_create(CLOCK_MONOTONIC, 0), ep = epoll_create1(0);
	uint64_t x;

	ev.data.fd = t;
	if (t < 0 || ep < 0 || timerfd_settime(t, 0, &its, NULL) != 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, t, &ev) != 0) {
		perror("tick_floor");
		return 1;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	for (int i = 0; i < ticks; i++) {
		if (epoll_wait(ep, &ev, 1, -1) != 1 || read(t, &x, sizeof x) != (ssize_t)sizeof x)
			return 1;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / ticks / 1000.0);
	return 0;
}
