/* config.c - see config.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Enum fields are stored through an int; the compiler must agree. */
_Static_assert(sizeof(enum config_exporter_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");

#define FIELD(m) offsetof(struct config, m), sizeof(((struct config *)0)->m)
#define SEC(x) ((int64_t)(x) * NS_PER_SEC)
#define MAX_HOLD_NS SEC(86400)

static const char *const mode_choices[] = { "always", "active", NULL };
static const char *const metric_choices[] = { "gputel", "jn", "dcgm", NULL };
static const char *const otlp_protocol_choices[] = { "auto", "http/protobuf", "http/json", NULL };
static const char *const level_choices[] = { "error", "warn", "info", "debug", NULL };

/*
 * The guide's keys first, in the guide's order, then gputel's.  Keep
 * docs/config.md in step: test_config checks its table row by row.
 */
const struct config_key_info config_keys[CONFIG_KEY__COUNT] = {
	[CONFIG_USER] = { "JN_USER", CONFIG_T_STRING, FIELD(user), 1, CONFIG_NAME_MAX - 1, NULL,
		"justnews", false, "user the service runs as (the installer writes it into the unit's User=)",
		"install_service.sh" },
	[CONFIG_GROUP] = { "JN_GROUP", CONFIG_T_STRING, FIELD(group), 1, CONFIG_NAME_MAX - 1, NULL,
		"syslog", false, "group the service runs as; owns the log files and the control socket",
		"install_service.sh" },
	[CONFIG_WORKDIR] = { "JN_WORKDIR", CONFIG_T_PATH, FIELD(workdir), 0, CONFIG_TEXT_MAX - 1, NULL,
		"", false, "working directory of the service and its hooks; empty: /", NULL },
	[CONFIG_LOGDIR] = { "JN_LOGDIR", CONFIG_T_PATH, FIELD(logdir), 1, CONFIG_TEXT_MAX - 1, NULL,
		"/var/log/justnews-perf", false, "directory of the telemetry CSV files", NULL },
	[CONFIG_EXPORTER_PORT] = { "JN_EXPORTER_PORT", CONFIG_T_INT, FIELD(exporter_port), 1, 65535, NULL,
		"9118", false, "TCP port of the Prometheus /metrics endpoint", NULL },
	[CONFIG_START_UTIL] = { "JN_START_UTIL", CONFIG_T_PERCENT, FIELD(start_util_pct), 0, 100, NULL,
		"20", true, "GPU utilisation (%) that counts as activity; must be above JN_STOP_UTIL", NULL },
	[CONFIG_START_SECONDS] = { "JN_START_SECONDS", CONFIG_T_SECONDS, FIELD(start_ns), 0, MAX_HOLD_NS, NULL,
		"5", true, "how long utilisation must stay above JN_START_UTIL before telemetry starts", NULL },
	[CONFIG_STOP_UTIL] = { "JN_STOP_UTIL", CONFIG_T_PERCENT, FIELD(stop_util_pct), 0, 100, NULL,
		"10", true, "GPU utilisation (%) below which activity ends", NULL },
	[CONFIG_STOP_SECONDS] = { "JN_STOP_SECONDS", CONFIG_T_SECONDS, FIELD(stop_ns), 0, MAX_HOLD_NS, NULL,
		"15", true, "how long utilisation must stay below JN_STOP_UTIL before telemetry stops", NULL },
	[CONFIG_EXPORTER_BIND] = { "JN_EXPORTER_BIND", CONFIG_T_ADDRESS, FIELD(exporter_bind), 1, CONFIG_ADDR_MAX - 1, NULL,
		"0.0.0.0", false, "address the /metrics endpoint listens on (127.0.0.1: this host only)", NULL },
	[CONFIG_POLL_INTERVAL] = { "JN_POLL_INTERVAL", CONFIG_T_SECONDS, FIELD(poll_interval_ns), NS_PER_SEC / 100, SEC(3600), NULL,
		"1", true, "sampling period of the GPUs and host sensors", NULL },
	[CONFIG_EXPORTER_MODE] = { "JN_EXPORTER_MODE", CONFIG_T_ENUM, FIELD(exporter_mode), 0, 0, mode_choices,
		"always", true, "always: serve /metrics all the time; active: only while telemetry runs, as the guide's agent did", NULL },
	[CONFIG_METRIC_NAMES] = { "JN_METRIC_NAMES", CONFIG_T_LIST, FIELD(metric_names), 1, 0, metric_choices,
		"gputel", true, "metric names served: gputel's own, the guide's exporter names (jn), DCGM exporter names (dcgm)", NULL },
	[CONFIG_ON_START] = { "JN_ON_START", CONFIG_T_COMMAND, FIELD(on_start), 0, CONFIG_TEXT_MAX - 1, NULL,
		"", true, "command run, without a shell, when activity starts; empty: none", NULL },
	[CONFIG_ON_STOP] = { "JN_ON_STOP", CONFIG_T_COMMAND, FIELD(on_stop), 0, CONFIG_TEXT_MAX - 1, NULL,
		"", true, "command run, without a shell, when activity stops; empty: none", NULL },
	[CONFIG_ON_XID] = { "JN_ON_XID", CONFIG_T_COMMAND, FIELD(on_xid), 0, CONFIG_TEXT_MAX - 1, NULL,
		"", true, "command run, without a shell, for each Xid (the event in its environment, docs/events.md); empty: none", NULL },
	[CONFIG_GPUS] = { "JN_GPUS", CONFIG_T_GPUS, FIELD(gpus), 0, CONFIG_MAX_GPU_INDEX, NULL,
		"all", false, "GPUs to watch: all, or indexes such as 0,1 or 0-3", NULL },
	[CONFIG_LOG_LEVEL] = { "JN_LOG_LEVEL", CONFIG_T_ENUM, FIELD(log_level), 0, 0, level_choices,
		"info", true, "least severe log messages written", NULL },
	[CONFIG_CONTROL_SOCKET] = { "JN_CONTROL_SOCKET", CONFIG_T_PATH, FIELD(control_socket), 0, 107, NULL,
		"/run/gputel/control.sock", false, "unix socket of the allocation API (mode 0660, group JN_GROUP); empty: none", NULL },
	[CONFIG_STATE_DIR] = { "JN_STATE_DIR", CONFIG_T_PATH, FIELD(state_dir), 1, CONFIG_TEXT_MAX - 1, NULL,
		"/var/lib/gputel", false, "directory where live allocations are saved (allocations.json)", NULL },
	[CONFIG_IDLE_SAMPLE_SECONDS] = { "JN_IDLE_SAMPLE_SECONDS", CONFIG_T_SECONDS, FIELD(idle_sample_ns), 0, SEC(86400), NULL,
		"15", true, "while idle, every field and host sensor is read this often so that /metrics keeps them all; 0: utilisation only", NULL },
	[CONFIG_ROTATE_SIZE_MB] = { "JN_ROTATE_SIZE_MB", CONFIG_T_INT, FIELD(rotate_size_mb), 1, 1048576, NULL,
		"100", false, "logrotate: rotate a CSV file, the ledger or a log once it is larger than this many MiB",
		"install_logrotate.sh" },
	[CONFIG_ROTATE_KEEP_DAYS] = { "JN_ROTATE_KEEP_DAYS", CONFIG_T_INT, FIELD(rotate_keep_days), 1, 3650, NULL,
		"30", false, "logrotate: delete rotated files older than this many days",
		"install_logrotate.sh" },
	[CONFIG_OTLP_ENDPOINT] = { "JN_OTLP_ENDPOINT", CONFIG_T_URL, FIELD(otlp_endpoint), 0, CONFIG_TEXT_MAX - 1, NULL,
		"", false, "OTLP/HTTP base URL that Xid events and allocation spans are sent to, e.g. http://127.0.0.1:4318; empty: OTEL_EXPORTER_OTLP_ENDPOINT, else no export", NULL },
	[CONFIG_OTLP_PROTOCOL] = { "JN_OTLP_PROTOCOL", CONFIG_T_ENUM, FIELD(otlp_protocol), 0, 0, otlp_protocol_choices,
		"auto", false, "OTLP encoding; auto: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf", NULL },
	[CONFIG_OTLP_QUEUE_MB] = { "JN_OTLP_QUEUE_MB", CONFIG_T_INT, FIELD(otlp_queue_mb), 1, 65536, NULL,
		"64", false, "MiB of OTLP batches kept on disk (JN_STATE_DIR/otlp-queue) while the collector cannot take them; past it the oldest are dropped", NULL },
};

/* ---- messages ---- */

void config_errors_init(struct config_errors *errs)
{
	errs->n_errors = errs->n_warnings = errs->n_msgs = 0;
}

static void add_msg(struct config_errors *errs, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_msg(struct config_errors *errs, bool warning, const char *fmt, ...)
{
	va_list ap;

	if (!errs)
		return;
	if (warning)
		errs->n_warnings++;
	else
		errs->n_errors++;
	if (errs->n_msgs >= CONFIG_MAX_MSGS)
		return;
	errs->msg[errs->n_msgs].warning = warning;
	va_start(ap, fmt);
	vsnprintf(errs->msg[errs->n_msgs].text, CONFIG_MSG_MAX, fmt, ap);
	va_end(ap);
	errs->n_msgs++;
}

/*
 * A value as it appears in a message: at most 48 bytes, control and
 * non-ASCII bytes as \xNN, so that a message stays one printable line.
 */
#define QUOTE_MAX 208
static const char *quote(const char *v, char buf[QUOTE_MAX])
{
	size_t o = 0, i;

	for (i = 0; v[i] && i < 48; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(buf + o, QUOTE_MAX - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	if (v[i])
		str_copy(buf + o, "...", QUOTE_MAX - o);
	return buf;
}

/* Where a value came from, as a message prefix. */
static const char *where(const struct config *cfg, enum config_source src, unsigned int line,
			 char *buf, size_t n)
{
	switch (src) {
	case CONFIG_SRC_FILE:
		str_fmt(buf, n, "%s:%u", cfg->file, line);
		return buf;
	case CONFIG_SRC_ENV:
		return "environment";
	case CONFIG_SRC_FLAG:
		return "command line";
	case CONFIG_SRC_DEFAULT:
		break;
	}
	return "default";
}

/* ---- the key table ---- */

const struct config_key_info *config_lookup(const char *name)
{
	for (size_t i = 0; i < CONFIG_KEY__COUNT; i++)
		if (!strcmp(config_keys[i].name, name))
			return &config_keys[i];
	return NULL;
}

void config_flag_name(const struct config_key_info *k, char *buf, size_t n)
{
	const char *s = k->name + 3; /* after "JN_" */
	size_t o = 0;

	if (n < 3) {
		if (n)
			buf[0] = '\0';
		return;
	}
	buf[o++] = '-';
	buf[o++] = '-';
	for (; *s && o + 1 < n; s++)
		buf[o++] = *s == '_' ? '-' : (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
	buf[o] = '\0';
}

const struct config_key_info *config_lookup_flag(const char *flag)
{
	char buf[64];

	for (size_t i = 0; i < CONFIG_KEY__COUNT; i++) {
		config_flag_name(&config_keys[i], buf, sizeof buf);
		if (!strcmp(buf, flag))
			return &config_keys[i];
	}
	return NULL;
}

const struct config_key_info *config_suggest(const char *name)
{
	const struct config_key_info *best = NULL;
	size_t best_d = (size_t)-1;

	if (strlen(name) > 64)
		return NULL;
	for (size_t i = 0; i < CONFIG_KEY__COUNT; i++) {
		size_t d = str_distance(name, config_keys[i].name);

		if (d < best_d) {
			best_d = d;
			best = &config_keys[i];
		}
	}
	return best && str_likely_typo(best_d, best->name) ? best : NULL;
}

const char *config_type_name(enum config_type t)
{
	switch (t) {
	case CONFIG_T_STRING: return "string";
	case CONFIG_T_PATH: return "path";
	case CONFIG_T_INT: return "int";
	case CONFIG_T_PERCENT: return "percent";
	case CONFIG_T_SECONDS: return "seconds";
	case CONFIG_T_ENUM: return "enum";
	case CONFIG_T_LIST: return "list";
	case CONFIG_T_COMMAND: return "command";
	case CONFIG_T_ADDRESS: return "address";
	case CONFIG_T_GPUS: return "gpu list";
	case CONFIG_T_URL: return "url";
	}
	return "?";
}

/* ns as decimal seconds with no trailing zeros: 1, 0.01, 2.5. */
static void fmt_seconds(int64_t ns, char *buf, size_t n)
{
	char frac[16];
	int64_t f = ns % NS_PER_SEC;
	int len;

	if (f == 0) {
		snprintf(buf, n, "%lld", (long long)(ns / NS_PER_SEC));
		return;
	}
	len = snprintf(frac, sizeof frac, "%09lld", (long long)f);
	while (len > 0 && frac[len - 1] == '0')
		frac[--len] = '\0';
	snprintf(buf, n, "%lld.%s", (long long)(ns / NS_PER_SEC), frac);
}

static void join_choices(const char *const *c, const char *sep, char *buf, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; c[i]; i++) {
		int r = snprintf(buf + o, n - o, "%s%s", i ? sep : "", c[i]);

		if (r < 0 || (size_t)r >= n - o)
			return;
		o += (size_t)r;
	}
}

void config_format_bounds(const struct config_key_info *k, char *buf, size_t n)
{
	char lo[32], hi[32];

	switch (k->type) {
	case CONFIG_T_STRING:
		snprintf(buf, n, "name, %lld..%lld bytes", (long long)k->min, (long long)k->max);
		break;
	case CONFIG_T_PATH:
		snprintf(buf, n, k->min ? "absolute path" : "absolute path or empty");
		break;
	case CONFIG_T_INT:
	case CONFIG_T_PERCENT:
		snprintf(buf, n, "%lld..%lld", (long long)k->min, (long long)k->max);
		break;
	case CONFIG_T_SECONDS:
		fmt_seconds(k->min, lo, sizeof lo);
		fmt_seconds(k->max, hi, sizeof hi);
		snprintf(buf, n, "%s..%s", lo, hi);
		break;
	case CONFIG_T_ENUM:
		join_choices(k->choices, ", ", buf, n);
		break;
	case CONFIG_T_LIST:
		join_choices(k->choices, ", ", buf, n);
		break;
	case CONFIG_T_COMMAND:
		snprintf(buf, n, "command line or empty");
		break;
	case CONFIG_T_ADDRESS:
		snprintf(buf, n, "IPv4 or IPv6 address");
		break;
	case CONFIG_T_GPUS:
		snprintf(buf, n, "all, or indexes 0..%lld", (long long)k->max);
		break;
	case CONFIG_T_URL:
		snprintf(buf, n, k->min ? "http(s) URL" : "http(s) URL or empty");
		break;
	}
}

void config_doc_row(const struct config_key_info *k, char *buf, size_t n)
{
	char flag[64], bounds[128];

	config_flag_name(k, flag, sizeof flag);
	config_format_bounds(k, bounds, sizeof bounds);
	if (*k->def)
		snprintf(buf, n, "| `%s` | `%s` | %s | %s | `%s` | %s | %s |", k->name, flag,
			 config_type_name(k->type), bounds, k->def, k->reloadable ? "yes" : "no", k->help);
	else
		snprintf(buf, n, "| `%s` | `%s` | %s | %s | (empty) | %s | %s |", k->name, flag,
			 config_type_name(k->type), bounds, k->reloadable ? "yes" : "no", k->help);
}

const char *config_key_applied(const struct config_key_info *k)
{
	if (k->reloadable)
		return "reloaded on SIGHUP";
	if (!k->installer)
		return "needs a restart";
	/* Both installers are part of install_all.sh; say which to rerun. */
	if (!strcmp(k->installer, "install_logrotate.sh"))
		return "applied by rerunning install_logrotate.sh";
	return "applied by rerunning install_service.sh, then a restart";
}

/* ---- parsing one value ---- */

/* The parsed value before it is stored: one member per storage type. */
union value {
	char text[CONFIG_TEXT_MAX];
	int i;
	double pct;
	int64_t ns;
	unsigned int bits;
	struct config_gpu_set gpus;
};

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Well-formed UTF-8 (no overlong lead bytes, nothing above U+10FFFF). */
static bool utf8_ok(const unsigned char *s)
{
	while (*s) {
		int more;

		if (*s < 0x80)
			more = 0;
		else if (*s >= 0xc2 && *s <= 0xdf)
			more = 1;
		else if (*s >= 0xe0 && *s <= 0xef)
			more = 2;
		else if (*s >= 0xf0 && *s <= 0xf4)
			more = 3;
		else
			return false;
		s++;
		for (; more > 0; more--, s++)
			if ((*s & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* Digits with at most one '.', at least one digit: no sign, exponent, space. */
static bool plain_decimal(const char *s)
{
	int digits = 0, dots = 0;

	for (; *s; s++) {
		if (is_digit(*s))
			digits++;
		else if (*s == '.')
			dots++;
		else
			return false;
	}
	return digits > 0 && dots <= 1;
}

/* "5s", "2min": a number followed by letters. */
static bool has_unit(const char *s)
{
	const char *p = s;

	while (is_digit(*p) || *p == '.')
		p++;
	if (p == s || !*p)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return false;
	return true;
}

static int choice_index(const char *const *c, const char *s, size_t len)
{
	for (int i = 0; c[i]; i++)
		if (strlen(c[i]) == len && !strncasecmp(c[i], s, len))
			return i;
	return -1;
}

/* GPU list: "all", or indexes and ranges "0,2,4-7" (spaces around items allowed). */
static int parse_gpus(const char *v, int64_t max, struct config_gpu_set *out)
{
	const char *p = v;

	out->all = false;
	out->mask = 0;
	if (!strcasecmp(v, "all")) {
		out->all = true;
		return 0;
	}
	for (;;) {
		int64_t lo = 0, hi;
		int nd = 0;

		while (*p == ' ')
			p++;
		for (; is_digit(*p) && nd < 4; p++, nd++)
			lo = lo * 10 + (*p - '0');
		if (nd == 0 || is_digit(*p))
			return -1;
		hi = lo;
		if (*p == '-') {
			p++;
			hi = 0;
			for (nd = 0; is_digit(*p) && nd < 4; p++, nd++)
				hi = hi * 10 + (*p - '0');
			if (nd == 0 || is_digit(*p) || hi < lo)
				return -1;
		}
		if (hi > max)
			return -1;
		for (int64_t i = lo; i <= hi; i++)
			out->mask |= 1ull << i;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 0;
		if (*p++ != ',')
			return -1;
	}
}

/* Metric families: a comma list of choices, spaces around items allowed. */
static int parse_list(const char *const *choices, const char *v, unsigned int *bits,
		      const char **bad, size_t *bad_len)
{
	const char *p = v;

	*bits = 0;
	for (;;) {
		const char *s, *e;
		int idx;

		while (*p == ' ')
			p++;
		s = p;
		while (*p && *p != ',')
			p++;
		e = p;
		while (e > s && e[-1] == ' ')
			e--;
		idx = choice_index(choices, s, (size_t)(e - s));
		if (idx < 0) {
			*bad = s;
			*bad_len = (size_t)(e - s);
			return -1;
		}
		*bits |= 1u << idx;
		if (!*p)
			return 0;
		p++;
	}
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
	       c == '-' || c == '.';
}

/*
 * Parses v for key k into out.  On failure returns -1 with the problem and
 * its fix in why ("'abc' is not a percentage; give 0..100").
 */
static int parse_value(const struct config_key_info *k, const char *v, union value *out,
		       char *why, size_t n)
{
	char qb[QUOTE_MAX], bounds[128], item[QUOTE_MAX];
	size_t len = strlen(v);
	const char *q = quote(v, qb);

	config_format_bounds(k, bounds, sizeof bounds);
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, n, "'%s' contains a control character (byte 0x%02x); remove it", q,
				 (unsigned char)*p);
			return -1;
		}
	if (!utf8_ok((const unsigned char *)v)) {
		snprintf(why, n, "'%s' is not valid UTF-8; save the file as UTF-8", q);
		return -1;
	}

	switch (k->type) {
	case CONFIG_T_STRING:
		if (len == 0) {
			snprintf(why, n, "is empty; give a name such as %s", k->def);
			return -1;
		}
		if (len > (size_t)k->max) {
			snprintf(why, n, "'%s' is longer than %lld bytes; give a shorter name", q, (long long)k->max);
			return -1;
		}
		for (const char *p = v; *p; p++)
			if (!name_char(*p) || v[0] == '-') {
				snprintf(why, n, "'%s' is not a user or group name; use letters, digits, '.', '_' or '-', e.g. %s",
					 q, k->def);
				return -1;
			}
		memcpy(out->text, v, len + 1);
		return 0;

	case CONFIG_T_PATH:
		if (len == 0 && k->min == 0) {
			out->text[0] = '\0';
			return 0;
		}
		if (len == 0) {
			snprintf(why, n, "is empty; give an absolute path, e.g. %s", k->def);
			return -1;
		}
		if (v[0] != '/') {
			snprintf(why, n, "'%s' is not an absolute path; start it with /", q);
			return -1;
		}
		if (len > (size_t)k->max) {
			snprintf(why, n, "path is longer than %lld bytes; use a shorter one", (long long)k->max);
			return -1;
		}
		memcpy(out->text, v, len + 1);
		return 0;

	case CONFIG_T_COMMAND:
		if (len > (size_t)k->max) {
			snprintf(why, n, "command is longer than %lld bytes; put it in a script", (long long)k->max);
			return -1;
		}
		memcpy(out->text, v, len + 1);
		return 0;

	case CONFIG_T_URL:
		if (len == 0 && k->min == 0) {
			out->text[0] = '\0';
			return 0;
		}
		if (len > (size_t)k->max) {
			snprintf(why, n, "URL is longer than %lld bytes; use a shorter one", (long long)k->max);
			return -1;
		}
		if (!url_http_ok(v)) {
			snprintf(why, n, "'%s' is not an http:// or https:// URL with a host; give one such as http://127.0.0.1:4318", q);
			return -1;
		}
		memcpy(out->text, v, len + 1);
		return 0;

	case CONFIG_T_ADDRESS: {
		unsigned char addr[sizeof(struct in6_addr)];

		if (len == 0 || len > (size_t)k->max ||
		    (inet_pton(AF_INET, v, addr) != 1 && inet_pton(AF_INET6, v, addr) != 1)) {
			snprintf(why, n, "'%s' is not an IP address; give one such as 0.0.0.0 (all), 127.0.0.1 or ::", q);
			return -1;
		}
		memcpy(out->text, v, len + 1);
		return 0;
	}

	case CONFIG_T_INT: {
		int64_t x = 0;
		bool digits = len > 0 && len <= 18;

		for (const char *p = v; *p && digits; p++)
			digits = is_digit(*p);
		if (!digits || parse_int64(v, &x) != 0) {
			snprintf(why, n, "'%s' is not a whole number; give %s", q, bounds);
			return -1;
		}
		if (x < k->min || x > k->max) {
			snprintf(why, n, "%s is out of range; give %s", q, bounds);
			return -1;
		}
		out->i = (int)x;
		return 0;
	}

	case CONFIG_T_PERCENT: {
		double x;

		if (len > 32 || !plain_decimal(v)) {
			snprintf(why, n, "'%s' is not a percentage; give %s", q, bounds);
			return -1;
		}
		x = strtod(v, NULL);
		if (!(x >= (double)k->min && x <= (double)k->max)) {
			snprintf(why, n, "%s is out of range; give a percentage %s", q, bounds);
			return -1;
		}
		/*
		 * Hundredths of a percent, the resolution the agent works in:
		 * 12.345 is 12.35, and any stored value prints back exactly as
		 * a plain decimal (a tiny one would otherwise print as 1e-06).
		 */
		out->pct = (double)(int64_t)(x * 100 + 0.5) / 100;
		return 0;
	}

	case CONFIG_T_SECONDS: {
		int64_t ns;

		/* Plain seconds, or a duration with a unit: 500ms, 30s, 5m, 1h. */
		if (len > 32 || parse_seconds_ns(v, 0, INT64_MAX, &ns) != 0) {
			if (len <= 32 && plain_decimal(v))
				snprintf(why, n, "%s is out of range; give seconds %s", q, bounds);
			else if (has_unit(v))
				snprintf(why, n, "'%s' has a unit gputel does not know; use ms, s, m or h (e.g. 500ms, 5m), or plain seconds %s",
					 q, bounds);
			else
				snprintf(why, n, "'%s' is not a duration; give seconds %s, or one with a unit such as 5m", q,
					 bounds);
			return -1;
		}
		if (ns < k->min || ns > k->max) {
			snprintf(why, n, "%s is out of range; give seconds %s", q, bounds);
			return -1;
		}
		out->ns = ns;
		return 0;
	}

	case CONFIG_T_ENUM: {
		int idx = choice_index(k->choices, v, len);

		if (idx < 0) {
			snprintf(why, n, "'%s' is not one of %s; give one of them", q, bounds);
			return -1;
		}
		out->i = idx;
		return 0;
	}

	case CONFIG_T_LIST: {
		const char *bad;
		size_t bad_len;
		char tmp[64];

		if (parse_list(k->choices, v, &out->bits, &bad, &bad_len) != 0) {
			if (len == 0) {
				snprintf(why, n, "is empty; give a comma list of %s, e.g. %s", bounds, k->def);
				return -1;
			}
			str_copy(tmp, bad, bad_len + 1 < sizeof tmp ? bad_len + 1 : sizeof tmp);
			snprintf(why, n, "'%s' is not one of %s; give a comma list of them, e.g. %s",
				 quote(tmp, item), bounds, k->def);
			return -1;
		}
		return 0;
	}

	case CONFIG_T_GPUS:
		if (parse_gpus(v, k->max, &out->gpus) != 0) {
			if (len == 0)
				snprintf(why, n, "is empty; give all, or GPU indexes such as 0,1 or 0-3");
			else
				snprintf(why, n, "'%s' is not a GPU list; give all, or indexes 0..%lld such as 0,1 or 0-3",
					 q, (long long)k->max);
			return -1;
		}
		return 0;
	}
	snprintf(why, n, "unknown type");
	return -1;
}

static void store(struct config *cfg, const struct config_key_info *k, const union value *v)
{
	char *field = (char *)cfg + k->offset;

	switch (k->type) {
	case CONFIG_T_STRING:
	case CONFIG_T_PATH:
	case CONFIG_T_COMMAND:
	case CONFIG_T_ADDRESS:
	case CONFIG_T_URL:
		str_copy(field, v->text, k->size);
		break;
	default:
		/* Same layout: the union member for the type is at offset 0. */
		memcpy(field, v, k->size);
		break;
	}
}

int config_set(struct config *cfg, const char *name, const char *value,
	       enum config_source src, unsigned int line, struct config_errors *errs)
{
	const struct config_key_info *k = config_lookup(name);
	union value v;
	char loc[CONFIG_MSG_MAX], why[CONFIG_MSG_MAX - 64], qb[QUOTE_MAX];
	struct config_origin *o;

	if (!k) {
		add_msg(errs, false, "%s: unknown key %s; see 'gputel config show' for the keys",
			where(cfg, src, line, loc, sizeof loc), quote(name, qb));
		return -ENOENT;
	}
	if (parse_value(k, value, &v, why, sizeof why) != 0) {
		add_msg(errs, false, "%s: %s: %s", where(cfg, src, line, loc, sizeof loc), k->name, why);
		return -EINVAL;
	}
	o = &cfg->origin[k - config_keys];
	/* A lower source never replaces a higher one, whatever the order. */
	if (src < o->src)
		return 0;
	store(cfg, k, &v);
	o->src = src;
	o->line = src == CONFIG_SRC_FILE ? line : 0;
	return 0;
}

void config_defaults(struct config *cfg)
{
	union value v;
	char why[256];

	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < CONFIG_KEY__COUNT; i++) {
		/* test_config checks that every default parses. */
		if (parse_value(&config_keys[i], config_keys[i].def, &v, why, sizeof why) == 0)
			store(cfg, &config_keys[i], &v);
		cfg->origin[i].src = CONFIG_SRC_DEFAULT;
		cfg->origin[i].line = 0;
	}
}

/* ---- the file ---- */

static char *skip_ws(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * Removes the shell quoting of the value at v, in place.  Returns 0, or -1
 * with the problem and fix in why.  *dollar is set when a '$' or '`' that a
 * shell would expand was taken literally.
 */
static int unquote(char *v, bool *dollar, char *why, size_t n)
{
	char *out = v, *p = v, qb[QUOTE_MAX];

	*dollar = false;
	if (*p == '\'') {
		char *end = strchr(p + 1, '\'');

		if (!end) {
			snprintf(why, n, "no closing single quote; end the value with '");
			return -1;
		}
		memmove(out, p + 1, (size_t)(end - p - 1));
		out += end - p - 1;
		p = end + 1;
	} else if (*p == '"') {
		p++;
		for (;;) {
			if (!*p) {
				snprintf(why, n, "no closing double quote; end the value with \"");
				return -1;
			}
			if (*p == '"') {
				p++;
				break;
			}
			if (*p == '\\' && p[1] && strchr("\"\\$`", p[1])) {
				*out++ = p[1];
				p += 2;
				continue;
			}
			if (*p == '$' || *p == '`')
				*dollar = true;
			*out++ = *p++;
		}
	} else {
		for (; *p && *p != ' ' && *p != '\t'; p++) {
			if (strchr("'\"\\;&|<>()`", *p)) {
				snprintf(why, n, "unquoted %c in '%s'; put the whole value in single quotes", *p,
					 quote(v, qb));
				return -1;
			}
			if (*p == '$')
				*dollar = true;
		}
		out = p;
	}
	if (*p && *p != ' ' && *p != '\t') {
		snprintf(why, n, "text after the closing quote: '%s'; quote the whole value", quote(p, qb));
		return -1;
	}
	p = skip_ws(p);
	if (*p && *p != '#') {
		snprintf(why, n, "value has a space before '%s'; put the whole value in single quotes",
			 quote(p, qb));
		return -1;
	}
	*out = '\0';
	return 0;
}

static bool key_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool key_char(char c) { return key_start(c) || is_digit(c); }

static void parse_line(struct config *cfg, unsigned int lineno, char *s, unsigned int *first,
		       struct config_errors *errs)
{
	char *p, *key, *val, why[CONFIG_MSG_MAX - 64], qb[QUOTE_MAX];
	const struct config_key_info *k, *hint;
	size_t n = strlen(s);
	bool dollar;

	if (n && s[n - 1] == '\r')
		s[--n] = '\0';
	p = skip_ws(s);
	if (!*p || *p == '#')
		return;
	if (!strncmp(p, "export", 6) && (p[6] == ' ' || p[6] == '\t'))
		p = skip_ws(p + 6);
	key = p;
	while (key_char(*p))
		p++;
	if (*p != '=' || p == key || is_digit(*key)) {
		char *eq = skip_ws(p);

		if (p > key && *eq == '=' && eq > p)
			add_msg(errs, false, "%s:%u: %.*s: space before '='; write %.*s=value with no spaces",
				cfg->file, lineno, (int)(p - key), key, (int)(p - key), key);
		else if (!strchr(key, '='))
			add_msg(errs, false, "%s:%u: expected KEY=value, found '%s'; fix the line or comment it out with #",
				cfg->file, lineno, quote(key, qb));
		else
			add_msg(errs, false, "%s:%u: '%s' is not a KEY=value assignment; keys are letters, digits and _, e.g. JN_START_UTIL=20",
				cfg->file, lineno, quote(key, qb));
		return;
	}
	*p = '\0';
	val = p + 1;
	k = config_lookup(key);
	if (!k) {
		hint = config_suggest(key);
		if (hint)
			add_msg(errs, true, "%s:%u: warning: unknown key %s; did you mean %s?", cfg->file, lineno,
				quote(key, qb), hint->name);
		else
			add_msg(errs, true, "%s:%u: warning: unknown key %s; ignored ('gputel config show' lists the keys)",
				cfg->file, lineno, quote(key, qb));
		/* Still report a broken value: a shell sourcing the file would choke on it. */
	}
	if (unquote(val, &dollar, why, sizeof why) != 0) {
		add_msg(errs, false, "%s:%u: %s: %s", cfg->file, lineno, quote(key, qb), why);
		return;
	}
	if (!k)
		return;
	if (dollar)
		add_msg(errs, true, "%s:%u: warning: %s: '$' and '`' are taken literally here, where a shell would expand them; put the value in single quotes",
			cfg->file, lineno, k->name);
	if (first[k - config_keys])
		add_msg(errs, true, "%s:%u: warning: %s set again (first on line %u); the later value wins",
			cfg->file, lineno, k->name, first[k - config_keys]);
	else
		first[k - config_keys] = lineno;
	config_set(cfg, k->name, val, CONFIG_SRC_FILE, lineno, errs);
}

int config_load_buffer(struct config *cfg, const char *name, const char *data, size_t len,
		       struct config_errors *errs)
{
	char line[CONFIG_LINE_MAX];
	unsigned int first[CONFIG_KEY__COUNT] = { 0 };
	unsigned int lineno = 0;
	int errors_before = errs ? errs->n_errors : 0;
	size_t pos = 0;

	if (name != cfg->file)
		str_copy(cfg->file, name, sizeof cfg->file);
	cfg->file_found = true;
	/* A UTF-8 byte order mark from a Windows editor. */
	if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
		pos = 3;
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;

		lineno++;
		if (n >= CONFIG_LINE_MAX)
			add_msg(errs, false, "%s:%u: line is longer than %d bytes; shorten it",
				cfg->file, lineno, CONFIG_LINE_MAX - 1);
		else if (memchr(data + pos, '\0', n))
			add_msg(errs, false, "%s:%u: line holds a NUL byte; is this a text file?",
				cfg->file, lineno);
		else {
			memcpy(line, data + pos, n);
			line[n] = '\0';
			parse_line(cfg, lineno, line, first, errs);
		}
		pos += n + (nl ? 1 : 0);
	}
	return errs ? errs->n_errors - errors_before : 0;
}

int config_load_file(struct config *cfg, const char *path, struct config_errors *errs)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, ret = 0;

	if (path != cfg->file)
		str_copy(cfg->file, path, sizeof cfg->file);
	cfg->file_found = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret != -ENOENT)
			add_msg(errs, false, "%s: cannot read: %s; check the path and its permissions",
				path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		add_msg(errs, false, "%s: cannot read: %s; check the file", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		add_msg(errs, false, "%s: is a directory; give the configuration file", path);
		goto out;
	}
	if (S_ISREG(st.st_mode) && (st.st_mode & S_IWOTH))
		add_msg(errs, true, "%s: warning: any user can write it, and its JN_ON_START/JN_ON_STOP/JN_ON_XID commands run as the service; chmod o-w %s",
			path, path);
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		ret = -ENOMEM;
		add_msg(errs, false, "%s: out of memory reading it", path);
		goto out;
	}
	while (len <= CONFIG_FILE_MAX) {
		ssize_t r = read(fd, buf + len, CONFIG_FILE_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			add_msg(errs, false, "%s: cannot read: %s; check the file", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > CONFIG_FILE_MAX) {
		ret = -EFBIG;
		add_msg(errs, false, "%s: larger than %d KiB; is this the right file?", path, CONFIG_FILE_MAX / 1024);
		goto out;
	}
	config_load_buffer(cfg, cfg->file, buf, len, errs);
out:
	free(buf);
	close(fd);
	return ret;
}

void config_error_missing(struct config_errors *errs, const char *path)
{
	add_msg(errs, false, "%s: no such file; create it, or give an existing file with --config FILE or %s",
		path, CONFIG_PATH_ENV);
}

const char *config_env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

const char *config_file_path(const char *flag_value, char *const *envp, bool *explicit)
{
	const char *env = config_env_get(envp, CONFIG_PATH_ENV);

	*explicit = true;
	if (flag_value)
		return flag_value;
	if (env && *env)
		return env;
	*explicit = false;
	return CONFIG_DEFAULT_PATH;
}

int config_apply_env(struct config *cfg, char *const *envp, struct config_errors *errs)
{
	int errors_before = errs ? errs->n_errors : 0;

	for (size_t i = 0; i < CONFIG_KEY__COUNT; i++) {
		const char *v = config_env_get(envp, config_keys[i].name);

		if (v)
			config_set(cfg, config_keys[i].name, v, CONFIG_SRC_ENV, 0, errs);
	}
	/* Other JN_* variables may belong to other software: warn only about likely typos. */
	for (; envp && *envp; envp++) {
		char name[72], qb[QUOTE_MAX];
		const char *eq = strchr(*envp, '=');
		const struct config_key_info *hint;
		size_t n = eq ? (size_t)(eq - *envp) : strlen(*envp);

		if (strncmp(*envp, "JN_", 3) != 0 || n >= sizeof name)
			continue;
		memcpy(name, *envp, n);
		name[n] = '\0';
		if (config_lookup(name) || !(hint = config_suggest(name)))
			continue;
		add_msg(errs, true, "environment: warning: unknown variable %s; did you mean %s?", quote(name, qb), hint->name);
	}
	return errs ? errs->n_errors - errors_before : 0;
}

/* ---- cross-key checks ---- */

int config_validate(const struct config *cfg, struct config_errors *errs)
{
	const struct config_origin *os = &cfg->origin[CONFIG_START_UTIL], *ot = &cfg->origin[CONFIG_STOP_UTIL];
	int errors_before = errs ? errs->n_errors : 0;
	char a[64], b[64], loc[CONFIG_MSG_MAX / 2], src[CONFIG_MSG_MAX / 2];

	if (!(cfg->start_util_pct > cfg->stop_util_pct)) {
		/* Blame the key set last: the higher source, or the later line. */
		bool blame_stop = ot->src > os->src || (ot->src == os->src && ot->line > os->line);
		enum config_key kb = blame_stop ? CONFIG_STOP_UTIL : CONFIG_START_UTIL;
		enum config_key ko = blame_stop ? CONFIG_START_UTIL : CONFIG_STOP_UTIL;

		config_format_value(cfg, &config_keys[kb], a, sizeof a);
		config_format_value(cfg, &config_keys[ko], b, sizeof b);
		config_format_source(cfg, ko, src, sizeof src);
		add_msg(errs, false, "%s: %s: %s is not %s %s (%s, from %s); starts and stops would alternate: %s",
			where(cfg, cfg->origin[kb].src, cfg->origin[kb].line, loc, sizeof loc),
			config_keys[kb].name, a, blame_stop ? "below" : "above", config_keys[ko].name, b, src,
			blame_stop ? "lower JN_STOP_UTIL or raise JN_START_UTIL" : "raise JN_START_UTIL or lower JN_STOP_UTIL");
	}
	/* A hold shorter than one sample is decided by a single sample. */
	for (int i = 0; i < 2; i++) {
		enum config_key key = i ? CONFIG_STOP_SECONDS : CONFIG_START_SECONDS;
		int64_t ns = i ? cfg->stop_ns : cfg->start_ns;

		if (ns > 0 && ns < cfg->poll_interval_ns) {
			config_format_value(cfg, &config_keys[key], a, sizeof a);
			config_format_value(cfg, &config_keys[CONFIG_POLL_INTERVAL], b, sizeof b);
			add_msg(errs, true, "%s: warning: %s: %s s is shorter than JN_POLL_INTERVAL (%s s), so one sample decides; raise it or lower JN_POLL_INTERVAL",
				where(cfg, cfg->origin[key].src, cfg->origin[key].line, loc, sizeof loc),
				config_keys[key].name, a, b);
		}
	}
	return errs ? errs->n_errors - errors_before : 0;
}

/* ---- formatting ---- */

static void fmt_percent(double x, char *buf, size_t n)
{
	/* Stored in hundredths: "20", "12.5", "0.01"; never an exponent. */
	int64_t c = (int64_t)(x * 100 + 0.5);
	int w;

	if (c % 100 == 0)
		w = snprintf(buf, n, "%lld", (long long)(c / 100));
	else if (c % 10 == 0)
		w = snprintf(buf, n, "%lld.%lld", (long long)(c / 100), (long long)(c % 100 / 10));
	else
		w = snprintf(buf, n, "%lld.%02lld", (long long)(c / 100), (long long)(c % 100));
	(void)w;
}

static void fmt_gpus(const struct config_gpu_set *g, char *buf, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	if (g->all) {
		str_copy(buf, "all", n);
		return;
	}
	for (int i = 0; i <= CONFIG_MAX_GPU_INDEX; i++) {
		int j = i, r;

		if (!(g->mask & (1ull << i)))
			continue;
		while (j < CONFIG_MAX_GPU_INDEX && (g->mask & (1ull << (j + 1))))
			j++;
		if (j == i)
			r = snprintf(buf + o, n - o, "%s%d", o ? "," : "", i);
		else
			r = snprintf(buf + o, n - o, "%s%d-%d", o ? "," : "", i, j);
		if (r < 0 || (size_t)r >= n - o)
			return;
		o += (size_t)r;
		i = j;
	}
}

void config_format_value(const struct config *cfg, const struct config_key_info *k,
			 char *buf, size_t n)
{
	const char *field = (const char *)cfg + k->offset;
	union value v;

	if (n == 0)
		return;
	buf[0] = '\0';
	switch (k->type) {
	case CONFIG_T_STRING:
	case CONFIG_T_PATH:
	case CONFIG_T_COMMAND:
	case CONFIG_T_ADDRESS:
	case CONFIG_T_URL:
		str_copy(buf, field, n);
		return;
	default:
		break;
	}
	memcpy(&v, field, k->size);
	switch (k->type) {
	case CONFIG_T_INT:
		snprintf(buf, n, "%d", v.i);
		break;
	case CONFIG_T_PERCENT:
		fmt_percent(v.pct, buf, n);
		break;
	case CONFIG_T_SECONDS:
		fmt_seconds(v.ns, buf, n);
		break;
	case CONFIG_T_ENUM:
		for (int i = 0; k->choices[i]; i++)
			if (i == v.i)
				str_copy(buf, k->choices[i], n);
		break;
	case CONFIG_T_LIST: {
		size_t o = 0;

		for (int i = 0; k->choices[i]; i++) {
			int r;

			if (!(v.bits & (1u << i)))
				continue;
			r = snprintf(buf + o, n - o, "%s%s", o ? "," : "", k->choices[i]);
			if (r < 0 || (size_t)r >= n - o)
				break;
			o += (size_t)r;
		}
		break;
	}
	case CONFIG_T_GPUS:
		fmt_gpus(&v.gpus, buf, n);
		break;
	default:
		break;
	}
}

void config_format_source(const struct config *cfg, enum config_key key, char *buf, size_t n)
{
	const struct config_origin *o = &cfg->origin[key];

	switch (o->src) {
	case CONFIG_SRC_FILE:
		str_fmt(buf, n, "%s:%u", cfg->file, o->line);
		break;
	case CONFIG_SRC_ENV:
		str_copy(buf, "env", n);
		break;
	case CONFIG_SRC_FLAG:
		str_copy(buf, "flag", n);
		break;
	default:
		str_copy(buf, "default", n);
		break;
	}
}

bool config_value_equal(const struct config *a, const struct config *b, enum config_key key)
{
	const struct config_key_info *k = &config_keys[key];
	const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
	union value va, vb;

	switch (k->type) {
	case CONFIG_T_STRING:
	case CONFIG_T_PATH:
	case CONFIG_T_COMMAND:
	case CONFIG_T_ADDRESS:
		return strcmp(fa, fb) == 0;
	default:
		break;
	}
	memcpy(&va, fa, k->size);
	memcpy(&vb, fb, k->size);
	switch (k->type) {
	case CONFIG_T_PERCENT:
		return va.pct == vb.pct;
	case CONFIG_T_SECONDS:
		return va.ns == vb.ns;
	case CONFIG_T_GPUS:
		return va.gpus.all == vb.gpus.all && (va.gpus.all || va.gpus.mask == vb.gpus.mask);
	case CONFIG_T_LIST:
		return va.bits == vb.bits;
	default:
		return va.i == vb.i;
	}
}

int config_resolve(struct config *cfg, const char *file_flag, char *const *envp,
		   struct config_errors *errs)
{
	bool explicit;
	const char *path = config_file_path(file_flag, envp, &explicit);

	if (config_load_file(cfg, path, errs) == -ENOENT && explicit)
		config_error_missing(errs, path);
	config_apply_env(cfg, envp, errs);
	config_validate(cfg, errs);
	return errs->n_errors;
}
