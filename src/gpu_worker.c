/* gpu_worker.c - see gpu_worker.h. */
#include "gpu_worker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct gpu_worker {
	struct gpu_set *gpus;
	pthread_t thread;
	int efd;
	pthread_mutex_t mu;
	pthread_cond_t cv;        /* a job or quit for the thread */
	pthread_cond_t idle;      /* the job is done (gpu_worker_stop waits on it) */
	/* Under mu. */
	bool posted;              /* a job waits for the thread */
	bool busy;                /* a job is posted or running */
	bool done;                /* a finished job's result waits in out */
	bool quit;
	bool opening;             /* the job is gpu_worker_open()'s, with open_opt */
	struct gpu_options open_opt;
	int open_result;
	struct gpu_job job;
	/* The thread's alone while busy; the loop's once collected. */
	struct snapshot out;
};

static void *worker_main(void *arg)
{
	struct gpu_worker *w = arg;
	uint64_t one = 1;

	for (;;) {
		struct gpu_job job;

		pthread_mutex_lock(&w->mu);
		while (!w->posted && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit) {
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		job = w->job;
		w->posted = false;
		if (w->opening) {
			struct gpu_options opt = w->open_opt;
			int r;

			pthread_mutex_unlock(&w->mu);
			/*
			 * Here, not on the caller's thread: what the backend starts
			 * (nvidia-smi's loop, with PR_SET_PDEATHSIG) lives as long as
			 * the thread that started it, and this one lasts until close.
			 */
			r = gpu_open(w->gpus, &opt);
			pthread_mutex_lock(&w->mu);
			w->open_result = r;
			w->opening = false;
			w->busy = false;
			w->done = true;
			pthread_cond_broadcast(&w->idle);
			pthread_mutex_unlock(&w->mu);
			if (write(w->efd, &one, sizeof one) < 0) {
				/* nothing to do: gpu_worker_open() also looks at done */
			}
			continue;
		}
		pthread_mutex_unlock(&w->mu);

		gpu_set_lite(w->gpus, !job.full);
		gpu_set_fresh(w->gpus, job.fresh);
		gpu_sample(w->gpus, &w->out);
		gpu_set_fresh(w->gpus, 0);

		pthread_mutex_lock(&w->mu);
		w->busy = false;
		w->done = true;
		pthread_cond_broadcast(&w->idle); /* gpu_worker_stop() may be waiting for it */
		pthread_mutex_unlock(&w->mu);
		/* A full counter (2^64 - 2 wake-ups) cannot happen: the loop drains it every time. */
		if (write(w->efd, &one, sizeof one) < 0) {
			/* nothing to do: the loop also looks at done on its deadline */
		}
	}
}

int gpu_worker_start(struct gpu_worker **out, struct gpu_set *gpus)
{
	struct gpu_worker *w = calloc(1, sizeof *w);
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	if (!w)
		return -ENOMEM;
	w->gpus = gpus;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		r = -errno;
		free(w);
		return r;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	pthread_cond_init(&w->idle, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals are the loop's (signalfd): the thread starts with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		pthread_cond_destroy(&w->idle);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		close(w->efd);
		free(w);
		return r;
	}
	*out = w;
	return 0;
}

int gpu_worker_fd(const struct gpu_worker *w)
{
	return w->efd;
}

int gpu_worker_post(struct gpu_worker *w, struct gpu_job job)
{
	int r = 0;

	pthread_mutex_lock(&w->mu);
	if (w->busy) {
		r = -EBUSY;
	} else {
		w->job = job;
		w->posted = true;
		w->busy = true;
		w->done = false;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

const struct snapshot *gpu_worker_collect(struct gpu_worker *w)
{
	uint64_t n;
	bool done;

	if (read(w->efd, &n, sizeof n) < 0) {
		/* EAGAIN: no wake-up pending; done below still tells */
	}
	pthread_mutex_lock(&w->mu);
	done = w->done;
	w->done = false;
	pthread_mutex_unlock(&w->mu);
	return done ? &w->out : NULL;
}

bool gpu_worker_stop(struct gpu_worker *w, int64_t wait_ns)
{
	struct timespec until;
	bool busy;

	if (!w)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(wait_ns / 1000000000LL);
	until.tv_nsec += (long)(wait_ns % 1000000000LL);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mu);
	/* A job that is merely slow is let finish, so that the backend can be closed. */
	while (w->busy && !w->posted &&
	       pthread_cond_timedwait(&w->idle, &w->mu, &until) == 0)
		;
	busy = w->busy && !w->posted;
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (busy) {
		/* Inside the driver: it cannot be joined, and w stays for it. */
		pthread_detach(w->thread);
		return false;
	}
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	close(w->efd);
	free(w);
	return true;
}

int gpu_worker_wait(int fd, int64_t until_ns, int *signo)
{
	struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN }, { .fd = -1, .events = POLLIN } };
	sigset_t blocked, stop;
	int r = 0;

	/* Only the stop signals this thread holds back: the others end the process by themselves. */
	pthread_sigmask(SIG_BLOCK, NULL, &blocked);
	sigemptyset(&stop);
	if (sigismember(&blocked, SIGTERM))
		sigaddset(&stop, SIGTERM);
	if (sigismember(&blocked, SIGINT))
		sigaddset(&stop, SIGINT);
	if (!sigisemptyset(&stop))
		pfd[1].fd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
	for (;;) {
		int64_t left = until_ns < 0 ? -1 : until_ns - mono_now_ns();
		int ms = left < 0 ? -1 : (int)((left > 3600 * NS_PER_SEC ? 3600 * NS_PER_SEC : left + 999999) / 1000000);
		struct signalfd_siginfo si;

		if (until_ns >= 0 && left <= 0) {
			r = 0;
			break;
		}
		if (poll(pfd, 2, ms) < 0 && errno != EINTR) {
			r = 0;
			break;
		}
		/* A stop signal wins over a job that finished at the same instant: the user asked. */
		if (pfd[1].fd >= 0 && (pfd[1].revents & POLLIN) &&
		    read(pfd[1].fd, &si, sizeof si) == (ssize_t)sizeof si) {
			*signo = (int)si.ssi_signo;
			r = -1;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			r = 1;
			break;
		}
	}
	if (pfd[1].fd >= 0)
		close(pfd[1].fd);
	return r;
}

int gpu_worker_open(struct gpu_worker *w, const struct gpu_options *opt, int *signo)
{
	int64_t started = mono_now_ns();
	bool said_slow = false;
	int r;

	pthread_mutex_lock(&w->mu);
	if (w->busy) {
		pthread_mutex_unlock(&w->mu);
		return GPU_OPEN_UNAVAILABLE; /* cannot happen: the open is the first job */
	}
	w->open_opt = *opt;
	w->opening = true;
	w->posted = true;
	w->busy = true;
	w->done = false;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (;;) {
		int woke = gpu_worker_wait(w->efd, said_slow ? -1 : started + GPU_OPEN_SLOW_NS, signo);
		bool done;

		if (woke < 0)
			return GPU_OPEN_STOPPED; /* the worker stays busy: gpu_worker_stop() leaves it */
		pthread_mutex_lock(&w->mu);
		done = w->done && !w->opening;
		pthread_mutex_unlock(&w->mu);
		if (done)
			break;
		if (woke > 0 || said_slow)
			continue;
		said_slow = true;
		log_warn("gpu: the driver has not finished starting after %.0f s (nvmlInit or listing the GPUs hangs); still waiting, SIGTERM stops gputel",
			 (double)(mono_now_ns() - started) / NS_PER_SEC);
	}
	gpu_worker_collect(w); /* drains the eventfd; the open left no readings */
	pthread_mutex_lock(&w->mu);
	r = w->open_result;
	pthread_mutex_unlock(&w->mu);
	return r;
}
