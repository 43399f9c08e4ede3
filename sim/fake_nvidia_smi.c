/*
 * fake_nvidia_smi.c - an `nvidia-smi` that answers --query-gpu, -L and
 * --help-query-gpu from the same scenario timeline as the simulated NVML
 * library, so gputel's nvidia-smi backend can be tested without a GPU.
 * docs/simulator.md lists what it supports and how it formats values.
 *
 * In loop mode (-l / -lms) it behaves like the real tool under a pipe:
 * one flushed block per round on absolute CLOCK_MONOTONIC deadlines, a
 * quiet exit when the reader goes away (EPIPE) or on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scenario.h"

#define MAX_FIELDS 64
#define LINE_MAX_LEN 16384
#define NS_PER_SEC 1000000000LL

enum kind {
	K_TIMESTAMP,
	K_INDEX,
	K_UUID,
	K_NAME,
	K_BUS_ID,
	K_DRIVER,
	K_UTIL,
	K_MEM_UTIL,
	K_ENC,
	K_DEC,
	K_MEM_TOTAL,
	K_MEM_USED,
	K_MEM_FREE,
	K_TEMP,
	K_POWER,
	K_POWER_LIMIT,
	K_ENFORCED_LIMIT,
	K_SM_CLOCK,
	K_MEM_CLOCK,
	K_FAN,
	K_PSTATE,
	K_THROTTLE,
	K_EVENTS,
	K_ECC_CORR,
	K_ECC_UNCORR,
	K_REMAP_CORR,
	K_REMAP_UNCORR,
	K_REMAP_PENDING,
	K_REMAP_FAILURE,
};

struct field {
	const char *name;  /* what the header prints */
	const char *alias; /* also accepted on the command line, or NULL */
	enum kind kind;
	const char *unit;  /* " %", " MiB", " W", " MHz" or "" */
	const char *hunit; /* the header's " [%]" etc. */
	int group;         /* enum scn_field behind it, or -1 */
	int fn;            /* enum scn_fn behind it (for `missing`), or -1 */
	int min_driver;    /* driver major that introduced the field, 0: always */
	bool survives_loss; /* still printed for a lost GPU */
	const char *help;
};

static const struct field fields[] = {
	{ "timestamp", NULL, K_TIMESTAMP, "", "", -1, -1, 0, true,
	  "Local time of the sample, YYYY/MM/DD HH:MM:SS.mmm." },
	{ "index", NULL, K_INDEX, "", "", -1, -1, 0, true,
	  "GPU index, from 0." },
	{ "uuid", "gpu_uuid", K_UUID, "", "", -1, -1, 0, true,
	  "GPU UUID, GPU-..." },
	{ "name", "gpu_name", K_NAME, "", "", -1, -1, 0, false,
	  "Product name." },
	{ "pci.bus_id", "gpu_bus_id", K_BUS_ID, "", "", -1, -1, 0, true,
	  "PCI bus id, domain:bus:device.function in hex." },
	{ "driver_version", NULL, K_DRIVER, "", "", -1, -1, 0, true,
	  "Installed driver version." },
	{ "utilization.gpu", NULL, K_UTIL, " %", " [%]", SCN_F_UTIL,
	  SCN_FN_nvmlDeviceGetUtilizationRates, 0, false,
	  "GPU busy share over the driver's window, percent." },
	{ "utilization.memory", NULL, K_MEM_UTIL, " %", " [%]", SCN_F_MEM_UTIL,
	  SCN_FN_nvmlDeviceGetUtilizationRates, 0, false,
	  "Device memory busy share over the driver's window, percent." },
	{ "utilization.encoder", NULL, K_ENC, " %", " [%]", SCN_F_ENC,
	  SCN_FN_nvmlDeviceGetEncoderUtilization, 0, false,
	  "Video encoder busy share, percent." },
	{ "utilization.decoder", NULL, K_DEC, " %", " [%]", SCN_F_DEC,
	  SCN_FN_nvmlDeviceGetDecoderUtilization, 0, false,
	  "Video decoder busy share, percent." },
	{ "memory.total", NULL, K_MEM_TOTAL, " MiB", " [MiB]", SCN_F_MEMORY,
	  SCN_FN_nvmlDeviceGetMemoryInfo, 0, false, "Device memory size, MiB." },
	{ "memory.used", NULL, K_MEM_USED, " MiB", " [MiB]", SCN_F_MEMORY,
	  SCN_FN_nvmlDeviceGetMemoryInfo, 0, false, "Device memory in use, MiB." },
	{ "memory.free", NULL, K_MEM_FREE, " MiB", " [MiB]", SCN_F_MEMORY,
	  SCN_FN_nvmlDeviceGetMemoryInfo, 0, false, "Device memory free, MiB." },
	{ "temperature.gpu", NULL, K_TEMP, "", "", SCN_F_TEMP, SCN_FN_nvmlDeviceGetTemperature, 0,
	  false, "GPU core temperature, degrees C." },
	{ "power.draw", NULL, K_POWER, " W", " [W]", SCN_F_POWER, SCN_FN_nvmlDeviceGetPowerUsage, 0,
	  false, "Board power, watts." },
	{ "power.limit", NULL, K_POWER_LIMIT, " W", " [W]", SCN_F_POWER_LIMIT,
	  SCN_FN_nvmlDeviceGetEnforcedPowerLimit, 0, false,
	  "Power limit, watts." },
	{ "enforced.power.limit", NULL, K_ENFORCED_LIMIT, " W", " [W]", SCN_F_POWER_LIMIT,
	  SCN_FN_nvmlDeviceGetEnforcedPowerLimit, 0, false,
	  "Power limit in force, watts." },
	{ "clocks.current.sm", "clocks.sm", K_SM_CLOCK, " MHz", " [MHz]", SCN_F_SM_CLOCK,
	  SCN_FN_nvmlDeviceGetClockInfo, 0, false, "SM clock, MHz." },
	{ "clocks.current.memory", "clocks.mem", K_MEM_CLOCK, " MHz", " [MHz]", SCN_F_MEM_CLOCK,
	  SCN_FN_nvmlDeviceGetClockInfo, 0, false, "Memory clock, MHz." },
	{ "fan.speed", NULL, K_FAN, " %", " [%]", SCN_F_FAN, SCN_FN_nvmlDeviceGetFanSpeed, 0, false,
	  "Intended fan speed, percent." },
	{ "pstate", NULL, K_PSTATE, "", "", SCN_F_PSTATE, SCN_FN_nvmlDeviceGetPerformanceState, 0,
	  false, "Performance state, P0 (fastest) to P15." },
	{ "clocks_throttle_reasons.active", NULL, K_THROTTLE, "", "", SCN_F_CLOCK_EVENTS,
	  SCN_FN_nvmlDeviceGetCurrentClocksThrottleReasons, 0, false,
	  "Clock throttle reasons, hex bit mask (older drivers)." },
	{ "clocks_event_reasons.active", NULL, K_EVENTS, "", "", SCN_F_CLOCK_EVENTS,
	  SCN_FN_nvmlDeviceGetCurrentClocksEventReasons, 535, false,
	  "Clock event reasons, hex bit mask (R535 and later)." },
	{ "ecc.errors.corrected.volatile.total", NULL, K_ECC_CORR, "", "", SCN_F_ECC,
	  SCN_FN_nvmlDeviceGetTotalEccErrors, 0, false,
	  "Corrected ECC errors since the driver loaded." },
	{ "ecc.errors.uncorrected.volatile.total", NULL, K_ECC_UNCORR, "", "", SCN_F_ECC,
	  SCN_FN_nvmlDeviceGetTotalEccErrors, 0, false,
	  "Uncorrected ECC errors since the driver loaded." },
	{ "remapped_rows.correctable", NULL, K_REMAP_CORR, "", "", SCN_F_REMAP,
	  SCN_FN_nvmlDeviceGetRemappedRows, 0, false, "Rows remapped for correctable errors." },
	{ "remapped_rows.uncorrectable", NULL, K_REMAP_UNCORR, "", "", SCN_F_REMAP,
	  SCN_FN_nvmlDeviceGetRemappedRows, 0, false, "Rows remapped for uncorrectable errors." },
	{ "remapped_rows.pending", NULL, K_REMAP_PENDING, "", "", SCN_F_REMAP,
	  SCN_FN_nvmlDeviceGetRemappedRows, 0, false, "Yes when a remap waits for a reset." },
	{ "remapped_rows.failure", NULL, K_REMAP_FAILURE, "", "", SCN_F_REMAP,
	  SCN_FN_nvmlDeviceGetRemappedRows, 0, false, "Yes when a remap failed." },
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

struct opts {
	const char *query;
	const char *format;
	const char *ids;
	int64_t period_ns; /* 0: one round */
	bool list;
	bool help_query;
	bool help;
};

struct ctx {
	struct scenario *s;
	bool has_epoch;
	double epoch;
	struct timespec start;
	bool header;
	bool units;
	const struct field *f[MAX_FIELDS];
	int nf;
	bool sel[SCN_MAX_GPUS];
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("nvidia-smi (simulated): ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* The reader is gone (EPIPE) or stdout broke: nothing left to say. */
static void flush_or_exit(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		_exit(errno == EPIPE ? 0 : 1);
}

static double timeline_now(const struct ctx *c)
{
	struct timespec ts;
	double t;

	if (c->has_epoch) {
		clock_gettime(CLOCK_REALTIME, &ts);
		t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - c->epoch;
	} else {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = (double)(ts.tv_sec - c->start.tv_sec) + (double)(ts.tv_nsec - c->start.tv_nsec) * 1e-9;
	}
	return t > 0 ? t : 0;
}

static void sleep_ms(double ms)
{
	struct timespec ts;
	int64_t ns = (int64_t)(ms * 1e6);

	if (ns <= 0)
		return;
	ts.tv_sec = (time_t)(ns / NS_PER_SEC);
	ts.tv_nsec = (long)(ns % NS_PER_SEC);
	while (!g_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static const struct field *field_find(const char *name)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (strcmp(fields[i].name, name) == 0 ||
		    (fields[i].alias && strcmp(fields[i].alias, name) == 0))
			return &fields[i];
	return NULL;
}

static bool field_available(const struct ctx *c, const struct field *f)
{
	return f->min_driver == 0 || scn_driver_major(c->s) >= f->min_driver;
}

/* Parses a whole non-negative number; -1 when s is anything else. */
static long long parse_count(const char *s)
{
	long long v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000000000LL)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

static void fmt_timestamp(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	snprintf(buf, n, "%04d/%02d/%02d %02d:%02d:%02d.%03ld", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

static unsigned rounded(double x)
{
	if (!(x > 0))
		return 0;
	if (x >= 4294967295.0)
		return 4294967295u;
	return (unsigned)llround(x);
}

static unsigned long long whole(double x)
{
	return x > 0 ? (unsigned long long)floor(x) : 0;
}

/* One value as nvidia-smi prints it, or the bracketed reason it cannot. */
static void format_value(const struct ctx *c, const struct field *f, int g, double t, char *buf,
			 size_t n)
{
	const struct scenario *s = c->s;
	const char *na = scn_driver_major(s) < 450 ? "[Not Supported]" : "[N/A]";
	const char *u = c->units ? f->unit : "";
	bool lost = scn_lost(s, g, t);
	double total, used;

	if (lost && !f->survives_loss) {
		snprintf(buf, n, "[GPU is lost]");
		return;
	}
	if (f->fn >= 0 && scn_missing(s, (enum scn_fn)f->fn)) {
		snprintf(buf, n, "%s", na);
		return;
	}
	if (f->group >= 0) {
		switch (scn_status(s, g, (enum scn_field)f->group, t)) {
		case SCN_ST_UNSUPPORTED:
			snprintf(buf, n, "%s", na);
			return;
		case SCN_ST_ERROR:
			snprintf(buf, n, "[Unknown Error]");
			return;
		case SCN_ST_LOST:
			snprintf(buf, n, "[GPU is lost]");
			return;
		case SCN_OK:
			break;
		}
	}
	total = scn_value(s, g, SCN_MEM_TOTAL_MIB, t);
	used = scn_value(s, g, SCN_MEM_USED_MIB, t);
	if (used > total)
		used = total;
	switch (f->kind) {
	case K_TIMESTAMP:
		fmt_timestamp(buf, n);
		break;
	case K_INDEX:
		snprintf(buf, n, "%d", g);
		break;
	case K_UUID:
		scn_gpu_uuid(g, buf, n);
		break;
	case K_NAME:
		snprintf(buf, n, "%s", scn_gpu_name(s));
		break;
	case K_BUS_ID:
		scn_gpu_bus_id(g, buf, n);
		break;
	case K_DRIVER:
		snprintf(buf, n, "%s", scn_driver(s));
		break;
	case K_UTIL:
		snprintf(buf, n, "%u%s", rounded(scn_value(s, g, SCN_UTIL, t)), u);
		break;
	case K_MEM_UTIL:
		snprintf(buf, n, "%u%s", rounded(scn_value(s, g, SCN_MEM_UTIL, t)), u);
		break;
	case K_ENC:
		snprintf(buf, n, "%u%s", rounded(scn_value(s, g, SCN_ENC_UTIL, t)), u);
		break;
	case K_DEC:
		snprintf(buf, n, "%u%s", rounded(scn_value(s, g, SCN_DEC_UTIL, t)), u);
		break;
	case K_MEM_TOTAL:
		snprintf(buf, n, "%u%s", rounded(total), u);
		break;
	case K_MEM_USED:
		snprintf(buf, n, "%u%s", rounded(used), u);
		break;
	case K_MEM_FREE:
		snprintf(buf, n, "%u%s", rounded(total) - rounded(used), u);
		break;
	case K_TEMP:
		snprintf(buf, n, "%u", rounded(scn_value(s, g, SCN_TEMP_C, t)));
		break;
	case K_POWER:
		/* Through milliwatts, as NVML reports it, so both backends agree. */
		snprintf(buf, n, "%.2f%s", rounded(scn_value(s, g, SCN_POWER_W, t) * 1000.0) / 1000.0, u);
		break;
	case K_POWER_LIMIT:
	case K_ENFORCED_LIMIT:
		snprintf(buf, n, "%.2f%s",
			 rounded(scn_value(s, g, SCN_POWER_LIMIT_W, t) * 1000.0) / 1000.0, u);
		break;
	case K_SM_CLOCK:
		snprintf(buf, n, "%u%s", rounded(scn_value(s, g, SCN_SM_MHZ, t)), u);
		break;
	case K_MEM_CLOCK:
		snprintf(buf, n, "%u%s", rounded(scn_value(s, g, SCN_MEM_MHZ, t)), u);
		break;
	case K_FAN:
		snprintf(buf, n, "%u%s", rounded(scn_value(s, g, SCN_FAN, t)), u);
		break;
	case K_PSTATE:
		snprintf(buf, n, "P%u", rounded(scn_value(s, g, SCN_PSTATE, t)));
		break;
	case K_THROTTLE:
	case K_EVENTS:
		snprintf(buf, n, "0x%016llx", whole(scn_value(s, g, SCN_CLOCK_EVENTS, t)));
		break;
	case K_ECC_CORR:
		snprintf(buf, n, "%llu", whole(scn_value(s, g, SCN_ECC_CORR, t)));
		break;
	case K_ECC_UNCORR:
		snprintf(buf, n, "%llu", whole(scn_value(s, g, SCN_ECC_UNCORR, t)));
		break;
	case K_REMAP_CORR:
		snprintf(buf, n, "%llu", whole(scn_value(s, g, SCN_REMAP_CORR, t)));
		break;
	case K_REMAP_UNCORR:
		snprintf(buf, n, "%llu", whole(scn_value(s, g, SCN_REMAP_UNCORR, t)));
		break;
	case K_REMAP_PENDING:
		snprintf(buf, n, "%s", scn_value(s, g, SCN_REMAP_PENDING, t) != 0 ? "Yes" : "No");
		break;
	case K_REMAP_FAILURE:
		snprintf(buf, n, "%s", scn_value(s, g, SCN_REMAP_FAILURE, t) != 0 ? "Yes" : "No");
		break;
	}
}

static void append(char *line, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (*len + n >= LINE_MAX_LEN)
		n = LINE_MAX_LEN - 1 - *len;
	memcpy(line + *len, s, n);
	*len += n;
	line[*len] = '\0';
}

static void print_header(const struct ctx *c)
{
	char line[LINE_MAX_LEN];
	size_t len = 0;

	line[0] = '\0';
	for (int i = 0; i < c->nf; i++) {
		if (i)
			append(line, &len, ", ");
		append(line, &len, c->f[i]->name);
		append(line, &len, c->f[i]->hunit);
	}
	fputs(line, stdout);
	fputc('\n', stdout);
}

static void print_round(const struct ctx *c)
{
	char line[LINE_MAX_LEN], val[256];

	for (int g = 0; g < scn_gpus(c->s) && !g_stop; g++) {
		size_t len = 0;
		double t, ms;

		if (!c->sel[g])
			continue;
		/* A slow GPU holds up its own line, as the real tool queries GPUs in turn. */
		t = timeline_now(c);
		ms = scn_value(c->s, g, SCN_LATENCY_MS, t);
		if (ms > 0) {
			sleep_ms(ms);
			t = timeline_now(c);
		}
		line[0] = '\0';
		for (int i = 0; i < c->nf; i++) {
			if (i)
				append(line, &len, ", ");
			format_value(c, c->f[i], g, t, val, sizeof(val));
			append(line, &len, val);
		}
		fputs(line, stdout);
		fputc('\n', stdout);
	}
}

static void parse_query(struct ctx *c, const char *q)
{
	char name[128];

	for (const char *p = q; *p;) {
		size_t n = strcspn(p, ",");
		const struct field *f;

		/* nvidia-smi tolerates blanks around the names. */
		while (n > 0 && (*p == ' ' || *p == '\t'))
			p++, n--;
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, p, n);
		name[n] = '\0';
		while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
			name[--n] = '\0';
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
		if (n == 0)
			continue;
		f = field_find(name);
		if (!f || !field_available(c, f)) {
			printf("Field \"%s\" is not a valid field to query.\n\n", name);
			flush_or_exit();
			exit(2);
		}
		if (c->nf == MAX_FIELDS)
			die(2, "more than %d fields in --query-gpu; ask for fewer", MAX_FIELDS);
		c->f[c->nf++] = f;
	}
	if (c->nf == 0)
		die(2, "--query-gpu names no fields; write e.g. --query-gpu=index,utilization.gpu");
}

static void parse_format(struct ctx *c, const char *fmt)
{
	char item[32];
	bool csv = false;

	c->header = true;
	c->units = true;
	for (const char *p = fmt; *p;) {
		size_t n = strcspn(p, ",");

		if (n >= sizeof(item))
			n = sizeof(item) - 1;
		memcpy(item, p, n);
		item[n] = '\0';
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
		if (strcmp(item, "csv") == 0)
			csv = true;
		else if (strcmp(item, "noheader") == 0)
			c->header = false;
		else if (strcmp(item, "nounits") == 0)
			c->units = false;
		else
			die(2, "unknown --format option '%s'; use csv[,noheader][,nounits]", item);
	}
	if (!csv)
		die(2, "--format needs csv; write --format=csv[,noheader][,nounits]");
}

/* "-i 0", "-i 0,2", or a UUID / PCI bus id, as the real tool takes. */
static void parse_ids(struct ctx *c, const char *ids)
{
	char item[64], buf[SCN_UUID_MAX];
	int gpus = scn_gpus(c->s);
	bool any = false;

	for (const char *p = ids; *p;) {
		size_t n = strcspn(p, ",");
		long long v;
		bool hit = false;

		if (n >= sizeof(item))
			n = sizeof(item) - 1;
		memcpy(item, p, n);
		item[n] = '\0';
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
		v = parse_count(item);
		if (v >= 0 && v < gpus) {
			c->sel[v] = true;
			hit = true;
		}
		for (int g = 0; g < gpus && v < 0 && !hit; g++) {
			scn_gpu_uuid(g, buf, sizeof(buf));
			if (strcmp(buf, item) == 0)
				hit = true;
			scn_gpu_bus_id(g, buf, sizeof(buf));
			if (strcmp(buf, item) == 0)
				hit = true;
			if (hit)
				c->sel[g] = true;
		}
		if (!hit) {
			printf("No devices were found\n");
			flush_or_exit();
			exit(6);
		}
		any = true;
	}
	if (!any) {
		printf("No devices were found\n");
		flush_or_exit();
		exit(6);
	}
}

static void log_start(int argc, char **argv)
{
	const char *path = getenv("GPUTEL_SIM_SMI_LOG");
	char line[2048];
	size_t len = 0;
	struct timespec ts;
	int fd, n;

	if (!path || !*path)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "start pid=%ld time=%lld.%03ld args=", (long)getpid(),
		     (long long)ts.tv_sec, ts.tv_nsec / 1000000L);
	len = n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0;
	for (int i = 1; i < argc && len + 2 < sizeof(line); i++) {
		n = snprintf(line + len, sizeof(line) - len, "%s%s", i > 1 ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= sizeof(line) - len) {
			len = sizeof(line) - 2;
			break;
		}
		len += (size_t)n;
	}
	line[len++] = '\n';
	/* One write on O_APPEND keeps concurrent starts on separate lines. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die(2, "cannot open GPUTEL_SIM_SMI_LOG=%s: %s; point it at a writable file", path,
		    strerror(errno));
	if (write(fd, line, len) < 0)
		die(2, "cannot write GPUTEL_SIM_SMI_LOG=%s: %s; point it at a writable file", path,
		    strerror(errno));
	close(fd);
}

/* Matches "--name=value", "--name value", "-n value" (one spelling per call). */
static bool opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return false;
	if (a[n] == '=') {
		*val = a + n + 1;
		return true;
	}
	if (a[n] != '\0')
		return false;
	if (*i + 1 >= argc)
		die(2, "%s needs a value; see docs/simulator.md", name);
	*val = argv[++*i];
	return true;
}

static int64_t loop_period(const char *v, int64_t unit_ns, const char *opt)
{
	long long n = parse_count(v);

	if (n <= 0 || n > 86400000LL)
		die(2, "%s '%s' is not a positive whole number; write e.g. %s 1000", opt, v, opt);
	return (int64_t)n * unit_ns;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		if (opt_value(argc, argv, &i, "--query-gpu", &v))
			o->query = v;
		else if (opt_value(argc, argv, &i, "--format", &v))
			o->format = v;
		else if (opt_value(argc, argv, &i, "--loop-ms", &v) || opt_value(argc, argv, &i, "-lms", &v))
			o->period_ns = loop_period(v, 1000000LL, "-lms");
		else if (opt_value(argc, argv, &i, "--loop", &v) || opt_value(argc, argv, &i, "-l", &v))
			o->period_ns = loop_period(v, NS_PER_SEC, "-l");
		else if (opt_value(argc, argv, &i, "--id", &v) || opt_value(argc, argv, &i, "-i", &v))
			o->ids = v;
		else if (strcmp(a, "-L") == 0 || strcmp(a, "--list-gpus") == 0)
			o->list = true;
		else if (strcmp(a, "--help-query-gpu") == 0)
			o->help_query = true;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			o->help = true;
		else
			die(2, "unknown option '%s'; the simulated nvidia-smi supports --query-gpu, --format, -l, -lms, -i, -L, --help-query-gpu (docs/simulator.md)",
			    a);
	}
}

static void print_help(void)
{
	fputs("nvidia-smi (gputel simulator)\n\n"
	      "    --query-gpu=F1,F2,...     fields (see --help-query-gpu)\n"
	      "    --format=csv[,noheader][,nounits]\n"
	      "    -l N, --loop=N            repeat every N seconds\n"
	      "    -lms N, --loop-ms=N       repeat every N milliseconds\n"
	      "    -i ID, --id=ID            index, UUID or PCI bus id (comma list)\n"
	      "    -L, --list-gpus           list GPUs with their UUIDs\n"
	      "    --help-query-gpu          list the fields\n\n"
	      "Driven by GPUTEL_SIM_SCENARIO, GPUTEL_SIM_GPUS, GPUTEL_SIM_EPOCH; see docs/simulator.md.\n",
	      stdout);
}

static void print_help_query(const struct ctx *c)
{
	printf("List of valid properties to query for the switch \"--query-gpu\":\n\n");
	for (size_t i = 0; i < NFIELDS; i++) {
		if (!field_available(c, &fields[i]))
			continue;
		if (fields[i].alias)
			printf("\"%s\" or \"%s\"\n", fields[i].name, fields[i].alias);
		else
			printf("\"%s\"\n", fields[i].name);
		printf("%s\n\n", fields[i].help);
	}
}

static void print_list(const struct ctx *c)
{
	char uuid[SCN_UUID_MAX];

	for (int g = 0; g < scn_gpus(c->s); g++) {
		if (!c->sel[g])
			continue;
		scn_gpu_uuid(g, uuid, sizeof(uuid));
		printf("GPU %d: %s (UUID: %s)\n", g, scn_gpu_name(c->s), uuid);
	}
}

/* No arguments: a short overview instead of the real tool's big table. */
static void print_summary(const struct ctx *c)
{
	double t = timeline_now(c);
	char bus[SCN_BUSID_MAX];

	printf("NVIDIA-SMI (simulated)    Driver Version: %s\n", scn_driver(c->s));
	for (int g = 0; g < scn_gpus(c->s); g++) {
		if (!c->sel[g])
			continue;
		scn_gpu_bus_id(g, bus, sizeof(bus));
		if (scn_lost(c->s, g, t)) {
			printf("GPU %d  %s  %s  [GPU is lost]\n", g, scn_gpu_name(c->s), bus);
			continue;
		}
		printf("GPU %d  %s  %s  %u%%  %.2fW / %.2fW  %uMiB / %uMiB  %uC  P%u\n", g,
		       scn_gpu_name(c->s), bus, rounded(scn_value(c->s, g, SCN_UTIL, t)),
		       scn_value(c->s, g, SCN_POWER_W, t), scn_value(c->s, g, SCN_POWER_LIMIT_W, t),
		       rounded(scn_value(c->s, g, SCN_MEM_USED_MIB, t)),
		       rounded(scn_value(c->s, g, SCN_MEM_TOTAL_MIB, t)),
		       rounded(scn_value(c->s, g, SCN_TEMP_C, t)),
		       rounded(scn_value(c->s, g, SCN_PSTATE, t)));
	}
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct ctx c = { 0 };
	struct sigaction sa;
	char err[SCN_ERR_MAX];
	const char *ea;
	long long exit_after = -1;
	long long rounds = 0;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &c.start);
	log_start(argc, argv);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the loop's sleep must wake up to notice the stop. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	parse_args(argc, argv, &o);
	if (o.help) {
		print_help();
		flush_or_exit();
		return 0;
	}

	if (scn_load_env(&c.s, &c.has_epoch, &c.epoch, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}

	ea = getenv("GPUTEL_SIM_SMI_EXIT_AFTER");
	if (ea && *ea) {
		exit_after = parse_count(ea);
		if (exit_after < 0)
			die(2, "GPUTEL_SIM_SMI_EXIT_AFTER=%s is not a round count; set it to a whole number", ea);
	}

	if (o.ids)
		parse_ids(&c, o.ids);
	else
		for (int g = 0; g < scn_gpus(c.s); g++)
			c.sel[g] = true;

	if (o.help_query) {
		print_help_query(&c);
		flush_or_exit();
		scn_free(c.s);
		return 0;
	}
	if (o.list) {
		print_list(&c);
		flush_or_exit();
		scn_free(c.s);
		return 0;
	}
	if (!o.query) {
		if (o.format)
			die(2, "--format without --query-gpu; add e.g. --query-gpu=index,utilization.gpu");
		print_summary(&c);
		flush_or_exit();
		scn_free(c.s);
		return 0;
	}
	if (!o.format)
		die(2, "--query-gpu needs --format; add --format=csv");
	parse_format(&c, o.format);
	parse_query(&c, o.query);

	if (exit_after == 0)
		return 1;
	if (c.header)
		print_header(&c);
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!g_stop) {
		print_round(&c);
		flush_or_exit();
		rounds++;
		if (exit_after > 0 && rounds >= exit_after) {
			scn_free(c.s);
			return 1;
		}
		if (o.period_ns == 0)
			break;
		/* Absolute deadlines: rounds stay on the grid; a late one skips ahead. */
		{
			struct timespec now;
			int64_t dl, nw;

			dl = (int64_t)next.tv_sec * NS_PER_SEC + next.tv_nsec + o.period_ns;
			clock_gettime(CLOCK_MONOTONIC, &now);
			nw = (int64_t)now.tv_sec * NS_PER_SEC + now.tv_nsec;
			if (dl <= nw)
				dl += ((nw - dl) / o.period_ns + 1) * o.period_ns;
			next.tv_sec = (time_t)(dl / NS_PER_SEC);
			next.tv_nsec = (long)(dl % NS_PER_SEC);
		}
		while (!g_stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	scn_free(c.s);
	return 0;
}
