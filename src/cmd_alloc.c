/*
 * cmd_alloc.c - `gputel alloc begin|end|renew|list|show`: the allocation
 * API from the command line, through libgputel (include/gputel.h).
 *
 * Exit codes: 0 done; 1 the agent is unreachable or refused for a reason
 * of state (unknown id, id taken); 2 bad usage, or a request the agent
 * found malformed (an unknown GPU, a bad label).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "gputel.h"
#include "log.h"
#include "outbuf.h"
#include "util.h"

static const char alloc_usage[] =
	"usage: gputel alloc begin ID [--gpus LIST] [--owner NAME] [--pid PID] [--ttl SECONDS]\n"
	"                            [--label KEY=VALUE]... [--socket PATH] [--json]\n"
	"       gputel alloc end ID [--socket PATH] [--json]\n"
	"       gputel alloc renew ID [--ttl SECONDS] [--socket PATH] [--json]\n"
	"       gputel alloc list [--socket PATH] [--json]\n"
	"       gputel alloc show ID [--socket PATH] [--json]\n"
	"\n"
	"Tells the node's agent that GPUs were handed out (begin) or given back\n"
	"(end).  While an allocation is live, telemetry runs; its end prints what\n"
	"it used.  --gpus takes indexes or UUIDs (default: every GPU); --pid ends\n"
	"it when that process exits; --ttl ends it unless renewed in time.\n"
	"The socket is --socket, else $JN_CONTROL_SOCKET, else /run/gputel/control.sock.\n"
	"With GPU_TELEMETRY_AUTOSTART=true, begin starts the agent if none answers.\n"
	"Exit: 0 done, 1 no agent or refused (unknown or taken id), 2 bad usage.\n";

int alloc_exit_code(int status, const char *json)
{
	char *msg = NULL;
	cJSON *j = json ? cJSON_Parse(json) : NULL;
	const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;

	if (status == GPUTEL_OK) {
		cJSON_Delete(j);
		return 0;
	}
	if (cJSON_IsString(e))
		msg = e->valuestring;
	fprintf(stderr, "gputel: %s%s%s\n", gputel_strerror(status), msg ? ": " : "", msg ? msg : "");
	cJSON_Delete(j);
	return status == GPUTEL_E_INVALID || status == GPUTEL_E_BADREQUEST ? EXIT_USAGE : 1;
}

static double num(const cJSON *j, const char *k, bool *known)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);

	*known = cJSON_IsNumber(v);
	return *known ? v->valuedouble : 0;
}

void alloc_print_summary(FILE *f, const char *json)
{
	cJSON *j = cJSON_Parse(json);
	const cJSON *id = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
	bool k1, k2;
	double v, w;

	if (!j) {
		fputs(json, f);
		return;
	}
	fprintf(f, "allocation %s", cJSON_IsString(id) ? id->valuestring : "?");
	v = num(j, "duration_seconds", &k1);
	fprintf(f, ": %.3f s\n", v);
	v = num(j, "gpu_energy_joules", &k1);
	w = num(j, "gpu_energy_wh", &k2);
	if (k1)
		fprintf(f, "  gpu energy      %.1f J (%.4f Wh)%s\n", v, w,
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "gpu_energy_integrated"))
				? ", partly from integrated power" : "");
	else
		fprintf(f, "  gpu energy      unknown\n");
	v = num(j, "cpu_energy_joules", &k1);
	w = num(j, "cpu_energy_wh", &k2);
	if (k1)
		fprintf(f, "  cpu energy      %.1f J (%.4f Wh), whole host\n", v, w);
	v = num(j, "dram_energy_joules", &k1);
	if (k1 && v > 0)
		fprintf(f, "  dram energy     %.1f J, whole host\n", v);
	v = num(j, "avg_utilization_percent", &k1);
	w = num(j, "peak_utilization_percent", &k2);
	if (k1)
		fprintf(f, "  utilisation     %.1f %% average, %.0f %% peak\n", v, w);
	v = num(j, "peak_memory_bytes", &k1);
	if (k1)
		fprintf(f, "  peak memory     %.1f MiB\n", v / (1 << 20));
	v = num(j, "peak_temperature_celsius", &k1);
	if (k1)
		fprintf(f, "  peak temp       %.1f C\n", v);
	v = num(j, "throttle_seconds", &k1);
	if (k1 && v > 0)
		fprintf(f, "  throttled       %.1f s\n", v);
	v = num(j, "xids", &k1);
	fprintf(f, "  xid errors      %.0f\n", v);
	cJSON_Delete(j);
}

/* KEY=VALUE pairs as a JSON object. */
static int labels_json(struct outbuf *o, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char key[128];

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key)
		return -1;
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	ob_puts(o, o->len > 1 ? ", " : "");
	ob_put_json_str(o, key);
	ob_puts(o, ": ");
	ob_put_json_str(o, eq + 1);
	return 0;
}

int cmd_alloc(int argc, char **argv)
{
	static char labels[8192];
	struct outbuf lo = { labels, 0, sizeof labels - 2, false };
	struct gputel_alloc_spec spec = { 0 };
	const char *sub, *id = NULL, *sock = NULL, *v;
	bool json = false;
	char *reply = NULL;
	double ttl = 0;
	int r, i;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(alloc_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	ob_puts(&lo, "{");
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if ((r = opt_value(argc, argv, &i, "--socket", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			sock = v;
		} else if ((r = opt_value(argc, argv, &i, "--gpus", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			spec.gpus = v;
		} else if ((r = opt_value(argc, argv, &i, "--owner", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			spec.owner = v;
		} else if ((r = opt_value(argc, argv, &i, "--pid", &v)) != 0) {
			int64_t p;

			if (r < 0)
				return EXIT_USAGE;
			if (parse_int64(v, &p) != 0 || p < 1 || p > INT32_MAX)
				return usage_error("alloc", "bad --pid '%s'; give a process id", v);
			spec.pid = (long)p;
		} else if ((r = opt_value(argc, argv, &i, "--ttl", &v)) != 0) {
			int64_t ns;

			if (r < 0)
				return EXIT_USAGE;
			if (parse_seconds_ns(v, 1000000, 366LL * 86400 * NS_PER_SEC, &ns) != 0)
				return usage_error("alloc", "bad --ttl '%s'; give seconds, e.g. --ttl 300", v);
			ttl = (double)ns / NS_PER_SEC;
		} else if ((r = opt_value(argc, argv, &i, "--label", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (labels_json(&lo, v) != 0)
				return usage_error("alloc", "bad --label '%s'; give KEY=VALUE", v);
		} else if (argv[i][0] == '-') {
			return usage_error("alloc", "unknown option '%s'; see 'gputel alloc --help'", argv[i]);
		} else if (!id) {
			id = argv[i];
		} else {
			return usage_error("alloc", "unexpected '%s'; see 'gputel alloc --help'", argv[i]);
		}
	}
	ob_puts(&lo, "}");
	if (lo.full)
		return usage_error("alloc", "the labels are too long");
	labels[lo.len] = '\0';
	if (strcmp(sub, "list") != 0 && !id)
		return usage_error("alloc", "%s needs an allocation id; see 'gputel alloc --help'", sub);
	if (!strcmp(sub, "begin")) {
		spec.id = id;
		spec.ttl_seconds = ttl;
		spec.labels_json = lo.len > 2 ? labels : NULL;
		r = gputel_alloc_begin(sock, &spec, &reply);
	} else if (!strcmp(sub, "end")) {
		r = gputel_alloc_end(sock, id, &reply);
	} else if (!strcmp(sub, "renew")) {
		r = gputel_alloc_renew(sock, id, ttl, &reply);
	} else if (!strcmp(sub, "list")) {
		r = gputel_get(sock, "/v1/allocations", &reply);
	} else if (!strcmp(sub, "show")) {
		char path[128];

		if (str_fmt(path, sizeof path, "/v1/allocations/%s", id) < 0 || strpbrk(id, "/?# "))
			return usage_error("alloc", "bad allocation id '%s'", id);
		r = gputel_get(sock, path, &reply);
	} else {
		return usage_error("alloc", "unknown action '%s'; use begin, end, renew, list or show", sub);
	}
	if (r != GPUTEL_OK) {
		r = alloc_exit_code(r, reply);
		gputel_free(reply);
		return r;
	}
	if (json || !strcmp(sub, "list") || !strcmp(sub, "show"))
		fputs(reply, stdout);
	else if (!strcmp(sub, "end"))
		alloc_print_summary(stdout, reply);
	else
		printf("allocation %s %s\n", id, !strcmp(sub, "begin") ? "begun" : "renewed");
	gputel_free(reply);
	return 0;
}
