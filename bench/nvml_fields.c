/*
 * nvml_fields.c - times nvmlDeviceGetFieldValues for the energy and power
 * fields against the dedicated calls (median CPU of N calls), to choose the
 * cheapest way to read a GPU's energy counter.
 * Usage: nvml_fields [N] [libnvidia-ml.so.1]
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nvml_abi.h"

typedef struct {
	unsigned int fieldId, scopeId;
	long long timestamp, latencyUsec;
	int valueType, nvmlReturn;
	unsigned long long value;
} field_value;

static double cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50;
	void *lib = dlopen(argc > 2 ? argv[2] : "libnvidia-ml.so.1", RTLD_NOW);
	double *t = calloc((size_t)n, sizeof *t);
	nvmlDevice_t d;

	if (!lib || !t)
		return 1;
	/* dlsym's results into function pointers the POSIX way (ISO C has no cast for it). */
	nvmlReturn_t (*init)(void);
	nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
	nvmlReturn_t (*fv)(nvmlDevice_t, int, field_value *);
	nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long *);

	*(void **)&init = dlsym(lib, "nvmlInit_v2");
	*(void **)&handle = dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
	*(void **)&fv = dlsym(lib, "nvmlDeviceGetFieldValues");
	*(void **)&energy = dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption");
	if (!init || init() != 0 || handle(0, &d) != 0 || !fv)
		return 1;
	static const unsigned int ids[] = { 83, 191, 185, 186 };
	for (unsigned int k = 0; k < 5; k++) {
		field_value v = { .fieldId = k < 4 ? ids[k] : 0 };
		unsigned long long e = 0;
		int r = 0;

		for (int i = 0; i < n; i++) {
			double c0 = cpu_us();

			r = k < 4 ? (fv(d, 1, &v), v.nvmlReturn) : energy(d, &e);
			t[i] = cpu_us() - c0;
		}
		qsort(t, (size_t)n, sizeof *t, cmp);
		printf("%s %u: ret %d value %llu median CPU %.1f us max %.1f us\n",
		       k < 4 ? "field" : "GetTotalEnergyConsumption", k < 4 ? ids[k] : 0, r,
		       k < 4 ? v.value : e, t[n / 2], t[n - 1]);
	}
	return 0;
}
