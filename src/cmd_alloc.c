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
#include <time.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "gputel.h"
#include "log.h"
#include "outbuf.h"
#include "util.h"

static const char alloc_usage[] =
	"usage: gputel alloc begin ID [--gpus LIST] [--owner NAME] [--pid PID] [--ttl S]\n"
	"                            [--label KEY=VALUE]... [--traceparent TP] [--socket PATH] [--json]\n"
	"       gputel alloc end ID [--socket PATH] [--json]\n"
	"       gputel alloc renew ID [--ttl S] [--socket PATH] [--json]\n"
	"       gputel alloc list [--socket PATH] [--json]\n"
	"       gputel alloc show ID [--socket PATH] [--json]\n"
	"\n"
	"Tells the node's agent that GPUs were handed out (begin) or given back\n"
	"(end).  While an allocation is live, telemetry runs; its end prints what\n"
	"it used.  With GPU_TELEMETRY_AUTOSTART=true, begin starts the agent if none\n"
	"answers.  Exit: 0 done, 1 no agent or refused (unknown or taken id), 2 bad usage.\n"
	"\n";

static void print_usage(FILE *f)
{
	fputs(alloc_usage, f);
	cli_print_option(f, "--gpus LIST", "begin: GPU indexes or UUIDs, e.g. 0,1 (default: every GPU)");
	cli_print_option(f, "--owner NAME", "begin: who holds it, free text (default: none)");
	cli_print_option(f, "--pid PID", "begin: end it when this process exits (default: none)");
	cli_print_option(f, "--ttl S",
			 "begin: end it unless renewed within this long; renew: the new TTL, e.g. 30m "
			 "(default: none; renew: its own)");
	cli_print_option(f, "--label KEY=VALUE", "begin: a label, again for more (default: none)");
	cli_print_option(f, "--traceparent TP",
			 "begin: a W3C trace context (00-<trace id>-<span id>-<flags>) whose child the allocation's "
			 "span is, when OTLP export is on (default: a new trace)");
	cli_print_option(f, "--socket PATH",
			 "the agent's control socket (default: $JN_CONTROL_SOCKET, else " GPUTEL_DEFAULT_SOCKET ")");
	cli_print_option(f, "--json", "print the agent's JSON reply (default: a summary for people)");
}

/* The socket a call goes to, as libgputel picks it, for messages. */
const char *alloc_socket_path(const char *sock)
{
	const char *env = getenv("JN_CONTROL_SOCKET");

	if (sock && *sock)
		return sock;
	return env && *env ? env : GPUTEL_DEFAULT_SOCKET;
}

int alloc_exit_code(int status, const char *json, const char *sock)
{
	char *msg = NULL;
	cJSON *j = json ? cJSON_Parse(json) : NULL;
	const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
	const char *path = alloc_socket_path(sock);

	if (status == GPUTEL_OK) {
		cJSON_Delete(j);
		return 0;
	}
	if (cJSON_IsString(e))
		msg = e->valuestring;
	/* The socket's path, and how to choose another, where it is the problem. */
	if (status == GPUTEL_E_NOAGENT)
		fprintf(stderr, "gputel: no gputel agent answers on %s; start it (systemctl start justnews-gpu-telemetry), "
			"set GPU_TELEMETRY_AUTOSTART=true, or name the agent's socket with --socket PATH or JN_CONTROL_SOCKET\n",
			path);
	else if (status == GPUTEL_E_PERMISSION)
		fprintf(stderr, "gputel: %s refuses this user; add the user to the socket's group (JN_GROUP), "
			"or name another socket with --socket PATH or JN_CONTROL_SOCKET\n", path);
	else
		fprintf(stderr, "gputel: %s%s%s\n", gputel_strerror(status), msg ? ": " : "", msg ? msg : "");
	cJSON_Delete(j);
	return status == GPUTEL_E_INVALID || status == GPUTEL_E_BADREQUEST ? EXIT_USAGE : 1;
}

int cli_alloc_begin(const char *who, const char *sock, const struct gputel_alloc_spec *spec, const char *traceparent,
		    char **reply)
{
	const char *autostart = getenv("GPU_TELEMETRY_AUTOSTART");
	/* Only where autostart may start one: an agent that answers first was not started here. */
	bool was_up = !autostart || !*autostart || gputel_status(sock, NULL) != GPUTEL_E_NOAGENT;
	int r = gputel_alloc_begin_traced(sock, spec, traceparent, reply);
	char *status = NULL;
	cJSON *j;
	const cJSON *log_file;

	if (r != GPUTEL_OK || was_up || gputel_status(sock, &status) != GPUTEL_OK)
		return r;
	j = cJSON_Parse(status);
	log_file = j ? cJSON_GetObjectItemCaseSensitive(j, "log_file") : NULL;
	if (cJSON_IsString(log_file))
		fprintf(stderr, "gputel: %s: started a gputel agent (GPU_TELEMETRY_AUTOSTART); its log is %s\n", who,
			log_file->valuestring);
	else
		fprintf(stderr, "gputel: %s: started the gputel agent (GPU_TELEMETRY_AUTOSTART); its log: "
			"journalctl -u justnews-gpu-telemetry\n", who);
	cJSON_Delete(j);
	gputel_free(status);
	return r;
}

static double num(const cJSON *j, const char *k, bool *known)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);

	*known = cJSON_IsNumber(v);
	return *known ? v->valuedouble : 0;
}

static const char *str_of(const cJSON *j, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* "0,1" from [{"index": 0, ...}, ...] */
static void gpu_list(const cJSON *a, char *buf, size_t n)
{
	const cJSON *g;
	struct outbuf o = { buf, 0, n - 1, false };

	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(a, "gpus")) {
		const cJSON *idx = cJSON_GetObjectItemCaseSensitive(g, "index");

		if (o.len)
			ob_put(&o, ",", 1);
		if (cJSON_IsNumber(idx))
			ob_put_u64(&o, (uint64_t)idx->valuedouble);
		else
			ob_puts(&o, "?");
	}
	buf[o.full ? 0 : o.len] = '\0';
}

/* Seconds since an ISO 8601 UTC time ("2026-01-02T03:04:05.678Z"), or -1. */
static double age_of(const char *iso)
{
	struct tm tm;
	struct timespec now;
	const char *rest;

	memset(&tm, 0, sizeof tm);
	rest = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	return (double)now.tv_sec + now.tv_nsec / 1e9 - ((double)timegm(&tm) + strtod(rest, NULL));
}

/* The faults it saw, one line each: code, name, GPU, time. */
static void print_xid_events(FILE *f, const cJSON *j)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "xid_events"), *x;
	double dropped;
	bool known;

	cJSON_ArrayForEach(x, list) {
		double gpu = num(x, "gpu", &known);

		if (known)
			fprintf(f, "                  Xid %.0f %s on gpu %.0f at %s\n", num(x, "code", &known),
				str_of(x, "name"), gpu, str_of(x, "at"));
		else
			fprintf(f, "                  Xid %.0f %s at %s\n", num(x, "code", &known), str_of(x, "name"),
				str_of(x, "at"));
	}
	dropped = num(j, "xid_events_dropped", &known);
	if (known && dropped > 0)
		fprintf(f, "                  ... and %.0f more\n", dropped);
}

/* The lines of what an allocation used, under its heading. */
static void print_usage_lines(FILE *f, const cJSON *j)
{
	bool k1, k2;
	double v, w;

	v = num(j, "gpu_energy_joules", &k1);
	w = num(j, "gpu_energy_wh", &k2);
	if (k1)
		fprintf(f, "  gpu energy      %.1f J (%.4f Wh)%s\n", v, w,
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "gpu_energy_integrated"))
				? ", partly from integrated power" : "");
	else
		fprintf(f, "  gpu energy      unknown\n");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "gpu_energy_partial")))
		fprintf(f, "                  partial: %.1f GPU-seconds not measured (a GPU was lost or unreadable)\n",
			num(j, "gpu_seconds_unmeasured", &k2));
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
	print_xid_events(f, j);
}

void alloc_print_summary(FILE *f, const char *json)
{
	cJSON *j = cJSON_Parse(json);
	bool known;

	if (!j) {
		fputs(json, f);
		return;
	}
	fprintf(f, "allocation %s: %.3f s\n", str_of(j, "id"), num(j, "duration_seconds", &known));
	print_usage_lines(f, j);
	cJSON_Delete(j);
}

/* `gputel alloc list`: one line per live allocation. */
static void print_list(const char *json)
{
	cJSON *j = cJSON_Parse(json);
	const cJSON *a;
	int n = 0;

	if (!j) {
		fputs(json, stdout);
		return;
	}
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(j, "allocations")) {
		char gpus[256], energy[32] = "unknown";
		bool known;
		double e = num(a, "gpu_energy_joules", &known);

		if (n++ == 0)
			printf("%-24s %-16s %-12s %10s %14s\n", "ID", "OWNER", "GPUS", "AGE (s)", "GPU ENERGY (J)");
		gpu_list(a, gpus, sizeof gpus);
		if (known)
			snprintf(energy, sizeof energy, "%.1f", e);
		printf("%-24s %-16s %-12s %10.1f %14s\n", str_of(a, "id"), *str_of(a, "owner") ? str_of(a, "owner") : "-",
		       gpus, age_of(str_of(a, "begun")), energy);
	}
	if (n == 0)
		printf("no live allocations\n");
	cJSON_Delete(j);
}

/* `gputel alloc show ID`: who holds it, since when, and what it used so far. */
static void print_show(const char *json)
{
	cJSON *j = cJSON_Parse(json);
	char gpus[256];

	if (!j) {
		fputs(json, stdout);
		return;
	}
	gpu_list(j, gpus, sizeof gpus);
	printf("allocation %s, live since %s (%.1f s), owner %s, gpus %s\n", str_of(j, "id"), str_of(j, "begun"),
	       age_of(str_of(j, "begun")), *str_of(j, "owner") ? str_of(j, "owner") : "-", gpus);
	print_usage_lines(stdout, j);
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
	const char *sub, *id = NULL, *sock = NULL, *traceparent = NULL, *v;
	bool json = false;
	char *reply = NULL;
	double ttl = 0;
	int r, i;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		print_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	ob_puts(&lo, "{");
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_usage(stdout);   /* one page covers every subcommand */
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
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
				return usage_error("alloc", "bad --ttl '%s'; give a duration, e.g. --ttl 300 or --ttl 5m", v);
			ttl = (double)ns / NS_PER_SEC;
		} else if ((r = opt_value(argc, argv, &i, "--label", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (labels_json(&lo, v) != 0)
				return usage_error("alloc", "bad --label '%s'; give KEY=VALUE", v);
		} else if ((r = opt_value(argc, argv, &i, "--traceparent", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			traceparent = v;
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
		r = cli_alloc_begin("alloc begin", sock, &spec, traceparent, &reply);
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
		r = alloc_exit_code(r, reply, sock);
		gputel_free(reply);
		return r;
	}
	if (json)
		fputs(reply, stdout);
	else if (!strcmp(sub, "list"))
		print_list(reply);
	else if (!strcmp(sub, "show"))
		print_show(reply);
	else if (!strcmp(sub, "end"))
		alloc_print_summary(stdout, reply);
	else
		printf("allocation %s %s\n", id, !strcmp(sub, "begin") ? "begun" : "renewed");
	gputel_free(reply);
	return 0;
}
