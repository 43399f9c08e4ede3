/* sampler.c - see sampler.h. */
#include "sampler.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int sampler_open(struct sampler *s, const struct gpu_options *opt, char *err, size_t errlen)
{
	int r;

	memset(s, 0, sizeof *s);
	s->timerfd = -1;
	s->interval_ns = opt->interval_ns;
	r = gpu_open(&s->gpus, opt);
	if (r == GPU_OPEN_BAD_CONFIG) {
		str_copy(err, s->gpus.reason, errlen);
		return r;
	}
	if (!s->gpus.backend)
		log_warn("no gpu backend (%s); recording host telemetry only", s->gpus.reason);
	else
		log_info("gpu backend: %s", s->gpus.reason);
	s->host = host_open();
	if (!s->host) {
		gpu_close(&s->gpus);
		str_copy(err, "out of memory", errlen);
		return -1;
	}
	return 0;
}

void sampler_take(struct sampler *s, struct snapshot *snap)
{
	clock_gettime(CLOCK_REALTIME, &snap->wall);
	snap->mono_ns = mono_now_ns();
	snap->seq = s->seq;
	gpu_sample(&s->gpus, snap);
	if (s->lite) {
		memset(&snap->host, 0, sizeof snap->host);
		snap->host_src.duration_ns = 0;
		snap->host_src.ok = 1;
	} else {
		host_sample(s->host, snap);
	}
	s->stats.ticks++;
}

void sampler_resample(struct sampler *s, struct snapshot *snap)
{
	sampler_take(s, snap);
	s->stats.ticks--;
}

void sampler_resample_fresh(struct sampler *s, struct snapshot *snap)
{
	int lite = s->lite;

	s->lite = 0;
	gpu_set_lite(&s->gpus, 0);
	gpu_set_fresh(&s->gpus, 1);
	sampler_resample(s, snap);
	gpu_set_fresh(&s->gpus, 0);
	gpu_set_lite(&s->gpus, lite);
	s->lite = lite;
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

int sampler_start(struct sampler *s, struct snapshot *snap)
{
	struct itimerspec its = { 0 };
	int64_t first;

	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->timerfd < 0)
		return -1;
	s->start_ns = mono_now_ns();
	s->seq = 1;
	sampler_take(s, snap);
	/* Absolute and periodic: the kernel adds the interval to the last due
	 * time, not to when we got around to reading, so nothing drifts. */
	first = s->start_ns + s->interval_ns;
	its.it_value.tv_sec = first / NS_PER_SEC;
	its.it_value.tv_nsec = first % NS_PER_SEC;
	its.it_interval.tv_sec = s->interval_ns / NS_PER_SEC;
	its.it_interval.tv_nsec = s->interval_ns % NS_PER_SEC;
	if (timerfd_settime(s->timerfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
		close(s->timerfd);
		s->timerfd = -1;
		return -1;
	}
	return s->timerfd;
}

void sampler_set_lite(struct sampler *s, int lite)
{
	if (s->lite == lite)
		return;
	s->lite = lite;
	gpu_set_lite(&s->gpus, lite);
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

int sampler_tick(struct sampler *s, struct snapshot *snap)
{
	uint64_t expirations = 0;
	ssize_t r = read(s->timerfd, &expirations, sizeof expirations);
	int64_t due;

	if (r != (ssize_t)sizeof expirations || expirations == 0)
		return 0;
	/* Several expirations: we were late, the ticks in between are gone. */
	s->stats.missed += expirations - 1;
	s->seq += expirations;
	due = s->start_ns + (int64_t)(s->seq - 1) * s->interval_ns;
	record_lateness(&s->stats, mono_now_ns() - due);
	sampler_take(s, snap);
	snap->seq = s->seq;
	return 1;
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
	if (s->timerfd >= 0)
		close(s->timerfd);
	s->timerfd = -1;
	host_close(s->host);
	s->host = NULL;
	gpu_close(&s->gpus);
}
