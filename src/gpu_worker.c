/* gpu_worker.c - see gpu_worker.h. */
#include "gpu_worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

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
		pthread_mutex_unlock(&w->mu);

		gpu_set_lite(w->gpus, !job.full);
		gpu_set_fresh(w->gpus, job.fresh);
		gpu_sample(w->gpus, &w->out);
		gpu_set_fresh(w->gpus, 0);

		pthread_mutex_lock(&w->mu);
		w->busy = false;
		w->done = true;
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
