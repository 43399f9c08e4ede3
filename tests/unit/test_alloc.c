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

	/* Whitespace after the object, as `echo` or a heredoc leaves it, is not trailing garbage. */
	assert_int_equal(parse("{\"id\": \"x\"}\r\n \t\n", &req, err), 0);
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
		{ "{\"id\": \"a\"} x", "goes on after its JSON object (at byte 12)" },
		{ "{\"id\": \"a\"}{\"id\": \"b\"}", "goes on after its JSON object (at byte 11)" },
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
		{ "{\"id\": \"a\", \"owner\": \"x\\ny\"}", "owner: control character at byte 2" },
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

	assert_null(alloc_due(&t, 0, 104 * NS_PER_SEC, NULL, &why));
	a = alloc_due(&t, 0, 105 * NS_PER_SEC, NULL, &why);
	assert_non_null(a);
	assert_string_equal(a->id, "ttl");
	assert_string_equal(why, "ttl expired");
	assert_int_equal(alloc_renew(&t, "ttl", 0, 105 * NS_PER_SEC), 0);
	a = alloc_due(&t, 0, 105 * NS_PER_SEC, dead_4242, &why);
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

	/* A damaged entry is not restored, and is counted. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"version\": 1, \"allocations\": [{\"id\": \"x\"}]}", f);
	fclose(f);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 1);
	assert_int_equal(u.n, 0);
	assert_non_null(strstr(err, "1 of 1 allocations are damaged"));
	f = fopen(path, "w");
	fputs("not json", f);
	fclose(f);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "not a gputel state file"));

	/* An empty table saves, with where the ledger stood, and loads back with it. */
	{
		struct alloc_table e;

		alloc_table_init(&e);
		e.ledger = (struct alloc_ledger_mark){ true, UINT64_MAX, 77, 12345 };
		assert_int_equal(alloc_save(&e, path, err, sizeof err), 0);
		assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 0);
		assert_int_equal(u.n, 0);
		assert_true(u.ledger.have && u.ledger.dev == UINT64_MAX && u.ledger.ino == 77 && u.ledger.size == 12345);
		alloc_table_release(&u);
	}

	/* A directory that is gone: an error naming the path and the fix. */
	snprintf(tmp, sizeof tmp, "%s/nope/allocations.json", dir);
	assert_true(alloc_save(&t, tmp, err, sizeof err) < 0);
	assert_non_null(strstr(err, "state directory"));
	alloc_table_release(&t);
	unlink(path);
	rmdir(dir);
}

/* body must be refused (400) with a one-line, valid UTF-8 message holding want. */
static void refused(const char *body, size_t len, const char *want)
{
	struct alloc_request req;
	char err[512] = "";

	if (alloc_request_parse(body, len, &req, err, sizeof err) != -1 || !strstr(err, want) ||
	    strchr(err, '\n') || !utf8_valid(err, strlen(err), NULL))
		fail_msg("body %s: got '%s', want '%s'", body, err, want);
}

/*
 * Issue 11, item 1: invalid UTF-8 and control characters in any string of
 * a begin are refused naming the field, and so is a \u0000 (which cJSON
 * would have cut the string at).
 */
static void test_request_text(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "{\"id\": \"evil\", \"gpus\": [1], \"owner\": \"x\xff\"}", "owner: invalid UTF-8 at byte 2" },
		{ "{\"id\": \"a\", \"owner\": \"\xc0\x80\"}", "owner: invalid UTF-8 at byte 1" },       /* overlong */
		{ "{\"id\": \"a\", \"owner\": \"\xed\xa0\x80\"}", "owner: invalid UTF-8" },             /* surrogate */
		{ "{\"id\": \"a\", \"owner\": \"\xf4\x90\x80\x80\"}", "owner: invalid UTF-8" },         /* > U+10FFFF */
		{ "{\"id\": \"a\", \"owner\": \"ab\xe2\x82\"}", "owner: invalid UTF-8 at byte 3" },      /* cut short */
		{ "{\"id\": \"a\", \"owner\": \"a\x7f\"}", "owner: control character at byte 2" },
		{ "{\"id\": \"a\", \"owner\": \"a\\u007f\"}", "owner: control character at byte 2" },
		{ "{\"id\": \"a\", \"owner\": \"a\\u0000b\"}", "owner: control character at byte 2" },
		{ "{\"id\": \"a\\u0000b\"}", "id: control character at byte 2" },
		{ "{\"id\": \"a\xff\"}", "id: invalid UTF-8 at byte 2" },
		{ "{\"id\": \"a\", \"gpus\": [\"GPU-\xff\"]}", "gpus: invalid UTF-8 at byte 5" },
		{ "{\"id\": \"a\", \"gpus\": [\"GPU-\\u0000\"]}", "gpus: control character at byte 5" },
		{ "{\"id\": \"a\", \"gpus\": [\"GPU-\\t\"]}", "gpus: control character" },
		{ "{\"id\": \"a\", \"labels\": {\"team\": \"m\xfe\"}}", "labels.team: invalid UTF-8 at byte 2" },
		{ "{\"id\": \"a\", \"labels\": {\"team\": \"\\u0000\"}}", "labels.team: control character at byte 1" },
		{ "{\"id\": \"a\", \"labels\": {\"team\": \"\\u001f\"}}", "labels.team: control character" },
		{ "{\"id\": \"a\", \"labels\": {\"t\xff\": \"v\"}}", "labels: key \"t?\" is not a name" },
		{ "{\"id\": \"a\", \"labels\": {\"t\\u0000\": \"v\"}}", "labels: key \"t?\" is not a name" },
		{ "{\"id\": \"a\", \"own\xffr\": 1}", "unknown field \"own?r\"" },
		/* An escaped lone surrogate never becomes bytes: the body is refused. */
		{ "{\"id\": \"a\", \"owner\": \"\\ud800\"}", "not valid JSON" },
		{ "{\"id\": \"a\", \"owner\": \"\\udc00x\"}", "not valid JSON" },
		{ "{\"id\": \"a\", \"owner\": \"\\ud800\\u0041\"}", "not valid JSON" },
	};
	struct alloc_request req;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		refused(cases[i].body, strlen(cases[i].body), cases[i].want);
	/* Valid UTF-8, escaped or not, is taken as it is. */
	assert_int_equal(parse("{\"id\": \"a\", \"owner\": \"Zo\xc3\xab \\u6771\\u4eac \\ud83d\\ude00\", "
			       "\"labels\": {\"team\": \"\xe6\x9d\xb1\"}}", &req, err), 0);
	assert_string_equal(req.owner, "Zo\xc3\xab \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80");
	assert_string_equal(req.labels_json, "{\"team\": \"\xe6\x9d\xb1\"}");
	alloc_request_release(&req);
}

/*
 * Issue 11, item 3: a GPU lost for 5 s of an allocation's 8: the seconds
 * its energy was not measured are counted, and the figure is flagged as
 * partial, in the summary and through a save and a load.
 */
/* The Xids the agent published, listed in the allocations on that GPU (alloc_note_xid). */
static void test_xid_events(void **state)
{
	char dir[] = "/tmp/gputel-alloc-XXXXXX", path[128], err[256];
	static char buf[16384];
	struct outbuf o = { buf, 0, sizeof buf - 1, false };
	const char *gpu1 = "GPU-00000001-AAAA-bbbb-cccc-dddddddddddd";   /* any case */
	struct alloc_table t, u;
	struct alloc_request req;
	struct alloc *a;
	const struct alloc *r;
	cJSON *j, *x;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/allocations.json", dir);
	snap_init();
	alloc_table_init(&t);
	alloc_table_init(&u);
	assert_int_equal(parse("{\"id\": \"on1\", \"gpus\": [1]}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);
	assert_int_equal(parse("{\"id\": \"on0\", \"gpus\": [0]}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);
	a = alloc_find(&t, "on1");   /* the table may have moved */
	/* Before it began (this boot's kernel log read at start): not its own. */
	assert_int_equal(alloc_note_xid(&t, gpu1, 1, 13, 99 * NS_PER_SEC), 0);
	assert_int_equal(alloc_note_xid(&t, gpu1, 1, 79, 101 * NS_PER_SEC), 1);
	for (int i = 0; i < ALLOC_XID_EVENTS_MAX + 3; i++)
		alloc_note_xid(&t, gpu1, 1, 13, (102 + i) * NS_PER_SEC);
	assert_int_equal(a->use.n_xid_events, ALLOC_XID_EVENTS_MAX);
	assert_int_equal(a->use.xid_events_dropped, 4);
	assert_int_equal(alloc_find(&t, "on0")->use.n_xid_events, 0);
	alloc_json(&o, a);
	buf[o.len] = '\0';
	j = cJSON_Parse(buf);
	assert_non_null(j);
	x = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "xid_events"), 0);
	assert_int_equal(cJSON_GetObjectItem(x, "code")->valueint, 79);
	assert_string_equal(cJSON_GetObjectItem(x, "name")->valuestring, "GPU_HAS_FALLEN_OFF_THE_BUS");
	assert_int_equal(cJSON_GetObjectItem(x, "gpu")->valueint, 1);
	assert_string_equal(cJSON_GetObjectItem(x, "at")->valuestring, "1970-01-01T00:01:41.000Z");
	assert_int_equal(cJSON_GetObjectItem(j, "xid_events_dropped")->valueint, 4);
	cJSON_Delete(j);

	/* A restart keeps the list. */
	assert_int_equal(alloc_save(&t, path, err, sizeof err), 0);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 0);
	r = alloc_find(&u, "on1");
	assert_int_equal(r->use.n_xid_events, ALLOC_XID_EVENTS_MAX);
	assert_int_equal(r->use.xid_events_dropped, 4);
	assert_int_equal(r->use.xid_events[0].code, 79);
	assert_int_equal(r->use.xid_events[0].wall_ns, 101 * NS_PER_SEC);
	alloc_table_release(&u);
	alloc_table_release(&t);
	unlink(path);
	rmdir(dir);
}

static void test_partial_energy(void **state)
{
	char dir[] = "/tmp/gputel-alloc-XXXXXX", path[128], err[256];
	static char buf[8192];
	struct outbuf o = { buf, 0, sizeof buf - 1, false };
	struct alloc_table t, u;
	struct alloc_request req;
	struct alloc *a;
	cJSON *j;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/allocations.json", dir);
	snap_init();
	alloc_table_init(&t);
	alloc_table_init(&u);
	assert_int_equal(parse("{\"id\": \"lost\", \"gpus\": [1]}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);
	tick(&t, 0);
	for (int s = 0; s < 2; s++) {               /* 2 s measured: 400 J a second */
		snap.gpu[1].val[GPU_F_ENERGY_MJ] += 400000;
		tick(&t, 1);
	}
	assert_int_equal(a->use.gpu_unmeasured_ns, 0);
	snap.gpu[1].health = GPU_HEALTH_DOWN;
	for (int s = 0; s < 5; s++) {               /* lost for 5 s */
		snap.gpu[1].val[GPU_F_ENERGY_MJ] += 400000;
		tick(&t, 1);
	}
	snap.gpu[1].health = GPU_HEALTH_UP;
	for (int s = 0; s < 2; s++) {               /* back: the first step after is not known either */
		snap.gpu[1].val[GPU_F_ENERGY_MJ] += 400000;
		tick(&t, 1);
	}
	assert_int_equal(a->use.gpu_energy_uj, 1200000000LL);
	assert_int_equal(a->use.gpu_unmeasured_ns, 6 * NS_PER_SEC);
	alloc_json(&o, a);
	buf[o.len] = '\0';
	j = cJSON_Parse(buf);
	assert_non_null(j);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "gpu_energy_partial")));
	assert_true(cJSON_GetObjectItem(j, "gpu_seconds_unmeasured")->valuedouble == 6.0);
	cJSON_Delete(j);

	/* A restart keeps the count. */
	assert_int_equal(alloc_save(&t, path, err, sizeof err), 0);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 0);
	assert_int_equal(alloc_find(&u, "lost")->use.gpu_unmeasured_ns, 6 * NS_PER_SEC);
	alloc_table_release(&u);

	/* A GPU that is not on the node after a restart counts as unmeasured too. */
	snap.n_gpus = 1;
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 0);
	tick(&u, 0);
	tick(&u, 2);
	assert_int_equal(alloc_find(&u, "lost")->use.gpu_unmeasured_ns, 8 * NS_PER_SEC);
	alloc_table_release(&u);

	/* A whole allocation measured throughout is not partial. */
	snap_init();
	assert_int_equal(parse("{\"id\": \"fine\", \"gpus\": [0]}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);
	tick(&t, 0);
	tick(&t, 1);
	a = alloc_find(&t, "fine");
	o.len = 0;
	alloc_json(&o, a);
	buf[o.len] = '\0';
	assert_non_null(strstr(buf, "\"gpu_energy_partial\": false, \"gpu_seconds_unmeasured\": 0.000"));
	alloc_table_release(&t);
	unlink(path);
	rmdir(dir);
}

/* Writes text to path. */
static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* The saved form of one allocation "ID" on GPU 1, with FIELD's value replaced. */
static void state_entry(char *out, size_t n, const char *id, const char *field, const char *value)
{
	struct alloc_table t;
	struct alloc_request req;
	struct alloc *a;
	char dir[] = "/tmp/gputel-alloc-XXXXXX", path[128], body[128], err[256], key[64];
	char *text, *at;
	FILE *f;
	long len;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/allocations.json", dir);
	alloc_table_init(&t);
	snprintf(body, sizeof body, "{\"id\": \"%s\", \"gpus\": [1], \"owner\": \"o\", \"labels\": {\"k\": \"v\"}}", id);
	assert_int_equal(parse(body, &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);
	tick(&t, 0);
	assert_int_equal(alloc_save(&t, path, err, sizeof err), 0);
	alloc_table_release(&t);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 256);   /* room for a longer value */
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	unlink(path);
	rmdir(dir);
	/* Just the entry: from the first '{' of the list to its last '}'. */
	at = strstr(text, "\"allocations\": [");
	assert_non_null(at);
	at = strchr(at, '{');
	*strrchr(at, '}') = '\0';
	*strrchr(at, '}') = '\0';
	strcat(at, "}");
	if (field) {
		char *v, *end, *rest;

		snprintf(key, sizeof key, "\"%s\": ", field);
		v = strstr(at, key);
		assert_non_null(v);
		v += strlen(key);
		/* The value: a string, a flat object (labels), the GPU list, or a bare word up to , or } */
		end = *v == '"' ? strchr(v + 1, '"') + 1 : *v == '{' ? strchr(v, '}') + 1 :
		      *v == '[' ? strchr(v, ']') + 1 : v + strcspn(v, ",}");
		rest = strdup(end);
		strcpy(v, value);
		strcat(v, rest);
		free(rest);
	}
	assert_true(strlen(at) < n);
	strcpy(out, at);
	free(text);
}

/*
 * Issue 11, items 5 and 6: a state file with one bad entry restores the
 * good ones, and an entry with absurd figures (energy_uj INT64_MAX, the
 * UBSan report) or bad strings is one of the bad ones.
 */
static void test_load_damaged_entries(void **state)
{
	static const struct {
		const char *field, *value;
	} bad[] = {
		{ "energy_uj", "\"9223372036854775807\"" },        /* the UBSan report */
		{ "gpu_energy_uj", "\"-1\"" },
		{ "gpu_energy_uj", "\"1000000000000000001\"" },
		{ "cpu_energy_uj", "\"99999999999999999999\"" },    /* past int64 */
		{ "energy_mark_mj", "\"-5\"" },
		{ "begun_ns", "\"0\"" },
		{ "begun_ns", "\"9223372036854775807\"" },
		{ "ttl_ns", "\"-1\"" },
		{ "pid", "\"4294967296\"" },
		{ "util_samples", "\"-1\"" },
		{ "xids", "\"9223372036854775807\"" },
		{ "throttle_ns", "\"-7\"" },
		{ "index", "\"-1\"" },
		{ "owner", "\"x\xff\"" },
		{ "owner", "\"x\\u0000y\"" },
		{ "owner", "\"x\\ny\"" },
		{ "uuid", "\"GPU-\xc0\xaf\"" },
		{ "uuid", "\"\"" },
		{ "labels", "{\"k\": \"\xed\xa0\x80\"}" },
		{ "labels", "{\"1k\": \"v\"}" },
		{ "labels", "{\"k\": 5}" },
		{ "id", "\"a\\u0000b\"" },
		{ "id", "\"a/b\"" },
		{ "gpus", "7" },
	};
	char dir[] = "/tmp/gputel-alloc-XXXXXX", path[160], err[512];
	static char good1[4096], good2[4096], broken[4096], text[16384];
	struct alloc_table u;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/allocations.json", dir);
	snap_init();
	alloc_table_init(&u);
	state_entry(good1, sizeof good1, "good-1", NULL, NULL);
	state_entry(good2, sizeof good2, "good-2", NULL, NULL);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		state_entry(broken, sizeof broken, "broken", bad[i].field, bad[i].value);
		snprintf(text, sizeof text, "{\"version\": 1, \"allocations\": [%s, %s, %s]}", good1, broken, good2);
		put_file(path, text);
		err[0] = '\0';
		if (alloc_load(&u, path, &snap, err, sizeof err) != 1 || u.n != 2 || !alloc_find(&u, "good-1") ||
		    !alloc_find(&u, "good-2") || !strstr(err, "1 of 3 allocations are damaged"))
			fail_msg("%s = %s: loaded %zu, err '%s'", bad[i].field, bad[i].value, u.n, err);
		alloc_table_release(&u);
	}
	/* A duplicate id: the second is the damaged one. */
	snprintf(text, sizeof text, "{\"version\": 1, \"allocations\": [%s, %s]}", good1, good1);
	put_file(path, text);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 1);
	assert_int_equal(u.n, 1);
	alloc_table_release(&u);

	/* Figures at their bounds load, and the accounting that follows saturates instead of overflowing. */
	state_entry(broken, sizeof broken, "big", "gpu_energy_uj", "\"1000000000000000000\"");
	snprintf(text, sizeof text, "{\"version\": 1, \"allocations\": [%s]}", broken);
	put_file(path, text);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 0);
	u.a[0].gpu[0].energy_uj = ALLOC_ENERGY_UJ_MAX;
	u.a[0].gpu[0].energy_mark_mj = 0;
	u.a[0].cpu_mark_uj = 0;
	u.a[0].use.throttle_ns = INT64_MAX - 1;
	snap.gpu[1].val[GPU_F_ENERGY_MJ] = INT64_MAX;
	snap.gpu[1].val[GPU_F_CLOCK_EVENT_MASK] = 0x4;
	snap.gpu[1].val[GPU_F_UTIL_GPU_PCT] = INT64_MAX;
	snap.host.zone_energy_uj[0] = UINT64_MAX;
	tick(&u, 0);
	tick(&u, 5);
	assert_int_equal(u.a[0].use.gpu_energy_uj, ALLOC_ENERGY_UJ_MAX);
	assert_int_equal(u.a[0].gpu[0].energy_uj, ALLOC_ENERGY_UJ_MAX);
	assert_int_equal(u.a[0].use.cpu_energy_uj, ALLOC_ENERGY_UJ_MAX);
	assert_int_equal(u.a[0].use.throttle_ns, INT64_MAX);
	assert_int_equal(u.a[0].use.util_peak_pct, 100);
	/* ... and what it saves loads back. */
	assert_int_equal(alloc_save(&u, path, err, sizeof err), 0);
	alloc_table_release(&u);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 0);
	assert_int_equal(u.n, 1);
	alloc_table_release(&u);
	unlink(path);
	rmdir(dir);
}

/*
 * Issue 11, item 4: a link planted at allocations.json.tmp is not followed:
 * its target stays as it was and the state is saved; a directory planted
 * there makes the save fail, naming it.
 */
static void test_save_planted_tmp(void **state)
{
	char dir[] = "/tmp/gputel-alloc-XXXXXX", outside[] = "/tmp/gputel-outside-XXXXXX";
	char path[128], tmp[160], err[512], got[64];
	struct alloc_table t, u;
	struct alloc_request req;
	struct alloc *a;
	struct stat st;
	FILE *f;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fd = mkstemp(outside);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "precious\n", 9), 9);
	close(fd);
	snprintf(path, sizeof path, "%s/allocations.json", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	snap_init();
	alloc_table_init(&t);
	alloc_table_init(&u);
	assert_int_equal(parse("{\"id\": \"a\"}", &req, err), 0);
	assert_int_equal(alloc_begin(&t, &req, &snap, 100 * NS_PER_SEC, &a, err, sizeof err), 0);

	assert_int_equal(symlink(outside, tmp), 0);
	assert_int_equal(alloc_save(&t, path, err, sizeof err), 0);
	f = fopen(outside, "r");
	assert_non_null(f);
	assert_non_null(fgets(got, sizeof got, f));
	fclose(f);
	assert_string_equal(got, "precious\n");
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(lstat(tmp, &st), -1);
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 0);
	assert_non_null(alloc_find(&u, "a"));
	alloc_table_release(&u);

	/* A stale temporary file (a crash mid-save) is replaced. */
	put_file(tmp, "half a sta");
	assert_int_equal(alloc_save(&t, path, err, sizeof err), 0);
	assert_int_equal(lstat(tmp, &st), -1);

	/* Something that cannot be removed: the save fails, naming it, and the state file is kept. */
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_true(alloc_save(&t, path, err, sizeof err) < 0);
	assert_non_null(strstr(err, tmp));
	assert_non_null(strstr(err, "remove it"));
	assert_int_equal(alloc_load(&u, path, &snap, err, sizeof err), 0);
	assert_int_equal(u.n, 1);
	alloc_table_release(&u);
	rmdir(tmp);
	alloc_table_release(&t);
	unlink(path);
	unlink(outside);
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
		cmocka_unit_test(test_request_text),
		cmocka_unit_test(test_partial_energy),
		cmocka_unit_test(test_xid_events),
		cmocka_unit_test(test_load_damaged_entries),
		cmocka_unit_test(test_save_planted_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
