/*
 * cmd_exporter.c - `gputel exporter`: Prometheus metrics over HTTP.
 *
 * The shared loop (loop.c) samples every interval into one sink, the
 * Prometheus sink (sink_prom.c): each tick is rendered once, with the
 * /status JSON, and every request is answered from that page.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "fdlimit.h"
#include "log.h"
#include "loop.h"
#include "pipeline.h"
#include "prom.h"
#include "sampler.h"
#include "util.h"


static const char exporter_usage[] =
	"usage: gputel exporter [--bind ADDR] [--port PORT] [--interval S]\n"
	"                       [--metric-names LIST] [--config FILE] [--quiet | --verbose]\n"
	"\n"
	"Serves Prometheus metrics of every GPU and the host (docs/metrics.md):\n"
	"  GET /metrics   text format 0.0.4, gzip when asked\n"
	"  GET /healthz   200 while sampling is alive, 503 when the last tick is stale\n"
	"  GET /status    JSON: backend, GPUs, last tick, version\n"
	"\n"
	"  --bind ADDR          numeric address to listen on (default $JN_EXPORTER_BIND, else 0.0.0.0)\n"
	"  --port PORT          TCP port (default $JN_EXPORTER_PORT, else 9118)\n"
	"  --interval S         sampling period, 0.01 to 3600 s (default $JN_POLL_INTERVAL, else 1)\n"
	"  --metric-names LIST  name sets, comma-separated: gputel (default), jn (the guide's\n"
	"                       jn_* gauges), dcgm (dcgm-exporter's DCGM_FI_* names)\n"
	"  --config FILE        settings file (default /etc/default/justnews-gpu-telemetry);\n"
	"                       flags win over the environment, which wins over the file\n"
	"  --quiet, --verbose   log warnings only / log debug detail (default: info)\n"
	"\n"
	"Durations take a unit: 500ms, 30s, 5m, 1h (a bare number is seconds).\n";

static int parse_port(const char *v, unsigned int *port)
{
	int64_t n;

	if (parse_int64(v, &n) != 0 || n < 1 || n > 65535)
		return -1;
	*port = (unsigned int)n;
	return 0;
}

int cmd_exporter(int argc, char **argv)
{
	static struct sampler sampler;
	static struct config cfg;
	static struct config_errors errs;
	static struct pipeline p;
	struct gpu_options gopt = { .interval_ns = NS_PER_SEC };
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
	gopt.interval_ns = cfg.poll_interval_ns;
	sfd = loop_signals();
	if (sfd < 0) {
		log_error("exporter: signalfd: %s", strerror(errno));
		return 1;
	}
	/* 1000 concurrent scrapers need more descriptors than the usual soft 1024. */
	fdlimit_raise();
	pipeline_init(&p, "exporter", &cfg, &sampler);
	p.st.telemetry = true;
	prom_default_hostname(p.st.hostname, sizeof p.st.hostname);
	/*
	 * The GPUs' health and the Xid counters (NVML's events; the exporter
	 * reads no kernel log) before the rendering that shows them.  Then listen, before any GPU
	 * work: a port that is taken is a usage error.
	 */
	if (pipeline_add(&p, &sink_health_ops, err, sizeof err) != 0 ||
	    pipeline_add(&p, &sink_events_ops, err, sizeof err) != 0 ||
	    pipeline_add(&p, &sink_prom_ops, err, sizeof err) != 0) {
		log_error("exporter: %s", err);
		pipeline_close(&p);
		close(sfd);
		return EXIT_USAGE;
	}
	r = sampler_open(&sampler, &gopt, err, sizeof err);
	if (r == -EINTR) {
		/*
		 * Stopped while the driver was still starting: nothing was served
		 * yet.  _exit, not exit: the call left running may be a dlopen()
		 * holding the loader's lock, which exit() and dlclose() take.
		 */
		log_warn("exporter: %s", err);
		fflush(NULL);
		_exit(0);
	}
	if (r != 0) {
		log_error("%s", err);
		pipeline_close(&p);
		close(sfd);
		return r == -EINVAL ? EXIT_USAGE : 1;
	}
	/* The per-channel temperatures and per-zone energy are served too. */
	sampler_log_backend(&sampler);
	host_set_detail(sampler.host, 1);
	p.st.driver_version = sampler.gpus.backend ? sampler.gpus.backend->driver_version(sampler.gpus.state) : "";
	log_info("exporter: serving http://%s:%d/metrics every %.3gs (backend %s)", cfg.exporter_bind,
		 cfg.exporter_port, (double)gopt.interval_ns / NS_PER_SEC, gpu_backend_name(&sampler.gpus));
	rc = loop_run(&sampler, sfd, 0, &p, NULL, NULL, &loop_cpu_ns);
	log_info("exporter: stopped after %llu tick%s", (unsigned long long)sampler.stats.ticks,
		 plural_s(sampler.stats.ticks));
	pipeline_close(&p);
	sampler_close(&sampler);
	close(sfd);
	return rc;
}
