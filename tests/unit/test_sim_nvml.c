/*
 * Unit tests of the simulated driver's NVML contract, through dlopen as
 * gputel uses it: Xid events through the event API (both struct layouts),
 * an energy counter consistent with power, scenario errors surfacing
 * through nvmlErrorString, and the R418 variant's missing symbols.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvml_abi.h"
#include "util.h"

static void *lib;
static char scn_path[] = "/tmp/gputel-sim-test-XXXXXX";

static void *sym(const char *name)
{
	void *p = dlsym(lib, name);

	assert_non_null(p);
	return p;
}

static void load(const char *file)
{
	char path[512];
	const char *build = getenv("BUILD");

	snprintf(path, sizeof path, "%s/%s", build && *build ? build : "build", file);
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		fail_msg("cannot load %s: %s (run make first)", path, dlerror());
}

static void write_scenario(const char *text)
{
	int fd = mkstemp(scn_path);
	size_t n = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	setenv("GPUTEL_SIM_SCENARIO", scn_path, 1);
	unsetenv("GPUTEL_SIM_GPUS");
	unsetenv("GPUTEL_SIM_EPOCH");
}

static void cleanup(void)
{
	unlink(scn_path);
	memcpy(scn_path + strlen(scn_path) - 6, "XXXXXX", 6); /* mkstemp wants the template back */
	dlclose(lib);
	lib = NULL;
}

static void test_xid_events(void **state)
{
	nvmlReturn_t (*init)(void), (*shutdown)(void);
	nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
	nvmlReturn_t (*create)(nvmlEventSet_t *), (*set_free)(nvmlEventSet_t);
	nvmlReturn_t (*reg)(nvmlDevice_t, unsigned long long, nvmlEventSet_t);
	nvmlReturn_t (*wait)(nvmlEventSet_t, nvmlEventData_t *, unsigned int);
	nvmlDevice_t d0, d1;
	nvmlEventSet_t set;
	nvmlEventData_t ev;
	int64_t t0;

	(void)state;
	write_scenario("gpus 2\nat 0 all util=1\nat 0.4 1 xid=79\n");
	load("libnvidia-ml-sim.so");
	*(void **)&init = sym("nvmlInit_v2");
	*(void **)&shutdown = sym("nvmlShutdown");
	*(void **)&handle = sym("nvmlDeviceGetHandleByIndex_v2");
	*(void **)&create = sym("nvmlEventSetCreate");
	*(void **)&set_free = sym("nvmlEventSetFree");
	*(void **)&reg = sym("nvmlDeviceRegisterEvents");
	*(void **)&wait = sym("nvmlEventSetWait_v2");
	assert_int_equal(init(), NVML_SUCCESS);
	assert_int_equal(handle(0, &d0), NVML_SUCCESS);
	assert_int_equal(handle(1, &d1), NVML_SUCCESS);
	assert_int_equal(create(&set), NVML_SUCCESS);
	assert_int_equal(reg(d0, nvmlEventTypeXidCriticalError, set), NVML_SUCCESS);
	assert_int_equal(reg(d1, nvmlEventTypeXidCriticalError, set), NVML_SUCCESS);
	t0 = mono_now_ns();
	memset(&ev, 0, sizeof ev);
	assert_int_equal(wait(set, &ev, 3000), NVML_SUCCESS);
	/* Delivered when due (t = 0.4 s after init), not before. */
	assert_true(mono_now_ns() - t0 > 200 * 1000 * 1000);
	assert_true(ev.device == d1);
	assert_int_equal(ev.eventType, nvmlEventTypeXidCriticalError);
	assert_int_equal(ev.eventData, 79);
	/* Once only: the next wait times out. */
	assert_int_equal(wait(set, &ev, 100), NVML_ERROR_TIMEOUT);
	assert_int_equal(set_free(set), NVML_SUCCESS);
	assert_int_equal(shutdown(), NVML_SUCCESS);
	cleanup();
}

/* The R418 library has no EventSetWait_v2; its EventSetWait fills 24 bytes only. */
static void test_old_driver_layouts(void **state)
{
	nvmlReturn_t (*init)(void), (*shutdown)(void);
	nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
	nvmlReturn_t (*create)(nvmlEventSet_t *), (*set_free)(nvmlEventSet_t);
	nvmlReturn_t (*reg)(nvmlDevice_t, unsigned long long, nvmlEventSet_t);
	nvmlReturn_t (*wait)(nvmlEventSet_t, void *, unsigned int);
	unsigned char buf[32];
	nvmlDevice_t d;
	nvmlEventSet_t set;
	unsigned long long data;

	(void)state;
	write_scenario("gpus 1\ndriver 418.226.00\nat 0.2 0 xid=48\n");
	load("libnvidia-ml-sim-r418.so");
	assert_null(dlsym(lib, "nvmlEventSetWait_v2"));
	assert_null(dlsym(lib, "nvmlDeviceGetCount_v2"));
	assert_null(dlsym(lib, "nvmlDeviceGetMemoryInfo_v2"));
	assert_null(dlsym(lib, "nvmlDeviceGetRemappedRows"));
	assert_null(dlsym(lib, "nvmlDeviceGetCurrentClocksEventReasons"));
	*(void **)&init = sym("nvmlInit_v2");
	*(void **)&shutdown = sym("nvmlShutdown");
	*(void **)&handle = sym("nvmlDeviceGetHandleByIndex");
	*(void **)&create = sym("nvmlEventSetCreate");
	*(void **)&set_free = sym("nvmlEventSetFree");
	*(void **)&reg = sym("nvmlDeviceRegisterEvents");
	*(void **)&wait = sym("nvmlEventSetWait");
	assert_int_equal(init(), NVML_SUCCESS);
	assert_int_equal(handle(0, &d), NVML_SUCCESS);
	assert_int_equal(create(&set), NVML_SUCCESS);
	assert_int_equal(reg(d, nvmlEventTypeXidCriticalError, set), NVML_SUCCESS);
	memset(buf, 0xaa, sizeof buf);
	assert_int_equal(wait(set, buf, 3000), NVML_SUCCESS);
	memcpy(&data, buf + 16, sizeof data);
	assert_int_equal(data, 48);
	for (size_t i = 24; i < sizeof buf; i++)
		assert_int_equal(buf[i], 0xaa);
	set_free(set);
	shutdown();
	cleanup();
}

static void test_energy_follows_power(void **state)
{
	nvmlReturn_t (*init)(void), (*shutdown)(void);
	nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
	nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long *);
	nvmlReturn_t (*power)(nvmlDevice_t, unsigned int *);
	unsigned long long e0, e1;
	unsigned int mw;
	nvmlDevice_t d;
	int64_t t0, t1;

	(void)state;
	write_scenario("gpus 1\nat 0 all power_w=400\n");
	load("libnvidia-ml-sim.so");
	*(void **)&init = sym("nvmlInit_v2");
	*(void **)&shutdown = sym("nvmlShutdown");
	*(void **)&handle = sym("nvmlDeviceGetHandleByIndex_v2");
	*(void **)&energy = sym("nvmlDeviceGetTotalEnergyConsumption");
	*(void **)&power = sym("nvmlDeviceGetPowerUsage");
	assert_int_equal(init(), NVML_SUCCESS);
	assert_int_equal(handle(0, &d), NVML_SUCCESS);
	assert_int_equal(power(d, &mw), NVML_SUCCESS);
	assert_int_equal(mw, 400000);
	t0 = mono_now_ns();
	assert_int_equal(energy(d, &e0), NVML_SUCCESS);
	nanosleep(&(struct timespec){ .tv_nsec = 300 * 1000 * 1000 }, NULL);
	assert_int_equal(energy(d, &e1), NVML_SUCCESS);
	t1 = mono_now_ns();
	/* 400 W for dt seconds = 400,000 mJ/s * dt, within the time the calls took. */
	double expect = 400000.0 * (double)(t1 - t0) / 1e9;
	assert_true((double)(e1 - e0) <= expect * 1.001 + 1);
	assert_true((double)(e1 - e0) >= expect * 0.95);
	shutdown();
	cleanup();
}

static void test_bad_scenario_message(void **state)
{
	nvmlReturn_t (*init)(void);
	const char *(*errstr)(nvmlReturn_t);
	nvmlReturn_t r;

	(void)state;
	write_scenario("gpus 2\nat 0 all utl=5\n");
	load("libnvidia-ml-sim.so");
	*(void **)&init = sym("nvmlInit_v2");
	*(void **)&errstr = sym("nvmlErrorString");
	r = init();
	assert_int_equal(r, NVML_ERROR_UNKNOWN);
	assert_non_null(strstr(errstr(r), ":2: "));
	assert_non_null(strstr(errstr(r), "utl"));
	cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xid_events),
		cmocka_unit_test(test_old_driver_layouts),
		cmocka_unit_test(test_energy_follows_power),
		cmocka_unit_test(test_bad_scenario_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
