/* sampler.c - see sampler.h. */
#include "sampler.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "gpu_worker.h"
#include "log.h"
#include "util.h"

int sampler_open(struct sampler *s, const struct gpu_options *opt, char *err, size_t errlen)
{
	int r, signo = 0;

	memset(s, 0, sizeof *s);
	s->timerfd = -1;
	s->interval_ns = opt->interval_ns;
	/* The backend is opened on the worker's thread, so that a hung start does not hold up a stop. */
	if (gpu_worker_start(&s->worker, &s->gpus) != 0) {
		s->worker = NULL;
		r = gpu_open(&s->gpus, opt);
	} else {
		r = gpu_worker_open(s->worker, opt, &signo);
	}
	if (r == GPU_OPEN_STOPPED) {
		str_fmt(err, errlen, "stopped by %s while the gpu driver was still starting (nvmlInit or listing the gpus did not answer)",
			signo == SIGINT ? "SIGINT" : "SIGTERM");
		return -EINTR;
	}
	/* The worker stands for "there is a GPU backend" from here on (sampler_start). */
	if (!s->gpus.backend || r != 0) {
		gpu_worker_stop(s->worker, 0);
		s->worker = NULL;
	}
	if (r == GPU_OPEN_BAD_CONFIG) {
		str_copy(err, s->gpus.reason, errlen);
		return -EINVAL;
	}
	s->host = host_open();
	if (!s->host) {
		gpu_worker_stop(s->worker, 0);
		s->worker = NULL;
		gpu_close(&s->gpus);
		str_copy(err, "out of memory", errlen);
		return -ENOMEM;
	}
	return 0;
}

void sampler_log_backend(const struct sampler *s)
{
	if (!s->gpus.backend)
		log_warn("no gpu backend (%s); recording host telemetry only", s->gpus.reason);
	else
		log_info("gpu backend: %s", s->gpus.reason);
}

/* A sample's time: the instant its reads begin. */
static void stamp(struct snapshot *snap, bool lite)
{
	clock_gettime(CLOCK_REALTIME, &snap->wall);
	snap->mono_ns = mono_now_ns();
	snap->lite = lite;
}

/* The host part of a sample: read now, or left absent for a lite one. */
static void sample_host(struct sampler *s, struct snapshot *snap)
{
	if (snap->lite) {
		memset(&snap->host, 0, sizeof snap->host);
		snap->host_src.duration_ns = 0;
		snap->host_src.ok = 1;
	} else {
		host_sample(s->host, snap);
	}
}

void sampler_take(struct sampler *s, struct snapshot *snap)
{
	snap->seq = s->seq;
	gpu_set_lite(&s->gpus, s->lite);
	stamp(snap, s->lite);
	sample_host(s, snap);
	gpu_sample(&s->gpus, snap);
	snap->gpu_answered_ns = mono_now_ns();
	s->stats.ticks++;
}

int sampler_take_within(struct sampler *s, struct snapshot *snap, int64_t wait_ns, int *signo)
{
	const struct snapshot *gpu;
	struct gpu_job job = { .full = !s->lite };
	int r;

	if (!s->gpus.backend) {
		sampler_take(s, snap);
		return 0;
	}
	if (s->stuck)
		return -ETIMEDOUT; /* the worker is still inside the driver */
	if (!s->worker && gpu_worker_start(&s->worker, &s->gpus) != 0) {
		sampler_take(s, snap); /* no thread to be had: wait here, as before */
		return 0;
	}
	snap->seq = s->seq;
	stamp(snap, s->lite);
	s->job_posted_ns = mono_now_ns();
	gpu_worker_post(s->worker, job);
	sample_host(s, snap);
	r = gpu_worker_wait(gpu_worker_fd(s->worker), s->job_posted_ns + wait_ns, signo);
	gpu = r > 0 ? gpu_worker_collect(s->worker) : NULL;
	if (!gpu) {
		/* Whether it hangs or the user stopped waiting, nobody waits for this job again. */
		s->stuck = true;
		snap->backend = gpu_backend_name(&s->gpus);
		snap->n_gpus = 0;
		snap->gpu_src.ok = 0;
		snap->gpu_src.duration_ns = mono_now_ns() - s->job_posted_ns;
		return r < 0 ? -EINTR : -ETIMEDOUT;
	}
	snap->backend = gpu->backend;
	snap->n_gpus = gpu->n_gpus;
	memcpy(snap->gpu, gpu->gpu, gpu->n_gpus * sizeof gpu->gpu[0]);
	snap->gpu_src = gpu->gpu_src;
	snap->gpu_answered_ns = mono_now_ns();
	s->stats.ticks++;
	return 0;
}

static void record_lateness(struct sampler_stats *st, int64_t late_ns)
{
	int64_t b = late_ns / SAMPLER_LATE_BUCKET_NS;

	if (late_ns < 0)
		b = 0;
	if (b > SAMPLER_LATE_BUCKETS)
		b = SAMPLER_LATE_BUCKETS;
	st->late_hist[b]++;
	if (late_ns > st->late_max_ns)
		st->late_max_ns = late_ns;
}

/* How long the job in flight may take before the driver counts as hung (see sampler.h). */
static int64_t budget(const struct sampler *s)
{
	int64_t b = 4 * s->job_typical_ns;

	if (b < SAMPLER_BUDGET_MIN_NS)
		return SAMPLER_BUDGET_MIN_NS;
	return b > SAMPLER_BUDGET_MAX_NS ? SAMPLER_BUDGET_MAX_NS : b;
}

/*
 * Publishes the tick in s->pending, with the GPU readings of gpu, or --
 * gpu NULL: the driver did not answer -- with every GPU it last reported
 * marked stale and no GPU value.
 */
static void publish(struct sampler *s, const struct snapshot *gpu)
{
	struct snapshot *o = &s->snap;
	int64_t now = mono_now_ns();

	if (o->seq != s->pending.seq)
		s->stats.ticks++;
	o->seq = s->pending.seq;
	o->wall = s->pending.wall;
	o->mono_ns = s->pending.mono_ns;
	o->lite = s->pending.lite;
	o->host = s->pending.host;
	o->host_src = s->pending.host_src;
	if (gpu) {
		o->backend = gpu->backend;
		o->n_gpus = gpu->n_gpus;
		memcpy(o->gpu, gpu->gpu, gpu->n_gpus * sizeof gpu->gpu[0]);
		o->gpu_src = gpu->gpu_src;
		s->answered_ns = now;
	} else {
		/* Known GPUs stay listed, with no value: an error, never a stale one as if fresh. */
		o->backend = gpu_backend_name(&s->gpus);
		for (unsigned int i = 0; i < o->n_gpus; i++) {
			o->gpu[i].health = GPU_HEALTH_STALE;
			memset(o->gpu[i].val, 0, sizeof o->gpu[i].val);
			memset(o->gpu[i].st, VAL_ERROR, sizeof o->gpu[i].st);
		}
		o->gpu_src.ok = 0;
		o->gpu_src.duration_ns = now - s->job_posted_ns;
		s->stats.stale++;
	}
	o->gpu_answered_ns = s->answered_ns;
}

/*
 * Starts what waits for the worker; without one, does it here.  The host
 * is read on this thread while the worker reads the GPUs.  Returns
 * SAMPLER_* bits.
 */
static unsigned int dispatch(struct sampler *s)
{
	struct gpu_job job = { 0 };
	struct snapshot *into;

	if (s->job != SAMPLER_JOB_NONE)
		return 0;
	if (s->fresh_wanted) {
		s->fresh_wanted = false;
		into = &s->fresh;
		into->seq = s->seq;
		stamp(into, false);
		job.full = job.fresh = true;
		s->job = SAMPLER_JOB_FRESH;
	} else if (s->tick_wanted) {
		into = &s->pending;
		into->seq = s->seq;
		stamp(into, s->lite && !s->full_wanted);
		s->tick_wanted = s->full_wanted = false;
		job.full = !into->lite;
		s->job = SAMPLER_JOB_TICK;
	} else {
		return 0;
	}
	if (!s->worker) {
		enum sampler_job done = s->job;

		s->job = SAMPLER_JOB_NONE;
		sample_host(s, into);
		gpu_sample(&s->gpus, into);
		into->gpu_answered_ns = mono_now_ns();
		if (done == SAMPLER_JOB_FRESH) {
			s->fresh_ok = true;
			return SAMPLER_FRESH;
		}
		publish(s, into);
		return SAMPLER_TICK;
	}
	s->job_posted_ns = mono_now_ns();
	if (gpu_worker_post(s->worker, job) != 0) {
		s->job = SAMPLER_JOB_NONE;   /* cannot happen: the worker is idle when job is NONE */
		return 0;
	}
	sample_host(s, into);
	return 0;
}

int sampler_start(struct sampler *s)
{
	struct itimerspec its = { 0 };
	int64_t first;
	int r;

	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->timerfd < 0)
		return -errno;
	if (s->gpus.backend && !s->worker) {
		r = gpu_worker_start(&s->worker, &s->gpus);
		if (r != 0)
			return r;
	}
	s->start_ns = mono_now_ns();
	s->seq = 1;
	/* Absolute and periodic: the kernel adds the interval to the last due
	 * time, not to when we got around to reading, so nothing drifts. */
	first = s->start_ns + s->interval_ns;
	its.it_value.tv_sec = first / NS_PER_SEC;
	its.it_value.tv_nsec = first % NS_PER_SEC;
	its.it_interval.tv_sec = s->interval_ns / NS_PER_SEC;
	its.it_interval.tv_nsec = s->interval_ns % NS_PER_SEC;
	if (timerfd_settime(s->timerfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
		return -errno;
	s->tick_wanted = true;
	/* Without a worker, tick 1 is taken by the loop's first sampler_on_time(). */
	if (s->worker)
		dispatch(s);
	return 0;
}

int sampler_timer_fd(const struct sampler *s)
{
	return s->timerfd;
}

int sampler_worker_fd(const struct sampler *s)
{
	return s->worker ? gpu_worker_fd(s->worker) : -1;
}

unsigned int sampler_on_timer(struct sampler *s)
{
	uint64_t expirations = 0;
	ssize_t r = read(s->timerfd, &expirations, sizeof expirations);

	if (r != (ssize_t)sizeof expirations || expirations == 0)
		return 0;
	/* Several expirations: we were late, the ticks in between are gone. */
	s->stats.missed += expirations - 1;
	s->seq += expirations;
	record_lateness(&s->stats, mono_now_ns() - (s->start_ns + (int64_t)(s->seq - 1) * s->interval_ns));
	if (s->stuck) {
		s->pending.seq = s->seq;
		stamp(&s->pending, s->lite);
		sample_host(s, &s->pending);
		publish(s, NULL);
		return SAMPLER_TICK;
	}
	/* A tick still waiting for the worker gives way to this one. */
	if (s->tick_wanted)
		s->stats.missed++;
	s->tick_wanted = true;
	return dispatch(s);
}

unsigned int sampler_on_worker(struct sampler *s)
{
	const struct snapshot *gpu = gpu_worker_collect(s->worker);
	enum sampler_job done = s->job;
	unsigned int bits = 0;

	if (!gpu)
		return 0;
	s->job = SAMPLER_JOB_NONE;
	if (!s->stuck) {
		int64_t took = mono_now_ns() - s->job_posted_ns;

		s->job_typical_ns = s->job_typical_ns ? (7 * s->job_typical_ns + took) / 8 : took;
	}
	if (s->stuck) {
		/* Its tick was published without it long ago: only the news counts. */
		s->stuck = false;
		s->answered_ns = mono_now_ns();
		log_warn("gpu: the driver answered again after %.1f s; sampling resumes",
			 (double)(s->answered_ns - s->job_posted_ns) / NS_PER_SEC);
	} else if (done == SAMPLER_JOB_TICK) {
		publish(s, gpu);
		bits |= SAMPLER_TICK;
	} else if (done == SAMPLER_JOB_FRESH) {
		s->fresh.backend = gpu->backend;
		s->fresh.n_gpus = gpu->n_gpus;
		memcpy(s->fresh.gpu, gpu->gpu, gpu->n_gpus * sizeof gpu->gpu[0]);
		s->fresh.gpu_src = gpu->gpu_src;
		s->answered_ns = s->fresh.gpu_answered_ns = mono_now_ns();
		s->fresh_ok = true;
		bits |= SAMPLER_FRESH;
	}
	return bits | dispatch(s);
}

unsigned int sampler_on_time(struct sampler *s)
{
	unsigned int bits = 0;

	if (!s->worker) {
		/* Without GPUs, sampling is the host's alone: done here, never from inside a caller. */
		while (s->fresh_wanted || s->tick_wanted)
			bits |= dispatch(s);
		return bits;
	}
	if (s->job == SAMPLER_JOB_NONE || s->stuck || mono_now_ns() - s->job_posted_ns < budget(s))
		return 0;
	s->stuck = true;
	log_warn("gpu: the driver has not answered for %.1f s (a hung driver call); ticks go on without GPU values, "
		 "/healthz turns 503, and sampling resumes when it answers",
		 (double)(mono_now_ns() - s->job_posted_ns) / NS_PER_SEC);
	if (s->job == SAMPLER_JOB_FRESH || s->fresh_wanted) {
		s->fresh_wanted = false;
		s->fresh_ok = false;
		bits |= SAMPLER_FRESH;
	}
	if (s->tick_wanted) {
		/* A newer tick came due behind the hung one: it stands for both. */
		if (s->job == SAMPLER_JOB_TICK)
			s->stats.missed++;
		s->tick_wanted = s->full_wanted = false;
		s->pending.seq = s->seq;
		stamp(&s->pending, s->lite);
		sample_host(s, &s->pending);
	} else if (s->job != SAMPLER_JOB_TICK) {
		return bits;
	}
	publish(s, NULL);
	return bits | SAMPLER_TICK;
}

int64_t sampler_wait_ns(const struct sampler *s)
{
	int64_t left;

	if (!s->worker)
		return s->fresh_wanted || s->tick_wanted ? 0 : -1;
	if (s->job == SAMPLER_JOB_NONE || s->stuck)
		return -1;
	left = s->job_posted_ns + budget(s) - mono_now_ns();
	return left > 0 ? left : 0;
}

bool sampler_tick_in_flight(const struct sampler *s)
{
	return !s->stuck && (s->job == SAMPLER_JOB_TICK || s->tick_wanted);
}

const struct snapshot *sampler_snapshot(const struct sampler *s)
{
	return &s->snap;
}

bool sampler_request_fresh(struct sampler *s)
{
	if (s->stuck)
		return false;
	s->fresh_wanted = true;
	if (s->worker)
		dispatch(s);
	return true;
}

const struct snapshot *sampler_fresh(const struct sampler *s)
{
	return s->fresh_ok ? &s->fresh : NULL;
}

bool sampler_resample(struct sampler *s)
{
	if (s->stuck)
		return false;
	s->tick_wanted = s->full_wanted = true;
	if (s->worker)
		dispatch(s);
	return true;
}

void sampler_set_lite(struct sampler *s, bool lite)
{
	s->lite = lite;
}

int sampler_set_interval(struct sampler *s, int64_t interval_ns)
{
	struct itimerspec its = { 0 };
	int64_t last_due = s->start_ns + (int64_t)(s->seq - 1) * s->interval_ns;
	int64_t next = last_due + interval_ns;

	if (interval_ns <= 0 || s->timerfd < 0)
		return -1;
	/* Renumber the schedule so that tick seq+1 falls at next. */
	s->start_ns = next - (int64_t)s->seq * interval_ns;
	s->interval_ns = interval_ns;
	its.it_value.tv_sec = next / NS_PER_SEC;
	its.it_value.tv_nsec = next % NS_PER_SEC;
	its.it_interval.tv_sec = interval_ns / NS_PER_SEC;
	its.it_interval.tv_nsec = interval_ns % NS_PER_SEC;
	return timerfd_settime(s->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int64_t sampler_late_percentile_ns(const struct sampler_stats *st, double pct)
{
	uint64_t total = 0, want, seen = 0;

	for (size_t i = 0; i <= SAMPLER_LATE_BUCKETS; i++)
		total += st->late_hist[i];
	if (total == 0)
		return 0;
	want = (uint64_t)((double)total * pct / 100.0 + 0.5);
	if (want == 0)
		want = 1;
	for (size_t i = 0; i <= SAMPLER_LATE_BUCKETS; i++) {
		seen += st->late_hist[i];
		if (seen >= want) {
			/* Report the bucket's upper edge: never flatter the figure. */
			int64_t edge = (int64_t)(i + 1) * SAMPLER_LATE_BUCKET_NS;

			return edge < st->late_max_ns ? edge : st->late_max_ns;
		}
	}
	return st->late_max_ns;
}

void sampler_close(struct sampler *s)
{
	/*
	 * A job a little slow may finish, so that the backend closes; a hung one
	 * (past its budget) is not waited for again.  Short: a stop has already
	 * waited for the tick in flight (loop.c), and must end within 2 s.
	 */
	bool backend_free = gpu_worker_stop(s->worker, s->stuck ? 0 : SAMPLER_CLOSE_WAIT_NS);

	s->worker = NULL;
	if (s->timerfd >= 0)
		close(s->timerfd);
	s->timerfd = -1;
	host_close(s->host);
	s->host = NULL;
	if (backend_free)
		gpu_close(&s->gpus);
	else
		log_warn("gpu: a driver call is still running; leaving the GPU backend open as gputel exits");
}
