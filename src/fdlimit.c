/* fdlimit.c - see fdlimit.h. */
#include "fdlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

/* The spare descriptor (/dev/null), -1 while it is lent out or not taken. */
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static int spare = -1;

static void spare_take_locked(void)
{
	if (spare < 0)
		spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

unsigned long fdlimit_soft(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1UL << 20;
	return (unsigned long)rl.rlim_cur;
}

unsigned long fdlimit_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		/* A seccomp filter (SystemCallFilter=~@resources) refuses this: LimitNOFILE= is the way then. */
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise the open files limit from %llu to %llu: %s; set LimitNOFILE= in the service unit",
				 (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
	}
	pthread_mutex_lock(&spare_mu);
	spare_take_locked();
	pthread_mutex_unlock(&spare_mu);
	return fdlimit_soft();
}

unsigned int fdlimit_connections(unsigned int percent, unsigned int max)
{
	unsigned long soft = fdlimit_soft();
	unsigned long share = soft > FDLIMIT_RESERVE ? (soft - FDLIMIT_RESERVE) * percent / 100 : 0;

	if (share > max)
		share = max;
	return share < 8 ? 8 : (unsigned int)share;
}

int fdlimit_open(const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);
	int e;

	if (fd >= 0 || (errno != EMFILE && errno != ENFILE))
		return fd;
	pthread_mutex_lock(&spare_mu);
	e = errno;
	if (spare >= 0) {
		close(spare);
		spare = -1;
		fd = open(path, flags | O_CLOEXEC, mode);
		e = errno;
		if (fd >= 0)
			log_warn("the process is at its open files limit (%lu); %s took the descriptor kept in reserve",
				 fdlimit_soft(), path);
	}
	/* Taken again as soon as one is free, for the next file that needs it. */
	spare_take_locked();
	pthread_mutex_unlock(&spare_mu);
	errno = e;
	return fd;
}
