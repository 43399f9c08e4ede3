/*
 * cmd_agent.c - `gputel agent`: the main job.  Watches GPU utilisation and
 * switches telemetry on after sustained load and off after a sustained
 * idle period (activity.c), writing a new CSV file for each active period
 * and serving Prometheus metrics, in which gputel_telemetry_active tells
 * the state.
 *
 * Settings come from the configuration (config.c: flags > environment >
 * /etc/default/justnews-gpu-telemetry > defaults); --out-dir is the
 * guide's name for JN_LOGDIR.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "activity.h"
#include "alloc_api.h"
#include "commands.h"
#include "config.h"
#include "control.h"
#include "hook.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "prom.h"
#include "sampler.h"
#include "sdnotify.h"
#include "sink_csv.h"
#include "util.h"

#define METRICS_MAX (4 << 20)

static const char agent_usage[] =
	"usage: gputel agent [--start-util PCT] [--start-seconds S] [--stop-util PCT] [--stop-seconds S]\n"
	"                    [--poll-interval S] [--out-dir DIR] [--exporter-port PORT]\n"
	"                    [--exporter-bind ADDR] [--exporter-mode always|active] [--gpus LIST]\n"
	"                    [--control-socket PATH] [--state-dir DIR] [--config FILE]\n"
	"                    [--duration S] [--exit-when-idle] [--quiet | --verbose]\n"
	"\n"
	"Turns telemetry on once the busiest watched GPU has stayed at or above\n"
	"start-util for start-seconds, and off once it has stayed at or below\n"
	"stop-util for stop-seconds.  While on, rows go to a new\n"
	"DIR/gpu_telemetry_<UTC>.csv.  Metrics are served on the exporter port\n"
	"(always, or only while active); gputel_telemetry_active tells the state.\n"
	"Every --flag is also a JN_* key of /etc/default/justnews-gpu-telemetry\n"
	"(docs/config.md).  --duration stops the agent after that long.\n"
	"\n"
	"Orchestrators begin and end allocations on the control socket\n"
	"(docs/control-api.md); while one is live, telemetry is on whatever the\n"
	"utilisation.  --exit-when-idle: leave once no allocation is live and the\n"
	"GPUs have been idle for stop-seconds (the agent autostart runs).\n";

struct agent {
	struct config cfg;
	struct activity_config act_cfg;
	struct activity act;
	struct sampler *sampler;
	struct csv_sink csv;
	bool csv_open;
	uint64_t rows_written, rows_dropped;   /* of the closed CSV files */
	struct http_server *http;
	struct http_options http_opt;
	char *metrics;
	const char *driver;
	char hostname[256];        /* dcgm's Hostname label */
	int64_t started_ns;
	unsigned int periods;
	struct hooks hooks;
	int argc;                 /* kept for a reload: flags still win over the file */
	char **argv;
	const char *file;
	bool ready_sent;
	int64_t watchdog_ns, watchdog_sent_ns;
	/* Allocations (the control socket) */
	struct control *control;
	struct alloc_api api;
	bool api_ready;
	struct snapshot fresh;         /* sampled at a begin or an end */
	bool telemetry;                /* on: utilisation or a live allocation */
	uint8_t health[GPUTEL_MAX_GPUS];
	unsigned int n_health;
	bool exit_when_idle;           /* --exit-when-idle: the autostarted local agent */
	int64_t idle_since_ns;
	bool stop_now;
};

static void run_hook(struct agent *a, const char *cmd, const char *event,
		     const struct activity_sample *s, const struct snapshot *snap)
{
	char ts[32];
	struct hook_event ev = { event, ts, s->util_cpct, a->csv_open ? a->csv.path : "" };

	if (!*cmd)
		return;
	fmt_iso8601_ms(ts, &snap->wall);
	hook_start(&a->hooks, cmd, &ev);
}

static void http_on(struct agent *a)
{
	char err[512];

	if (a->http)
		return;
	if (http_start(&a->http, &a->http_opt, err, sizeof err) != 0) {
		log_warn("agent: exporter not started: %s", err);
		a->http = NULL;
	}
}

static void http_off(struct agent *a)
{
	http_stop(a->http);
	a->http = NULL;
}

static void telemetry_on(struct agent *a, const struct activity_sample *s, bool by_alloc)
{
	char err[1024];

	a->periods++;
	if (csv_open(&a->csv, a->cfg.logdir, time(NULL), err, sizeof err) != 0) {
		log_warn("agent: telemetry on, but no CSV: %s", err);
	} else {
		a->csv_open = true;
	}
	if (by_alloc)
		log_info("agent: %zu allocation%s live; telemetry on%s%s", alloc_api_live(&a->api),
			 alloc_api_live(&a->api) == 1 ? "" : "s", a->csv_open ? ", writing " : "",
			 a->csv_open ? a->csv.path : "");
	else
		log_info("agent: gpu activity: utilisation %lld%% >= %.4g%% for %.4gs; telemetry on%s%s",
			 (long long)(s->util_cpct / 100), a->cfg.start_util_pct,
			 (double)a->cfg.start_ns / NS_PER_SEC, a->csv_open ? ", writing " : "",
			 a->csv_open ? a->csv.path : "");
	if (a->cfg.exporter_mode == CONFIG_EXPORTER_ACTIVE)
		http_on(a);
}

static void telemetry_off(struct agent *a, const struct activity_sample *s)
{
	if (a->csv_open) {
		csv_close(&a->csv);
		a->rows_written += a->csv.rows_written;
		a->rows_dropped += a->csv.rows_dropped;
		a->csv_open = false;
		log_info("agent: gpu idle (utilisation %lld%%, no allocation); telemetry off, %llu rows in %s",
			 (long long)(s->util_cpct / 100), (unsigned long long)a->csv.rows_written,
			 a->csv.path);
	} else {
		log_info("agent: gpu idle: telemetry off");
	}
	if (a->cfg.exporter_mode == CONFIG_EXPORTER_ACTIVE)
		http_off(a);
}

/* The watched GPUs as snapshot slots (JN_GPUS names NVML indexes). */
static uint64_t watch_slots(const struct agent *a, const struct snapshot *snap)
{
	uint64_t m = 0;

	if (a->cfg.gpus.all)
		return ~0ULL;
	for (unsigned int i = 0; i < snap->n_gpus && i < 64; i++)
		if (snap->gpu[i].id.index < 64 && (a->cfg.gpus.mask >> snap->gpu[i].id.index) & 1)
			m |= 1ULL << i;
	return m;
}

/* gpu_down / gpu_up events when a GPU's health changes. */
static void gpu_events(struct agent *a, const struct snapshot *snap)
{
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		char fields[256];
		uint8_t h = (uint8_t)snap->gpu[i].health;

		if (i < a->n_health && a->health[i] != h) {
			str_fmt(fields, sizeof fields, "\"gpu\": %u, \"uuid\": \"%s\"", snap->gpu[i].id.index,
				snap->gpu[i].id.uuid);
			alloc_api_event(&a->api, h == GPU_HEALTH_UP ? "gpu_up" : "gpu_down", fields);
		}
		a->health[i] = h;
	}
	a->n_health = snap->n_gpus;
}

/* The allocation state is loaded on the first tick: GPUs are placed by UUID on what it shows. */
static void api_start(struct agent *a, const struct snapshot *snap);

static void agent_tick(void *ctx, const struct snapshot *snap)
{
	static struct snapshot full;
	struct agent *a = ctx;
	struct activity_sample s = activity_sample_of(snap, watch_slots(a, snap));
	enum activity_event ev = activity_step(&a->act, &a->act_cfg, s, snap->mono_ns);
	bool want;

	/* Without the control socket there are no allocations to load or keep. */
	if (a->control && !a->api_ready)
		api_start(a, snap);
	else if (a->api_ready)
		alloc_api_tick(&a->api, snap);
	gpu_events(a, snap);
	if (ev == ACT_EV_START && a->telemetry)
		log_info("agent: gpu activity while allocations keep telemetry on");
	want = activity_is_active(&a->act) || alloc_api_live(&a->api) > 0;
	if (want && !a->telemetry) {
		bool by_alloc = !activity_is_active(&a->act);

		/* This tick was sampled lite (idle): sample it again in full, so
		 * the period's first row and scrape are complete. */
		sampler_set_lite(a->sampler, 0);
		sampler_resample(a->sampler, &full);
		snap = &full;
		a->telemetry = true;
		telemetry_on(a, &s, by_alloc);
		run_hook(a, a->cfg.on_start, "start", &s, snap);
		alloc_api_event(&a->api, "activity_started",
				by_alloc ? "\"reason\": \"allocation\"" : "\"reason\": \"utilisation\"");
		sdnotify("STATUS=telemetry on");
	} else if (!want && a->telemetry) {
		/* The stop hook still sees the period's CSV file name. */
		char path[sizeof a->csv.path];

		str_copy(path, a->csv_open ? a->csv.path : "", sizeof path);
		a->telemetry = false;
		telemetry_off(a, &s);
		if (*a->cfg.on_stop) {
			char ts[32];
			struct hook_event hev = { "stop", ts, s.util_cpct, path };

			fmt_iso8601_ms(ts, &snap->wall);
			hook_start(&a->hooks, a->cfg.on_stop, &hev);
		}
		alloc_api_event(&a->api, "activity_stopped", NULL);
		sdnotify("STATUS=telemetry off");
	}
	/* The autostarted local agent leaves once nothing has needed it for stop-seconds. */
	if (want || !a->idle_since_ns)
		a->idle_since_ns = snap->mono_ns;
	if (a->exit_when_idle && !want && snap->mono_ns - a->idle_since_ns >= a->cfg.stop_ns) {
		log_info("agent: no allocation and no activity for %.4gs; exiting (--exit-when-idle)",
			 (double)a->cfg.stop_ns / NS_PER_SEC);
		a->stop_now = true;
	}
	hook_reap(&a->hooks, snap->mono_ns);
	if (a->csv_open)
		csv_write(&a->csv, snap);
	/* While idle only utilisation is read (from the next tick on). */
	sampler_set_lite(a->sampler, !a->telemetry);
	if (a->http) {
		struct prom_self self = {
			.version = GPUTEL_VERSION,
			.driver_version = a->driver,
			.names = a->cfg.metric_names,
			.hostname = a->hostname,
			.telemetry_active = a->telemetry,
			.allocs = a->api_ready ? &a->api.table : NULL,
			.have_csv = 1,
			.csv_rows_written = a->rows_written + (a->csv_open ? a->csv.rows_written : 0),
			.csv_rows_dropped = a->rows_dropped + (a->csv_open ? a->csv.rows_dropped : 0),
		};
		size_t n = prom_render(snap, &self, a->metrics, METRICS_MAX);
		char status[512];
		int sn = snprintf(status, sizeof status,
				  "{\"version\": \"%s\", \"backend\": \"%s\", \"gpus\": %u, \"activity\": \"%s\", \"telemetry_active\": %s, \"seq\": %llu, \"active_periods\": %u}\n",
				  GPUTEL_VERSION, snap->backend ? snap->backend : "none", snap->n_gpus,
				  activity_state_name(a->act.state),
				  a->telemetry ? "true" : "false",
				  (unsigned long long)snap->seq, a->periods);

		if (n > 0 && sn > 0)
			http_publish(a->http, a->metrics, n, status, (size_t)sn, snap->mono_ns);
	}
	/* Ready once the listener is bound (before the loop) and a sample taken. */
	if (!a->ready_sent) {
		sdnotify("READY=1\nSTATUS=watching GPU activity");
		a->ready_sent = true;
	}
	if (a->watchdog_ns && snap->mono_ns - a->watchdog_sent_ns >= a->watchdog_ns / 2) {
		sdnotify("WATCHDOG=1");
		a->watchdog_sent_ns = snap->mono_ns;
	}
}

static int parse_args(int argc, char **argv, struct config *cfg, const char **file,
		      int64_t *duration_ns, bool *exit_when_idle, struct config_errors *errs);

/* A full sample now, for a begin or an end to be measured at its instant. */
static const struct snapshot *sample_now(void *ctx)
{
	struct agent *a = ctx;

	sampler_set_lite(a->sampler, 0);
	sampler_resample_fresh(a->sampler, &a->fresh);
	return &a->fresh;
}

/* The agent's part of GET /v1/status. */
static void api_status(void *ctx, struct outbuf *o)
{
	struct agent *a = ctx;
	const struct snapshot *snap = a->api.snap;
	unsigned int up = 0;

	for (unsigned int i = 0; snap && i < snap->n_gpus; i++)
		up += snap->gpu[i].health == GPU_HEALTH_UP;
	ob_puts(o, "\"backend\": ");
	ob_put_json_str(o, snap && snap->backend ? snap->backend : "none");
	ob_puts(o, ", \"gpus\": ");
	ob_put_u64(o, snap ? snap->n_gpus : 0);
	ob_puts(o, ", \"gpus_up\": ");
	ob_put_u64(o, up);
	ob_puts(o, ", \"activity\": ");
	ob_put_json_str(o, activity_state_name(a->act.state));
	ob_puts(o, a->telemetry ? ", \"telemetry_active\": true" : ", \"telemetry_active\": false");
	ob_puts(o, ", \"seq\": ");
	ob_put_u64(o, snap ? snap->seq : 0);
	ob_puts(o, ", \"pid\": ");
	ob_put_u64(o, (uint64_t)getpid());
}

static void api_start(struct agent *a, const struct snapshot *snap)
{
	struct alloc_api_host host = { sample_now, api_status, a };
	char err[1024];

	a->api_ready = true;
	if (alloc_api_init(&a->api, a->cfg.state_dir, a->cfg.logdir, &host, snap, err, sizeof err) != 0) {
		char aside[ALLOC_API_PATH_MAX + 64];

		/* Refusing to start would leave the node without telemetry; keep the file for a person. */
		str_fmt(aside, sizeof aside, "%s.damaged-%lld", a->api.state_path, (long long)time(NULL));
		log_error("alloc: %s; moved to %s, starting with no allocations", err, aside);
		rename(a->api.state_path, aside);
		alloc_api_init(&a->api, a->cfg.state_dir, a->cfg.logdir, &host, snap, err, sizeof err);
	}
	a->api.control = a->control;
}

static void control_io(void *ctx)
{
	control_run(((struct agent *)ctx)->control);
}

static bool agent_done(void *ctx)
{
	return ((struct agent *)ctx)->stop_now;
}

/*
 * The control socket.  Its directory and the state directory must exist;
 * where both are the defaults and do not (a hand-run agent, not the
 * service), the agent runs without the control socket and says so.
 */
static int control_up(struct agent *a)
{
	struct control_options opt = { a->cfg.control_socket, 0660, a->cfg.group, NULL };
	struct control_ops ops = alloc_api_ops(&a->api);
	bool explicit = a->cfg.origin[CONFIG_CONTROL_SOCKET].src != CONFIG_SRC_DEFAULT ||
			a->cfg.origin[CONFIG_STATE_DIR].src != CONFIG_SRC_DEFAULT;
	char dir[CONFIG_TEXT_MAX], err[1024];
	struct group *g;
	struct stat st;
	char *slash;

	if (!a->cfg.control_socket[0])
		return 0;
	str_copy(dir, a->cfg.control_socket, sizeof dir);
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	if (!explicit && (stat(dir, &st) != 0 || stat(a->cfg.state_dir, &st) != 0)) {
		log_warn("agent: no control socket: %s or %s does not exist (the service creates both); "
			 "set JN_CONTROL_SOCKET and JN_STATE_DIR to use the allocation API", dir, a->cfg.state_dir);
		return 0;
	}
	if (stat(a->cfg.state_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    access(a->cfg.state_dir, W_OK | X_OK) != 0)
		return usage_error("agent", "state-dir %s is missing or not writable; create it (install -d %s) or set JN_STATE_DIR",
				   a->cfg.state_dir, a->cfg.state_dir);
	/* The guide's default group may not exist on a host set up by hand. */
	g = getgrnam(a->cfg.group);
	if (!g && a->cfg.origin[CONFIG_GROUP].src == CONFIG_SRC_DEFAULT)
		opt.group = NULL;
	if (control_start(&a->control, &opt, &ops, err, sizeof err) != 0) {
		log_error("agent: %s", err);
		return EXIT_USAGE;
	}
	log_info("agent: allocation API on %s", a->cfg.control_socket);
	return 0;
}

/* Settings the running agent derives from its configuration. */
static void apply_config(struct agent *a)
{
	a->act_cfg = (struct activity_config){
		(int64_t)(a->cfg.start_util_pct * 100 + 0.5), a->cfg.start_ns,
		(int64_t)(a->cfg.stop_util_pct * 100 + 0.5), a->cfg.stop_ns,
	};
	log_set_level(a->cfg.log_level);
}

/*
 * SIGHUP: reads the configuration again (flags, environment, file) and
 * applies the reloadable keys; the activity state is kept.  A broken file
 * keeps the previous configuration, and a changed key that needs a restart
 * keeps its old value, both with one line saying so.
 */
static void reload(struct agent *a)
{
	static struct config fresh;
	static struct config_errors errs;
	struct config old = a->cfg;
	const char *file = NULL;
	int64_t duration_ns;
	bool exit_when_idle;
	int changed = 0;

	config_errors_init(&errs);
	config_defaults(&fresh);
	parse_args(a->argc, a->argv, &fresh, &file, &duration_ns, &exit_when_idle, &errs);
	config_resolve(&fresh, file, environ, &errs);
	if (cli_config_report(&errs) > 0) {
		log_error("agent: reload: the configuration has %d error%s; keeping the previous one",
			  errs.n_errors, errs.n_errors == 1 ? "" : "s");
		return;
	}
	for (int k = 0; k < CONFIG_KEY__COUNT; k++) {
		const struct config_key_info *ki = &config_keys[k];
		char was[128], now[128];

		if (config_value_equal(&old, &fresh, (enum config_key)k))
			continue;
		config_format_value(&old, ki, was, sizeof was);
		config_format_value(&fresh, ki, now, sizeof now);
		if (ki->installer) {
			log_info("agent: reload: %s %s -> %s: %s", ki->name, was, now, config_key_applied(ki));
			continue;
		}
		if (!ki->reloadable) {
			log_warn("agent: reload: %s changed (%s -> %s) but needs a restart; keeping %s",
				 ki->name, was, now, was);
			memcpy((char *)&fresh + ki->offset, (const char *)&old + ki->offset, ki->size);
			continue;
		}
		log_info("agent: reload: %s %s -> %s", ki->name, was, now);
		changed++;
	}
	a->cfg = fresh;
	apply_config(a);
	if (a->cfg.poll_interval_ns != old.poll_interval_ns)
		sampler_set_interval(a->sampler, a->cfg.poll_interval_ns);
	if (a->cfg.exporter_mode != old.exporter_mode) {
		if (a->cfg.exporter_mode == CONFIG_EXPORTER_ALWAYS || a->telemetry)
			http_on(a);
		else
			http_off(a);
	}
	log_info("agent: reloaded the configuration (%d change%s); activity state %s kept",
		 changed, changed == 1 ? "" : "s", activity_state_name(a->act.state));
}

static void agent_reopen(void *ctx, int signo)
{
	struct agent *a = ctx;

	if (signo == SIGHUP)
		reload(a);
	if (a->csv_open)
		csv_reopen(&a->csv);
}

static int parse_args(int argc, char **argv, struct config *cfg, const char **file,
		      int64_t *duration_ns, bool *exit_when_idle, struct config_errors *errs)
{
	for (int i = 1; i < argc; i++) {
		const char *v;
		int r;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(agent_usage, stdout);
			return -1;
		}
		if (!strcmp(argv[i], "--quiet")) {
			config_set(cfg, "JN_LOG_LEVEL", "warn", CONFIG_SRC_FLAG, 0, errs);
		} else if (!strcmp(argv[i], "--verbose")) {
			config_set(cfg, "JN_LOG_LEVEL", "debug", CONFIG_SRC_FLAG, 0, errs);
		} else if (!strcmp(argv[i], "--exit-when-idle")) {
			*exit_when_idle = true;
		} else if ((r = opt_value(argc, argv, &i, "--config", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			*file = v;
		} else if ((r = opt_value(argc, argv, &i, "--out-dir", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			config_set(cfg, "JN_LOGDIR", v, CONFIG_SRC_FLAG, 0, errs);
		} else if ((r = opt_value(argc, argv, &i, "--duration", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (parse_seconds_ns(v, 1, 100LL * 365 * 24 * 3600 * NS_PER_SEC, duration_ns) != 0)
				return usage_error("agent", "bad --duration '%s'; give a positive number of seconds", v);
		} else if ((r = cli_config_flag(argc, argv, &i, cfg, errs)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
		} else {
			return usage_error("agent", "unknown option '%s'; see 'gputel agent --help'", argv[i]);
		}
	}
	return 0;
}

int cmd_agent(int argc, char **argv)
{
	static struct agent a;
	static struct sampler sampler;
	static struct snapshot snap;
	static struct config_errors errs;
	struct gpu_options gopt = { 0 };
	struct loop_hooks hooks = { .tick = agent_tick, .reopen = agent_reopen, .ctx = &a,
				    .done = agent_done };
	const char *file = NULL;
	int64_t duration_ns = 0, loop_cpu_ns;
	uint64_t last_tick = 0;
	struct stat st;
	char err[1024];
	int r, sfd, rc;

	config_errors_init(&errs);
	config_defaults(&a.cfg);
	r = parse_args(argc, argv, &a.cfg, &file, &duration_ns, &a.exit_when_idle, &errs);
	if (r != 0)
		return r < 0 ? 0 : r;
	config_resolve(&a.cfg, file, environ, &errs);
	if (cli_config_report(&errs) > 0)
		return EXIT_USAGE;
	if (stat(a.cfg.logdir, &st) != 0 || !S_ISDIR(st.st_mode) || access(a.cfg.logdir, W_OK | X_OK) != 0)
		return usage_error("agent", "out-dir %s is missing or not writable; create it (install -d %s) or pass --out-dir DIR",
				   a.cfg.logdir, a.cfg.logdir);
	a.argc = argc;
	a.argv = argv;
	apply_config(&a);
	a.http_opt = (struct http_options){
		a.cfg.exporter_bind, (unsigned int)a.cfg.exporter_port,
		3 * a.cfg.poll_interval_ns > 3 * NS_PER_SEC ? 3 * a.cfg.poll_interval_ns : 3 * NS_PER_SEC,
		NULL,
	};
	sfd = loop_signals();
	if (sfd < 0) {
		log_error("agent: signalfd: %s", strerror(errno));
		return 1;
	}
	a.metrics = malloc(METRICS_MAX);
	if (!a.metrics) {
		close(sfd);
		return 1;
	}
	if (a.cfg.exporter_mode == CONFIG_EXPORTER_ALWAYS &&
	    http_start(&a.http, &a.http_opt, err, sizeof err) != 0) {
		log_error("agent: %s", err);
		free(a.metrics);
		close(sfd);
		return EXIT_USAGE;
	}
	r = control_up(&a);
	if (r != 0) {
		http_off(&a);
		free(a.metrics);
		close(sfd);
		return r;
	}
	if (a.control) {
		hooks.io = control_io;
		hooks.io_fd = control_fd(a.control);
	}
	gopt.interval_ns = a.cfg.poll_interval_ns;
	r = sampler_open(&sampler, &gopt, err, sizeof err);
	if (r != 0) {
		log_error("%s", err);
		control_stop(a.control);
		http_off(&a);
		free(a.metrics);
		close(sfd);
		return r == GPU_OPEN_BAD_CONFIG ? EXIT_USAGE : 1;
	}
	a.sampler = &sampler;
	/* The exporter's per-channel temperatures and per-zone energy. */
	host_set_detail(sampler.host, 1);
	prom_default_hostname(a.hostname, sizeof a.hostname);
	a.driver = sampler.gpus.backend ? sampler.gpus.backend->driver_version(sampler.gpus.state) : "";
	activity_init(&a.act, mono_now_ns());
	a.watchdog_ns = sdnotify_watchdog_ns();
	log_info("agent: watching %s every %.3gs: on at >= %.4g%% for %.4gs, off at <= %.4g%% for %.4gs; CSV in %s; exporter %s on %s:%d",
		 gpu_backend_name(&sampler.gpus), (double)a.cfg.poll_interval_ns / NS_PER_SEC,
		 a.cfg.start_util_pct, (double)a.cfg.start_ns / NS_PER_SEC, a.cfg.stop_util_pct,
		 (double)a.cfg.stop_ns / NS_PER_SEC, a.cfg.logdir,
		 a.cfg.exporter_mode == CONFIG_EXPORTER_ALWAYS ? "always" : "while active",
		 a.cfg.exporter_bind, a.cfg.exporter_port);
	if (duration_ns)
		last_tick = (uint64_t)((duration_ns + a.cfg.poll_interval_ns - 1) / a.cfg.poll_interval_ns);
	rc = loop_run(&sampler, &snap, sfd, last_tick, &hooks, &loop_cpu_ns);
	sdnotify("STOPPING=1");
	hook_stop_all(&a.hooks);
	if (a.api_ready) {
		/* Live allocations stay: saved with their accounting, restored at the next start. */
		if (alloc_api_live(&a.api) && alloc_save(&a.api.table, a.api.state_path, err, sizeof err) != 0)
			log_error("alloc: %s", err);
		control_stop(a.control);
		a.control = NULL;
		alloc_api_release(&a.api);
	}
	control_stop(a.control);
	if (a.csv_open) {
		/* Stopping while active: the file is closed whole, not left open-ended. */
		csv_close(&a.csv);
		a.rows_written += a.csv.rows_written;
		a.rows_dropped += a.csv.rows_dropped;
		log_info("agent: stopping while active; %llu rows in %s",
			 (unsigned long long)a.csv.rows_written, a.csv.path);
	}
	log_info("agent: stopped after %llu ticks; %u active periods, %llu rows written, %llu dropped",
		 (unsigned long long)sampler.stats.ticks, a.periods,
		 (unsigned long long)a.rows_written, (unsigned long long)a.rows_dropped);
	http_off(&a);
	sampler_close(&sampler);
	free(a.metrics);
	close(sfd);
	return rc != 0 ? rc : (a.rows_dropped ? 1 : 0);
}
