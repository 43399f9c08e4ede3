/*
 * nvml_calls.c - times every NVML query gputel makes, one by one, on each
 * GPU (CLOCK_MONOTONIC wall and CLOCK_THREAD_CPUTIME_ID CPU, median of N
 * calls), so the cost of a tick can be traced to the calls that make it.
 * Build: make build/bench/nvml_calls   Run: build/bench/nvml_calls [N] [libnvidia-ml.so.1]
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvml_abi.h"

typedef unsigned long long ull;

static double now_us(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void *lib;

/* dlsym's result into a function pointer the POSIX way (ISO C has no cast for it). */
#define FN(ret, name, args) ret(*name##_p) args; *(void **)&name##_p = dlsym(lib, #name)

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	const char *path = argc > 2 ? argv[2] : "libnvidia-ml.so.1";
	unsigned int count = 0;
	double *wall = calloc((size_t)n, sizeof *wall), *cpu = calloc((size_t)n, sizeof *cpu);

	lib = dlopen(path, RTLD_NOW);
	if (!lib || !wall || !cpu) {
		fprintf(stderr, "nvml_calls: cannot load %s\n", path);
		return 1;
	}
	FN(nvmlReturn_t, nvmlInit_v2, (void));
	FN(nvmlReturn_t, nvmlDeviceGetCount_v2, (unsigned int *));
	FN(nvmlReturn_t, nvmlDeviceGetHandleByIndex_v2, (unsigned int, nvmlDevice_t *));
	if (!nvmlInit_v2_p || nvmlInit_v2_p() != 0 || nvmlDeviceGetCount_v2_p(&count) != 0) {
		fprintf(stderr, "nvml_calls: nvmlInit failed\n");
		return 1;
	}
	FN(nvmlReturn_t, nvmlDeviceGetUtilizationRates, (nvmlDevice_t, nvmlUtilization_t *));
	FN(nvmlReturn_t, nvmlDeviceGetMemoryInfo_v2, (nvmlDevice_t, nvmlMemory_v2_t *));
	FN(nvmlReturn_t, nvmlDeviceGetTemperatureV, (nvmlDevice_t, nvmlTemperature_v1_t *));
	FN(nvmlReturn_t, nvmlDeviceGetTemperature, (nvmlDevice_t, int, unsigned int *));
	FN(nvmlReturn_t, nvmlDeviceGetPowerUsage, (nvmlDevice_t, unsigned int *));
	FN(nvmlReturn_t, nvmlDeviceGetEnforcedPowerLimit, (nvmlDevice_t, unsigned int *));
	FN(nvmlReturn_t, nvmlDeviceGetTotalEnergyConsumption, (nvmlDevice_t, ull *));
	FN(nvmlReturn_t, nvmlDeviceGetClockInfo, (nvmlDevice_t, int, unsigned int *));
	FN(nvmlReturn_t, nvmlDeviceGetFanSpeed, (nvmlDevice_t, unsigned int *));
	FN(nvmlReturn_t, nvmlDeviceGetPerformanceState, (nvmlDevice_t, int *));
	FN(nvmlReturn_t, nvmlDeviceGetCurrentClocksEventReasons, (nvmlDevice_t, ull *));
	FN(nvmlReturn_t, nvmlDeviceGetEncoderUtilization, (nvmlDevice_t, unsigned int *, unsigned int *));
	FN(nvmlReturn_t, nvmlDeviceGetDecoderUtilization, (nvmlDevice_t, unsigned int *, unsigned int *));
	FN(nvmlReturn_t, nvmlDeviceGetTotalEccErrors, (nvmlDevice_t, int, int, ull *));
	FN(nvmlReturn_t, nvmlDeviceGetRemappedRows, (nvmlDevice_t, unsigned int *, unsigned int *, unsigned int *, unsigned int *));

	printf("| gpu | call | ret | median wall (µs) | median CPU (µs) | max wall (µs) |\n|---|---|---|---|---|---|\n");
	for (unsigned int g = 0; g < count; g++) {
		nvmlDevice_t d;
		nvmlUtilization_t u;
		nvmlMemory_v2_t m = { .version = nvmlMemory_v2 };
		nvmlTemperature_v1_t t = { .version = nvmlTemperature_v1 };
		unsigned int ui, ui2, a, b, c, e;
		int si;
		ull ull_v;

		nvmlDeviceGetHandleByIndex_v2_p(g, &d);
#define TIME(label, call)                                                              \
	do {                                                                           \
		int r_ = -1;                                                           \
		for (int i = 0; i < n; i++) {                                          \
			double w0 = now_us(CLOCK_MONOTONIC), c0 = now_us(CLOCK_THREAD_CPUTIME_ID); \
			r_ = (call);                                                   \
			cpu[i] = now_us(CLOCK_THREAD_CPUTIME_ID) - c0;                 \
			wall[i] = now_us(CLOCK_MONOTONIC) - w0;                        \
		}                                                                      \
		qsort(wall, (size_t)n, sizeof *wall, cmp);                             \
		qsort(cpu, (size_t)n, sizeof *cpu, cmp);                               \
		printf("| %u | %s | %d | %.1f | %.1f | %.1f |\n", g, label, r_, wall[n / 2], \
		       cpu[n / 2], wall[n - 1]);                                       \
	} while (0)
		if (nvmlDeviceGetUtilizationRates_p) TIME("GetUtilizationRates", nvmlDeviceGetUtilizationRates_p(d, &u));
		if (nvmlDeviceGetMemoryInfo_v2_p) TIME("GetMemoryInfo_v2", nvmlDeviceGetMemoryInfo_v2_p(d, &m));
		if (nvmlDeviceGetTemperatureV_p) TIME("GetTemperatureV", nvmlDeviceGetTemperatureV_p(d, &t));
		if (nvmlDeviceGetTemperature_p) TIME("GetTemperature", nvmlDeviceGetTemperature_p(d, 0, &ui));
		if (nvmlDeviceGetPowerUsage_p) TIME("GetPowerUsage", nvmlDeviceGetPowerUsage_p(d, &ui));
		if (nvmlDeviceGetEnforcedPowerLimit_p) TIME("GetEnforcedPowerLimit", nvmlDeviceGetEnforcedPowerLimit_p(d, &ui));
		if (nvmlDeviceGetTotalEnergyConsumption_p) TIME("GetTotalEnergyConsumption", nvmlDeviceGetTotalEnergyConsumption_p(d, &ull_v));
		if (nvmlDeviceGetClockInfo_p) TIME("GetClockInfo(SM)", nvmlDeviceGetClockInfo_p(d, 1, &ui));
		if (nvmlDeviceGetClockInfo_p) TIME("GetClockInfo(MEM)", nvmlDeviceGetClockInfo_p(d, 2, &ui));
		if (nvmlDeviceGetFanSpeed_p) TIME("GetFanSpeed", nvmlDeviceGetFanSpeed_p(d, &ui));
		if (nvmlDeviceGetPerformanceState_p) TIME("GetPerformanceState", nvmlDeviceGetPerformanceState_p(d, &si));
		if (nvmlDeviceGetCurrentClocksEventReasons_p) TIME("GetCurrentClocksEventReasons", nvmlDeviceGetCurrentClocksEventReasons_p(d, &ull_v));
		if (nvmlDeviceGetEncoderUtilization_p) TIME("GetEncoderUtilization", nvmlDeviceGetEncoderUtilization_p(d, &ui, &ui2));
		if (nvmlDeviceGetDecoderUtilization_p) TIME("GetDecoderUtilization", nvmlDeviceGetDecoderUtilization_p(d, &ui, &ui2));
		if (nvmlDeviceGetTotalEccErrors_p) TIME("GetTotalEccErrors(corr)", nvmlDeviceGetTotalEccErrors_p(d, 0, 0, &ull_v));
		if (nvmlDeviceGetTotalEccErrors_p) TIME("GetTotalEccErrors(unc)", nvmlDeviceGetTotalEccErrors_p(d, 1, 0, &ull_v));
		if (nvmlDeviceGetRemappedRows_p) TIME("GetRemappedRows", nvmlDeviceGetRemappedRows_p(d, &a, &b, &c, &e));
	}
	return 0;
}
