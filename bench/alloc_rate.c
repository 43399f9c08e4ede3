/*
 * alloc_rate.c - allocation round trips through libgputel: N threads, each
 * beginning and ending its own allocations for a while.  Prints
 * "round_trips_per_s p50_ms p99_ms errors" for bench/alloc_rate.sh.
 *
 * usage: alloc_rate THREADS SECONDS
 */
#include <gputel.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_SAMPLES (1 << 20)

static double seconds;
static double *lat;            /* ms per round trip */
static long n_lat, errors;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	double end = now() + seconds;
	long me = (long)arg, k = 0;

	while (now() < end) {
		char id[48];
		struct gputel_alloc_spec spec = { 0 };
		double t0 = now(), ms;
		int bad;

		snprintf(id, sizeof id, "bench-%ld-%ld", me, k++);
		spec.id = id;
		spec.gpus = "0";
		bad = gputel_alloc_begin(NULL, &spec, NULL) != GPUTEL_OK;
		bad |= gputel_alloc_end(NULL, id, NULL) != GPUTEL_OK;
		ms = (now() - t0) * 1000;
		pthread_mutex_lock(&mu);
		errors += bad;
		if (n_lat < MAX_SAMPLES)
			lat[n_lat++] = ms;
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t t[256];
	double t0;

	seconds = argc > 2 ? atof(argv[2]) : 5;
	if (threads < 1 || threads > 256 || !(seconds > 0))
		return 2;
	lat = malloc(MAX_SAMPLES * sizeof *lat);
	if (!lat)
		return 1;
	t0 = now();
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	t0 = now() - t0;
	qsort(lat, (size_t)n_lat, sizeof *lat, cmp);
	printf("%.0f %.3f %.3f %ld\n", n_lat / t0, n_lat ? lat[n_lat / 2] : 0,
	       n_lat ? lat[(size_t)(n_lat * 0.99)] : 0, errors);
	return 0;
}
