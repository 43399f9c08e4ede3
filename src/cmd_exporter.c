/*
 * cmd_exporter.c - `gputel exporter`: Prometheus metrics over HTTP.
 *
 * The shared loop (loop.c) samples every interval; each tick renders the
 * metrics and the /status JSON once and publishes them to the HTTP server
 * (http.c), which answers every request from that page.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "outbuf.h"
#include "prom.h"
#include "sampler.h"
#include "util.h"

#define DEFAULT_PORT 9118
#define METRICS_MAX (4 << 20)

static const char exporter_usage[] =
	"usage: gputel exporter [--bind ADDR] [--port PORT] [--interval SECONDS]\n"
	"                       [--metric-names LIST] [--config FILE] [--quiet | --verbose]\n"
	"\n"
	"Serves Prometheus metrics of every GPU and the host (docs/metrics.md):\n"
	"  GET /metrics   text format 0.0.4, gzip when asked\n"
	"  GET /healthz   200 while sampling is alive, 503 when the last tick is stale\n"
	"  GET /status    JSON: backend, GPUs, last tick, version\n"
	"\n"
	"  --bind ADDR          numeric address to listen on (default $JN_EXPORTER_BIND, else 0.0.0.0)\n"
	"  --port PORT          TCP port (default $JN_EXPORTER_PORT, else 9118)\n"
	"  --interval SECONDS   sampling period, 0.01 to 3600 (default $JN_POLL_INTERVAL, else 1)\n"
	"  --metric-names LIST  name sets, comma-separated: gputel (default), jn (the guide's\n"
	"                       jn_* gauges), dcgm (dcgm-exporter's DCGM_FI_* names)\n"
	"  --config FILE        settings file (default /etc/default/justnews-gpu-telemetry);\n"
	"                       flags win over the environment, which wins over the file\n";

struct exporter {
	struct http_server *http;
	struct sampler *sampler;
	char *metrics;           /* METRICS_MAX */
	char status[4096];
	const char *driver;
	unsigned int names;      /* PROM_NAMES_* */
	char hostname[256];
};

static int parse_port(const char *v, unsigned int *port)
{
	int64_t p;

	if (parse_int64(v, &p) != 0 || p < 1 || p > 65535)
		return -1;
	*port = (unsigned int)p;
	return 0;
}

static size_t render_status(struct exporter *e, const struct snapshot *snap)
{
	struct outbuf o = { e->status, 0, sizeof e->status, false };
	char ts[32];

	fmt_iso8601_ms(ts, &snap->wall);
	ob_puts(&o, "{\"version\": \"" GPUTEL_VERSION "\", \"backend\": \"");
	ob_puts(&o, snap->backend ? snap->backend : "none");
	ob_puts(&o, "\", \"driver_version\": \"");
	ob_puts(&o, e->driver);
	ob_puts(&o, "\", \"gpus\": ");
	ob_put_u64(&o, snap->n_gpus);
	ob_puts(&o, ", \"gpus_up\": ");
	{
		uint64_t up = 0;

		for (unsigned int i = 0; i < snap->n_gpus; i++)
			up += snap->gpu[i].health == GPU_HEALTH_UP;
		ob_put_u64(&o, up);
	}
	ob_puts(&o, ", \"last_tick\": \"");
	ob_puts(&o, ts);
	ob_puts(&o, "\", \"seq\": ");
	ob_put_u64(&o, snap->seq);
	ob_puts(&o, ", \"telemetry_active\": true}\n");
	return o.full ? 0 : o.len;
}

static void exporter_tick(void *ctx, const struct snapshot *snap)
{
	struct exporter *e = ctx;
	struct prom_self self = {
		.version = GPUTEL_VERSION,
		.driver_version = e->driver,
		.names = e->names,
		.hostname = e->hostname,
		.telemetry_active = 1,
	};
	size_t n = prom_render(snap, &self, e->metrics, METRICS_MAX);
	size_t sn = render_status(e, snap);

	if (n == 0) {
		static bool said;

		log_once(&said, LOG_ERROR, "exporter: the metrics do not fit in %d MiB; not published", METRICS_MAX >> 20);
		return;
	}
	if (http_publish(e->http, e->metrics, n, e->status, sn, snap->mono_ns) != 0)
		log_warn("exporter: out of memory publishing a tick; serving the previous one");
}

/* 1000 concurrent scrapers need more descriptors than the usual soft 1024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int cmd_exporter(int argc, char **argv)
{
	static struct sampler sampler;
	static struct snapshot snap;
	static struct config cfg;
	static struct config_errors errs;
	struct exporter e = { 0 };
	struct http_options hopt = { NULL, DEFAULT_PORT, 0, NULL };
	struct gpu_options gopt = { .interval_ns = NS_PER_SEC };
	struct loop_hooks hooks = { .tick = exporter_tick, .ctx = &e };
	const char *file = NULL;
	char err[1024];
	int r, sfd, rc;
	int64_t loop_cpu_ns;

	config_errors_init(&errs);
	config_defaults(&cfg);
	for (int i = 1; i < argc; i++) {
		const char *v;
		unsigned int port;
		int64_t ns;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(exporter_usage, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--quiet")) {
			log_set_level(LOG_WARN);
		} else if (!strcmp(argv[i], "--verbose")) {
			log_set_level(LOG_DEBUG);
		} else if ((r = opt_value(argc, argv, &i, "--bind", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			config_set(&cfg, "JN_EXPORTER_BIND", v, CONFIG_SRC_FLAG, 0, &errs);
		} else if ((r = opt_value(argc, argv, &i, "--port", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (parse_port(v, &port) != 0)
				return usage_error("exporter", "bad --port '%s'; give 1..65535, e.g. --port 9118", v);
			config_set(&cfg, "JN_EXPORTER_PORT", v, CONFIG_SRC_FLAG, 0, &errs);
		} else if ((r = opt_value(argc, argv, &i, "--interval", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (parse_seconds_ns(v, 10 * 1000 * 1000LL, 3600 * NS_PER_SEC, &ns) != 0)
				return usage_error("exporter", "bad --interval '%s'; give seconds from 0.01 to 3600, e.g. --interval 1", v);
			config_set(&cfg, "JN_POLL_INTERVAL", v, CONFIG_SRC_FLAG, 0, &errs);
		} else if ((r = opt_value(argc, argv, &i, "--metric-names", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			config_set(&cfg, "JN_METRIC_NAMES", v, CONFIG_SRC_FLAG, 0, &errs);
		} else if ((r = opt_value(argc, argv, &i, "--config", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			file = v;
		} else {
			return usage_error("exporter", "unknown option '%s'; see 'gputel exporter --help'", argv[i]);
		}
	}
	/* The file and the environment fill in whatever the flags did not set. */
	config_resolve(&cfg, file, environ, &errs);
	if (cli_config_report(&errs) > 0)
		return EXIT_USAGE;
	hopt.bind = cfg.exporter_bind;
	hopt.port = (unsigned int)cfg.exporter_port;
	gopt.interval_ns = cfg.poll_interval_ns;
	e.names = cfg.metric_names;
	prom_default_hostname(e.hostname, sizeof e.hostname);
	/* /healthz: stale after three missed ticks (and never sooner than 3 s). */
	hopt.stale_after_ns = 3 * gopt.interval_ns > 3 * NS_PER_SEC ? 3 * gopt.interval_ns : 3 * NS_PER_SEC;
	sfd = loop_signals();
	if (sfd < 0) {
		log_error("exporter: signalfd: %s", strerror(errno));
		return 1;
	}
	raise_fd_limit();
	e.metrics = malloc(METRICS_MAX);
	if (!e.metrics) {
		log_error("exporter: out of memory");
		close(sfd);
		return 1;
	}
	/* Listen first: a port that is taken is a usage error, found before any GPU work. */
	if (http_start(&e.http, &hopt, err, sizeof err) != 0) {
		log_error("exporter: %s", err);
		free(e.metrics);
		close(sfd);
		return EXIT_USAGE;
	}
	r = sampler_open(&sampler, &gopt, err, sizeof err);
	if (r != 0) {
		log_error("%s", err);
		http_stop(e.http);
		free(e.metrics);
		close(sfd);
		return r == GPU_OPEN_BAD_CONFIG ? EXIT_USAGE : 1;
	}
	e.sampler = &sampler;
	/* The per-channel temperatures and per-zone energy are served too. */
	host_set_detail(sampler.host, 1);
	e.driver = sampler.gpus.backend ? sampler.gpus.backend->driver_version(sampler.gpus.state) : "";
	log_info("exporter: serving http://%s:%u/metrics every %.3gs (backend %s)",
		 hopt.bind && *hopt.bind ? hopt.bind : "0.0.0.0", hopt.port,
		 (double)gopt.interval_ns / NS_PER_SEC, gpu_backend_name(&sampler.gpus));
	rc = loop_run(&sampler, &snap, sfd, 0, &hooks, &loop_cpu_ns);
	log_info("exporter: stopped after %llu ticks, %llu requests",
		 (unsigned long long)sampler.stats.ticks, (unsigned long long)http_requests(e.http));
	http_stop(e.http);
	sampler_close(&sampler);
	free(e.metrics);
	close(sfd);
	return rc;
}
