/*
 * cmd_agent.c - `gputel agent`: the main job.  Watches GPU utilisation and
 * switches telemetry on after sustained load and off after a sustained
 * idle period, writing a new CSV file for each active period and serving
 * Prometheus metrics, in which gputel_telemetry_active tells the state.
 *
 * This file parses the options, reads the configuration (config.c: flags >
 * environment > /etc/default/justnews-gpu-telemetry > defaults; --out-dir
 * is the guide's name for JN_LOGDIR), sets up the sinks -- allocations,
 * CSV, Prometheus -- and the policy (agent.c), and runs the loop.  SIGHUP
 * reads the configuration again.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "commands.h"
#include "config.h"
#include "fdlimit.h"
#include "log.h"
#include "loop.h"
#include "pipeline.h"
#include "prom.h"
#include "sampler.h"
#include "sdnotify.h"
#include "util.h"

static const char agent_usage[] =
	"usage: gputel agent [--start-util PCT] [--start-seconds S] [--stop-util PCT] [--stop-seconds S]\n"
	"                    [--poll-interval S] [--out-dir DIR] [--exporter-port PORT]\n"
	"                    [--exporter-bind ADDR] [--exporter-mode always|active] [--gpus LIST]\n"
	"                    [--on-start CMD] [--on-stop CMD] [--on-xid CMD] [--metric-names LIST]\n"
	"                    [--control-socket PATH] [--state-dir DIR] [--idle-sample-seconds S]\n"
	"                    [--otlp-endpoint URL] [--otlp-protocol auto|http/protobuf|http/json]\n"
	"                    [--otlp-queue-mb N]\n"
	"                    [--log-level LEVEL] [--config FILE] [--duration S] [--exit-when-idle]\n"
	"                    [--log-to-state-dir] [--quiet | --verbose]\n"
	"\n"
	"Turns telemetry on once the busiest watched GPU has stayed at or above\n"
	"start-util for start-seconds, and off once it has stayed at or below\n"
	"stop-util for stop-seconds.  While on, rows go to a new\n"
	"DIR/gpu_telemetry_<UTC>.csv, which begins at the first busy tick.  Metrics\n"
	"are served on the exporter port (always, or only while active);\n"
	"gputel_telemetry_active tells the state.  Orchestrators begin and end\n"
	"allocations on the control socket (docs/control-api.md); while one is live,\n"
	"telemetry is on whatever the utilisation.\n"
	"\n"
	"Each of these is also a JN_* key of /etc/default/justnews-gpu-telemetry\n"
	"(docs/config.md); flags win over the environment, which wins over the file.\n"
	"Durations take a unit: 500ms, 30s, 5m, 1h (a bare number is seconds).\n"
	"\n";

static void print_usage(void)
{
	fputs(agent_usage, stdout);
	cli_print_key_flags(stdout);
	cli_print_option(stdout, "--out-dir DIR", "the guide's name for --logdir (default: /var/log/justnews-perf)");
	cli_print_option(stdout, "--config FILE",
			 "settings file (default: $GPUTEL_CONFIG, else /etc/default/justnews-gpu-telemetry)");
	cli_print_option(stdout, "--duration S", "stop after this long (default: until SIGTERM)");
	cli_print_option(stdout, "--exit-when-idle",
			 "leave once no allocation is live and the GPUs have been idle for stop-seconds "
			 "(the autostarted agent; default: off)");
	cli_print_option(stdout, "--log-to-state-dir",
			 "append the log to STATE_DIR/" AGENT_LOG_NAME " instead of standard error (the "
			 "autostarted agent; default: standard error)");
	cli_print_option(stdout, "--quiet, --verbose", "--log-level warn, --log-level debug (default: info)");
}

/* The flags that are not configuration keys. */
struct agent_flags {
	const char *file;         /* --config */
	int64_t duration_ns;      /* --duration; 0: until SIGTERM */
	bool exit_when_idle;
	bool log_to_state_dir;
};

struct agent {
	struct config cfg;
	struct agent_policy policy;
	struct pipeline p;
	int argc;                 /* kept for a reload: flags still win over the file */
	char **argv;
};

static int parse_args(int argc, char **argv, struct config *cfg, struct agent_flags *fl,
		      struct config_errors *errs);

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
	struct agent_flags fl = { 0 };
	int changed = 0;

	config_errors_init(&errs);
	config_defaults(&fresh);
	parse_args(a->argc, a->argv, &fresh, &fl, &errs);
	config_resolve(&fresh, fl.file, environ, &errs);
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
	pipeline_reload(&a->p, &old);
	log_info("agent: reloaded the configuration (%d change%s); activity state %s kept",
		 changed, changed == 1 ? "" : "s", activity_state_name(a->policy.act.state));
}

/* SIGHUP: the configuration again (the sinks reopen their files after this). */
static void agent_signal(void *ctx, int signo)
{
	if (signo == SIGHUP)
		reload(ctx);
}

static int parse_args(int argc, char **argv, struct config *cfg, struct agent_flags *fl,
		      struct config_errors *errs)
{
	for (int i = 1; i < argc; i++) {
		const char *v;
		int r;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_usage();
			return -1;
		}
		if (!strcmp(argv[i], "--quiet")) {
			config_set(cfg, "JN_LOG_LEVEL", "warn", CONFIG_SRC_FLAG, 0, errs);
		} else if (!strcmp(argv[i], "--verbose")) {
			config_set(cfg, "JN_LOG_LEVEL", "debug", CONFIG_SRC_FLAG, 0, errs);
		} else if (!strcmp(argv[i], "--exit-when-idle")) {
			fl->exit_when_idle = true;
		} else if (!strcmp(argv[i], "--log-to-state-dir")) {
			fl->log_to_state_dir = true;
		} else if ((r = opt_value(argc, argv, &i, "--config", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			fl->file = v;
		} else if ((r = opt_value(argc, argv, &i, "--out-dir", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			config_set(cfg, "JN_LOGDIR", v, CONFIG_SRC_FLAG, 0, errs);
		} else if ((r = opt_value(argc, argv, &i, "--duration", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (parse_seconds_ns(v, 1, 100LL * 365 * 24 * 3600 * NS_PER_SEC, &fl->duration_ns) != 0)
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

/* The sinks, in the order they see a tick: allocations account before the CSV and the rendering. */
static int open_sinks(struct agent *a)
{
	/*
	 * OTLP first, so that it closes last: what the others publish while
	 * closing (the kernel log's last records) is still exported.  Health,
	 * then events: the GPUs' health knows them when the kernel log's Xids
	 * come.  Both before the Prometheus rendering of the same tick, which
	 * counts them.
	 */
	static const struct sink_ops *const sinks[] = { &sink_otlp_ops, &sink_health_ops, &sink_events_ops,
							&sink_alloc_ops, &sink_csv_ops, &sink_prom_ops };
	char err[1024];

	for (size_t i = 0; i < ARRAY_SIZE(sinks); i++)
		if (pipeline_add(&a->p, sinks[i], err, sizeof err) != 0) {
			log_error("agent: %s", err);
			pipeline_close(&a->p);
			return EXIT_USAGE;
		}
	return 0;
}

int cmd_agent(int argc, char **argv)
{
	static struct agent a;
	static struct sampler sampler;
	static struct config_errors errs;
	struct gpu_options gopt = { 0 };
	int64_t loop_cpu_ns;
	uint64_t last_tick = 0;
	struct agent_flags fl = { 0 };
	char err[1024], log_path[RUN_PATH_MAX] = "";
	int r, sfd, rc;

	config_errors_init(&errs);
	config_defaults(&a.cfg);
	r = parse_args(argc, argv, &a.cfg, &fl, &errs);
	if (r != 0)
		return r < 0 ? 0 : r;
	config_resolve(&a.cfg, fl.file, environ, &errs);
	if (cli_config_report(&errs) > 0)
		return EXIT_USAGE;
	fdlimit_raise();
	/* The autostarted agent has no terminal and no journal: its log goes beside its state. */
	if (fl.log_to_state_dir) {
		int bad = str_fmt(log_path, sizeof log_path, "%s/" AGENT_LOG_NAME, a.cfg.state_dir) < 0;

		if (bad)
			str_copy(err, "the state directory's path is too long for the log file", sizeof err);
		if (bad || log_to_file(log_path, err, sizeof err) != 0) {
			log_warn("agent: %s; logging to standard error", err);
			log_path[0] = '\0';
		}
	}
	/* Created where missing, as other collectors do: refused before anything starts. */
	if (dir_ensure(a.cfg.logdir, 0750, "out-dir", "pass --out-dir DIR (JN_LOGDIR)", err, sizeof err) != 0)
		return usage_error("agent", "%s", err);
	a.argc = argc;
	a.argv = argv;
	agent_policy_init(&a.policy, &a.cfg, fl.exit_when_idle, mono_now_ns());
	sfd = loop_signals();
	if (sfd < 0) {
		log_error("agent: signalfd: %s", strerror(errno));
		return 1;
	}
	/* The sinks first: a taken port or a bad directory is a usage error, found before any GPU work. */
	pipeline_init(&a.p, "agent", &a.cfg, &sampler);
	a.p.policy = &agent_policy_ops;
	a.p.policy_ctx = &a.policy;
	a.p.st.activity = activity_state_name(a.policy.act.state);
	prom_default_hostname(a.p.st.hostname, sizeof a.p.st.hostname);
	str_copy(a.p.st.log_file, log_path, sizeof a.p.st.log_file);
	rc = open_sinks(&a);
	if (rc != 0)
		goto out_sfd;
	gopt.interval_ns = a.cfg.poll_interval_ns;
	r = sampler_open(&sampler, &gopt, err, sizeof err);
	if (r == -EINTR) {
		/*
		 * Stopped while the driver was still starting: nothing was
		 * collected yet.  _exit, not exit: the call left running may be
		 * a dlopen() holding the loader's lock, which exit() and every
		 * dlclose() take.  A control socket left behind is replaced at
		 * the next start.
		 */
		log_warn("agent: %s", err);
		fflush(NULL);
		_exit(0);
	}
	if (r != 0) {
		log_error("%s", err);
		rc = r == -EINVAL ? EXIT_USAGE : 1;
		goto out_sinks;
	}
	/* The exporter's per-channel temperatures and per-zone energy. */
	sampler_log_backend(&sampler);
	host_set_detail(sampler.host, 1);
	a.p.st.driver_version = sampler.gpus.backend ? sampler.gpus.backend->driver_version(sampler.gpus.state) : "";
	log_info("agent: watching %s every %.3gs: on at >= %.4g%% for %.4gs, off at <= %.4g%% for %.4gs; CSV in %s; exporter %s on %s:%d",
		 gpu_backend_name(&sampler.gpus), (double)a.cfg.poll_interval_ns / NS_PER_SEC,
		 a.cfg.start_util_pct, (double)a.cfg.start_ns / NS_PER_SEC, a.cfg.stop_util_pct,
		 (double)a.cfg.stop_ns / NS_PER_SEC, a.cfg.logdir,
		 a.cfg.exporter_mode == CONFIG_EXPORTER_ALWAYS ? "always" : "while active",
		 a.cfg.exporter_bind, a.cfg.exporter_port);
	if (fl.duration_ns)
		last_tick = (uint64_t)((fl.duration_ns + a.cfg.poll_interval_ns - 1) / a.cfg.poll_interval_ns);
	rc = loop_run(&sampler, sfd, last_tick, &a.p, agent_signal, &a, &loop_cpu_ns);
	sdnotify("STOPPING=1");
	agent_policy_stop(&a.policy);
	if (a.p.st.telemetry && a.p.st.csv_path[0])
		/* Stopping while active: the file is closed whole, not left open-ended. */
		log_info("agent: stopping while active; %llu rows in %s",
			 (unsigned long long)a.p.st.csv_period_rows, a.p.st.csv_path);
	if (a.p.st.telemetry)
		pipeline_period_ended(&a.p, "agent stopped");
	pipeline_close(&a.p);
	log_info("agent: stopped after %llu tick%s; %u active period%s, %llu row%s written, %llu dropped",
		 (unsigned long long)sampler.stats.ticks, plural_s(sampler.stats.ticks), a.p.st.periods,
		 plural_s(a.p.st.periods), (unsigned long long)a.p.st.csv_rows_written,
		 plural_s(a.p.st.csv_rows_written), (unsigned long long)a.p.st.csv_rows_dropped);
	sampler_close(&sampler);
	if (rc == 0 && a.p.st.csv_rows_dropped)
		rc = 1;
	goto out_sfd;
out_sinks:
	pipeline_close(&a.p);
out_sfd:
	close(sfd);
	return rc;
}
