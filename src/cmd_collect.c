/*
 * cmd_collect.c - `gputel collect`: the per-tick CSV collector.
 *
 * Runs the shared loop (loop.c) into one sink, the CSV (sink_csv.c), with
 * telemetry on from the first tick to the last: SIGTERM and SIGINT stop
 * after the current tick (its rows are already on disk), within 2 s even
 * while a driver call hangs, and also while the driver is still starting;
 * SIGHUP and SIGUSR1 reopen the CSV file for logrotate.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "pipeline.h"
#include "sampler.h"
#include "sink_csv.h"
#include "util.h"

#define DEFAULT_OUT_DIR "/var/log/justnews-perf"
#define MIN_INTERVAL_NS (10 * 1000 * 1000LL)
#define MAX_INTERVAL_NS (3600 * NS_PER_SEC)
#define MAX_DURATION_NS (100LL * 365 * 24 * 3600 * NS_PER_SEC)

static const char collect_usage[] =
	"usage: gputel collect [--out-dir DIR|-] [--interval S] [--duration S] [--gpus LIST]\n"
	"                      [--quiet | --verbose]\n"
	"\n"
	"Samples every GPU and the host sensors every interval and appends one row\n"
	"per GPU to DIR/gpu_telemetry_<UTC start>.csv (columns: docs/csv.md).\n"
	"Durations take a unit: 500ms, 30s, 5m, 1h (a bare number is seconds).\n"
	"\n";

static void print_usage(void)
{
	fputs(collect_usage, stdout);
	cli_print_option(stdout, "--out-dir DIR|-",
			 "where the CSV goes, created when missing; - writes it to standard output "
			 "(default: " DEFAULT_OUT_DIR ")");
	cli_print_option(stdout, "--interval S", "sampling period, 0.01 to 3600 s (default: 1)");
	cli_print_option(stdout, "--duration S", "stop after this long (default: until SIGTERM/SIGINT)");
	cli_print_option(stdout, "--gpus LIST",
			 "the GPUs whose rows are written: all, or indexes such as 0,1 or 0-3 (default: all)");
	cli_print_option(stdout, "--quiet, --verbose", "log warnings only / log debug detail (default: info)");
	fputs("\nSignals: SIGTERM/SIGINT stop cleanly; SIGHUP/SIGUSR1 reopen the file (logrotate).\n"
	      "Environment: GPUTEL_NVML_LIBRARY, GPUTEL_NVIDIA_SMI, GPUTEL_GPU_BACKEND,\n"
	      "GPUTEL_SYSFS_ROOT, GPUTEL_PROCFS_ROOT (see README.md).\n", stdout);
}

struct collect_args {
	const char *out_dir;
	int64_t interval_ns;
	int64_t duration_ns;      /* 0: until a signal */
	struct config_gpu_set gpus;
};

static int parse_args(int argc, char **argv, struct collect_args *a)
{
	a->out_dir = DEFAULT_OUT_DIR;
	a->interval_ns = NS_PER_SEC;
	a->duration_ns = 0;
	a->gpus.all = true;
	for (int i = 1; i < argc; i++) {
		const char *v;
		int r;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_usage();
			return -1;
		}
		if (!strcmp(argv[i], "--quiet")) {
			log_set_level(LOG_WARN);
			continue;
		}
		if (!strcmp(argv[i], "--verbose")) {
			log_set_level(LOG_DEBUG);
			continue;
		}
		if ((r = opt_value(argc, argv, &i, "--out-dir", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (!*v)
				return usage_error("collect", "--out-dir is empty; pass a directory");
			a->out_dir = v;
			continue;
		}
		if ((r = opt_value(argc, argv, &i, "--interval", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (parse_seconds_ns(v, MIN_INTERVAL_NS, MAX_INTERVAL_NS, &a->interval_ns) != 0)
				return usage_error("collect", "bad --interval '%s'; give seconds from 0.01 to 3600, e.g. --interval 1", v);
			continue;
		}
		if ((r = opt_value(argc, argv, &i, "--gpus", &v)) != 0) {
			struct config cfg;
			struct config_errors errs;

			if (r < 0)
				return EXIT_USAGE;
			config_errors_init(&errs);
			config_defaults(&cfg);
			if (config_set(&cfg, "JN_GPUS", v, CONFIG_SRC_FLAG, 0, &errs) != 0)
				return usage_error("collect", "bad --gpus '%s'; give all, or indexes such as 0,1 or 0-3", v);
			a->gpus = cfg.gpus;
			continue;
		}
		if ((r = opt_value(argc, argv, &i, "--duration", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (parse_seconds_ns(v, 1, MAX_DURATION_NS, &a->duration_ns) != 0)
				return usage_error("collect", "bad --duration '%s'; give a positive number of seconds, e.g. --duration 60", v);
			continue;
		}
		return usage_error("collect", "unknown option '%s'; see 'gputel collect --help'", argv[i]);
	}
	return 0;
}

/*
 * Peak resident memory of this program in KiB, from VmHWM.  getrusage's
 * ru_maxrss would also count the pages of the parent we were forked from
 * (the high-water mark survives exec), which says nothing about gputel.
 */
static long peak_rss_kib(void)
{
	char buf[4096], *p;
	long kib = -1;

	if (file_read_small("/proc/self/status", buf, sizeof buf) > 0 &&
	    (p = strstr(buf, "\nVmHWM:")) != NULL)
		kib = strtol(p + 7, NULL, 10);
	return kib;
}

/*
 * The closing line: what was written and lost, how punctual the ticks
 * were, and what they cost (CPU per tick after the first, which carries the
 * start-up; bench/ reads these figures).
 */
static void summarise(const struct sampler *s, const struct run_state *st, int64_t loop_cpu_ns)
{
	uint64_t loop_ticks = s->stats.ticks > 1 ? s->stats.ticks - 1 : 0;

	log_info("collect: stopped after %llu tick%s (%llu skipped); %llu row%s in %s, %llu dropped; tick lateness p50 %lld us, p99 %lld us, max %lld us; cpu per tick %.1f us, peak rss %ld KiB",
		 (unsigned long long)s->stats.ticks, plural_s(s->stats.ticks), (unsigned long long)s->stats.missed,
		 (unsigned long long)st->csv_rows_written, plural_s(st->csv_rows_written), st->csv_path,
		 (unsigned long long)st->csv_rows_dropped,
		 (long long)sampler_late_percentile_ns(&s->stats, 50) / 1000,
		 (long long)sampler_late_percentile_ns(&s->stats, 99) / 1000,
		 (long long)s->stats.late_max_ns / 1000,
		 loop_ticks ? (double)loop_cpu_ns / (double)loop_ticks / 1000.0 : 0.0,
		 peak_rss_kib());
}

int cmd_collect(int argc, char **argv)
{
	static struct sampler sampler;   /* large (histogram): keep it off the stack */
	static struct config cfg;
	static struct pipeline p;
	struct collect_args a;
	struct gpu_options opt = { 0 };
	char err[1024];
	int r, sfd, rc;
	uint64_t last_tick = 0;
	int64_t loop_cpu_ns = 0;

	r = parse_args(argc, argv, &a);
	if (r != 0)
		return r < 0 ? 0 : r;
	/* An out-dir we cannot use is refused before any GPU is touched. */
	if (strcmp(a.out_dir, CSV_STDOUT) != 0 &&
	    dir_ensure(a.out_dir, 0750, "out-dir", "pass another --out-dir DIR", err, sizeof err) != 0)
		return usage_error("collect", "%s", err);
	config_defaults(&cfg);
	str_copy(cfg.logdir, a.out_dir, sizeof cfg.logdir);
	cfg.poll_interval_ns = a.interval_ns;
	sfd = loop_signals();
	if (sfd < 0) {
		log_error("collect: signalfd: %s", strerror(errno));
		return 1;
	}
	opt.interval_ns = a.interval_ns;
	r = sampler_open(&sampler, &opt, err, sizeof err);
	if (r == -EINTR) {
		/*
		 * Asked to stop before the first tick: nothing was collected,
		 * nothing is lost.  _exit, not exit: the driver call left running
		 * may be a dlopen() holding the loader's lock, which exit() takes.
		 */
		log_warn("collect: %s; no rows written", err);
		fflush(NULL);
		_exit(0);
	}
	if (r != 0) {
		log_error("%s", err);
		close(sfd);
		return r == -EINVAL ? EXIT_USAGE : 1;
	}
	sampler_log_backend(&sampler);
	pipeline_init(&p, "collect", &cfg, &sampler);
	p.st.telemetry = true;
	p.st.csv_gpus = a.gpus.all ? CSV_ALL_GPUS : a.gpus.mask;
	/* The Xids NVML reports are logged with what they mean (no kernel log, no file). */
	if (pipeline_add(&p, &sink_events_ops, err, sizeof err) != 0 ||
	    pipeline_add(&p, &sink_csv_ops, err, sizeof err) != 0) {
		log_error("collect: %s", err);
		pipeline_close(&p);
		sampler_close(&sampler);
		close(sfd);
		return EXIT_USAGE;
	}
	log_info("collect: writing %s every %.3gs (backend %s, %s)", p.st.csv_path,
		 (double)a.interval_ns / NS_PER_SEC, gpu_backend_name(&sampler.gpus),
		 a.duration_ns ? "until the duration ends" : "until SIGTERM/SIGINT");
	if (a.duration_ns)
		last_tick = (uint64_t)((a.duration_ns + a.interval_ns - 1) / a.interval_ns);
	rc = loop_run(&sampler, sfd, last_tick, &p, NULL, NULL, &loop_cpu_ns);
	pipeline_close(&p);
	summarise(&sampler, &p.st, loop_cpu_ns);
	if (p.st.csv_rows_dropped && rc == 0)
		rc = 1;
	sampler_close(&sampler);
	close(sfd);
	return rc;
}
