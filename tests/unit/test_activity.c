/*
 * Unit tests: the activity state machine (activity.c) as tables of
 * samples on a virtual clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "activity.h"
#include "util.h"

#define S(x) ((int64_t)((x) * 1e9))
#define UNKNOWN (-1)

/* The guide's thresholds: --start-util 20 --start-seconds 5 --stop-util 10 --stop-seconds 15. */
static const struct activity_config seed = { 2000, S(5), 1000, S(15) };

struct step {
	double t;                  /* seconds on the virtual clock */
	int util;                  /* percent, or UNKNOWN */
	enum activity_state want;  /* state after the sample */
	enum activity_event ev;    /* event the sample caused */
};

static void run(const struct activity_config *c, const struct step *steps, size_t n)
{
	struct activity a;

	activity_init(&a, 0);
	for (size_t i = 0; i < n; i++) {
		struct activity_sample s = { steps[i].util != UNKNOWN,
					     steps[i].util == UNKNOWN ? 0 : steps[i].util * 100 };
		enum activity_event ev = activity_step(&a, c, s, S(steps[i].t));

		if (a.state != steps[i].want || ev != steps[i].ev)
			fail_msg("step %zu (t=%.1f util=%d): state %s event %d, want %s event %d", i,
				 steps[i].t, steps[i].util, activity_state_name(a.state), ev,
				 activity_state_name(steps[i].want), steps[i].ev);
	}
}

/* Every second from t0 to t1 (inclusive) with the same util; all in `want` with no event. */
static size_t hold(struct step *out, double t0, double t1, double dt, int util,
		   enum activity_state want)
{
	size_t n = 0;

	for (double t = t0; t <= t1 + 1e-9; t += dt)
		out[n++] = (struct step){ t, util, want, ACT_EV_NONE };
	return n;
}

static void test_seed_thresholds(void **state)
{
	struct step s[128];
	size_t n = 0;

	(void)state;
	n += hold(s + n, 0, 3, 1, 5, ACT_IDLE);            /* idle load */
	n += hold(s + n, 4, 8, 1, 30, ACT_ARMING);         /* busy from t=4 ... */
	s[n++] = (struct step){ 9, 30, ACT_ACTIVE, ACT_EV_START }; /* ... held 5 s */
	n += hold(s + n, 10, 30, 1, 15, ACT_ACTIVE);       /* between thresholds: no change */
	n += hold(s + n, 31, 45, 1, 3, ACT_DISARMING);     /* quiet from t=31 ... */
	s[n++] = (struct step){ 46, 3, ACT_IDLE, ACT_EV_STOP }; /* ... held 15 s */
	n += hold(s + n, 47, 60, 1, 15, ACT_IDLE);
	run(&seed, s, n);
}

static void test_no_flapping_near_thresholds(void **state)
{
	struct step s[256];
	size_t n = 0;

	(void)state;
	/* Busy 3 s, quiet 1 s, over and over: never 5 s busy in a row. */
	for (int k = 0; k < 10; k++) {
		n += hold(s + n, k * 4, k * 4 + 2, 1, 25, ACT_ARMING);
		s[n++] = (struct step){ k * 4 + 3, 19, ACT_IDLE, ACT_EV_NONE };
	}
	run(&seed, s, n);

	/* Once active, quiet 10 s then 11 %, over and over: never idle. */
	n = 0;
	n += hold(s + n, 0, 4, 1, 90, ACT_ARMING);
	s[n++] = (struct step){ 5, 90, ACT_ACTIVE, ACT_EV_START };
	for (int k = 0; k < 5; k++) {
		double t0 = 6 + k * 12;

		n += hold(s + n, t0, t0 + 10, 1, 10, ACT_DISARMING);
		s[n++] = (struct step){ t0 + 11, 11, ACT_ACTIVE, ACT_EV_NONE };
	}
	run(&seed, s, n);
}

static void test_thresholds_are_inclusive(void **state)
{
	struct step s[64];
	size_t n = 0;

	(void)state;
	n += hold(s + n, 0, 4, 1, 20, ACT_ARMING);         /* exactly start-util is busy */
	s[n++] = (struct step){ 5, 20, ACT_ACTIVE, ACT_EV_START };
	n += hold(s + n, 6, 20, 1, 10, ACT_DISARMING);     /* exactly stop-util is quiet */
	s[n++] = (struct step){ 21, 10, ACT_IDLE, ACT_EV_STOP };
	run(&seed, s, n);
}

/* Time, not poll counts: the same 5 s at 0.5 s and 2 s polls. */
static void test_poll_intervals(void **state)
{
	struct step s[128];
	size_t n = 0;

	(void)state;
	n += hold(s + n, 0, 4.5, 0.5, 50, ACT_ARMING);
	s[n++] = (struct step){ 5.0, 50, ACT_ACTIVE, ACT_EV_START };
	n += hold(s + n, 5.5, 20, 0.5, 0, ACT_DISARMING);
	s[n++] = (struct step){ 20.5, 0, ACT_IDLE, ACT_EV_STOP };
	run(&seed, s, n);

	/* 2 s polls: 0, 2, 4 do not prove 5 s; 6 does. */
	n = 0;
	n += hold(s + n, 0, 4, 2, 50, ACT_ARMING);
	s[n++] = (struct step){ 6, 50, ACT_ACTIVE, ACT_EV_START };
	n += hold(s + n, 8, 22, 2, 0, ACT_DISARMING);      /* quiet from 8: 22 - 8 = 14 s */
	s[n++] = (struct step){ 24, 0, ACT_IDLE, ACT_EV_STOP };
	run(&seed, s, n);
}

static void test_lost_gpu_is_neither_busy_nor_idle(void **state)
{
	struct step s[128];
	size_t n = 0;

	(void)state;
	n += hold(s + n, 0, 3, 1, 50, ACT_ARMING);
	s[n++] = (struct step){ 4, UNKNOWN, ACT_IDLE, ACT_EV_NONE };  /* arming not proven */
	n += hold(s + n, 5, 9, 1, 50, ACT_ARMING);                     /* a new run starts at 5 */
	s[n++] = (struct step){ 10, 50, ACT_ACTIVE, ACT_EV_START };
	/* Lost for a minute while active: telemetry stays on. */
	n += hold(s + n, 11, 70, 1, UNKNOWN, ACT_ACTIVE);
	n += hold(s + n, 71, 80, 1, 0, ACT_DISARMING);
	s[n++] = (struct step){ 81, UNKNOWN, ACT_ACTIVE, ACT_EV_NONE }; /* idle not proven */
	n += hold(s + n, 82, 96, 1, 0, ACT_DISARMING);
	s[n++] = (struct step){ 97, 0, ACT_IDLE, ACT_EV_STOP };
	run(&seed, s, n);
}

static void test_zero_seconds(void **state)
{
	const struct activity_config instant = { 2000, 0, 1000, 0 };
	const struct step s[] = {
		{ 0, 5, ACT_IDLE, ACT_EV_NONE },
		{ 1, 20, ACT_ACTIVE, ACT_EV_START },
		{ 2, 15, ACT_ACTIVE, ACT_EV_NONE },
		{ 3, 10, ACT_IDLE, ACT_EV_STOP },
	};

	(void)state;
	run(&instant, s, ARRAY_SIZE(s));
}

/* SIGHUP: new thresholds apply from the next sample, the state is kept. */
static void test_reload_keeps_state(void **state)
{
	struct activity_config c = seed;
	struct activity a;
	struct activity_sample at15 = { true, 1500 }, at60 = { true, 6000 };

	(void)state;
	activity_init(&a, 0);
	for (int t = 0; t <= 5; t++)
		activity_step(&a, &c, at60, S(t));
	assert_int_equal(a.state, ACT_ACTIVE);
	assert_int_equal(a.changed_ns, S(5));
	assert_int_equal(activity_step(&a, &c, at15, S(6)), ACT_EV_NONE);
	assert_int_equal(a.state, ACT_ACTIVE);
	/* Reload: stop-util 50 %, stop-seconds 2. 15 % is now quiet. */
	c.stop_util_cpct = 5000;
	c.start_util_cpct = 8000;
	c.stop_ns = S(2);
	assert_int_equal(activity_step(&a, &c, at15, S(7)), ACT_EV_NONE);
	assert_int_equal(a.state, ACT_DISARMING);
	assert_int_equal(activity_step(&a, &c, at15, S(8)), ACT_EV_NONE);
	assert_int_equal(activity_step(&a, &c, at15, S(9)), ACT_EV_STOP);
	assert_true(!activity_is_active(&a));
	/* 60 % is no longer busy under the new start-util of 80 %. */
	for (int t = 10; t < 30; t++)
		assert_int_equal(activity_step(&a, &c, at60, S(t)), ACT_EV_NONE);
	assert_int_equal(a.state, ACT_IDLE);
}

static void test_sample_of_snapshot(void **state)
{
	static struct snapshot snap;
	struct activity_sample s;

	(void)state;
	memset(&snap, 0, sizeof snap);
	s = activity_sample_of(&snap, ~0ULL);
	assert_false(s.known);                       /* no GPU at all */

	snap.n_gpus = 3;
	GPU_SET(&snap.gpu[0], GPU_F_UTIL_GPU_PCT, 30);
	GPU_SET(&snap.gpu[1], GPU_F_UTIL_GPU_PCT, 90);
	GPU_SET(&snap.gpu[2], GPU_F_UTIL_GPU_PCT, 0);
	s = activity_sample_of(&snap, ~0ULL);
	assert_true(s.known);
	assert_int_equal(s.util_cpct, 9000);         /* the busiest GPU */

	s = activity_sample_of(&snap, (1ULL << 0) | (1ULL << 2));
	assert_int_equal(s.util_cpct, 3000);         /* --gpus 0,2 */

	snap.gpu[1].health = GPU_HEALTH_DOWN;        /* lost: left out */
	s = activity_sample_of(&snap, ~0ULL);
	assert_int_equal(s.util_cpct, 3000);

	snap.gpu[0].st[GPU_F_UTIL_GPU_PCT] = VAL_ERROR;
	snap.gpu[2].st[GPU_F_UTIL_GPU_PCT] = VAL_UNSUPPORTED;
	s = activity_sample_of(&snap, ~0ULL);
	assert_false(s.known);                       /* nobody answered: unknown, not 0 */

	GPU_SET(&snap.gpu[2], GPU_F_UTIL_GPU_PCT, 0);
	s = activity_sample_of(&snap, ~0ULL);
	assert_true(s.known);
	assert_int_equal(s.util_cpct, 0);            /* a real 0 % is known */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_thresholds),
		cmocka_unit_test(test_no_flapping_near_thresholds),
		cmocka_unit_test(test_thresholds_are_inclusive),
		cmocka_unit_test(test_poll_intervals),
		cmocka_unit_test(test_lost_gpu_is_neither_busy_nor_idle),
		cmocka_unit_test(test_zero_seconds),
		cmocka_unit_test(test_reload_keeps_state),
		cmocka_unit_test(test_sample_of_snapshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
