/* Unit tests: the Prometheus text format checker (prom_lint.c), which
 * `gputel doctor` runs on what the exporter port answers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "prom.h"
#include "prom_lint.h"

static const char *lint(const char *text, unsigned int *samples, unsigned int *line)
{
	return prom_text_check(text, strlen(text), samples, line);
}

static void test_valid_text(void **state)
{
	unsigned int samples, line;
	static const char text[] =
		"# HELP gputel_gpu_up Whether the GPU answers.\n"
		"# TYPE gputel_gpu_up gauge\n"
		"gputel_gpu_up{gpu=\"0\",name=\"a \\\"quoted\\\" \\\\ name\\n\"} 1\n"
		"gputel_gpu_up{gpu=\"1\",} 0\n"
		"\n"
		"# a comment\n"
		"node:recorded_rule 3.5e-3 1700000000000\n"
		"x_total +Inf\n"
		"y NaN\n"
		"z -Inf\n"
		"w{} -12";

	(void)state;
	assert_null(lint(text, &samples, &line));
	assert_int_equal(samples, 7);
	assert_int_equal(line, 0);
	assert_null(lint("", &samples, &line));
	assert_int_equal(samples, 0);
}

static void test_bad_lines_are_named(void **state)
{
	static const struct {
		const char *text;
		unsigned int line;
		const char *why;
	} cases[] = {
		{ "ok 1\nup{job=\"x\" 1\n", 2, "not followed by , or }" },
		{ "1up 1\n", 1, "does not start" },
		{ "up{1a=\"x\"} 1\n", 1, "bad label name" },
		{ "up{a:b=\"x\"} 1\n", 1, "without =" },
		{ "up{a=x} 1\n", 1, "without =" },
		{ "up{a=\"x\\t\"} 1\n", 1, "bad escape" },
		{ "up{a=\"x} 1\n", 1, "unterminated" },
		{ "up\n", 1, "no space" },
		{ "up \n", 1, "missing" },
		{ "up one\n", 1, "not a number" },
		{ "up 1e999\n", 1, "not a number" },
		{ "# TYPE up gauges\n", 1, "unknown metric type" },
		{ "# TYPE up\n", 1, "without a type" },
		{ "<html><body>hello</body></html>\n", 1, "does not start" },
	};
	unsigned int samples, line;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *why = lint(cases[i].text, &samples, &line);

		if (!why || !strstr(why, cases[i].why) || line != cases[i].line)
			fail_msg("case %zu (%s): got line %u, \"%s\"; want line %u, \"%s\"", i, cases[i].text, line,
				 why ? why : "(valid)", cases[i].line, cases[i].why);
	}
}

/* The checker reads only len bytes: a line cut in the middle is judged as cut. */
static void test_length_bounds(void **state)
{
	unsigned int samples, line;
	static const char text[] = "up 1\ndown 2";

	(void)state;
	assert_null(prom_text_check(text, 4, &samples, &line));
	assert_int_equal(samples, 1);
	assert_non_null(prom_text_check(text, 9, &samples, &line));   /* "down" without a value */
	assert_int_equal(line, 2);
}

/* What gputel itself renders passes, for every name set. */
static void test_gputel_output_passes(void **state)
{
	static char buf[1 << 18];
	static struct snapshot snap;
	const unsigned int sets[] = { PROM_NAMES_GPUTEL, PROM_NAMES_JN, PROM_NAMES_DCGM,
				      PROM_NAMES_GPUTEL | PROM_NAMES_JN | PROM_NAMES_DCGM };
	unsigned int samples, line;

	(void)state;
	memset(&snap, 0, sizeof snap);
	snap.backend = "nvml";
	snap.n_gpus = 2;
	snap.gpu_src.ok = 1;
	for (unsigned int i = 0; i < 2; i++) {
		struct gpu_reading *g = &snap.gpu[i];

		g->id.index = i;
		snprintf(g->id.uuid, sizeof g->id.uuid, "GPU-%u", i);
		snprintf(g->id.name, sizeof g->id.name, "Odd \"GPU\" \\ name\n");
		GPU_SET(g, GPU_F_UTIL_GPU_PCT, 97);
		GPU_SET(g, GPU_F_POWER_MW, 250500);
		GPU_SET(g, GPU_F_ENERGY_MJ, 123456789);
	}
	HOST_SET(&snap.host, HOST_F_CPU_UTIL_CPCT, 1234);
	for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
		struct prom_self self = { .version = "1.2.3", .driver_version = "550.54.15",
					  .telemetry_active = 1, .names = sets[k], .hostname = "node-1" };
		size_t n = prom_render(&snap, &self, buf, sizeof buf);
		const char *why;

		assert_true(n > 0);
		why = prom_text_check(buf, n, &samples, &line);
		if (why)
			fail_msg("name set %#x: line %u: %s", sets[k], line, why);
		assert_true(samples >= 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_text),
		cmocka_unit_test(test_bad_lines_are_named),
		cmocka_unit_test(test_length_bounds),
		cmocka_unit_test(test_gputel_output_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
