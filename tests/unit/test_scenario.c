/*
 * test_scenario.c - the simulator's scenario parser and evaluator
 * (sim/scenario.c): good and bad text, step/ramp/loop evaluation, lost GPUs,
 * the energy integral, GPU selectors, Xid events, identity and env helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../sim/scenario.h"

#define assert_near(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

static struct scenario *parse_ok(const char *text, int gpus_override)
{
	char err[SCN_ERR_MAX] = "";
	struct scenario *s = NULL;
	int rc = scn_parse(text, strlen(text), "x.scn", gpus_override, &s, err, sizeof(err));

	if (rc != 0)
		fail_msg("unexpected parse error: %s", err);
	assert_non_null(s);
	return s;
}

/* Parses text that must fail; checks the message names line and a phrase. */
static void parse_bad(const char *text, int line, const char *phrase)
{
	char err[SCN_ERR_MAX] = "", want[32];
	struct scenario *s = (struct scenario *)&err; /* must come back NULL */
	int rc = scn_parse(text, strlen(text), "x.scn", 0, &s, err, sizeof(err));

	assert_int_equal(rc, -1);
	assert_null(s);
	snprintf(want, sizeof(want), "x.scn:%d: ", line);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, want);
	if (!strstr(err, phrase))
		fail_msg("error '%s' does not mention '%s'", err, phrase);
	assert_null(strchr(err, '\n'));
	/* Every message says what to do about it after a ';'. */
	assert_non_null(strchr(err, ';'));
}

/* ---- parsing ------------------------------------------------------------ */

static void test_default_text(void **state)
{
	struct scenario *s;

	(void)state;
	s = parse_ok(scn_default_text(), 0);
	assert_int_equal(scn_gpus(s), 2);
	assert_string_equal(scn_driver(s), "550.54.15");
	assert_int_equal(scn_driver_major(s), 550);
	assert_string_equal(scn_gpu_name(s), "NVIDIA H100 80GB HBM3");
	assert_near(scn_value(s, 1, SCN_UTIL, 100), 45, 0);
	assert_near(scn_loop(s), 0, 0);
	scn_free(s);
}

static void test_full_example(void **state)
{
	static const char text[] =
		"# global settings\n"
		"gpus 4\n"
		"driver 550.54.15                 # comment after a value\n"
		"name NVIDIA H100 80GB HBM3\n"
		"memory_total_mib 81559\n"
		"power_limit_w 700\n"
		"loop 60\n"
		"missing nvmlDeviceGetTotalEnergyConsumption\n"
		"\n"
		"at 0   all  util=3 mem_util=1 power_w=65 temp_c=33 mem_used_mib=600 sm_mhz=345 mem_mhz=1593 fan=30 pstate=8\n"
		"at 10  all  ramp temp_c=71\n"
		"at 10  all  util=97 power_w=610 pstate=0 clock_events=0x4\n"
		"at 5   1    lost\n"
		"at 20  1    recover\n"
		"at 0   0    unsupported=fan,ecc\n"
		"at 0   0    error=power\n"
		"at 5   0    latency_ms=200\n"
		"at 12  0    xid=79\n";
	struct scenario *s;

	(void)state;
	s = parse_ok(text, 0);
	assert_int_equal(scn_gpus(s), 4);
	assert_near(scn_loop(s), 60, 0);
	assert_true(scn_missing(s, SCN_FN_nvmlDeviceGetTotalEnergyConsumption));
	assert_false(scn_missing(s, SCN_FN_nvmlDeviceGetPowerUsage));
	assert_near(scn_value(s, 0, SCN_MEM_TOTAL_MIB, 0), 81559, 0);
	assert_near(scn_value(s, 3, SCN_POWER_LIMIT_W, 30), 700, 0);
	assert_near(scn_value(s, 2, SCN_CLOCK_EVENTS, 11), 4, 0);
	assert_near(scn_value(s, 2, SCN_TEMP_C, 5), 52, 1e-9);
	assert_near(scn_value(s, 0, SCN_LATENCY_MS, 4.9), 0, 0);
	assert_near(scn_value(s, 0, SCN_LATENCY_MS, 5), 200, 0);
	assert_int_equal(scn_status(s, 0, SCN_F_FAN, 1), SCN_ST_UNSUPPORTED);
	assert_int_equal(scn_status(s, 0, SCN_F_POWER, 1), SCN_ST_ERROR);
	assert_int_equal(scn_status(s, 1, SCN_F_POWER, 1), SCN_OK);
	assert_int_equal(scn_status(s, 1, SCN_F_POWER, 6), SCN_ST_LOST);
	scn_free(s);
}

static void test_forgiving_syntax(void **state)
{
	/* Tabs, CRLF, blank lines, comments, blanks around '=', "gpus=3", P-states, times out of order. */
	static const char text[] =
		"\r\n"
		"   # only a comment\r\n"
		"gpus=3\r\n"
		"\tname   Some GPU,  with spaces   \r\n"
		"at 20\t1\tutil = 80   pstate=P2\r\n"
		"at 5 1 util= 40\n"
		"at 0 1 util =10";
	struct scenario *s;

	(void)state;
	s = parse_ok(text, 0);
	assert_int_equal(scn_gpus(s), 3);
	assert_string_equal(scn_gpu_name(s), "Some GPU,  with spaces");
	assert_near(scn_value(s, 1, SCN_UTIL, 1), 10, 0);
	assert_near(scn_value(s, 1, SCN_UTIL, 6), 40, 0);
	assert_near(scn_value(s, 1, SCN_UTIL, 25), 80, 0);
	assert_near(scn_value(s, 1, SCN_PSTATE, 25), 2, 0);
	/* GPU 0 was never mentioned: built-in defaults. */
	assert_near(scn_value(s, 0, SCN_UTIL, 25), 0, 0);
	assert_near(scn_value(s, 0, SCN_POWER_W, 25), 60, 0);
	scn_free(s);
}

static void test_empty_text(void **state)
{
	struct scenario *s;

	(void)state;
	s = parse_ok("", 0);
	assert_int_equal(scn_gpus(s), SCN_DEFAULT_GPUS);
	assert_near(scn_value(s, 0, SCN_TEMP_C, 3), 32, 0);
	scn_free(s);
	assert_int_equal(scn_parse(NULL, 0, "x.scn", 0, &s, NULL, 0), 0);
	scn_free(s);
}

static void test_errors(void **state)
{
	char longline[5000];

	(void)state;
	parse_bad("gpus 2\nfrobnicate 3\n", 2, "unknown directive 'frobnicate'");
	parse_bad("gpus 2\n\nat 0 all utl=5\n", 3, "unknown key 'utl'; known keys: util, mem_util");
	parse_bad("at 0 all util=abc\n", 1, "'util' needs a number, not 'abc'");
	parse_bad("at 0 all util=5x\n", 1, "needs a number");
	parse_bad("at 0 all power_w=1e3\n", 1, "needs a number");
	parse_bad("at 0 all util=nan\n", 1, "needs a number");
	parse_bad("at -1 all util=5\n", 1, "negative time");
	parse_bad("at soon all util=5\n", 1, "time 'soon' is not a number");
	parse_bad("at 2000000000 all util=5\n", 1, "too large");
	parse_bad("gpus 2\nat 0 2 util=5\n", 2, "GPU index 2 out of range");
	parse_bad("gpus 4\nat 0 0,7 util=5\n", 2, "GPU index 7 out of range");
	/* gpus declared after its use: caught at the end, still on the right line. */
	parse_bad("at 0 3 util=5\ngpus 3\n", 1, "GPU index 3 out of range");
	/* Without `gpus`, the default of 2 GPUs bounds the indices. */
	parse_bad("at 0 1-2 util=5\n", 1, "GPU index 2 out of range");
	parse_bad("at 0 99 util=5\n", 1, "GPU index 99 out of range; GPUs are numbered 0..63");
	parse_bad("at 0 0,,1 util=5\n", 1, "bad GPU list");
	parse_bad("at 0 3-1 util=5\n", 1, "bad GPU list");
	parse_bad("at 0 all util=150\n", 1, "util=150 is out of range; use 0..100");
	parse_bad("at 0 all fan=-5\n", 1, "out of range");
	parse_bad("at 0 all pstate=1.5\n", 1, "'pstate' needs a whole number");
	parse_bad("at 0 all pstate=16\n", 1, "out of range");
	parse_bad("at 0 all ecc_corr=2.5\n", 1, "whole number");
	parse_bad("at 0 all util=5\nat 5 all ramp pstate=2\n", 2, "'pstate' cannot ramp");
	parse_bad("at 5 all ramp lost\n", 1, "'lost' cannot ramp");
	parse_bad("at 5 all ramp xid=3\n", 1, "'xid' cannot ramp");
	parse_bad("at 5 all ramp unsupported=fan\n", 1, "'unsupported' cannot ramp");
	parse_bad("at 0 all unsupported=fann\n", 1, "unknown field 'fann' in unsupported=");
	parse_bad("at 0 all error=power,,fan\n", 1, "bad field list");
	parse_bad("at 0 all error=none,fan\n", 1, "'none' mixed with fields");
	parse_bad("at 0 all xid=0\n", 1, "is not an Xid");
	parse_bad("at 0 all xid=abc\n", 1, "is not an Xid");
	parse_bad("missing nvmlDeviceGetFoo\n", 1, "unknown function 'nvmlDeviceGetFoo'");
	parse_bad("missing\n", 1, "'missing' needs NVML function names");
	parse_bad("loop 60\nat 61 all util=5\n", 2, "time 61 is past 'loop 60'");
	parse_bad("at 61 all util=5\nloop 60\n", 1, "past 'loop 60'");
	parse_bad("loop 60\nat 60 0 xid=5\n", 2, "not before 'loop 60'");
	parse_bad("loop 0\n", 1, "is not a period");
	parse_bad("at 5\n", 1, "'at' needs a time and settings");
	parse_bad("at 5 all\n", 1, "'at' line sets nothing");
	parse_bad("at 5 all ramp\n", 1, "'at' line sets nothing");
	parse_bad("at 5 all util\n", 1, "'util' needs a value");
	parse_bad("at 5 all util=\n", 1, "needs a value after '='");
	parse_bad("at 5 =5\n", 1, "'=' without a key");
	parse_bad("at 5 all = 5\n", 1, "'=' without a key");
	parse_bad("at 5 all util = \n", 1, "needs a value after");
	parse_bad("at 5 all lost recover\n", 1, "'lost' and 'recover' on one line");
	parse_bad("at 5 util=5 all\n", 1, "GPU list 'all' in the wrong place");
	parse_bad("gpus 0\n", 1, "is not a GPU count");
	parse_bad("gpus 65\n", 1, "is not a GPU count");
	parse_bad("gpus 2 3\n", 1, "'gpus' takes one value");
	parse_bad("driver 55x\n", 1, "driver '55x' is not a version");
	parse_bad("driver 550..1\n", 1, "is not a version");
	parse_bad("name   \n", 1, "'name' needs a GPU name");
	parse_bad("name a\x01" "b\n", 1, "control character");
	parse_bad("power_limit_w lots\n", 1, "needs a number");
	parse_bad("util=5\n", 1, "'util' outside an 'at' line");

	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	parse_bad(longline, 1, "longer than");
}

static void test_nul_byte_inside_length(void **state)
{
	static const char text[] = "gpus 2\nat 0 all util=5\0junk\n";
	char err[SCN_ERR_MAX];
	struct scenario *s;

	(void)state;
	assert_int_equal(scn_parse(text, sizeof(text) - 1, "x.scn", 0, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "x.scn:2: line holds a NUL byte"));
}

static void test_error_message_truncates(void **state)
{
	char err[24];
	struct scenario *s;

	(void)state;
	assert_int_equal(scn_parse("at 0 all utl=1", 14, "x.scn", 0, &s, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(scn_parse("at 0 all utl=1", 14, "x.scn", 0, &s, NULL, 0), -1);
}

static void test_overlong_token_is_shown_short(void **state)
{
	char text[600], err[SCN_ERR_MAX];
	struct scenario *s;

	(void)state;
	memcpy(text, "at 0 all ", 9);
	memset(text + 9, 'k', 500);
	memcpy(text + 509, "=1", 3);
	assert_int_equal(scn_parse(text, strlen(text), "x.scn", 0, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "..."));
	assert_true(strlen(err) < 400);
}

/* ---- evaluation ---------------------------------------------------------- */

static void test_step_holds(void **state)
{
	struct scenario *s;

	(void)state;
	s = parse_ok("at 0 all util=10\nat 10 all util=90\nat 20 all util=30\n", 0);
	assert_near(scn_value(s, 0, SCN_UTIL, 0), 10, 0);
	assert_near(scn_value(s, 0, SCN_UTIL, 9.999), 10, 0);
	assert_near(scn_value(s, 0, SCN_UTIL, 10), 90, 0);
	assert_near(scn_value(s, 0, SCN_UTIL, 19), 90, 0);
	assert_near(scn_value(s, 0, SCN_UTIL, 20), 30, 0);
	assert_near(scn_value(s, 0, SCN_UTIL, 1e6), 30, 0);
	/* Negative and NaN times read as t=0. */
	assert_near(scn_value(s, 0, SCN_UTIL, -5), 10, 0);
	assert_near(scn_value(s, 0, SCN_UTIL, NAN), 10, 0);
	scn_free(s);
}

static void test_ramp_interpolates(void **state)
{
	struct scenario *s;

	(void)state;
	s = parse_ok("at 0 all temp_c=30\n"
		     "at 10 all temp_c=30\n"
		     "at 20 all ramp temp_c=70\n"
		     "at 30 all temp_c=40\n"
		     "at 40 all ramp temp_c=20\n",
		     0);
	assert_near(scn_value(s, 1, SCN_TEMP_C, 5), 30, 0);
	assert_near(scn_value(s, 1, SCN_TEMP_C, 10), 30, 1e-9);
	assert_near(scn_value(s, 1, SCN_TEMP_C, 15), 50, 1e-9);
	assert_near(scn_value(s, 1, SCN_TEMP_C, 17.5), 60, 1e-9);
	assert_near(scn_value(s, 1, SCN_TEMP_C, 20), 70, 1e-9);
	assert_near(scn_value(s, 1, SCN_TEMP_C, 25), 70, 1e-9);
	assert_near(scn_value(s, 1, SCN_TEMP_C, 30), 40, 1e-9);
	assert_near(scn_value(s, 1, SCN_TEMP_C, 35), 30, 1e-9);
	assert_near(scn_value(s, 1, SCN_TEMP_C, 99), 20, 1e-9);
	scn_free(s);
}

static void test_ramp_from_default_and_at_zero(void **state)
{
	struct scenario *s;

	(void)state;
	/* Nothing before the ramp: it starts from the built-in default (fan 30). */
	s = parse_ok("at 10 all ramp fan=80\n", 0);
	assert_near(scn_value(s, 0, SCN_FAN, 0), 30, 0);
	assert_near(scn_value(s, 0, SCN_FAN, 5), 55, 1e-9);
	scn_free(s);
	/* A ramp at t=0 has nothing to come from: a step. */
	s = parse_ok("at 0 all ramp fan=80\n", 0);
	assert_near(scn_value(s, 0, SCN_FAN, 0), 80, 0);
	scn_free(s);
}

static void test_same_time_last_wins(void **state)
{
	struct scenario *s;

	(void)state;
	s = parse_ok("at 5 all util=10\nat 5 all util=20\nat 5 0 util=30\n", 0);
	assert_near(scn_value(s, 0, SCN_UTIL, 5), 30, 0);
	assert_near(scn_value(s, 1, SCN_UTIL, 5), 20, 0);
	assert_near(scn_value(s, 1, SCN_UTIL, 4), 0, 0);
	scn_free(s);
}

static void test_loop_repeats(void **state)
{
	struct scenario *s;

	(void)state;
	s = parse_ok("loop 60\n"
		     "at 0 all util=0\n"
		     "at 10 all util=95\n"
		     "at 40 all util=0\n"
		     "at 60 all ramp temp_c=90\n",
		     0);
	for (int k = 0; k < 5; k++) {
		double base = 60.0 * k;
		assert_near(scn_value(s, 0, SCN_UTIL, base + 5), 0, 0);
		assert_near(scn_value(s, 0, SCN_UTIL, base + 10), 95, 0);
		assert_near(scn_value(s, 0, SCN_UTIL, base + 39.9), 95, 0);
		assert_near(scn_value(s, 0, SCN_UTIL, base + 45), 0, 0);
		assert_near(scn_value(s, 0, SCN_TEMP_C, base + 30), 61, 1e-6);
	}
	/* The ramp toward t=60 restarts from the t=0 value each time round. */
	assert_near(scn_value(s, 0, SCN_TEMP_C, 60), 32, 1e-9);
	scn_free(s);
}

static void test_lost_and_recover(void **state)
{
	struct scenario *s;

	(void)state;
	s = parse_ok("gpus 2\nat 5 1 lost\nat 20 1 recover\n", 0);
	assert_false(scn_lost(s, 1, 4.99));
	assert_true(scn_lost(s, 1, 5));
	assert_true(scn_lost(s, 1, 19.99));
	assert_false(scn_lost(s, 1, 20));
	assert_false(scn_lost(s, 0, 10));
	for (int f = 0; f < SCN_F_COUNT; f++) {
		assert_int_equal(scn_status(s, 1, (enum scn_field)f, 10), SCN_ST_LOST);
		assert_int_equal(scn_status(s, 1, (enum scn_field)f, 25), SCN_OK);
	}
	scn_free(s);
}

static void test_unsupported_and_error_lists(void **state)
{
	struct scenario *s;

	(void)state;
	s = parse_ok("at 0 all unsupported=fan,ecc,enc,dec,remap\n"
		     "at 0 1 error=power\n"
		     "at 10 all unsupported=none\n"
		     "at 10 1 error=none\n"
		     "at 15 0 unsupported=memory error=memory\n",
		     0);
	assert_int_equal(scn_status(s, 0, SCN_F_FAN, 1), SCN_ST_UNSUPPORTED);
	assert_int_equal(scn_status(s, 0, SCN_F_REMAP, 1), SCN_ST_UNSUPPORTED);
	assert_int_equal(scn_status(s, 0, SCN_F_UTIL, 1), SCN_OK);
	assert_int_equal(scn_status(s, 0, SCN_F_POWER, 1), SCN_OK);
	assert_int_equal(scn_status(s, 1, SCN_F_POWER, 1), SCN_ST_ERROR);
	assert_int_equal(scn_status(s, 1, SCN_F_FAN, 11), SCN_OK);
	assert_int_equal(scn_status(s, 1, SCN_F_POWER, 11), SCN_OK);
	/* Both at once: unsupported wins. */
	assert_int_equal(scn_status(s, 0, SCN_F_MEMORY, 16), SCN_ST_UNSUPPORTED);
	assert_int_equal(scn_status(s, 0, SCN_F_COUNT, 16), SCN_ST_UNSUPPORTED);
	for (int f = 0; f < SCN_F_COUNT; f++)
		assert_string_not_equal(scn_field_name((enum scn_field)f), "?");
	scn_free(s);
}

static void test_energy_step(void **state)
{
	struct scenario *s;
	double e0, e10;

	(void)state;
	/* 100 W for 10 s is 1000 J = 1,000,000 mJ. */
	s = parse_ok("at 0 all power_w=100\nat 10 all power_w=0\n", 0);
	e0 = scn_energy_mj(s, 0, 0);
	e10 = scn_energy_mj(s, 0, 10);
	assert_near(e0, scn_energy_offset_mj(0), 1e-3);
	assert_near(e10 - e0, 1000000, 1e-3);
	assert_near(scn_energy_mj(s, 0, 5) - e0, 500000, 1e-3);
	assert_near(scn_energy_mj(s, 0, 1000) - e0, 1000000, 1e-3);
	/* Each GPU starts from its own offset. */
	assert_true(scn_energy_offset_mj(1) != scn_energy_offset_mj(0));
	assert_near(scn_energy_mj(s, 1, 10) - scn_energy_mj(s, 1, 0), 1000000, 1e-3);
	scn_free(s);
}

static void test_energy_ramp_and_default(void **state)
{
	struct scenario *s;
	double o = scn_energy_offset_mj(0);

	(void)state;
	/* The ramp starts from the built-in 60 W at t=0. */
	s = parse_ok("at 20 all ramp power_w=200\n", 0);
	/* 0..20 s, 60 -> 200 W: mean 130 W for 20 s. */
	assert_near(scn_energy_mj(s, 0, 20) - o, 130 * 20 * 1000.0, 1e-3);
	/* Half-way: 60 -> 130 W over 10 s, mean 95 W. */
	assert_near(scn_energy_mj(s, 0, 10) - o, 950000, 1e-3);
	/* Then 200 W flat. */
	assert_near(scn_energy_mj(s, 0, 30) - o, (2600 + 2000) * 1000.0, 1e-3);
	scn_free(s);
}

static void test_energy_matches_power_numerically(void **state)
{
	struct scenario *s;
	double sum = 0, dt = 0.001, prev;

	(void)state;
	s = parse_ok("loop 30\n"
		     "at 0 all power_w=70\n"
		     "at 5 all ramp power_w=600\n"
		     "at 12 all power_w=450\n"
		     "at 20 all ramp power_w=80\n",
		     0);
	/* Midpoint rule over two loops vs the analytic answer. */
	for (double t = 0; t < 60 - dt / 2; t += dt)
		sum += scn_value(s, 0, SCN_POWER_W, t + dt / 2) * dt;
	assert_near(scn_energy_mj(s, 0, 60) - scn_energy_offset_mj(0), sum * 1000, 50);
	prev = scn_energy_mj(s, 0, 0);
	for (double t = 0; t < 200; t += 0.37) {
		double e = scn_energy_mj(s, 0, t);
		assert_true(e >= prev);
		prev = e;
	}
	scn_free(s);
}

static void test_gpu_selectors(void **state)
{
	struct scenario *s;

	(void)state;
	s = parse_ok("gpus 6\nat 0 0,2 util=11\nat 0 3-5 util=22\nat 0 1 util=33\nat 1 all fan=50\n"
		     "at 2 util=44\n", 0);
	assert_near(scn_value(s, 0, SCN_UTIL, 0), 11, 0);
	assert_near(scn_value(s, 1, SCN_UTIL, 0), 33, 0);
	assert_near(scn_value(s, 2, SCN_UTIL, 0), 11, 0);
	assert_near(scn_value(s, 3, SCN_UTIL, 0), 22, 0);
	assert_near(scn_value(s, 5, SCN_UTIL, 0), 22, 0);
	for (int g = 0; g < 6; g++) {
		assert_near(scn_value(s, g, SCN_FAN, 1), 50, 0);
		/* No GPU list at all means every GPU. */
		assert_near(scn_value(s, g, SCN_UTIL, 2), 44, 0);
	}
	/* Out-of-range GPU or value reads as 0. */
	assert_near(scn_value(s, 6, SCN_FAN, 1), 0, 0);
	assert_near(scn_value(s, -1, SCN_FAN, 1), 0, 0);
	assert_near(scn_value(s, 0, SCN_VAR_COUNT, 1), 0, 0);
	scn_free(s);
}

static void test_gpus_override(void **state)
{
	struct scenario *s;

	(void)state;
	/* More GPUs than declared: `all` covers them all. */
	s = parse_ok("gpus 2\nat 0 all util=70\nat 0 1 util=10\n", 8);
	assert_int_equal(scn_gpus(s), 8);
	assert_near(scn_value(s, 7, SCN_UTIL, 0), 70, 0);
	assert_near(scn_value(s, 1, SCN_UTIL, 0), 10, 0);
	scn_free(s);
	/* Fewer: lines for the missing GPUs are accepted and ignored. */
	s = parse_ok("gpus 4\nat 0 3 lost\n", 1);
	assert_int_equal(scn_gpus(s), 1);
	assert_false(scn_lost(s, 0, 1));
	assert_false(scn_lost(s, 3, 1));
	scn_free(s);
	/* No `gpus` line: the override also bounds the indices. */
	s = parse_ok("at 0 5 util=5\n", 8);
	assert_near(scn_value(s, 5, SCN_UTIL, 0), 5, 0);
	scn_free(s);
	s = parse_ok("at 0 all util=1\n", 64);
	assert_int_equal(scn_gpus(s), 64);
	assert_near(scn_value(s, 63, SCN_UTIL, 0), 1, 0);
	scn_free(s);
	{
		char err[SCN_ERR_MAX];
		assert_int_equal(scn_parse("", 0, "x.scn", 65, &s, err, sizeof(err)), -1);
	}
}

static void test_xid_events(void **state)
{
	struct scenario *s;
	double when;
	unsigned xid;

	(void)state;
	s = parse_ok("at 12 0 xid=79\nat 3 0 xid=13\nat 3 0 xid=31\nat 6 1 xid=48\n", 0);
	assert_int_equal(scn_next_xid(s, 0, 0, 2.9, &when, &xid), 0);
	assert_int_equal(scn_next_xid(s, 0, 0, 3, &when, &xid), 1);
	assert_near(when, 3, 0);
	assert_int_equal(xid, 13);
	/* Two at one time are both delivered, in file order. */
	assert_int_equal(scn_next_xid(s, 0, when, 100, &when, &xid), 1);
	assert_int_equal(xid, 31);
	assert_near(when, 3, 1e-5);
	assert_int_equal(scn_next_xid(s, 0, when, 100, &when, &xid), 1);
	assert_int_equal(xid, 79);
	assert_int_equal(scn_next_xid(s, 0, when, 1e9, &when, &xid), 0);
	assert_int_equal(scn_next_xid(s, 1, -1, 100, &when, &xid), 1);
	assert_int_equal(xid, 48);
	assert_int_equal(scn_next_xid(s, 1, 6, 100, &when, &xid), 0);
	/* Bad GPU, empty window. */
	assert_int_equal(scn_next_xid(s, 5, 0, 100, &when, &xid), 0);
	assert_int_equal(scn_next_xid(s, 0, 50, 50, &when, &xid), 0);
	scn_free(s);
}

static void test_xid_loop(void **state)
{
	struct scenario *s;
	double when = -1;
	unsigned xid;
	int n = 0;

	(void)state;
	s = parse_ok("loop 10\nat 0 0 xid=1\nat 4 0 xid=2\n", 0);
	/* Walk 100 s of timeline with a cursor, like an event set does. */
	while (scn_next_xid(s, 0, when, 99, &when, &xid)) {
		assert_int_equal(xid, (n % 2) ? 2 : 1);
		assert_near(when, 10.0 * (n / 2) + ((n % 2) ? 4 : 0), 1e-6);
		n++;
	}
	assert_int_equal(n, 20);
	/* From the middle of a period. */
	assert_int_equal(scn_next_xid(s, 0, 1234.5, 1240, &when, &xid), 1);
	assert_near(when, 1240, 1e-6);
	assert_int_equal(xid, 1);
	scn_free(s);
}

static void test_identity(void **state)
{
	char a[SCN_UUID_MAX], b[SCN_UUID_MAX], bus[SCN_BUSID_MAX];

	(void)state;
	scn_gpu_uuid(0, a, sizeof(a));
	scn_gpu_uuid(0, b, sizeof(b));
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), 40);
	assert_memory_equal(a, "GPU-", 4);
	assert_int_equal(a[12], '-');
	assert_int_equal(a[17], '-');
	assert_int_equal(a[22], '-');
	assert_int_equal(a[27], '-');
	for (int i = 0; i < SCN_MAX_GPUS; i++) {
		for (int j = i + 1; j < SCN_MAX_GPUS; j++) {
			scn_gpu_uuid(i, a, sizeof(a));
			scn_gpu_uuid(j, b, sizeof(b));
			assert_string_not_equal(a, b);
			scn_gpu_bus_id(i, a, sizeof(a));
			scn_gpu_bus_id(j, b, sizeof(b));
			assert_string_not_equal(a, b);
		}
	}
	scn_gpu_bus_id(0, bus, sizeof(bus));
	assert_string_equal(bus, "00000000:18:00.0");
	scn_gpu_bus_id(1, bus, sizeof(bus));
	assert_string_equal(bus, "00000000:28:00.0");
	scn_gpu_bus_id_legacy(3, bus, sizeof(bus));
	assert_string_equal(bus, "0000:48:00.0");
	scn_gpu_bus_id(63, bus, sizeof(bus));
	assert_int_equal(strlen(bus), 16);
	assert_int_equal(scn_gpu_pci_bus(2), 0x38);
}

static void test_fn_names(void **state)
{
	(void)state;
	for (int i = 0; i < SCN_FN_COUNT; i++)
		assert_int_equal(scn_fn_from_name(scn_fn_name((enum scn_fn)i)), i);
	assert_int_equal(scn_fn_from_name("nvmlNothing"), -1);
	assert_int_equal(scn_fn_from_name(NULL), -1);
	assert_string_equal(scn_fn_name(SCN_FN_nvmlEventSetWait_v2), "nvmlEventSetWait_v2");
}

static void test_missing_list(void **state)
{
	struct scenario *s;

	(void)state;
	s = parse_ok("missing nvmlDeviceGetRemappedRows,nvmlDeviceGetMemoryInfo_v2 nvmlEventSetWait_v2\n", 0);
	assert_true(scn_missing(s, SCN_FN_nvmlDeviceGetRemappedRows));
	assert_true(scn_missing(s, SCN_FN_nvmlDeviceGetMemoryInfo_v2));
	assert_true(scn_missing(s, SCN_FN_nvmlEventSetWait_v2));
	assert_false(scn_missing(s, SCN_FN_nvmlEventSetWait));
	assert_false(scn_missing(s, SCN_FN_COUNT));
	scn_free(s);
}

static void test_env_helpers(void **state)
{
	char err[SCN_ERR_MAX];
	int g;
	double e;

	(void)state;
	assert_int_equal(scn_parse_gpus_env("8", &g, err, sizeof(err)), 0);
	assert_int_equal(g, 8);
	assert_int_equal(scn_parse_gpus_env("64", &g, err, sizeof(err)), 0);
	assert_int_equal(scn_parse_gpus_env("0", &g, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "GPUTEL_SIM_GPUS=0 is not a GPU count"));
	assert_int_equal(scn_parse_gpus_env("65", &g, err, sizeof(err)), -1);
	assert_int_equal(scn_parse_gpus_env("two", &g, err, sizeof(err)), -1);
	assert_int_equal(scn_parse_gpus_env("2.5", &g, err, sizeof(err)), -1);
	assert_int_equal(scn_parse_epoch_env("1700000000.25", &e, err, sizeof(err)), 0);
	assert_near(e, 1700000000.25, 1e-6);
	assert_int_equal(scn_parse_epoch_env("yesterday", &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "GPUTEL_SIM_EPOCH=yesterday is not a unix time"));
	assert_int_equal(scn_parse_epoch_env("-5", &e, err, sizeof(err)), -1);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/test_scenario_XXXXXX";
	static const char text[] = "gpus 3\nat 0 2 util=66\n";
	char err[SCN_ERR_MAX];
	struct scenario *s;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (int)(sizeof(text) - 1));
	close(fd);
	assert_int_equal(scn_load_file(path, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(scn_gpus(s), 3);
	assert_near(scn_value(s, 2, SCN_UTIL, 0), 66, 0);
	scn_free(s);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "gpus 3\nat 0 all utl=1\n", 22), 22);
	close(fd);
	assert_int_equal(scn_load_file(path, 0, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":2: unknown key 'utl'"));
	assert_memory_equal(err, path, strlen(path));

	/* scn_load_env adds the "scenario " prefix nvmlErrorString shows. */
	setenv("GPUTEL_SIM_SCENARIO", path, 1);
	unsetenv("GPUTEL_SIM_GPUS");
	unsetenv("GPUTEL_SIM_EPOCH");
	{
		bool he;
		double ep;
		assert_int_equal(scn_load_env(&s, &he, &ep, err, sizeof(err)), -1);
		assert_memory_equal(err, "scenario /tmp/test_scenario_", 28);
		assert_non_null(strstr(err, ":2: unknown key 'utl'; known keys: util,"));
	}
	unlink(path);

	assert_int_equal(scn_load_file(path, 0, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open: No such file or directory"));
	assert_null(s);
	unsetenv("GPUTEL_SIM_SCENARIO");
}

static void test_load_env(void **state)
{
	struct scenario *s;
	char err[SCN_ERR_MAX];
	bool he;
	double ep;

	(void)state;
	unsetenv("GPUTEL_SIM_SCENARIO");
	setenv("GPUTEL_SIM_GPUS", "5", 1);
	setenv("GPUTEL_SIM_EPOCH", "1700000000", 1);
	assert_int_equal(scn_load_env(&s, &he, &ep, err, sizeof(err)), 0);
	assert_int_equal(scn_gpus(s), 5);
	assert_true(he);
	assert_near(ep, 1700000000, 0);
	assert_near(scn_value(s, 4, SCN_UTIL, 1), 45, 0);
	scn_free(s);

	setenv("GPUTEL_SIM_GPUS", "99", 1);
	assert_int_equal(scn_load_env(&s, &he, &ep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "GPUTEL_SIM_GPUS=99"));
	unsetenv("GPUTEL_SIM_GPUS");
	setenv("GPUTEL_SIM_EPOCH", "later", 1);
	assert_int_equal(scn_load_env(&s, &he, &ep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "GPUTEL_SIM_EPOCH=later"));
	unsetenv("GPUTEL_SIM_EPOCH");
	assert_int_equal(scn_load_env(&s, &he, &ep, err, sizeof(err)), 0);
	assert_false(he);
	scn_free(s);
}

static void test_shipped_scenarios_parse(void **state)
{
	static const char *const files[] = {
		"idle-load-idle.scn", "steady.scn", "gpu-lost.scn", "unsupported.scn",
		"slow-calls.scn", "xid.scn", "old-driver.scn", "spike.scn",
	};
	char path[256], err[SCN_ERR_MAX];
	const char *dir = "sim/scenarios";
	struct scenario *s;

	(void)state;
	/* make check runs the tests from the repository root. */
	if (access(dir, R_OK) != 0)
		fail_msg("%s not found: run this test from the repository root", dir);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (scn_load_file(path, 0, &s, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		scn_free(s);
	}
	snprintf(path, sizeof(path), "%s/idle-load-idle.scn", dir);
	assert_int_equal(scn_load_file(path, 0, &s, err, sizeof(err)), 0);
	assert_near(scn_value(s, 0, SCN_UTIL, 5), 0, 0);
	assert_true(scn_value(s, 0, SCN_UTIL, 25) >= 90);
	assert_near(scn_value(s, 0, SCN_UTIL, 45), 0, 0);
	scn_free(s);
	snprintf(path, sizeof(path), "%s/old-driver.scn", dir);
	assert_int_equal(scn_load_file(path, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(scn_driver_major(s), 418);
	scn_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_text),
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_forgiving_syntax),
		cmocka_unit_test(test_empty_text),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nul_byte_inside_length),
		cmocka_unit_test(test_error_message_truncates),
		cmocka_unit_test(test_overlong_token_is_shown_short),
		cmocka_unit_test(test_step_holds),
		cmocka_unit_test(test_ramp_interpolates),
		cmocka_unit_test(test_ramp_from_default_and_at_zero),
		cmocka_unit_test(test_same_time_last_wins),
		cmocka_unit_test(test_loop_repeats),
		cmocka_unit_test(test_lost_and_recover),
		cmocka_unit_test(test_unsupported_and_error_lists),
		cmocka_unit_test(test_energy_step),
		cmocka_unit_test(test_energy_ramp_and_default),
		cmocka_unit_test(test_energy_matches_power_numerically),
		cmocka_unit_test(test_gpu_selectors),
		cmocka_unit_test(test_gpus_override),
		cmocka_unit_test(test_xid_events),
		cmocka_unit_test(test_xid_loop),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_fn_names),
		cmocka_unit_test(test_missing_list),
		cmocka_unit_test(test_env_helpers),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_env),
		cmocka_unit_test(test_shipped_scenarios_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
