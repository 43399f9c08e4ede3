/* Unit tests: util.c parsing and formatting, sampler lateness percentiles. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "sampler.h"
#include "util.h"

static void test_parse_seconds(void **state)
{
	int64_t ns;
	const int64_t lo = 10 * 1000 * 1000, hi = 3600 * NS_PER_SEC;

	(void)state;
	assert_int_equal(parse_seconds_ns("1", lo, hi, &ns), 0);
	assert_int_equal(ns, NS_PER_SEC);
	assert_int_equal(parse_seconds_ns("0.01", lo, hi, &ns), 0);
	assert_int_equal(ns, 10000000);
	assert_int_equal(parse_seconds_ns("2.5", lo, hi, &ns), 0);
	assert_int_equal(ns, 2500000000LL);
	assert_int_equal(parse_seconds_ns(".5", lo, hi, &ns), 0);
	assert_int_equal(ns, 500000000);
	assert_int_equal(parse_seconds_ns("3600", lo, hi, &ns), 0);
	static const char *const bad[] = { "", "0", "-1", "abc", "1e3", "0x10", " 1", "1 ",
					   "nan", "inf", "1.2.3", ".", "0.001", "3600.5",
					   "99999999999999999999999" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(parse_seconds_ns(bad[i], lo, hi, &ns), -1);
	assert_int_equal(parse_seconds_ns(NULL, lo, hi, &ns), -1);
}

/* Durations with a unit, everywhere a number of seconds is taken. */
static void test_parse_durations(void **state)
{
	const int64_t hi = 10LL * 86400 * NS_PER_SEC;
	static const struct {
		const char *s;
		int64_t ns;
	} good[] = {
		{ "500ms", 500000000 }, { "30s", 30 * NS_PER_SEC }, { "5m", 300 * NS_PER_SEC },
		{ "1h", 3600 * NS_PER_SEC }, { "1.5h", 5400 * NS_PER_SEC }, { "0.25s", 250000000 },
		{ "10ms", 10000000 }, { "12.345ms", 12345000 }, { "2", 2 * NS_PER_SEC },
	};
	static const char *const bad[] = { "5 m", "5M", "5min", "1hr", "ms", "s", "-5m", "1e3ms", "5mm",
					   "3ms", "241h" };
	int64_t ns;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(parse_seconds_ns(good[i].s, 10000000, hi, &ns), 0);
		assert_int_equal(ns, good[i].ns);
	}
	/* 3ms is below the 10 ms floor; 241h is above the 10-day ceiling. */
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (parse_seconds_ns(bad[i], 10000000, hi, &ns) != -1)
			fail_msg("'%s' was accepted", bad[i]);
	/* No overflow past int64 by the unit's multiplier. */
	assert_int_equal(parse_seconds_ns("9000000000h", 0, INT64_MAX, &ns), -1);
}

static void test_parse_int64(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(parse_int64("-42", &v), 0);
	assert_int_equal(v, -42);
	assert_int_equal(parse_int64("42x", &v), -1);
	assert_int_equal(parse_int64("", &v), -1);
	assert_int_equal(parse_int64("99999999999999999999", &v), -1);
}

static void test_strings(void **state)
{
	char small[4];

	(void)state;
	assert_int_equal(str_copy(small, "abcdef", sizeof small), 6);
	assert_string_equal(small, "abc");
	assert_int_equal(str_fmt(small, sizeof small, "%d", 12345), -1);
	assert_int_equal(str_fmt(small, sizeof small, "%d", 123), 3);
	char t[] = "value\n \t";
	str_rtrim(t);
	assert_string_equal(t, "value");
}

static void test_time_formats(void **state)
{
	struct timespec ts = { .tv_sec = 1767225600 + 3600 + 61, .tv_nsec = 999999999 };
	char iso[32], compact[24];

	(void)state;
	fmt_iso8601_ms(iso, &ts);
	assert_string_equal(iso, "2026-01-01T01:01:01.999Z");
	fmt_compact_utc(compact, ts.tv_sec);
	assert_string_equal(compact, "20260101T010101Z");
}

static void test_lateness_percentiles(void **state)
{
	static struct sampler_stats st;

	(void)state;
	memset(&st, 0, sizeof st);
	assert_int_equal(sampler_late_percentile_ns(&st, 99), 0);
	/* 98 ticks 15 µs late, 2 ticks 3 ms late. */
	st.late_hist[1] = 98;
	st.late_hist[300] = 2;
	st.late_max_ns = 3000500;
	assert_int_equal(sampler_late_percentile_ns(&st, 50), 20000);
	assert_int_equal(sampler_late_percentile_ns(&st, 98), 20000);
	assert_int_equal(sampler_late_percentile_ns(&st, 99), 3000500);
	assert_int_equal(sampler_late_percentile_ns(&st, 100), 3000500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_seconds),
		cmocka_unit_test(test_parse_durations),
		cmocka_unit_test(test_parse_int64),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_time_formats),
		cmocka_unit_test(test_lateness_percentiles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
