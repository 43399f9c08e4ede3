/* Unit tests: Prometheus exposition rendering (prom.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "prom.h"

static char buf[1 << 18];
static struct snapshot snap;

/* A sink's own families, as pipeline_metrics() would add them. */
static void extra(void *ctx, struct outbuf *o, const struct snapshot *s)
{
	(void)s;
	prom_family(o, "gputel_test_rows_total", "counter", "Rows.");
	ob_puts(o, ctx);
}

static const struct prom_self self = {
	.version = "1.2.3", .driver_version = "550.54.15", .telemetry_active = 1,
	.extra = extra, .extra_ctx = "gputel_test_rows_total 42\n",
};

static void fill(void)
{
	memset(&snap, 0, sizeof snap);
	snap.backend = "nvml";
	snap.n_gpus = 2;
	snap.wall.tv_sec = 1767225600;
	snap.gpu_src.ok = 1;
	snap.gpu_src.duration_ns = 81000;
	for (unsigned int i = 0; i < 2; i++) {
		struct gpu_reading *g = &snap.gpu[i];

		g->id.index = i;
		snprintf(g->id.uuid, sizeof g->id.uuid, "GPU-%u", i);
		snprintf(g->id.pci_bus_id, sizeof g->id.pci_bus_id, "00000000:%02X:00.0", 0x18 + i);
		snprintf(g->id.name, sizeof g->id.name, "NVIDIA H100");
		GPU_SET(g, GPU_F_UTIL_GPU_PCT, 97);
		GPU_SET(g, GPU_F_POWER_MW, 250500);
		GPU_SET(g, GPU_F_CLOCK_SM_MHZ, 1980);
		GPU_SET(g, GPU_F_ENERGY_MJ, 123456789);
		GPU_SET(g, GPU_F_CLOCK_EVENT_MASK, 0x4 | 0x40);
		g->st[GPU_F_FAN_PCT] = VAL_UNSUPPORTED;
		g->st[GPU_F_TEMP_MC] = VAL_ERROR;
	}
	HOST_SET(&snap.host, HOST_F_CPU_UTIL_CPCT, 1234);
	HOST_SET(&snap.host, HOST_F_CPU_PKG_TEMP_MC, 51500);
	snap.host.rapl = RAPL_UNREADABLE;
	snap.host.st[HOST_F_CPU_PKG_POWER_MW] = VAL_ERROR;
}

static size_t render(void)
{
	size_t n = prom_render(&snap, &self, buf, sizeof buf);

	assert_true(n > 0);
	buf[n] = '\0';
	return n;
}

static int count(const char *needle)
{
	int k = 0;

	for (const char *p = buf; (p = strstr(p, needle)) != NULL; p++)
		k++;
	return k;
}

#define G0 "{gpu=\"0\",uuid=\"GPU-0\",pci_bus_id=\"00000000:18:00.0\",name=\"NVIDIA H100\""
#define G1 "{gpu=\"1\",uuid=\"GPU-1\",pci_bus_id=\"00000000:19:00.0\",name=\"NVIDIA H100\""

static void test_values_in_base_units(void **state)
{
	(void)state;
	fill();
	render();
	assert_non_null(strstr(buf, "gputel_gpu_utilization_ratio" G0 "} 0.97\n"));
	assert_non_null(strstr(buf, "gputel_gpu_power_watts" G1 "} 250.500\n"));
	assert_non_null(strstr(buf, "gputel_gpu_clock_hertz" G0 ",clock=\"sm\"} 1980000000\n"));
	assert_non_null(strstr(buf, "gputel_gpu_energy_joules_total" G0 "} 123456.789\n"));
	assert_non_null(strstr(buf, "gputel_cpu_utilization_ratio 0.1234\n"));
	assert_non_null(strstr(buf, "gputel_host_temperature_celsius{role=\"cpu_pkg\"} 51.500\n"));
	assert_non_null(strstr(buf, "gputel_gpu_info" G0 ",driver_version=\"550.54.15\",backend=\"nvml\"} 1\n"));
	assert_non_null(strstr(buf, "gputel_gpu_up" G1 "} 1\n"));
	assert_non_null(strstr(buf, "gputel_gpu_clocks_event_reason" G0 ",reason=\"sw_power_cap\"} 1\n"));
	assert_non_null(strstr(buf, "gputel_gpu_clocks_event_reason" G0 ",reason=\"hw_thermal_slowdown\"} 1\n"));
	assert_non_null(strstr(buf, "gputel_gpu_clocks_event_reason" G0 ",reason=\"gpu_idle\"} 0\n"));
	assert_non_null(strstr(buf, "# TYPE gputel_test_rows_total counter\ngputel_test_rows_total 42\n"));
	assert_non_null(strstr(buf, "gputel_telemetry_active 1\n"));
	assert_non_null(strstr(buf, "gputel_build_info{version=\"1.2.3\"} 1\n"));
	assert_non_null(strstr(buf, "gputel_collect_duration_seconds{source=\"gpu\"} 0.000081\n"));
	assert_non_null(strstr(buf, "gputel_rapl_readable 0\n"));
}

static void test_invalid_values_are_absent(void **state)
{
	(void)state;
	fill();
	render();
	/* Unsupported fan, failed temperature, unreadable RAPL: no sample at all. */
	assert_null(strstr(buf, "gputel_gpu_fan_ratio{"));
	assert_null(strstr(buf, "gputel_gpu_temperature_celsius{"));
	assert_null(strstr(buf, "\ngputel_cpu_package_power_watts "));
	/* A lost GPU: up 0 and its values gone. */
	snap.gpu[1].health = GPU_HEALTH_DOWN;
	memset(snap.gpu[1].st, VAL_ERROR, sizeof snap.gpu[1].st);
	render();
	assert_non_null(strstr(buf, "gputel_gpu_up" G1 "} 0\n"));
	assert_null(strstr(buf, "gputel_gpu_power_watts" G1));
	assert_non_null(strstr(buf, "gputel_gpu_power_watts" G0));
}

static void test_each_family_once(void **state)
{
	(void)state;
	fill();
	render();
	assert_int_equal(count("# TYPE gputel_gpu_clock_hertz gauge\n"), 1);
	assert_int_equal(count("# HELP gputel_gpu_clock_hertz "), 1);
	assert_int_equal(count("# TYPE gputel_gpu_ecc_errors_total counter\n"), 1);
	assert_int_equal(count("# TYPE gputel_host_temperature_celsius gauge\n"), 1);
	assert_int_equal(count("gputel_gpu_clock_hertz{"), 2); /* sm on both GPUs, no mem */
	/* Every counter's name ends in _total. */
	for (const char *p = buf; (p = strstr(p, "# TYPE ")) != NULL; p++) {
		const char *end = strchr(p, '\n');

		if (end - p > 8 && memcmp(end - 7, "counter", 7) == 0)
			assert_true(memcmp(end - 8 - 6, "_total", 6) == 0);
	}
}

static void test_label_escaping(void **state)
{
	char out[512], quotes[129], want[257];
	struct outbuf o = { out, 0, sizeof out, false };

	(void)state;
	prom_put_label_value(&o, "a\"b\\c\nd");
	assert_false(o.full);
	assert_int_equal(o.len, 10);
	assert_memory_equal(out, "a\\\"b\\\\c\\nd", 10);
	/* An owner of 128 '"' is 256 bytes escaped: all of it, not "" (a fixed 256-byte scratch lost it). */
	memset(quotes, '"', 128);
	quotes[128] = '\0';
	for (size_t i = 0; i < 128; i++)
		memcpy(want + 2 * i, "\\\"", 2);
	o.len = 0;
	prom_put_label_value(&o, quotes);
	assert_false(o.full);
	assert_int_equal(o.len, 256);
	assert_memory_equal(out, want, 256);
	/* Too long for the buffer: marked full, never cut short silently. */
	o = (struct outbuf){ out, 0, 4, false };
	prom_put_label_value(&o, "abcdef");
	assert_true(o.full);
	fill();
	snprintf(snap.gpu[0].id.name, sizeof snap.gpu[0].id.name, "Evil \"GPU\"\n");
	render();
	assert_non_null(strstr(buf, "name=\"Evil \\\"GPU\\\"\\n\""));
}

static void test_no_gpu_and_small_buffer(void **state)
{
	char small[128];

	(void)state;
	fill();
	snap.n_gpus = 0;
	snap.backend = "none";
	render();
	assert_null(strstr(buf, "gputel_gpu_"));
	assert_non_null(strstr(buf, "gputel_cpu_utilization_ratio"));
	assert_int_equal(prom_render(&snap, &self, small, sizeof small), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_in_base_units),
		cmocka_unit_test(test_invalid_values_are_absent),
		cmocka_unit_test(test_each_family_once),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_no_gpu_and_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
