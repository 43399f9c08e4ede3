/* Unit tests: a GPU's health (health.c): each rule, their precedence, what clears them, the JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "health.h"
#include "util.h"

#define SEC NS_PER_SEC
/* 2026-12-06T20:01:02Z */
#define T0 (1796587262LL * SEC)

/* A full reading of an answering GPU with no memory trouble. */
static struct gpu_reading reading(int gpu_health)
{
	struct gpu_reading r;

	memset(&r, 0, sizeof r);
	r.id.index = 1;
	str_copy(r.id.uuid, "GPU-b2c33e0e-3b4b-747d-a863-41f76d056785", sizeof r.id.uuid);
	str_copy(r.id.pci_bus_id, "00000000:28:00.0", sizeof r.id.pci_bus_id);
	str_copy(r.id.name, "NVIDIA H100 80GB HBM3", sizeof r.id.name);
	r.health = gpu_health;
	if (gpu_health == GPU_HEALTH_UP) {
		GPU_SET(&r, GPU_F_REMAP_PENDING, 0);
		GPU_SET(&r, GPU_F_REMAP_FAILURE, 0);
		GPU_SET(&r, GPU_F_ECC_UNCORR_VOLATILE, 0);
	}
	return r;
}

/* A lite tick: health and utilisation only, the memory fields not read. */
static struct gpu_reading lite(void)
{
	struct gpu_reading r = reading(GPU_HEALTH_UP);

	r.st[GPU_F_REMAP_PENDING] = r.st[GPU_F_REMAP_FAILURE] = r.st[GPU_F_ECC_UNCORR_VOLATILE] = VAL_ABSENT;
	return r;
}

static void read_gpu(struct health *h, const struct gpu_reading *r, int64_t now)
{
	struct health_input in = { .reading = r, .now_ns = now };

	health_eval(h, &in, h);
}

static void xid(struct health *h, int code, int64_t at)
{
	struct health_xid x = { code, at };
	struct health_input in = { .xids = &x, .n_xids = 1, .now_ns = at };

	health_eval(h, &in, h);
}

static void clear(struct health *h, int64_t now)
{
	struct health_input in = { .clear = true, .now_ns = now };

	health_eval(h, &in, h);
}

/* A GPU read once, up and clean. */
static struct health fresh(void)
{
	struct health h;
	struct gpu_reading r = reading(GPU_HEALTH_UP);

	health_init(&h);
	read_gpu(&h, &r, T0);
	return h;
}

static void test_a_clean_gpu_is_healthy(void **state)
{
	struct health h = fresh();

	(void)state;
	assert_int_equal(h.state, HEALTH_HEALTHY);
	assert_string_equal(h.reason, "");
	assert_true(h.since_ns == T0);
	assert_string_equal(health_state_name(h.state), "healthy");
	assert_int_equal(health_state_parse("degraded"), HEALTH_DEGRADED);
	assert_int_equal(health_state_parse("sick"), -1);
}

/* Each code of the catalog, through the rule for its severity. */
static void test_xid_effect_follows_the_catalog(void **state)
{
	unsigned int n;
	const struct xid_info *cat = xid_catalog(&n);
	struct xid_info restart_only = { 999, "X", "x", "restart the application", XID_SEV_ERROR, false };

	(void)state;
	assert_int_equal(health_of_xid(xid_lookup(79)), HEALTH_UNHEALTHY);    /* fatal */
	assert_int_equal(health_of_xid(xid_lookup(48)), HEALTH_UNHEALTHY);    /* error: reset */
	assert_int_equal(health_of_xid(xid_lookup(95)), HEALTH_UNHEALTHY);
	assert_int_equal(health_of_xid(xid_lookup(119)), HEALTH_UNHEALTHY);
	assert_int_equal(health_of_xid(xid_lookup(120)), HEALTH_UNHEALTHY);
	assert_int_equal(health_of_xid(xid_lookup(74)), HEALTH_UNHEALTHY);
	assert_int_equal(health_of_xid(xid_lookup(94)), HEALTH_DEGRADED);     /* warn, the GPU's own */
	assert_int_equal(health_of_xid(xid_lookup(4242)), HEALTH_DEGRADED);   /* unknown: look it up */
	assert_int_equal(health_of_xid(xid_lookup(13)), HEALTH_HEALTHY);      /* the application's fault */
	assert_int_equal(health_of_xid(xid_lookup(31)), HEALTH_HEALTHY);
	assert_int_equal(health_of_xid(xid_lookup(43)), HEALTH_HEALTHY);
	assert_int_equal(health_of_xid(xid_lookup(63)), HEALTH_HEALTHY);      /* info: the remap reading says it */
	assert_int_equal(health_of_xid(xid_lookup(92)), HEALTH_HEALTHY);
	/* An error whose action is not a reset: degraded. */
	assert_int_equal(health_of_xid(&restart_only), HEALTH_DEGRADED);
	/* The rule holds for every row, so that a new row cannot slip past it. */
	for (unsigned int i = 0; i < n; i++) {
		enum health_state s = health_of_xid(&cat[i]);

		if (cat[i].severity == XID_SEV_FATAL)
			assert_int_equal(s, HEALTH_UNHEALTHY);
		else if (cat[i].severity == XID_SEV_INFO || (cat[i].severity == XID_SEV_WARN && cat[i].app))
			assert_int_equal(s, HEALTH_HEALTHY);
		else if (cat[i].severity == XID_SEV_ERROR && !strstr(cat[i].action, "reset") &&
			 !strstr(cat[i].action, "reboot"))
			assert_int_equal(s, HEALTH_DEGRADED);
		else
			assert_int_not_equal(s, HEALTH_HEALTHY);
	}
}

static void test_fatal_xid_is_unhealthy_with_its_reason(void **state)
{
	struct health h = fresh();

	(void)state;
	xid(&h, 79, T0 + 5 * SEC);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	assert_string_equal(h.reason, "Xid 79 (the GPU has fallen off the bus) at 2026-12-06T20:01:07Z; "
				      "action: drain the node and reboot it");
	assert_true(h.since_ns == T0 + 5 * SEC);
	/* It lasts: later clean readings do not clear it. */
	for (int i = 0; i < 3; i++) {
		struct gpu_reading r = reading(GPU_HEALTH_UP);

		read_gpu(&h, &r, T0 + (10 + i) * SEC);
	}
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	assert_true(h.since_ns == T0 + 5 * SEC);
}

static void test_warn_xids(void **state)
{
	struct health h = fresh();

	(void)state;
	xid(&h, 13, T0 + SEC);
	xid(&h, 31, T0 + SEC);
	xid(&h, 63, T0 + SEC);
	assert_int_equal(h.state, HEALTH_HEALTHY);
	assert_int_equal(h.xid_code, -1);
	xid(&h, 94, T0 + 2 * SEC);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_non_null(strstr(h.reason, "Xid 94 (contained ECC error) at 2026-12-06T20:01:04Z; action: restart"));
	h = fresh();
	xid(&h, 4242, T0 + 2 * SEC);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_non_null(strstr(h.reason, "Xid 4242 (not in gputel's catalog)"));
}

static void test_readings(void **state)
{
	struct health h = fresh();
	struct gpu_reading r = reading(GPU_HEALTH_UP);

	(void)state;
	GPU_SET(&r, GPU_F_REMAP_PENDING, 1);
	read_gpu(&h, &r, T0 + SEC);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_non_null(strstr(h.reason, "row remap pending"));
	/* A lite tick does not read it: what the full one showed holds. */
	r = lite();
	read_gpu(&h, &r, T0 + 2 * SEC);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	/* A failed read neither. */
	r = reading(GPU_HEALTH_UP);
	r.st[GPU_F_REMAP_PENDING] = VAL_ERROR;
	read_gpu(&h, &r, T0 + 3 * SEC);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	/* The next full reading without it: healthy again. */
	r = reading(GPU_HEALTH_UP);
	read_gpu(&h, &r, T0 + 4 * SEC);
	assert_int_equal(h.state, HEALTH_HEALTHY);
	assert_true(h.since_ns == T0 + 4 * SEC);

	GPU_SET(&r, GPU_F_ECC_UNCORR_VOLATILE, 2);
	read_gpu(&h, &r, T0 + 5 * SEC);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_non_null(strstr(h.reason, "2 uncorrectable ECC errors since the driver loaded"));

	r = reading(GPU_HEALTH_UP);
	GPU_SET(&r, GPU_F_REMAP_FAILURE, 1);
	read_gpu(&h, &r, T0 + 6 * SEC);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	assert_non_null(strstr(h.reason, "row remap failed"));
	/* Unsupported (no row remapping on the GPU): no condition. */
	r = reading(GPU_HEALTH_UP);
	r.st[GPU_F_REMAP_FAILURE] = r.st[GPU_F_REMAP_PENDING] = VAL_UNSUPPORTED;
	h = fresh();
	read_gpu(&h, &r, T0 + 7 * SEC);
	assert_int_equal(h.state, HEALTH_HEALTHY);
}

static void test_lost_stale_and_gone_are_unhealthy(void **state)
{
	struct health h = fresh();
	struct gpu_reading r = reading(GPU_HEALTH_DOWN);
	struct health_input gone = { .gone = true, .now_ns = T0 + 3 * SEC };

	(void)state;
	read_gpu(&h, &r, T0 + SEC);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	assert_non_null(strstr(h.reason, "GPU lost"));
	h = fresh();
	r = reading(GPU_HEALTH_STALE);
	read_gpu(&h, &r, T0 + 2 * SEC);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	assert_non_null(strstr(h.reason, "GPU not answering"));
	/* The driver answers again: healthy, and nothing was lost. */
	r = reading(GPU_HEALTH_UP);
	read_gpu(&h, &r, T0 + 3 * SEC);
	assert_int_equal(h.state, HEALTH_HEALTHY);
	health_eval(&h, &gone, &h);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	assert_non_null(strstr(h.reason, "GPU gone"));
}

static void test_precedence(void **state)
{
	struct health h = fresh();
	struct gpu_reading r = reading(GPU_HEALTH_UP);

	(void)state;
	/* Worse wins: a degraded Xid under a failed remap. */
	xid(&h, 94, T0 + SEC);
	GPU_SET(&r, GPU_F_REMAP_FAILURE, 1);
	read_gpu(&h, &r, T0 + 2 * SEC);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	assert_non_null(strstr(h.reason, "row remap failed"));
	/* Equally bad: the Xid before the memory's conditions. */
	h = fresh();
	r = reading(GPU_HEALTH_UP);
	GPU_SET(&r, GPU_F_REMAP_PENDING, 1);
	read_gpu(&h, &r, T0 + SEC);
	xid(&h, 94, T0 + 2 * SEC);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_non_null(strstr(h.reason, "Xid 94"));
	/* A lost GPU says so before its Xid 79. */
	xid(&h, 79, T0 + 3 * SEC);
	r = reading(GPU_HEALTH_DOWN);
	read_gpu(&h, &r, T0 + 3 * SEC);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	assert_non_null(strstr(h.reason, "GPU lost"));
	/* Of two unhealthy Xids, the fatal one; of equal ones, the first. */
	h = fresh();
	xid(&h, 95, T0 + SEC);
	xid(&h, 79, T0 + 2 * SEC);
	assert_int_equal(h.xid_code, 79);
	assert_true(h.since_ns == T0 + SEC);   /* unhealthy since the first */
	xid(&h, 95, T0 + 3 * SEC);
	assert_int_equal(h.xid_code, 79);
	h = fresh();
	xid(&h, 95, T0 + SEC);
	xid(&h, 48, T0 + 2 * SEC);
	assert_int_equal(h.xid_code, 95);
	/* Degraded, then worse: the state and its time move on. */
	h = fresh();
	xid(&h, 94, T0 + SEC);
	xid(&h, 48, T0 + 2 * SEC);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	assert_int_equal(h.xid_code, 48);
	assert_true(h.since_ns == T0 + 2 * SEC);
	/* In one input: the reading, then the Xids in order. */
	{
		struct health_xid xs[2] = { { 94, T0 + 5 * SEC }, { 79, T0 + 6 * SEC } };
		struct gpu_reading up = reading(GPU_HEALTH_UP);
		struct health_input in = { .reading = &up, .xids = xs, .n_xids = 2, .now_ns = T0 + 6 * SEC };

		h = fresh();
		health_eval(&h, &in, &h);
		assert_int_equal(h.xid_code, 79);
	}
}

static void test_reset_clears_the_xids(void **state)
{
	struct health h = fresh();
	struct gpu_reading down = reading(GPU_HEALTH_DOWN), up = reading(GPU_HEALTH_UP);
	struct health_input gone = { .gone = true, .now_ns = T0 + 5 * SEC };

	(void)state;
	xid(&h, 79, T0 + SEC);
	read_gpu(&h, &down, T0 + 2 * SEC);
	assert_true(h.lost);
	read_gpu(&h, &up, T0 + 3 * SEC);
	assert_int_equal(h.state, HEALTH_HEALTHY);
	assert_int_equal(h.xid_code, -1);
	assert_false(h.lost);
	assert_true(h.since_ns == T0 + 3 * SEC);
	/* Gone from the node and back: a reset too. */
	xid(&h, 48, T0 + 4 * SEC);
	health_eval(&h, &gone, &h);
	read_gpu(&h, &up, T0 + 6 * SEC);
	assert_int_equal(h.state, HEALTH_HEALTHY);
	/* A reset applies the pending remap and zeroes the ECC counts: a lite tick after it shows nothing. */
	up = reading(GPU_HEALTH_UP);
	GPU_SET(&up, GPU_F_REMAP_PENDING, 1);
	read_gpu(&h, &up, T0 + 7 * SEC);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	read_gpu(&h, &down, T0 + 8 * SEC);
	up = lite();
	read_gpu(&h, &up, T0 + 9 * SEC);
	assert_int_equal(h.state, HEALTH_HEALTHY);
	/* A hung driver that answers again is no reset: the Xid stays. */
	xid(&h, 79, T0 + 10 * SEC);
	down = reading(GPU_HEALTH_STALE);
	read_gpu(&h, &down, T0 + 11 * SEC);
	up = reading(GPU_HEALTH_UP);
	read_gpu(&h, &up, T0 + 12 * SEC);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	assert_int_equal(h.xid_code, 79);
	/* Nor is an Xid between two answering readings. */
	read_gpu(&h, &up, T0 + 13 * SEC);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
}

static void test_clear(void **state)
{
	struct health h = fresh();
	struct gpu_reading r = reading(GPU_HEALTH_UP);

	(void)state;
	xid(&h, 79, T0 + SEC);
	clear(&h, T0 + 2 * SEC);
	assert_int_equal(h.state, HEALTH_HEALTHY);
	assert_string_equal(h.reason, "");
	assert_int_equal(h.xid_code, -1);
	assert_true(h.since_ns == T0 + 2 * SEC);
	/* An Xid after the clear counts again. */
	xid(&h, 94, T0 + 3 * SEC);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	/* A clear forgets Xids, not what the GPU still shows. */
	GPU_SET(&r, GPU_F_REMAP_PENDING, 1);
	read_gpu(&h, &r, T0 + 4 * SEC);
	clear(&h, T0 + 5 * SEC);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_non_null(strstr(h.reason, "row remap pending"));
	r = reading(GPU_HEALTH_DOWN);
	read_gpu(&h, &r, T0 + 6 * SEC);
	clear(&h, T0 + 7 * SEC);
	assert_int_equal(h.state, HEALTH_UNHEALTHY);
	/* A clear in the same input as an Xid comes after it. */
	{
		struct health_xid x = { 79, T0 + 8 * SEC };
		struct health_input in = { .xids = &x, .n_xids = 1, .clear = true, .now_ns = T0 + 8 * SEC };

		h = fresh();
		health_eval(&h, &in, &h);
		assert_int_equal(h.state, HEALTH_HEALTHY);
	}
}

static void test_json(void **state)
{
	struct health h = fresh();
	struct gpu_reading r = reading(GPU_HEALTH_UP);
	char buf[2048];
	struct outbuf o = { buf, 0, sizeof buf - 1, false };

	(void)state;
	xid(&h, 79, T0 + SEC);
	health_json(&o, &r.id, &h, "\"x\": 1");
	buf[o.len] = '\0';
	assert_string_equal(buf, "{\"gpu\": 1, \"uuid\": \"GPU-b2c33e0e-3b4b-747d-a863-41f76d056785\", "
				 "\"pci_bus_id\": \"00000000:28:00.0\", \"name\": \"NVIDIA H100 80GB HBM3\", "
				 "\"state\": \"unhealthy\", \"reason\": \"Xid 79 (the GPU has fallen off the bus) at "
				 "2026-12-06T20:01:03Z; action: drain the node and reboot it\", "
				 "\"since\": \"2026-12-06T20:01:03.000Z\", \"x\": 1}");
	o.len = 0;
	health_init(&h);
	health_json(&o, &r.id, &h, NULL);
	buf[o.len] = '\0';
	assert_non_null(strstr(buf, "\"state\": \"healthy\", \"reason\": null, \"since\": null}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_clean_gpu_is_healthy),
		cmocka_unit_test(test_xid_effect_follows_the_catalog),
		cmocka_unit_test(test_fatal_xid_is_unhealthy_with_its_reason),
		cmocka_unit_test(test_warn_xids),
		cmocka_unit_test(test_readings),
		cmocka_unit_test(test_lost_stale_and_gone_are_unhealthy),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_reset_clears_the_xids),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
