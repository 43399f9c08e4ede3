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

/* Strict UTF-8: what a Prometheus scrape, a JSON reader and a log line all take. */
static void test_utf8(void **state)
{
	static const char *const good[] = {
		"", "plain ascii", "Zo\xc3\xab", "\xe6\x9d\xb1\xe4\xba\xac", "\xf0\x9f\x98\x80",
		"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
		"\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",                 /* U+10FFFF, the last */
	};
	static const struct {
		const char *s;
		size_t bad_at;
	} bad[] = {
		{ "x\xff", 1 },                          /* never in UTF-8 */
		{ "\xfe", 0 },
		{ "ab\x80", 2 },                         /* a stray continuation byte */
		{ "\xc0\x80", 0 },                       /* overlong NUL */
		{ "\xc1\xbf", 0 },                       /* overlong */
		{ "\xe0\x80\x80", 0 },                   /* overlong, 3 bytes */
		{ "\xe0\x9f\xbf", 0 },
		{ "\xf0\x80\x80\x80", 0 },               /* overlong, 4 bytes */
		{ "\xf0\x8f\xbf\xbf", 0 },
		{ "\xed\xa0\x80", 0 },                   /* U+D800, a surrogate */
		{ "a\xed\xbf\xbf", 1 },                  /* U+DFFF */
		{ "\xf4\x90\x80\x80", 0 },               /* U+110000 */
		{ "\xf5\x80\x80\x80", 0 },
		{ "\xe2\x82", 0 },                       /* cut short */
		{ "ok\xf0\x9f\x98", 2 },
		{ "\xe2\x82x", 0 },                      /* cut short by an ASCII byte */
		{ "\xc3", 0 },
	};
	size_t at;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (!utf8_valid(good[i], strlen(good[i]), NULL))
			fail_msg("good[%zu] refused", i);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		at = 99;
		if (utf8_valid(bad[i].s, strlen(bad[i].s), &at) || at != bad[i].bad_at)
			fail_msg("bad[%zu] accepted, or at %zu not %zu", i, at, bad[i].bad_at);
	}
	/* The length given is what is checked: a sequence cut by it is cut short. */
	assert_false(utf8_valid("\xc3\xab", 1, NULL));
	assert_true(utf8_valid("\xc3\xab", 2, NULL));

	assert_null(text_problem("Zo\xc3\xab \xf0\x9f\x98\x80", 9, NULL));
	assert_string_equal(text_problem("x\xff", 2, &at), "invalid UTF-8");
	assert_int_equal(at, 1);
	assert_string_equal(text_problem("ab\ncd", 5, &at), "control character");
	assert_int_equal(at, 2);
	assert_string_equal(text_problem("a\x7f", 2, &at), "control character");
	assert_string_equal(text_problem("a\x01", 2, &at), "control character");
	assert_string_equal(text_problem("a\0b", 3, &at), "control character");
	assert_int_equal(at, 1);
}

/* \u0000 in a JSON string becomes \u0001; the same six characters anywhere else stay. */
static void test_json_nul_escapes(void **state)
{
	static const struct {
		const char *in, *out;
		size_t n;
	} cases[] = {
		{ "{\"id\": \"a\\u0000b\"}", "{\"id\": \"a\\u0001b\"}", 1 },
		{ "[\"\\u0000\", \"\\u0000\\u0000\"]", "[\"\\u0001\", \"\\u0001\\u0001\"]", 3 },
		{ "{\"k\\u0000\": 1}", "{\"k\\u0001\": 1}", 1 },      /* keys too */
		{ "[\"\\\\u0000\"]", "[\"\\\\u0000\"]", 0 },            /* an escaped backslash, then text */
		{ "[\"\\\"\\u0000\"]", "[\"\\\"\\u0001\"]", 1 },        /* after an escaped quote: still inside */
		{ "[\"\\u00001\"]", "[\"\\u00011\"]", 1 },
		{ "[\"\\u0020\", \"\\u000a\"]", "[\"\\u0020\", \"\\u000a\"]", 0 },
		{ "[\"\\u000", "[\"\\u000", 0 },                     /* cut short: left alone */
		{ "\\u0000", "\\u0000", 0 },                           /* not in a string */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char buf[64];
		size_t len = strlen(cases[i].in);

		memcpy(buf, cases[i].in, len + 1);
		if (json_mark_nul_escapes(buf, len) != cases[i].n || strcmp(buf, cases[i].out) != 0)
			fail_msg("case %zu: got %s", i, buf);
	}
}

static void test_saturating(void **state)
{
	(void)state;
	assert_int_equal(i64_add_sat(1, 2), 3);
	assert_int_equal(i64_add_sat(INT64_MAX, 1), INT64_MAX);
	assert_int_equal(i64_add_sat(INT64_MAX, INT64_MAX), INT64_MAX);
	assert_int_equal(i64_add_sat(INT64_MIN, -1), INT64_MIN);
	assert_int_equal(i64_add_sat(INT64_MAX, INT64_MIN), -1);
	assert_int_equal(i64_mul_sat(-3, 4), -12);
	assert_int_equal(i64_mul_sat(INT64_MAX, 1000), INT64_MAX);
	assert_int_equal(i64_mul_sat(INT64_MIN, 2), INT64_MIN);
	assert_int_equal(i64_mul_sat(INT64_MIN, -1), INT64_MAX);
	assert_int_equal(i64_mul_sat(-(INT64_MAX / 2), 3), INT64_MIN);
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
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_json_nul_escapes),
		cmocka_unit_test(test_saturating),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
