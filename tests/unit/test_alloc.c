/*
 * test_alloc.c - the allocation table: request checks, GPU resolution,
 * begin/renew/end, per-tick accounting, reaping, and the state file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "alloc.h"
#include "host.h"
#include "util.h"

static struct snapshot snap;
static struct host_rapl_info zones[2];

/* Two GPUs and two RAPL zones (package-0, dram), every value known. */
static void snap_init(void)
{
	memset(&snap, 0, sizeof snap);
	snap.n_gpus = 2;
	for (unsigned int i = 0; i < 2; i++) {
		struct gpu_reading *g = &snap.gpu[i];

		g->id.index = i;
		snprintf(g->id.uuid, sizeof g->id.uuid, "GPU-0000000%u-aaaa-bbbb-cccc-dddddddddddd", i);
		GPU_SET(g, GPU_F_ENERGY_MJ, 1000000);
		GPU_SET(g, GPU_F_POWER_MW, 300000);
		GPU_SET(g, GPU_F_UTIL_GPU_PCT, 50);
		GPU_SET(g, GPU_F_MEM_USED_BYTES, 1 << 30);
		GPU_SET(g, GPU_F_TEMP_MC, 60000);
		GPU_SET(g, GPU_F_CLOCK_EVENT_MASK, 0);
		GPU_SET(g, GPU_F_XID_TOTAL, 0);
	}
	str_copy(zones[0].name, "package-0", sizeof zones[0].name);
	str_copy(zones[1].name, "dram", sizeof zones[1].name);
	snap.host.n_zones = 2;
	snap.host.zone_info = zones;
	snap.host.zone_energy_uj[0] = 5000000000ULL;
	snap.host.zone_energy_uj[1] = 100000000ULL;
	snap.host.zone_st[0] = snap.host.zone_st[1] = VAL_OK;
	snap.mono_ns = 1000 * NS_PER_SEC;
}

static int parse(const char *body, struct alloc_request *req, char *err)
{
	return alloc_request_parse(body, strlen(body), req, err, 256);
}

static void test_request_ok(void **state)
{
	struct alloc_request req;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse("{\"id\": \"job-1.a:b@c\", \"gpus\": [1, \"GPU-x\"], \"owner\": \"slurm\", "
			       "\"pid\": 4242, \"ttl_seconds\": 1.5, \"labels\": {\"job\": \"train \\\"7\\\"\", \"_k2\": \"\"}}",
			       &req, err), 0);
	assert_string_equal(req.id, "job-1.a:b@c");
	assert_false(req.gpus_all);
	assert_int_equal(req.n_gpus, 2);
	assert_string_equal(req.gpu[0], "1");
	assert_string_equal(req.gpu[1], "GPU-x");
	assert_string_equal(req.owner, "slurm");
	assert_int_equal(req.pid, 4242);
	assert_int_equal(req.ttl_ns, 1500000000LL);
	assert_string_equal(req.labels_json, "{\"job\": \"train \\\"7\\\"\", \"_k2\": \"\"}");
	alloc_request_release(&req);

	assert_int_equal(parse("{\"id\": \"x\"}", &req, err), 0);
	assert_true(req.gpus_all);
	assert_null(req.labels_json);
	assert_int_equal(req.pid, 0);
	assert_int_equal(req.ttl_ns, 0);
	alloc_request_release(&req);
}

/* Every bad body is refused with a message that names the field. */
static void test_request_bad(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "", "the body is empty" },
		{ "{\"id\": \"a\"", "not valid JSON" },
		{ "[1]", "must be a JSON object" },
		{ "{}", "id: missing" },
		{ "{\"id\": \"\"}", "id: must be a string" },
		{ "{\"id\": 7}", "id: must be a string" },
		{ "{\"id\": \"a/b\"}", "id: '/' is not allowed" },
		{ "{\"id\": \"a b\"}", "id: ' ' is not allowed" },
		{ "{\"id\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", "id: must be a string of 1 to 64" },
		{ "{\"id\": \"a\", \"id\": \"b\"}", "id: given twice" },
		{ "{\"id\": \"a\", \"gpu\": [0]}", "unknown field \"gpu\"" },
		{ "{\"id\": \"a\", \"x\\ny\": 1}", "unknown field \"x?y\"" },   /* the message stays one line */
		{ "{\"id\": \"a\", \"gpus\": 0}", "gpus: must be a list" },
		{ "{\"id\": \"a\", \"gpus\": []}", "gpus: the list is empty" },
		{ "{\"id\": \"a\", \"gpus\": [-1]}", "gpus: -1 is not a GPU index" },
		{ "{\"id\": \"a\", \"gpus\": [1.5]}", "gpus: 1.5 is not a GPU index" },
		{ "{\"id\": \"a\", \"gpus\": [true]}", "gpus: entries must be" },
		{ "{\"id\": \"a\", \"gpus\": [\"\"]}", "is not a GPU index or UUID" },
		{ "{\"id\": \"a\", \"pid\": 0}", "pid: must be a process id" },
		{ "{\"id\": \"a\", \"pid\": \"12\"}", "pid: must be a process id" },
		{ "{\"id\": \"a\", \"pid\": 1.5}", "pid: must be a process id" },
		{ "{\"id\": \"a\", \"ttl_seconds\": 0}", "ttl_seconds: must be" },
		{ "{\"id\": \"a\", \"ttl_seconds\": 1e12}", "ttl_seconds: must be" },
		{ "{\"id\": \"a\", \"owner\": 5}", "owner: must be a string" },
		{ "{\"id\": \"a\", \"owner\": \"x\\ny\"}", "owner: must be a string" },
		{ "{\"id\": \"a\", \"labels\": []}", "labels: must be an object" },
		{ "{\"id\": \"a\", \"labels\": {\"1x\": \"v\"}}", "labels: key \"1x\" is not a name" },
		{ "{\"id\": \"a\", \"labels\": {\"k\": 1}}", "labels: \"k\" must be a string" },
		{ "{\"id\": \"a\", \"labels\": {\"k\": \"v\", \"k\": \"w\"}}", "labels: key \"k\" appears twice" },
	};
	struct alloc_request req;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err[0] = '\0';
		if (parse(cases[i].body, &req, err) != -1 || !strstr(err, cases[i].want))
			fail_msg("body %s: got '%s', want '%s'", cases[i].body, err, cases[i].want);
		assert_null(req.labels_json);
	}
	/* A NUL inside the body is refused, not cut short. */
	assert_int_equal(alloc_request_parse("{\"id\": \"a\"}\0x", 13, &req, err, sizeof err), -1);
	assert_non_null(strstr(err, "NUL"));
}

static void test_begin_end(void **state)
{
	struct alloc_table t;
	struct alloc_request req;
	struct alloc *a, done;
	char err[256];

	(void)state;
	snap_init();
	alloc_table_init(&t);
	assert_int_equal(parse("{\"id\": \"j1\", \"gpus\": [\"gpu-00000001-AAAA-bbbb-cccc-dddddddddddd\"]}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);
	alloc_request_release(&req);
	assert_int_equal(a->n_gpus, 1);
	assert_int_equal(a->gpu[0].pos, 1);
	assert_int_equal(a->gpu[0].index, 1);
	assert_int_equal(t.n, 1);

	/* The same id again: refused, nothing changes. */
	assert_int_equal(parse("{\"id\": \"j1\"}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), -EEXIST);
	assert_non_null(strstr(err, "already allocated"));
	alloc_request_release(&req);
	assert_int_equal(t.n, 1);

	/* Unknown and repeated GPUs. */
	assert_int_equal(parse("{\"id\": \"j2\", \"gpus\": [7]}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 0, &a, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "\"7\" is not a GPU on this node"));
	assert_int_equal(parse("{\"id\": \"j2\", \"gpus\": [0, \"GPU-00000000-aaaa-bbbb-cccc-dddddddddddd\"]}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 0, &a, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "names GPU 0 again"));
	assert_int_equal(t.n, 1);

	/* Every GPU when gpus is left out; a TTL sets the expiry. */
	assert_int_equal(parse("{\"id\": \"j3\", \"ttl_seconds\": 10}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);
	assert_int_equal(a->n_gpus, 2);
	assert_int_equal(a->expires_wall_ns, 110 * NS_PER_SEC);
	assert_int_equal(alloc_renew(&t, "j3", 0, 105 * NS_PER_SEC), 0);
	assert_int_equal(alloc_find(&t, "j3")->expires_wall_ns, 115 * NS_PER_SEC);
	assert_int_equal(alloc_renew(&t, "j3", 60 * NS_PER_SEC, 105 * NS_PER_SEC), 0);
	assert_int_equal(alloc_find(&t, "j3")->expires_wall_ns, 165 * NS_PER_SEC);
	assert_int_equal(alloc_renew(&t, "j1", 0, 0), -EINVAL);   /* no TTL to renew by */
	assert_int_equal(alloc_renew(&t, "nope", 0, 0), -ENOENT);

	assert_int_equal(alloc_end(&t, "j1", 130 * NS_PER_SEC, "released", &done), 0);
	assert_string_equal(done.id, "j1");
	assert_int_equal(done.ended_wall_ns, 130 * NS_PER_SEC);
	assert_string_equal(done.end_reason, "released");
	alloc_release(&done);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.a[0].id, "j3");
	assert_int_equal(alloc_end(&t, "j1", 0, "released", &done), -ENOENT);
	alloc_table_release(&t);
}

static void tick(struct alloc_table *t, int64_t dt_s)
{
	snap.mono_ns += dt_s * NS_PER_SEC;
	alloc_account(t, &snap);
}

static void test_accounting(void **state)
{
	struct alloc_table t;
	struct alloc_request req;
	struct alloc *a;
	char err[256];

	(void)state;
	snap_init();
	alloc_table_init(&t);
	assert_int_equal(parse("{\"id\": \"j\", \"gpus\": [0, 1]}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 0, &a, err, sizeof err), 0);
	tick(&t, 0);   /* the baseline tick: marks only */
	assert_int_equal(a->use.gpu_energy_uj, 0);
	assert_false(a->use.cpu_energy_known);

	/* GPU 0 uses 300 J by its counter; GPU 1's counter goes away and its 300 W is integrated over 2 s. */
	snap.gpu[0].val[GPU_F_ENERGY_MJ] += 300000;
	snap.gpu[1].st[GPU_F_ENERGY_MJ] = VAL_UNSUPPORTED;
	snap.gpu[0].val[GPU_F_UTIL_GPU_PCT] = 90;
	snap.gpu[1].val[GPU_F_MEM_USED_BYTES] = 3LL << 30;
	snap.gpu[1].val[GPU_F_TEMP_MC] = 71500;
	snap.gpu[1].val[GPU_F_CLOCK_EVENT_MASK] = 0x1;   /* idle: not throttling */
	snap.gpu[0].val[GPU_F_XID_TOTAL] = 2;
	snap.host.zone_energy_uj[0] += 250000000;        /* 250 J of package */
	snap.host.zone_energy_uj[1] += 20000000;         /* 20 J of DRAM */
	tick(&t, 2);
	assert_int_equal(a->use.gpu_energy_uj, 300000000LL + 600000000LL);
	assert_int_equal(a->use.gpu_energy_integrated, 1);
	assert_int_equal(a->use.cpu_energy_uj, 250000000);
	assert_true(a->use.cpu_energy_known);
	assert_int_equal(a->use.dram_energy_uj, 20000000);
	assert_int_equal(a->use.util_peak_pct, 90);
	assert_int_equal(a->use.util_samples, 4);
	assert_int_equal(a->use.util_sum_pct, 50 + 50 + 90 + 50);
	assert_int_equal(a->use.mem_peak_bytes, 3LL << 30);
	assert_int_equal(a->use.temp_peak_mc, 71500);
	assert_int_equal(a->use.throttle_ns, 0);
	assert_int_equal(a->use.xids, 2);

	/* Power capping on one GPU for 3 s is throttling; a counter that goes back is a reset. */
	snap.gpu[0].val[GPU_F_CLOCK_EVENT_MASK] = 0x4;
	snap.gpu[0].val[GPU_F_ENERGY_MJ] = 10;
	snap.gpu[1].health = GPU_HEALTH_DOWN;   /* a lost GPU adds nothing */
	tick(&t, 3);
	assert_int_equal(a->use.throttle_ns, 3 * NS_PER_SEC);
	assert_int_equal(a->use.gpu_energy_uj, 900000000LL);
	snap.gpu[0].val[GPU_F_ENERGY_MJ] = 1010;
	tick(&t, 1);
	assert_int_equal(a->use.gpu_energy_uj, 900000000LL + 1000000);

	/* An unreadable package zone: nothing is added, and no jump when it returns. */
	snap.host.zone_st[0] = VAL_ERROR;
	snap.host.zone_energy_uj[0] += 999000000;
	tick(&t, 1);
	snap.host.zone_st[0] = VAL_OK;
	tick(&t, 1);
	assert_int_equal(a->use.cpu_energy_uj, 250000000);
	alloc_table_release(&t);
}

static bool dead_4242(int64_t pid)
{
	return pid != 4242;
}

static void test_reaping(void **state)
{
	struct alloc_table t;
	struct alloc_request req;
	struct alloc *a;
	const char *why = NULL;
	char err[256];

	(void)state;
	snap_init();
	alloc_table_init(&t);
	assert_int_equal(parse("{\"id\": \"ttl\", \"ttl_seconds\": 5}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);
	assert_int_equal(parse("{\"id\": \"pid\", \"pid\": 4242}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);
	assert_int_equal(parse("{\"id\": \"live\", \"pid\": 1}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);

	assert_null(alloc_due(&t, 104 * NS_PER_SEC, NULL, &why));
	a = alloc_due(&t, 105 * NS_PER_SEC, NULL, &why);
	assert_non_null(a);
	assert_string_equal(a->id, "ttl");
	assert_string_equal(why, "ttl expired");
	assert_int_equal(alloc_renew(&t, "ttl", 0, 105 * NS_PER_SEC), 0);
	a = alloc_due(&t, 105 * NS_PER_SEC, dead_4242, &why);
	assert_non_null(a);
	assert_string_equal(a->id, "pid");
	assert_string_equal(why, "owner exited");
	/* The real check: this process is alive; pid 0 and huge pids are not. */
	assert_true(alloc_pid_alive(getpid()));
	assert_false(alloc_pid_alive(0));
	assert_false(alloc_pid_alive(1LL << 40));
	alloc_table_release(&t);
}

static void test_json(void **state)
{
	struct alloc_table t;
	struct alloc_request req;
	struct alloc *a;
	char err[256], buf[4096];
	struct outbuf o = { buf, 0, sizeof buf - 1, false };
	cJSON *j;

	(void)state;
	snap_init();
	alloc_table_init(&t);
	assert_int_equal(parse("{\"id\": \"j\", \"gpus\": [1], \"labels\": {\"team\": \"ml\"}}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 1700000000LL * NS_PER_SEC, &a, err, sizeof err), 0);
	tick(&t, 0);
	snap.gpu[1].val[GPU_F_ENERGY_MJ] += 3600000;   /* 3600 J = 1 Wh */
	tick(&t, 1);
	alloc_json(&o, a);
	assert_false(o.full);
	buf[o.len] = '\0';
	j = cJSON_Parse(buf);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, "j");
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "gpus"), 0), "index")->valueint, 1);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "labels"), "team")->valuestring, "ml");
	assert_true(cJSON_GetObjectItem(j, "gpu_energy_joules")->valuedouble == 3600.0);
	assert_true(cJSON_GetObjectItem(j, "gpu_energy_wh")->valuedouble == 1.0);
	assert_string_equal(cJSON_GetObjectItem(j, "begun")->valuestring, "2023-11-14T22:13:20.000Z");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "ended")));
	assert_true(cJSON_GetObjectItem(j, "cpu_energy_joules")->valuedouble == 0.0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "avg_utilization_percent")) == false);
	assert_string_equal(cJSON_GetObjectItem(j, "host_energy_scope")->valuestring, "whole host");
	cJSON_Delete(j);
	alloc_table_release(&t);
}

static void test_save_load(void **state)
{
	struct alloc_table t, u;
	struct alloc_request req;
	struct alloc *a;
	char dir[] = "/tmp/gputel-alloc-XXXXXX", path[128], tmp[160], err[256];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/allocations.json", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	snap_init();
	alloc_table_init(&t);
	alloc_table_init(&u);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), -ENOENT);

	assert_int_equal(parse("{\"id\": \"a\", \"gpus\": [1], \"owner\": \"o\\\"q\", \"pid\": 77, \"ttl_seconds\": 30, "
			       "\"labels\": {\"k\": \"v\"}}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 50 * NS_PER_SEC, &a, err, sizeof err), 0);
	assert_int_equal(parse("{\"id\": \"b\"}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 60 * NS_PER_SEC, &a, err, sizeof err), 0);
	tick(&t, 0);
	snap.gpu[1].val[GPU_F_ENERGY_MJ] += 5000;
	snap.host.zone_energy_uj[0] = 9007199254740993ULL;   /* past 2^53: must survive exactly */
	tick(&t, 1);
	assert_int_equal(alloc_save(&t, path, err, sizeof err), 0);
	assert_int_equal(access(tmp, F_OK), -1);

	/* The GPUs come back in another order: they are found by UUID. */
	{
		struct gpu_reading g0 = snap.gpu[0];

		snap.gpu[0] = snap.gpu[1];
		snap.gpu[1] = g0;
	}
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 0);
	assert_int_equal(u.n, 2);
	a = alloc_find(&u, "a");
	assert_non_null(a);
	assert_string_equal(a->owner, "o\"q");
	assert_int_equal(a->pid, 77);
	assert_int_equal(a->ttl_ns, 30 * NS_PER_SEC);
	assert_int_equal(a->expires_wall_ns, 80 * NS_PER_SEC);
	assert_string_equal(a->labels_json, "{\"k\":\"v\"}");
	assert_int_equal(a->gpu[0].pos, 0);
	assert_int_equal(a->gpu[0].index, 1);
	assert_int_equal(a->use.gpu_energy_uj, 5000000);
	assert_int_equal(a->gpu[0].energy_mark_mj, 1005000);
	assert_int_equal(a->cpu_mark_uj, 9007199254740993ULL);
	assert_int_equal(a->mark_mono_ns, 0);

	/* Accounting goes on from the saved marks: the energy used meanwhile counts. */
	snap.gpu[0].val[GPU_F_ENERGY_MJ] += 7000;
	snap.mono_ns += NS_PER_SEC;
	alloc_account(&u, &snap);
	assert_int_equal(a->use.gpu_energy_uj, 12000000);
	alloc_table_release(&u);

	/* A damaged file leaves the table empty and says so. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"version\": 1, \"allocations\": [{\"id\": \"x\"}]}", f);
	fclose(f);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), -EINVAL);
	assert_int_equal(u.n, 0);
	assert_non_null(strstr(err, "damaged"));
	f = fopen(path, "w");
	fputs("not json", f);
	fclose(f);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "not a gputel state file"));

	/* A directory that is gone: an error naming the path and the fix. */
	snprintf(tmp, sizeof tmp, "%s/nope/allocations.json", dir);
	assert_true(alloc_save(&t, tmp, err, sizeof err) < 0);
	assert_non_null(strstr(err, "state directory"));
	alloc_table_release(&t);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_ok),
		cmocka_unit_test(test_request_bad),
		cmocka_unit_test(test_begin_end),
		cmocka_unit_test(test_accounting),
		cmocka_unit_test(test_reaping),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_save_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
