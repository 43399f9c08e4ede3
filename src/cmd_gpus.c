/*
 * cmd_gpus.c - `gputel gpus`: the first command a new user runs.  Says
 * which GPU backend was chosen and why, lists every GPU with its identity
 * and current readings, and the host sensors found (RAPL readability
 * included).  --json prints the same for scripts.
 *
 * Each GPU's health is the agent's (GET /v1/status on its control
 * socket), which knows the GPU's Xids; where no agent answers, it is
 * judged on this reading alone by the same rules (health.h), and says so.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "gputel.h"
#include "health.h"
#include "log.h"
#include "prom.h"
#include "sampler.h"
#include "config.h"
#include "outbuf.h"
#include "sink_csv.h"
#include "util.h"

static const char gpus_usage[] =
	"usage: gputel gpus [-v | --json | --prometheus [--metric-names LIST]] [--socket PATH]\n"
	"\n"
	"Shows the GPU backend in use and why, one line per GPU with its identity\n"
	"and main readings, and one for the host.  A '-' is a reading this GPU does\n"
	"not offer or that failed; -v says which, for every field and sensor.\n"
	"A GPU's health is the agent's, which knows its Xids; without an agent, it\n"
	"is judged on this reading alone.\n"
	"\n"
	"  -v, --verbose        every field of every GPU, every hwmon channel and RAPL zone\n"
	"  --json               everything, as JSON for scripts\n"
	"  --prometheus         the metrics as the exporter serves them (docs/metrics.md)\n"
	"  --metric-names LIST  with --prometheus: gputel (default), jn, dcgm\n"
	"  --socket PATH        the agent's control socket, for the GPUs' health (default:\n"
	"                       $JN_CONTROL_SOCKET, else " GPUTEL_DEFAULT_SOCKET ")\n";

/* A GPU's health as shown: the agent's, or judged on this reading alone. */
struct shown_health {
	char state[16];
	char reason[HEALTH_REASON_MAX];
	char since[40];              /* "" when not known */
	bool from_agent;
};

static struct shown_health shown[GPUTEL_MAX_GPUS];
static const char *health_sock;  /* --socket; NULL: $JN_CONTROL_SOCKET, else the default */
static bool health_from_agent;   /* the agent answered with its GPUs' health */

static void copy_str(char *dst, size_t n, const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

	str_copy(dst, cJSON_IsString(v) ? v->valuestring : "", n);
}

/* Fills shown[]: the agent's judgement of each GPU (by UUID), else this reading's. */
static void judge_health(const char *sock, const struct snapshot *snap)
{
	char *reply = NULL;
	cJSON *j = NULL;
	const cJSON *list;

	if (gputel_status(sock, &reply) == GPUTEL_OK)
		j = cJSON_Parse(reply);
	gputel_free(reply);
	list = cJSON_GetObjectItemCaseSensitive(j, "health");
	health_from_agent = cJSON_IsArray(list);
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		struct shown_health *s = &shown[i];
		const cJSON *g, *found = NULL;
		struct health h;
		struct health_input in = { .reading = &snap->gpu[i], .now_ns = timespec_to_ns(&snap->wall) };

		cJSON_ArrayForEach(g, list) {
			const cJSON *uuid = cJSON_GetObjectItemCaseSensitive(g, "uuid");
			const cJSON *state = cJSON_GetObjectItemCaseSensitive(g, "state");

			if (cJSON_IsString(uuid) && strcmp(uuid->valuestring, snap->gpu[i].id.uuid) == 0 &&
			    cJSON_IsString(state) && health_state_parse(state->valuestring) >= 0)
				found = g;
		}
		memset(s, 0, sizeof *s);
		if (found) {
			copy_str(s->state, sizeof s->state, found, "state");
			copy_str(s->reason, sizeof s->reason, found, "reason");
			copy_str(s->since, sizeof s->since, found, "since");
			s->from_agent = true;
			continue;
		}
		health_init(&h);
		health_eval(&h, &in, &h);
		str_copy(s->state, health_state_name(h.state), sizeof s->state);
		str_copy(s->reason, h.reason, sizeof s->reason);
	}
	cJSON_Delete(j);
}

/* "health": {"state": ..., "reason": ... or null, "since": ... or null, "from": "agent" or "reading"} */
static void json_health(const struct shown_health *s)
{
	printf(", \"health\": {\"state\": ");
	cli_json_str(s->state);
	printf(", \"reason\": ");
	if (s->reason[0])
		cli_json_str(s->reason);
	else
		printf("null");
	printf(", \"since\": ");
	if (s->since[0])
		cli_json_str(s->since);
	else
		printf("null");
	printf(", \"from\": \"%s\"}", s->from_agent ? "agent" : "reading");
}

/* How long one sample waits for the driver: a slow driver is let finish, a hung one is not. */
#define GPUS_DRIVER_WAIT_NS SAMPLER_BUDGET_MAX_NS

static const char *const state_word[] = {
	[VAL_ABSENT] = "-", [VAL_OK] = "", [VAL_UNSUPPORTED] = "n/a", [VAL_ERROR] = "error",
};
static const char *const rapl_word[] = {
	[RAPL_ABSENT] = "absent", [RAPL_OK] = "ok", [RAPL_UNREADABLE] = "unreadable",
};

/* The value in its printed unit, or "" when not VAL_OK. */
static const char *fmt_field(char *buf, size_t n, const struct field_desc *d, int64_t v, int st)
{
	buf[0] = '\0';
	if (st != VAL_OK)
		return buf;
	if (d->hex)
		snprintf(buf, n, "0x%016llx", (unsigned long long)v);
	else
		fmt_scaled(buf, n, v, d->div, d->decimals);
	return buf;
}

/* "name": value-or-null, with hex masks as strings. */
static void json_field(const struct field_desc *d, int64_t v, int st, bool comma)
{
	char buf[48];

	printf("%s", comma ? ", " : "");
	cli_json_str(d->name);
	if (st != VAL_OK)
		printf(": null");
	else if (d->hex)
		printf(": \"%s\"", fmt_field(buf, sizeof buf, d, v, st));
	else
		printf(": %s", fmt_field(buf, sizeof buf, d, v, st));
}

/* The GPU fields whose state is `want`, as a JSON list of names. */
static void json_states(const uint8_t *st, int want)
{
	bool first = true;

	putchar('[');
	for (int f = 0; f < GPU_F__COUNT; f++)
		if (st[f] == want) {
			printf("%s", first ? "" : ", ");
			cli_json_str(gpu_fields[f].csv.name);
			first = false;
		}
	putchar(']');
}

static void print_json(struct sampler *s, const struct snapshot *snap)
{
	const struct host_temp_info *temps;
	const struct host_rapl_info *zones;
	size_t nt = host_temps(s->host, &temps), nz = host_rapl_zones(s->host, &zones);
	const char *driver = s->gpus.backend ? s->gpus.backend->driver_version(s->gpus.state) : "";

	printf("{\"backend\": ");
	cli_json_str(gpu_backend_name(&s->gpus));
	printf(", \"reason\": ");
	cli_json_str(s->gpus.reason);
	printf(", \"driver_version\": ");
	cli_json_str(driver);
	printf(", \"gpus\": [");
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		const struct gpu_reading *g = &snap->gpu[i];

		printf("%s\n  {\"index\": %u, \"uuid\": ", i ? "," : "", g->id.index);
		cli_json_str(g->id.uuid);
		printf(", \"name\": ");
		cli_json_str(g->id.name);
		printf(", \"pci_bus_id\": ");
		cli_json_str(g->id.pci_bus_id);
		printf(", \"status\": \"%s\"", gpu_health_name(g->health));
		for (int f = 0; f < GPU_F__COUNT; f++)
			json_field(&gpu_fields[f].csv, g->val[f], g->st[f], true);
		printf(", \"unsupported\": ");
		json_states(g->st, VAL_UNSUPPORTED);
		printf(", \"errors\": ");
		json_states(g->st, VAL_ERROR);
		json_health(&shown[i]);
		putchar('}');
	}
	printf("],\n \"host\": {\"sysfs_root\": ");
	cli_json_str(host_sysfs_root(s->host));
	printf(", \"rapl_status\": \"%s\"", rapl_word[snap->host.rapl]);
	for (int f = 0; f < HOST_F__COUNT; f++)
		json_field(&host_fields[f].csv, snap->host.val[f], snap->host.st[f], true);
	printf(",\n  \"temperatures\": [");
	for (size_t i = 0; i < nt; i++) {
		printf("%s{\"chip\": ", i ? ", " : "");
		cli_json_str(temps[i].chip);
		printf(", \"label\": ");
		cli_json_str(temps[i].label);
		printf(", \"role\": ");
		if (temps[i].role)
			cli_json_str(temps[i].role);
		else
			printf("null");
		putchar('}');
	}
	printf("],\n  \"rapl_zones\": [");
	for (size_t i = 0; i < nz; i++) {
		printf("%s{\"zone\": ", i ? ", " : "");
		cli_json_str(zones[i].zone);
		printf(", \"name\": ");
		cli_json_str(zones[i].name);
		printf(", \"readable\": %s}", zones[i].readable ? "true" : "false");
	}
	printf("]}}\n");
}

/* "45%", "310.0 W", ...: a reading for the one-line view, or "-" when it has none. */
static const char *brief(char *buf, size_t n, const struct gpu_reading *g, int f, int64_t div, const char *fmt)
{
	if (g->st[f] != VAL_OK)
		return "-";
	snprintf(buf, n, fmt, (double)g->val[f] / (double)div);
	return buf;
}

/* Every field of every GPU, every host sensor: `gputel gpus -v`. */
static void print_details(struct sampler *s, const struct snapshot *snap)
{
	const struct host_temp_info *temps;
	const struct host_rapl_info *zones;
	size_t nt = host_temps(s->host, &temps), nz = host_rapl_zones(s->host, &zones);
	char buf[48];

	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		const struct gpu_reading *g = &snap->gpu[i];
		int col = 0;

		printf("gpu %u:\n", g->id.index);
		for (int f = 0; f < GPU_F__COUNT; f++) {
			const char *v = g->st[f] == VAL_OK
				? fmt_field(buf, sizeof buf, &gpu_fields[f].csv, g->val[f], VAL_OK)
				: state_word[g->st[f]];

			col += printf("%s%s=%s", col ? " " : "  ", gpu_fields[f].csv.name, v);
			if (col > 70) {
				putchar('\n');
				col = 0;
			}
		}
		if (col)
			putchar('\n');
	}
	printf("host (sysfs root %s):\n", host_sysfs_root(s->host));
	for (int f = 0, col = 0; f < HOST_F__COUNT; f++) {
		const char *v = snap->host.st[f] == VAL_OK
			? fmt_field(buf, sizeof buf, &host_fields[f].csv, snap->host.val[f], VAL_OK)
			: state_word[snap->host.st[f]];

		col += printf("%s%s=%s", col ? " " : "  ", host_fields[f].csv.name, v);
		if (col > 70 || f == HOST_F__COUNT - 1) {
			putchar('\n');
			col = 0;
		}
	}
	printf("  temperatures (%zu):", nt);
	for (size_t i = 0; i < nt; i++)
		printf("%s%s/%s%s%s", i % 4 ? ", " : "\n    ", temps[i].chip, temps[i].label,
		       temps[i].role ? " -> " : "", temps[i].role ? temps[i].role : "");
	printf("\n  rapl: %s", rapl_word[snap->host.rapl]);
	for (size_t i = 0; i < nz; i++)
		printf("%s %s (%s, %s)", i ? "," : ":", zones[i].zone, zones[i].name,
		       zones[i].readable ? "readable" : "NOT readable");
	putchar('\n');
}

/* The backend once, a line per GPU, a line for the host; -v adds every field. */
static void print_text(struct sampler *s, const struct snapshot *snap, bool verbose)
{
	const struct host_reading *h = &snap->host;
	char u[16], p[16], t[16], m[48], c[16], w[16];

	printf("backend: %s (%s)\n", gpu_backend_name(&s->gpus), s->gpus.reason);
	if (snap->n_gpus == 0)
		printf("no gpus\n");
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		const struct gpu_reading *g = &snap->gpu[i];

		if (g->st[GPU_F_MEM_USED_BYTES] == VAL_OK && g->st[GPU_F_MEM_TOTAL_BYTES] == VAL_OK)
			snprintf(m, sizeof m, "%lld/%lld MiB", (long long)(g->val[GPU_F_MEM_USED_BYTES] >> 20),
				 (long long)(g->val[GPU_F_MEM_TOTAL_BYTES] >> 20));
		else
			str_copy(m, "-", sizeof m);
		printf("gpu %u  %s  %s  %s  %s  util %s  power %s  temp %s  memory %s\n", g->id.index, g->id.name,
		       g->id.uuid, g->id.pci_bus_id, gpu_health_name(g->health),
		       brief(u, sizeof u, g, GPU_F_UTIL_GPU_PCT, 1, "%.0f%%"),
		       brief(p, sizeof p, g, GPU_F_POWER_MW, 1000, "%.1f W"),
		       brief(t, sizeof t, g, GPU_F_TEMP_MC, 1000, "%.0f C"), m);
		if (shown[i].reason[0])
			printf("  %s%s%s: %s\n", shown[i].state, shown[i].since[0] ? " since " : "", shown[i].since,
			       shown[i].reason);
	}
	if (snap->n_gpus > 0) {
		unsigned int n[HEALTH_STATES] = { 0 };

		for (unsigned int i = 0; i < snap->n_gpus; i++) {
			int st = health_state_parse(shown[i].state);

			n[st >= 0 ? st : HEALTH_UNHEALTHY]++;
		}
		printf("health: %u healthy, %u degraded, %u unhealthy, %s %s%s\n", n[HEALTH_HEALTHY], n[HEALTH_DEGRADED],
		       n[HEALTH_UNHEALTHY], health_from_agent ? "as the agent judges them on" :
		       "from this reading alone (Xids not known: no agent answers on", alloc_socket_path(health_sock),
		       health_from_agent ? "" : ")");
	}
	snprintf(c, sizeof c, h->st[HOST_F_CPU_PKG_TEMP_MC] == VAL_OK ? "%.1f C" : "-",
		 (double)h->val[HOST_F_CPU_PKG_TEMP_MC] / 1000);
	snprintf(w, sizeof w, h->st[HOST_F_CPU_PKG_POWER_MW] == VAL_OK ? "%.1f W" : "-",
		 (double)h->val[HOST_F_CPU_PKG_POWER_MW] / 1000);
	printf("host  cpu package %s  %s  rapl %s%s\n", c, w, rapl_word[h->rapl],
	       h->rapl == RAPL_UNREADABLE ? " (gputel doctor gives the fix)" : "");
	if (verbose)
		print_details(s, snap);
	else
		printf("(gputel gpus -v: every field and sensor; --json for scripts)\n");
}

static int print_prometheus(struct sampler *s, const struct snapshot *snap, unsigned int names)
{
	static char buf[1 << 20];
	char hostname[256];
	struct prom_self self = {
		.version = GPUTEL_VERSION,
		.names = names,
		.hostname = hostname,
		.driver_version = s->gpus.backend ? s->gpus.backend->driver_version(s->gpus.state) : "",
	};
	size_t n;

	prom_default_hostname(hostname, sizeof hostname);
	n = prom_render(snap, &self, buf, sizeof buf);
	if (n == 0) {
		log_error("gpus: the metrics do not fit in %zu bytes", sizeof buf);
		return 1;
	}
	fwrite(buf, 1, n, stdout);
	return 0;
}

/*
 * One sample for the view.  Returns 0, or 1 after one line saying why the
 * GPUs cannot be shown: the driver hangs, or a stop signal came first.
 */
static int take_sample(struct sampler *s, struct snapshot *snap)
{
	int64_t asked = mono_now_ns();
	int signo = 0;
	int r = sampler_take_within(s, snap, GPUS_DRIVER_WAIT_NS, &signo);

	if (r == -EINTR)
		log_error("gpus: stopped by %s while waiting for the gpu driver (no answer for %.1f s)",
			  signo == SIGINT ? "SIGINT" : "SIGTERM", (double)(mono_now_ns() - asked) / NS_PER_SEC);
	else if (r == -ETIMEDOUT)
		log_error("gpus: the gpu driver has not answered for %.0f s (a hung driver call: a GSP timeout or a GPU off the bus); "
			  "check dmesg for Xid errors, or try GPUTEL_GPU_BACKEND=none for the host sensors alone",
			  (double)GPUS_DRIVER_WAIT_NS / NS_PER_SEC);
	return r == 0 ? 0 : 1;
}

int cmd_gpus(int argc, char **argv)
{
	static struct sampler sampler;
	static struct snapshot snap;
	static struct config cfg;
	static struct config_errors errs;
	struct gpu_options opt = { .interval_ns = NS_PER_SEC };
	bool json = false, prometheus = false, names_given = false, verbose = false;
	const char *v;
	char err[1024];
	sigset_t stop_signals;
	int r;

	config_defaults(&cfg);
	config_errors_init(&errs);
	for (int i = 1; i < argc; i++) {
		if ((r = opt_value(argc, argv, &i, "--metric-names", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			/* Parsed and checked as JN_METRIC_NAMES is, with the same messages. */
			config_set(&cfg, "JN_METRIC_NAMES", v, CONFIG_SRC_FLAG, 0, &errs);
			if (cli_config_report(&errs) > 0)
				return EXIT_USAGE;
			names_given = true;
		} else if ((r = opt_value(argc, argv, &i, "--socket", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			health_sock = v;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			verbose = true;
		} else if (!strcmp(argv[i], "--prometheus")) {
			prometheus = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(gpus_usage, stdout);
			return 0;
		} else {
			return usage_error("gpus", "unknown option '%s'; see 'gputel gpus --help'", argv[i]);
		}
	}
	if (json && prometheus)
		return usage_error("gpus", "--json and --prometheus exclude each other; pick one");
	if (names_given && !prometheus)
		return usage_error("gpus", "--metric-names needs --prometheus");
	if (health_sock && prometheus)
		return usage_error("gpus", "--socket is for the GPUs' health, which --prometheus does not show; drop one");
	if (verbose && (json || prometheus))
		return usage_error("gpus", "-v is for the text view; --json and --prometheus already hold everything");
	/* Logs would garble machine-read output, and repeat the backend line: keep them to problems. */
	if (log_get_level() > LOG_WARN)
		log_set_level(LOG_WARN);
	/*
	 * Held back, and waited for beside the driver (sampler_take_within), so
	 * that a stop while a driver call hangs is prompt and says why.
	 */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_signals, NULL);
	r = sampler_open(&sampler, &opt, err, sizeof err);
	if (r == -EINTR) {
		/* _exit, not exit: the driver call left running may be a dlopen() holding the loader's lock, which exit() takes. */
		log_error("gpus: %s", err);
		fflush(NULL);
		_exit(1);
	}
	if (r != 0) {
		log_error("%s", err);
		return r == -EINVAL ? EXIT_USAGE : 1;
	}
	if (prometheus)
		host_set_detail(sampler.host, 1);
	/*
	 * Rates (CPU %, RAPL watts) need two reads a real interval apart, the
	 * first after the counters last moved: a first sample, a short pause,
	 * then the one shown.
	 */
	r = take_sample(&sampler, &snap);
	if (r == 0) {
		nanosleep(&(struct timespec){ .tv_nsec = 250 * 1000 * 1000 }, NULL);
		sampler.seq = 1;
		r = take_sample(&sampler, &snap);
	}
	if (r != 0)
		return r; /* a driver call is still running: the backend stays open as gputel exits */
	if (!prometheus)
		judge_health(health_sock, &snap);
	if (prometheus)
		r = print_prometheus(&sampler, &snap, cfg.metric_names);
	else if (json)
		print_json(&sampler, &snap);
	else
		print_text(&sampler, &snap, verbose);
	sampler_close(&sampler);
	return r;
}
