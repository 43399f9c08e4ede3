/*
 * doctor_otel.c - `gputel doctor` on the OpenTelemetry Collectors that
 * carry gputel's OTLP records off the host (docs/otel-collectors.md):
 * the node collector (justnews-otel-node.service) and, where one runs
 * here, the central collector (justnews-otel-central.service).
 *
 * Each is judged as systemd runs it: the collector binary and the paths
 * come from its installed unit, and "validate" sees the variables of its
 * EnvironmentFile and nothing of ours.  Its self-metrics are read twice, a
 * few seconds apart, with gputel's own export counter in between: records
 * that gputel exported in that time must show up as accepted, and what was
 * accepted must leave through the exporters.  Nothing is changed.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "child.h"
#include "config.h"
#include "doctor.h"
#include "otlp_config.h"
#include "util.h"

#define OTEL_ETC_DIR "/etc/justnews/monitoring/otel"
/* systemd's PATH for services: what ExecStartPre's validate runs with. */
#define SERVICE_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define OTELCOL_DEFAULT "/usr/local/bin/otelcol-contrib"
/* A collector that has not validated in this time is hung: it is killed. */
#define VALIDATE_TIMEOUT_NS (10 * NS_PER_SEC)
/*
 * Between the two readings of the self-metrics.  Both exceed the node's
 * batch timeout (1 s), so what was accepted before the first reading has
 * been sent by the second.  Plain `doctor` waits less: it has other checks.
 */
#define WINDOW_OTEL_NS (3 * NS_PER_SEC)
#define WINDOW_PLAIN_NS (NS_PER_SEC * 3 / 2)
/* From the node's first reading to gputel's first count: far more than an OTLP answer on loopback takes. */
#define GPUTEL_READ_DELAY_NS (NS_PER_SEC / 4)
#define ENV_MAX 256
#define ENV_FILE_MAX (64 * 1024)
#define YAML_MAX (1024 * 1024)
#define MAX_EXPORTERS 16
/* An exporter's queue this full is not keeping up; past 100 % new batches are dropped. */
#define QUEUE_WARN_PERCENT 10.0
/* Records that failed to send, of those sent and failed, since the collector started. */
#define FAILED_WARN_PERCENT 1.0

/* Where systemd finds units, in its order of precedence. */
static const char *const unit_dirs[] = {
	"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system", "/lib/systemd/system",
};

struct tier {
	const char *name;               /* "node", "central" */
	int default_metrics_port;       /* the configuration's default */
	const char *queue_key;          /* the env file's key of the exporters' queue size */
	char unit[48];                  /* justnews-otel-TIER.service */
	char installer[64];
	char check[4][32];              /* the names of its lines: unit, config, metrics, queue */
	char unit_path[PATH_MAX];       /* "" when there is none */
	char unit_otelcol[PATH_MAX];    /* from the unit's ExecStart; "" when none */
	char config[PATH_MAX], env_file[PATH_MAX];
	bool config_found, present;     /* present: its unit or its configuration is there */
	bool checked;                   /* its lines are in the report */
	char *yaml;                     /* the configuration; NULL when unreadable */
	char *env[ENV_MAX + 1];         /* the env file's "KEY=value", NULL-terminated */
	int n_env;
	int env_errno;                  /* why the env file could not be read; 0: read, or absent */
	char metrics_addr[64];
	int metrics_port;
	char metrics_url[128];
	char *reply[2];                 /* the two readings of its self-metrics */
	const char *body[2];
	int64_t read_at[2];             /* when they were taken (mono_now_ns) */
};

/* ---- the env file, as systemd's EnvironmentFile= reads it ---- */

static const char *env_value(const struct tier *t, const char *key)
{
	size_t kl = strlen(key);

	for (int i = 0; i < t->n_env; i++)
		if (!strncmp(t->env[i], key, kl) && t->env[i][kl] == '=')
			return t->env[i] + kl + 1;
	return NULL;
}

/*
 * KEY=value lines; blank lines and those starting with # or ; skipped;
 * blanks around the key and the value trimmed; one pair of quotes around
 * the value removed; a key given again replaces the earlier value.  The
 * same reading as the installers' (scripts/ops/common.sh env_pairs), so
 * that the doctor validates what they validated.
 */
static void env_load(struct tier *t)
{
	static char text[ENV_FILE_MAX];
	ssize_t n = file_read_small(t->env_file, text, sizeof text);
	char *line, *next;

	t->env_errno = n < 0 && n != -ENOENT ? (int)-n : 0;
	if (n < 0)
		return;
	for (line = text; line && *line; line = next) {
		char *key, *val, *end, *entry;
		size_t kl, vl;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		key = line + strspn(line, " \t");
		if (!*key || *key == '#' || *key == ';')
			continue;
		kl = strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789");
		if (kl == 0 || (key[0] >= '0' && key[0] <= '9'))
			continue;
		val = key + kl + strspn(key + kl, " \t");
		if (*val != '=')
			continue;
		val += 1 + strspn(val + 1, " \t");
		end = val + strlen(val);
		while (end > val && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			end--;
		vl = (size_t)(end - val);
		if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && end[-1] == val[0]) {
			val++;
			vl -= 2;
		}
		entry = malloc(kl + vl + 2);
		if (!entry)
			return;
		memcpy(entry, key, kl);
		entry[kl] = '=';
		memcpy(entry + kl + 1, val, vl);
		entry[kl + 1 + vl] = '\0';
		key[kl] = '\0';
		for (int i = 0; i < t->n_env; i++) {
			if (!strncmp(t->env[i], key, kl) && t->env[i][kl] == '=') {
				free(t->env[i]);
				t->env[i] = entry;
				entry = NULL;
				break;
			}
		}
		if (entry && t->n_env < ENV_MAX)
			t->env[t->n_env++] = entry;
		else
			free(entry);
	}
	t->env[t->n_env] = NULL;
}

/* ---- the configuration: just enough YAML to find a few values ---- */

/*
 * Replaces each ${env:NAME:-default}, ${env:NAME} and ${NAME} in s with
 * what the collector would put there under the env file: its value when
 * the key is set (even to ""), else the default, else nothing.
 */
static void expand(const struct tier *t, const char *s, char *out, size_t n)
{
	size_t len = 0;

	while (*s && len + 1 < n) {
		const char *close, *name, *def;
		char key[128];
		size_t kl;

		if (s[0] != '$' || s[1] != '{' || !(close = strchr(s, '}'))) {
			out[len++] = *s++;
			continue;
		}
		name = s + 2;
		if (!strncmp(name, "env:", 4))
			name += 4;
		def = strstr(name, ":-");
		if (def && def > close)
			def = NULL;
		kl = (size_t)((def ? def : close) - name);
		str_fmt(key, sizeof key, "%.*s", (int)(kl < sizeof key ? kl : sizeof key - 1), name);
		{
			const char *v = env_value(t, key);
			size_t vl = v ? strlen(v) : def ? (size_t)(close - def - 2) : 0;

			if (!v && def)
				v = def + 2;
			if (vl > n - 1 - len)
				vl = n - 1 - len;
			if (v)
				memcpy(out + len, v, vl);
			len += vl;
		}
		s = close + 1;
	}
	out[len] = '\0';
}

/*
 * The value of path[n-1] in the configuration: the key found under
 * path[n-2], itself under path[n-3] and so on (each at any depth below
 * the one before; path[0] at the top level), expanded.  Flow values
 * ([a, b]) come back as written.  False when absent.
 */
static bool yaml_value(const struct tier *t, const char *const *path, int n, char *out, size_t len)
{
	int level = 0, indent_at[8];
	const char *line, *next;

	if (!t->yaml || n > 8)
		return false;
	for (line = t->yaml; *line; line = next) {
		const char *end = strchr(line, '\n'), *p = line, *colon, *v, *ve;
		int indent;
		size_t kl;

		next = end ? end + 1 : line + strlen(line);
		if (!end)
			end = next;
		while (p < end && *p == ' ')
			p++;
		if (p + 1 < end && p[0] == '-' && p[1] == ' ')
			p += 2 + strspn(p + 2, " ");
		indent = (int)(p - line);
		if (p >= end || *p == '#')
			continue;
		while (level > 0 && indent <= indent_at[level - 1])
			level--;
		for (colon = p; colon < end && *colon != ':'; colon++)
			;
		if (colon >= end || (colon + 1 < end && colon[1] != ' ' && colon[1] != '\r'))
			continue;
		kl = (size_t)(colon - p);
		if (kl >= 2 && (*p == '"' || *p == '\'') && colon[-1] == *p) {
			p++;
			kl -= 2;
		}
		if (kl != strlen(path[level]) || strncmp(p, path[level], kl) != 0 || (level == 0 && indent != 0))
			continue;
		if (level < n - 1) {
			indent_at[level++] = indent;
			continue;
		}
		v = colon + 1 + strspn(colon + 1, " ");
		for (ve = v; ve < end && *ve != '\r' && !(*ve == '#' && ve > v && ve[-1] == ' ' && *v != '"' && *v != '\''); ve++)
			;
		while (ve > v && ve[-1] == ' ')
			ve--;
		if (ve - v >= 2 && (*v == '"' || *v == '\'') && ve[-1] == *v) {
			v++;
			ve--;
		}
		{
			char raw[1024];

			str_fmt(raw, sizeof raw, "%.*s", (int)(ve - v < (ptrdiff_t)sizeof raw ? ve - v : (ptrdiff_t)sizeof raw - 1), v);
			expand(t, raw, out, len);
		}
		return true;
	}
	return false;
}

/* ---- the unit ---- */

/*
 * Finds the unit and reads from it the collector (the first word of
 * ExecStart=), the configuration (its --config) and the env file
 * (EnvironmentFile=).  Drop-ins are not read.
 */
static void unit_load(struct tier *t, const char *unit_dir, char *cfg, char *envf, size_t n)
{
	static char text[65536];
	const char *dirs_one[1] = { unit_dir };
	const char *const *dirs = unit_dir ? dirs_one : unit_dirs;
	size_t n_dirs = unit_dir ? 1 : ARRAY_SIZE(unit_dirs);
	char *line, *next;

	cfg[0] = envf[0] = '\0';
	for (size_t i = 0; i < n_dirs && !*t->unit_path; i++) {
		char path[PATH_MAX];
		struct stat st;

		if (str_fmt(path, sizeof path, "%s/%s", dirs[i], t->unit) >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			str_copy(t->unit_path, path, sizeof t->unit_path);
	}
	if (!*t->unit_path || file_read_small(t->unit_path, text, sizeof text) < 0)
		return;
	for (line = text; line && *line; line = next) {
		char *p;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line += strspn(line, " \t");
		if (!strncmp(line, "EnvironmentFile=", 16) && !*envf) {
			p = line + 16 + (line[16] == '-');
			p[strcspn(p, " \t\r")] = '\0';
			str_copy(envf, p, n);
		} else if (!strncmp(line, "ExecStart=", 10) && !*t->unit_otelcol) {
			char *word, *save = NULL;
			bool want_config = false;

			p = line + 10 + strspn(line + 10, "-@:+!");
			for (word = strtok_r(p, " \t\r", &save); word; word = strtok_r(NULL, " \t\r", &save)) {
				if (!*t->unit_otelcol) {
					str_copy(t->unit_otelcol, word, sizeof t->unit_otelcol);
				} else if (want_config || !strncmp(word, "--config=", 9)) {
					const char *v = want_config ? word : word + 9;

					if (!strncmp(v, "file:", 5))
						v += 5;
					if (!*cfg)
						str_copy(cfg, v, n);
					want_config = false;
				} else if (!strcmp(word, "--config")) {
					want_config = true;
				}
			}
		}
	}
}

static void tier_load(struct tier *t, const char *name, int port, const char *queue_key,
		      const struct doctor_otel_options *o)
{
	char cfg[PATH_MAX], envf[PATH_MAX];
	static const char *const kinds[4] = { "unit", "config", "metrics", "queue" };
	struct stat st;

	memset(t, 0, sizeof *t);
	t->name = name;
	t->default_metrics_port = port;
	t->queue_key = queue_key;
	str_fmt(t->unit, sizeof t->unit, "justnews-otel-%s.service", name);
	str_fmt(t->installer, sizeof t->installer, "scripts/ops/install_otel_%s_collector.sh", name);
	for (int i = 0; i < 4; i++)
		str_fmt(t->check[i], sizeof t->check[i], "otel-%s-%s", name, kinds[i]);
	unit_load(t, o->unit_dir, cfg, envf, sizeof cfg);
	/* --otel-dir wins over the unit's paths: a test's, or a copy being tried. */
	if (o->etc_dir || !*cfg)
		str_fmt(t->config, sizeof t->config, "%s/%s-collector-config.yaml", o->etc_dir ? o->etc_dir : OTEL_ETC_DIR, name);
	else
		str_copy(t->config, cfg, sizeof t->config);
	if (o->etc_dir || !*envf)
		str_fmt(t->env_file, sizeof t->env_file, "%s/%s.env", o->etc_dir ? o->etc_dir : OTEL_ETC_DIR, name);
	else
		str_copy(t->env_file, envf, sizeof t->env_file);
	t->config_found = stat(t->config, &st) == 0;
	t->present = *t->unit_path || t->config_found;
	if (!t->present)
		return;
	env_load(t);
	t->yaml = malloc(YAML_MAX);
	if (t->yaml && file_read_small(t->config, t->yaml, YAML_MAX) < 0) {
		free(t->yaml);
		t->yaml = NULL;
	}
}

static void tier_free(struct tier *t)
{
	for (int i = 0; i < t->n_env; i++)
		free(t->env[i]);
	free(t->yaml);
	free(t->reply[0]);
	free(t->reply[1]);
}

/* ---- the checks ---- */

static void sleep_until(int64_t when)
{
	int64_t left;

	while ((left = when - mono_now_ns()) > 0) {
		struct timespec ts = { (time_t)(left / NS_PER_SEC), (long)(left % NS_PER_SEC) };

		nanosleep(&ts, NULL);
	}
}

static bool systemd_running(void)
{
	return access("/run/systemd/system", F_OK) == 0;
}

/*
 * Whether the operator runs this collector: its unit enabled, or started
 * (failed included); without systemd, the link `systemctl enable` makes.
 * The Debian package and `make install` ship both units and both
 * configurations, enabled nowhere: their mere presence says nothing.
 */
static bool in_use(const struct tier *t)
{
	char *enabled_argv[] = { "systemctl", "is-enabled", (char *)t->unit, NULL };
	char *active_argv[] = { "systemctl", "is-active", (char *)t->unit, NULL };
	char out[64], link[PATH_MAX];

	if (!*t->unit_path)
		return false;
	if (systemd_running()) {
		if (doctor_run_capture(enabled_argv, out, sizeof out) >= 0 &&
		    (!strcmp(out, "enabled") || !strcmp(out, "enabled-runtime")))
			return true;
		return doctor_run_capture(active_argv, out, sizeof out) >= 0 &&
		       (!strcmp(out, "active") || !strcmp(out, "activating") || !strcmp(out, "reloading") ||
			!strcmp(out, "failed"));
	}
	return str_fmt(link, sizeof link, "/etc/systemd/system/multi-user.target.wants/%s", t->unit) >= 0 &&
	       access(link, F_OK) == 0;
}

/* How to start the collector, or see why it stopped: for the fixes. */
static void start_hint(const struct tier *t, const char *otelcol, char *out, size_t n)
{
	if (systemd_running())
		str_fmt(out, n, "sudo systemctl restart %s; why it stopped: journalctl -u %s -n 50", t->unit, t->unit);
	else
		str_fmt(out, n, "start it: %s --config=%s (with the variables of %s)", *otelcol ? otelcol : "otelcol-contrib",
			t->config, t->env_file);
}

static void check_unit(struct doctor *d, const struct tier *t, const struct doctor_otel_options *o)
{
	char *active_argv[] = { "systemctl", "is-active", (char *)t->unit, NULL };
	char *enabled_argv[] = { "systemctl", "is-enabled", (char *)t->unit, NULL };
	char active[64], enabled[64];
	struct check *c;

	if (!*t->unit_path) {
		c = doctor_report(d, t->check[0], FAIL, "no %s in %s: the %s collector does not run as a service", t->unit,
				  o->unit_dir ? o->unit_dir : "systemd's unit directories (/etc/systemd/system, /run/systemd/system, "
				  "/usr/local/lib/systemd/system, /usr/lib/systemd/system, /lib/systemd/system)", t->name);
		doctor_set_fix(c, "sudo %s", t->installer);
		return;
	}
	if (!systemd_running()) {
		c = doctor_report(d, t->check[0], WARN, "systemd is not running here (a container?): %s (%s) not checked",
				  t->unit, t->unit_path);
		doctor_set_fix(c, "run the collector another way: %s --config=%s, with the variables of %s",
			       *t->unit_otelcol ? t->unit_otelcol : "otelcol-contrib", t->config, t->env_file);
		return;
	}
	if (doctor_run_capture(active_argv, active, sizeof active) < 0 || !*active)
		str_copy(active, "unknown", sizeof active);
	if (doctor_run_capture(enabled_argv, enabled, sizeof enabled) < 0 || !*enabled)
		str_copy(enabled, "unknown", sizeof enabled);
	if (strcmp(active, "active") != 0) {
		c = doctor_report(d, t->check[0], FAIL, "%s is %s (%s)", t->unit, active, enabled);
		doctor_set_fix(c, "sudo systemctl enable --now %s; why it stopped: journalctl -u %s -n 50", t->unit, t->unit);
	} else if (strcmp(enabled, "enabled") != 0) {
		c = doctor_report(d, t->check[0], WARN, "%s is active but %s: it will not start at boot", t->unit, enabled);
		doctor_set_fix(c, "sudo systemctl enable %s", t->unit);
	} else {
		doctor_report(d, t->check[0], PASS, "%s is active and enabled", t->unit);
	}
}

/* The collector to validate with: --otelcol, the unit's, otelcol-contrib on PATH, the installers' default. */
static void find_otelcol(const struct tier *t, const struct doctor_otel_options *o, char *out, size_t n)
{
	const char *path = getenv("PATH");

	if (o->otelcol) {
		str_copy(out, o->otelcol, n);
		return;
	}
	if (*t->unit_otelcol) {
		str_copy(out, t->unit_otelcol, n);
		return;
	}
	for (const char *p = path ? path : ""; *p; p += strcspn(p, ":") + (p[strcspn(p, ":")] == ':')) {
		size_t dl = strcspn(p, ":");

		if (dl && *p == '/' && str_fmt(out, n, "%.*s/otelcol-contrib", (int)dl, p) >= 0 && access(out, X_OK) == 0)
			return;
	}
	str_copy(out, OTELCOL_DEFAULT, n);
}

/*
 * The collector's complaint in one line: from its first "Error:" line to
 * the end, lines joined, without the phrase it repeats at each level of
 * the configuration; a long one keeps its head and its tail (where the key
 * at fault is named).
 */
static void validate_summary(const char *out, char *sum, size_t n)
{
	static const char noise[] = "decoding failed due to the following error(s): ";
	char joined[4096], *cut;
	const char *p = strstr(out, "Error: ");
	size_t len = 0;

	while (p && p > out && p[-1] != '\n')
		p = strstr(p + 1, "Error: ");
	if (!p)
		p = out;
	else
		p += 7;
	for (; *p && len + 2 < sizeof joined; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t') {
			if (len && joined[len - 1] != ' ')
				joined[len++] = ' ';
			continue;
		}
		joined[len++] = *p;
	}
	while (len && joined[len - 1] == ' ')
		len--;
	joined[len] = '\0';
	while ((cut = strstr(joined, noise)) != NULL) {
		memmove(cut, cut + sizeof noise - 1, strlen(cut + sizeof noise - 1) + 1);
		len -= sizeof noise - 1;
	}
	if (len > 360)
		str_fmt(sum, n, "%.100s ... %s", joined, joined + len - 250);
	else
		str_copy(sum, len ? joined : "(it printed nothing)", n);
}

static void check_config(struct doctor *d, const struct tier *t, const struct doctor_otel_options *o)
{
	static char out[16384];
	char otelcol[PATH_MAX], state[96], cfg_arg[PATH_MAX + 16], what[64], sum[512], env_note[PATH_MAX + 64];
	char *argv[ENV_MAX + 8];
	struct child_spec spec = { .argv = argv, .stdin_null = true, .err = CHILD_TO_STDOUT };
	struct check *c;
	struct stat st;
	int a = 0, status = 0, err = 0, r;

	if (!t->config_found) {
		c = doctor_report(d, t->check[1], FAIL, "%s: %s", t->config, strerror(ENOENT));
		doctor_set_fix(c, "sudo %s installs it", t->installer);
		return;
	}
	find_otelcol(t, o, otelcol, sizeof otelcol);
	if (stat(otelcol, &st) != 0 || !S_ISREG(st.st_mode) || access(otelcol, X_OK) != 0) {
		c = doctor_report(d, t->check[1], FAIL, "the collector %s%s is not an executable file: %s not checked", otelcol,
				  o->otelcol ? "" : *t->unit_otelcol ? " (the unit's ExecStart)" : "", t->config);
		doctor_set_fix(c, "install otelcol-contrib 0.144.0 or later there, or point the unit at yours: sudo %s --otelcol PATH",
			       t->installer);
		return;
	}
	if (t->env_errno) {
		c = doctor_report(d, t->check[1], WARN, "%s: %s: the configuration cannot be judged under its variables",
				  t->env_file, strerror(t->env_errno));
		doctor_set_fix(c, "run the doctor as root (the env file may hold credentials, so it is root's alone)");
		return;
	}
	/* As ExecStartPre= runs it: the env file's variables and systemd's, none of ours. */
	str_fmt(state, sizeof state, "STATE_DIRECTORY=/var/lib/justnews-otel-%s", t->name);
	str_fmt(cfg_arg, sizeof cfg_arg, "--config=%s", t->config);
	argv[a++] = "env";
	argv[a++] = "-i";
	argv[a++] = SERVICE_PATH;
	argv[a++] = state;
	for (int i = 0; i < t->n_env; i++)
		argv[a++] = t->env[i];
	argv[a++] = otelcol;
	argv[a++] = "validate";
	argv[a++] = cfg_arg;
	argv[a] = NULL;
	if (t->n_env)
		str_fmt(env_note, sizeof env_note, "the %d variables of %s", t->n_env, t->env_file);
	else
		str_fmt(env_note, sizeof env_note, "no env file (%s: every key at its default)", t->env_file);
	r = child_run(&spec, VALIDATE_TIMEOUT_NS, out, sizeof out, NULL, &status, &err);
	if (r == CHILD_NOSTART) {
		c = doctor_report(d, t->check[1], FAIL, "cannot run env(1) to validate %s: %s", t->config, strerror(err));
		doctor_set_fix(c, "check: %s validate --config=%s", otelcol, t->config);
		return;
	}
	if (r == CHILD_TIMEOUT) {
		c = doctor_report(d, t->check[1], FAIL, "%s validate --config=%s did not finish in %lld s and was killed",
				  otelcol, t->config, (long long)(VALIDATE_TIMEOUT_NS / NS_PER_SEC));
		doctor_set_fix(c, "is %s an OpenTelemetry Collector? check: %s --version", otelcol, otelcol);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		doctor_report(d, t->check[1], PASS, "%s validate accepts %s under %s", otelcol, t->config, env_note);
		return;
	}
	child_describe_status(status, what, sizeof what);
	validate_summary(out, sum, sizeof sum);
	c = doctor_report(d, t->check[1], FAIL, "%s validate refuses %s under %s (%s): %s", otelcol, t->config, env_note,
			  what, sum);
	doctor_set_fix(c, "correct %s or %s (docs/otel-collectors.md), then: sudo systemctl restart %s", t->env_file,
		       t->config, t->unit);
}

/* ---- the self-metrics ---- */

/*
 * The sum of the samples of one metric (name exactly, or every name that
 * starts with it when prefix), of those whose labels hold each of l1 and
 * l2 (label="value" text; NULL: any).  *found says whether any matched.
 */
static double msum(const char *text, const char *name, bool prefix, const char *l1, const char *l2, bool *found)
{
	size_t nl = strlen(name);
	double sum = 0;
	bool any = false;

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *end = strchr(line, '\n'), *labels, *val;
		char *e;
		double v;

		if (!end)
			end = line + strlen(line);
		if (strncmp(line, name, nl) != 0 || (!prefix && line[nl] != '{' && line[nl] != ' '))
			continue;
		labels = line + strcspn(line, "{ \n");
		val = labels;
		if (*labels == '{') {
			const char *close = memchr(labels, '}', (size_t)(end - labels));
			size_t ll = close ? (size_t)(close - labels) : 0;

			if (!close || (l1 && !memmem(labels, ll, l1, strlen(l1))) || (l2 && !memmem(labels, ll, l2, strlen(l2))))
				continue;
			val = close + 1;
		} else if (l1 || l2) {
			continue;
		}
		v = strtod(val, &e);
		if (e == val || !isfinite(v))
			continue;
		sum += v;
		any = true;
	}
	if (found)
		*found = any;
	return sum;
}

/* Copies the value of label in the first sample of name that has it; "" when none. */
static void mlabel(const char *text, const char *name, const char *label, char *out, size_t n)
{
	char key[64];
	const char *p = text;

	out[0] = '\0';
	str_fmt(key, sizeof key, "%s=\"", label);
	while ((p = strstr(p, name)) != NULL) {
		const char *eol = p + strcspn(p, "\n"), *k;

		if ((p == text || p[-1] == '\n') && (k = strstr(p, key)) && k < eol) {
			k += strlen(key);
			str_fmt(out, n, "%.*s", (int)strcspn(k, "\"\n"), k);
			return;
		}
		p = eol;
	}
}

/* The exporters that report metrics, from their exporter="..." labels. */
static int exporters(const char *text, char names[][96], int max)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, "\notelcol_exporter_")) != NULL; p++) {
		const char *eol = p + 1 + strcspn(p + 1, "\n"), *k = strstr(p, "exporter=\"");
		char name[96];
		int i;

		if (!k || k > eol)
			continue;
		k += 10;
		str_fmt(name, sizeof name, "%.*s", (int)strcspn(k, "\"\n"), k);
		for (i = 0; i < n && strcmp(names[i], name) != 0; i++)
			;
		if (i == n && n < max)
			str_copy(names[n++], name, sizeof names[0]);
	}
	return n;
}

/* addr for a listening address: the wildcards become loopback. */
static void connect_addr(const char *host, char *out, size_t n)
{
	if (!*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "localhost"))
		host = "127.0.0.1";
	else if (!strcmp(host, "::") || !strcmp(host, "[::]") || !strcmp(host, "[::1]"))
		host = "::1";
	str_copy(out, host, n);
}

/* Reading `which` of the self-metrics: 0 when it answered with them, else -1 with why. */
static int metrics_read(struct tier *t, int which, char *why, size_t n)
{
	int status = doctor_http_get(t->metrics_addr, t->metrics_port, "/metrics", &t->reply[which], &t->body[which]);

	t->read_at[which] = mono_now_ns();
	if (status < 0) {
		str_fmt(why, n, "%s: %s", t->metrics_url, strerror(errno));
		return -1;
	}
	if (status != 200 || !strstr(t->body[which], "otelcol_")) {
		if (status != 200)
			str_fmt(why, n, "%s answered HTTP %d, not 200", t->metrics_url, status);
		else
			str_fmt(why, n, "%s answers, but not with a collector's metrics (no otelcol_ series)", t->metrics_url);
		free(t->reply[which]);
		t->reply[which] = NULL;
		errno = EPROTO;
		return -1;
	}
	return 0;
}

static void check_metrics(struct doctor *d, struct tier *t, const struct doctor_otel_options *o)
{
	static const char *const host_path[] = { "service", "telemetry", "prometheus", "host" };
	static const char *const port_path[] = { "service", "telemetry", "prometheus", "port" };
	char host[256] = "", port[32] = "", why[512], version[64], hint[PATH_MAX * 3], otelcol[PATH_MAX];
	char names[MAX_EXPORTERS][96];
	struct check *c;
	long p;
	int n;

	yaml_value(t, host_path, 4, host, sizeof host);
	connect_addr(host, t->metrics_addr, sizeof t->metrics_addr);
	p = yaml_value(t, port_path, 4, port, sizeof port) ? strtol(port, NULL, 10) : 0;
	t->metrics_port = p > 0 && p < 65536 ? (int)p : t->default_metrics_port;
	str_fmt(t->metrics_url, sizeof t->metrics_url, strchr(t->metrics_addr, ':') ? "http://[%s]:%d/metrics" : "http://%s:%d/metrics",
		t->metrics_addr, t->metrics_port);
	if (metrics_read(t, 0, why, sizeof why) != 0) {
		bool refused = errno == ECONNREFUSED;

		find_otelcol(t, o, otelcol, sizeof otelcol);
		start_hint(t, otelcol, hint, sizeof hint);
		c = doctor_report(d, t->check[2], FAIL, "%s%s", why,
				  refused ? ": the collector is not running, or not with this configuration" : "");
		if (refused)
			doctor_set_fix(c, "%s", hint);
		else
			doctor_set_fix(c, "is port %d the collector's? check: ss -ltnp 'sport = :%d'", t->metrics_port, t->metrics_port);
		return;
	}
	mlabel(t->body[0], "target_info", "service_version", version, sizeof version);
	n = exporters(t->body[0], names, MAX_EXPORTERS);
	doctor_report(d, t->check[2], PASS, "%s answers: %s%s, up %.0f s, %d exporter%s", t->metrics_url,
		      *version ? "version " : "a collector", version,
		      msum(t->body[0], "otelcol_process_uptime", true, NULL, NULL, NULL), n, plural_s((uint64_t)n));
}

/* The records that came in (accepted) and went out (sent, or given up on: failed, dropped). */
static double accepted(const char *m)
{
	return msum(m, "otelcol_receiver_accepted_log_records", true, NULL, NULL, NULL) +
	       msum(m, "otelcol_receiver_accepted_spans", true, NULL, NULL, NULL);
}

static double sent(const char *m, const char *exp)
{
	return msum(m, "otelcol_exporter_sent_log_records", true, exp, NULL, NULL) +
	       msum(m, "otelcol_exporter_sent_spans", true, exp, NULL, NULL);
}

static double given_up(const char *m, const char *exp)
{
	return msum(m, "otelcol_exporter_send_failed_", true, exp, NULL, NULL) +
	       msum(m, "otelcol_exporter_enqueue_failed_", true, exp, NULL, NULL);
}

/* gputel's records taken by its collector so far (gputel_otlp_exported_total), or -1 unknown. */
static double gputel_exported(const struct config *cfg)
{
	char addr[CONFIG_ADDR_MAX];
	char *reply = NULL;
	const char *body;
	bool found = false;
	double v = -1;

	connect_addr(cfg->exporter_bind, addr, sizeof addr);
	if (doctor_http_get(addr, cfg->exporter_port, "/metrics", &reply, &body) == 200)
		v = msum(body, "gputel_otlp_exported_total", false, NULL, NULL, &found);
	free(reply);
	return found ? v : -1;
}

/* Where an exporter sends (its endpoint in the configuration), for the messages. */
static void exporter_target(const struct tier *t, const char *exp, char *out, size_t n)
{
	const char *path[] = { "exporters", exp, "endpoint" };

	if (!yaml_value(t, path, 3, out, n) || !*out)
		str_copy(out, "?", n);
}

/*
 * The batch processor's timeout (the collector's default 200 ms when the
 * configuration sets none): how long an accepted record may wait before it
 * is sent.
 */
static int64_t batch_timeout_ns(const struct tier *t)
{
	static const char *const path[] = { "processors", "batch", "timeout" };
	char v[64];
	int64_t ns;

	if (yaml_value(t, path, 3, v, sizeof v) && parse_seconds_ns(v, 1, 3600 * NS_PER_SEC, &ns) == 0)
		return ns;
	return NS_PER_SEC / 5;
}

static void check_flow(struct doctor *d, const struct tier *t, double g1, double g2, const char *settings_path)
{
	const char *m1 = t->body[0], *m2 = t->body[1];
	int64_t span = t->read_at[1] - t->read_at[0], batch = batch_timeout_ns(t);
	double secs = (double)span / NS_PER_SEC;
	double a1 = accepted(m1), a2 = accepted(m2), s1 = sent(m1, NULL), s2 = sent(m2, NULL);
	double out2 = s2 + given_up(m2, NULL), da = a2 - a1, ds = s2 - s1, dg = g1 >= 0 && g2 >= 0 ? g2 - g1 : -1;
	/* Whether what was accepted before the first reading had time to leave: a batch, and half a second to send it. */
	bool judged = batch + NS_PER_SEC / 2 <= span;
	char gputel[128];
	struct check *c;

	if (dg >= 0)
		str_fmt(gputel, sizeof gputel, "gputel exported %.0f", dg);
	else
		str_copy(gputel, "gputel's export count unknown (its /metrics did not answer)", sizeof gputel);
	if (dg > 0 && da <= 0) {
		c = doctor_report(d, "otel-node-flow", WARN, "gputel exported %.0f records in %.1f s, but the node collector "
				  "accepted none: gputel sends them elsewhere", dg, secs);
		doctor_set_fix(c, "see the otel-endpoint line: JN_OTLP_ENDPOINT in %s", settings_path);
		return;
	}
	if (judged && out2 < a1) {
		c = doctor_report(d, "otel-node-flow", WARN, "%.0f of the %.0f records accepted before the check have not "
				  "left %.1f s later (%.0f sent); %s", a1 - out2, a1, secs, s2, gputel);
		doctor_set_fix(c, "see the otel-node-queue line: the upstream is not taking them");
		return;
	}
	if (da > 0 && ds > 0)
		doctor_report(d, "otel-node-flow", PASS, "records flow: %.0f accepted and %.0f sent upstream in %.1f s (%s)",
			      da, ds, secs, gputel);
	else if (da > 0 && judged)
		doctor_report(d, "otel-node-flow", PASS, "%.0f records accepted in %.1f s, still in the batch; every earlier "
			      "one was sent (%.0f) (%s)", da, secs, s2, gputel);
	else if (da > 0)
		doctor_report(d, "otel-node-flow", PASS, "%.0f records accepted in %.1f s, still in the batch, whose timeout "
			      "(%.1f s) is too long to see them sent in this check (%s)", da, secs, (double)batch / NS_PER_SEC,
			      gputel);
	else
		doctor_report(d, "otel-node-flow", PASS, "nothing to forward in %.1f s: %s and no new driver log line came; "
			      "%.0f records accepted and %.0f sent since the collector started", secs,
			      dg == 0 ? "gputel exported nothing (no GPU event or ended allocation)" : gputel, a2, s2);
}

/* One exporter's failures, drops and queue, judged: its verdict, message and fix. */
static enum verdict judge_exporter(const struct tier *t, const char *exp, char *msg, size_t n, char *fix, size_t fn)
{
	double secs = (double)(t->read_at[1] - t->read_at[0]) / NS_PER_SEC;
	static const char *const types[] = { "logs", "traces", "metrics" };
	char lab[128], target[256];
	const char *m1 = t->body[0], *m2 = t->body[1];
	double s1, s2, f1, f2, dropped, q1, q2, q = 0, cap = 0;

	str_fmt(lab, sizeof lab, "exporter=\"%s\"", exp);
	exporter_target(t, exp, target, sizeof target);
	s1 = msum(m1, "otelcol_exporter_sent_", true, lab, NULL, NULL);
	s2 = msum(m2, "otelcol_exporter_sent_", true, lab, NULL, NULL);
	f1 = msum(m1, "otelcol_exporter_send_failed_", true, lab, NULL, NULL);
	f2 = msum(m2, "otelcol_exporter_send_failed_", true, lab, NULL, NULL);
	dropped = msum(m2, "otelcol_exporter_enqueue_failed_", true, lab, NULL, NULL);
	q1 = msum(m1, "otelcol_exporter_queue_size", false, lab, NULL, NULL);
	q2 = msum(m2, "otelcol_exporter_queue_size", false, lab, NULL, NULL);
	/* Each signal has a queue of its own: the fullest is judged. */
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		char dt[48];
		bool found;
		double c, size;

		str_fmt(dt, sizeof dt, "data_type=\"%s\"", types[i]);
		c = msum(m2, "otelcol_exporter_queue_capacity", false, lab, dt, &found);
		size = msum(m2, "otelcol_exporter_queue_size", false, lab, dt, NULL);
		if (found && c > 0 && (cap == 0 || size / c > q / cap)) {
			q = size;
			cap = c;
		}
	}
	str_fmt(fix, fn, "check %s (the collector's log names the exporter's error: journalctl -u %s -n 50)", target,
		t->unit);
	if (f2 > f1 || (f2 > 0 && f2 * 100 >= (s2 + f2) * FAILED_WARN_PERCENT)) {
		str_fmt(msg, n, "%s to %s: %.0f of %.0f records failed to send (%.0f in the last %.1f s)", exp, target, f2,
			s2 + f2, f2 - f1, secs);
		return WARN;
	}
	if (dropped > 0) {
		str_fmt(msg, n, "%s to %s: %.0f records dropped since the collector started, its queue full", exp, target,
			dropped);
		str_fmt(fix, fn, "check %s; a longer outage needs a larger %s in %s", target, t->queue_key, t->env_file);
		return WARN;
	}
	if (cap > 0 && q * 100 >= cap * QUEUE_WARN_PERCENT) {
		str_fmt(msg, n, "%s to %s: its queue holds %.0f of %.0f batches (new ones are dropped when it is full)", exp,
			target, q, cap);
		return WARN;
	}
	if (q1 > 0 && q2 >= q1 && s2 <= s1) {
		str_fmt(msg, n, "%s to %s: %.0f batches wait and none left in %.1f s: it is not taking them", exp, target,
			q2, secs);
		return WARN;
	}
	str_fmt(msg, n, "%s to %s: %.0f records sent, none failed, queue %.0f of %.0f", exp, target, s2, q, cap);
	return PASS;
}

static void check_queue(struct doctor *d, const struct tier *t)
{
	char names[MAX_EXPORTERS][96], all[700] = "", msg[400], fix[512], first_fix[512] = "";
	int n = exporters(t->body[1], names, MAX_EXPORTERS);
	enum verdict worst = PASS;
	size_t len = 0;
	struct check *c;

	if (n == 0) {
		doctor_report(d, t->check[3], PASS, "no exporter reports yet (nothing was sent)");
		return;
	}
	/* The exporters at fault first: a cut line then loses the healthy ones. */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++) {
			enum verdict v = judge_exporter(t, names[i], msg, sizeof msg, fix, sizeof fix);

			if ((v == PASS) != (pass == 1))
				continue;
			if (v > worst)
				worst = v;
			if (v != PASS && !*first_fix)
				str_copy(first_fix, fix, sizeof first_fix);
			if (len < sizeof all)
				len += (size_t)snprintf(all + len, sizeof all - len, "%s%s", len ? "; " : "", msg);
		}
	}
	c = doctor_report(d, t->check[3], worst, "%s", all);
	if (worst != PASS)
		doctor_set_fix(c, "%s", first_fix);
}

/* ---- where gputel sends ---- */

/* host (without brackets) and port of an http(s) URL; false when it is not one. */
static bool url_host_port(const char *url, char *host, size_t n, int *port)
{
	bool tls = !strncmp(url, "https://", 8);
	const char *p = url + (tls ? 8 : 7), *e;

	if (!tls && strncmp(url, "http://", 7) != 0)
		return false;
	if (*p == '[') {
		e = strchr(p, ']');
		if (!e)
			return false;
		str_fmt(host, n, "%.*s", (int)(e - p - 1), p + 1);
		e++;
	} else {
		e = p + strcspn(p, ":/?#");
		str_fmt(host, n, "%.*s", (int)(e - p), p);
	}
	*port = *e == ':' ? atoi(e + 1) : tls ? 443 : 80;
	return true;
}

/* Whether host names this machine: loopback, or an address of one of its interfaces. */
static bool local_host(const char *host)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	int fd = -1;
	bool ok = false;

	if (!strcmp(host, "localhost"))
		return true;
	/* Binding succeeds only to a local address; nothing is sent. */
	if (inet_pton(AF_INET, host, &in.sin_addr) == 1) {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		ok = fd >= 0 && bind(fd, (struct sockaddr *)&in, sizeof in) == 0;
	} else if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1) {
		fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		ok = fd >= 0 && bind(fd, (struct sockaddr *)&in6, sizeof in6) == 0;
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool loopback(const char *host)
{
	return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

/* Whether a URL reaches a receiver listening on listen ("host:port"). */
static bool reaches(const char *url, const char *listen)
{
	char host[256], lhost[256];
	const char *colon = strrchr(listen, ':');
	int port, lport;

	if (!url_host_port(url, host, sizeof host, &port) || !colon)
		return false;
	lport = atoi(colon + 1);
	str_fmt(lhost, sizeof lhost, "%.*s", (int)(colon - listen), listen);
	if (lhost[0] == '[')
		str_fmt(lhost, sizeof lhost, "%.*s", (int)(colon - listen - 2), listen + 1);
	if (port != lport)
		return false;
	if (!*lhost || !strcmp(lhost, "0.0.0.0") || !strcmp(lhost, "::"))
		return local_host(host);
	if (!strcmp(host, lhost))
		return true;
	/* Loopback by name or by number: the same receiver. */
	return loopback(lhost) && loopback(host);
}

static void check_endpoint(struct doctor *d, const struct tier *t, const struct config *cfg, const char *settings_path)
{
	static const char *const http_path[] = { "receivers", "otlp", "http", "endpoint" };
	static const char *const grpc_path[] = { "receivers", "otlp", "grpc", "endpoint" };
	char listen[256] = "", grpc[256] = "", want[300], why[512], host[256], lhost[256];
	struct otlp_config oc;
	struct check *c;
	bool bad[OTLP_SIGNALS] = { false };
	int on, port;

	if (!yaml_value(t, http_path, 4, listen, sizeof listen) || !*listen) {
		c = doctor_report(d, "otel-endpoint", WARN, "%s has no OTLP/HTTP receiver (receivers: otlp: protocols: http): "
				  "gputel, which speaks OTLP/HTTP, cannot send to the node collector", t->config);
		doctor_set_fix(c, "restore the receiver from packaging/otel/node-collector-config.yaml");
		return;
	}
	yaml_value(t, grpc_path, 4, grpc, sizeof grpc);
	str_copy(lhost, listen, sizeof lhost);
	lhost[strrchr(lhost, ':') ? (size_t)(strrchr(lhost, ':') - lhost) : 0] = '\0';
	str_fmt(want, sizeof want, "http://%s%s", !*lhost || !strcmp(lhost, "0.0.0.0") ? "127.0.0.1" : "",
		!*lhost || !strcmp(lhost, "0.0.0.0") ? strrchr(listen, ':') : listen);
	on = otlp_config_resolve(&oc, cfg, environ, "doctor", why, sizeof why);
	if (on < 0) {
		c = doctor_report(d, "otel-endpoint", WARN, "gputel's OTLP settings do not work: %s", why);
		doctor_set_fix(c, "set JN_OTLP_ENDPOINT=%s in %s, then: sudo systemctl restart justnews-gpu-telemetry.service",
			       want, settings_path);
		return;
	}
	if (on == 0) {
		c = doctor_report(d, "otel-endpoint", WARN, "gputel's OTLP export is off (%s): its Xid events and allocation "
				  "spans do not reach the node collector on %s", why, listen);
		doctor_set_fix(c, "add JN_OTLP_ENDPOINT=%s to %s, then: sudo systemctl restart justnews-gpu-telemetry.service",
			       want, settings_path);
		return;
	}
	for (int s = 0; s < OTLP_SIGNALS; s++)
		bad[s] = oc.sig[s].on && !reaches(oc.sig[s].url, listen);
	if (bad[OTLP_LOGS] || bad[OTLP_TRACES]) {
		const char *u = bad[OTLP_LOGS] ? oc.sig[OTLP_LOGS].url : oc.sig[OTLP_TRACES].url;
		int gport = *grpc && strrchr(grpc, ':') ? atoi(strrchr(grpc, ':') + 1) : -1;

		c = doctor_report(d, "otel-endpoint", WARN, "gputel sends %s to %s, not to the node collector's OTLP/HTTP "
				  "receiver on %s%s", bad[OTLP_LOGS] && bad[OTLP_TRACES] ? "logs and traces" :
				  bad[OTLP_LOGS] ? "logs" : "traces", u, listen,
				  url_host_port(u, host, sizeof host, &port) && port == gport ?
				  " (that is its gRPC port; gputel speaks OTLP/HTTP)" : "");
		doctor_set_fix(c, "set JN_OTLP_ENDPOINT=%s in %s (and no OTEL_EXPORTER_OTLP_*_ENDPOINT), then: sudo "
			       "systemctl restart justnews-gpu-telemetry.service", want, settings_path);
	} else {
		doctor_report(d, "otel-endpoint", PASS, "gputel sends logs to %s, traces to %s: the node collector's "
			      "OTLP/HTTP receiver (%s)", oc.sig[OTLP_LOGS].on ? oc.sig[OTLP_LOGS].url : "(off)",
			      oc.sig[OTLP_TRACES].on ? oc.sig[OTLP_TRACES].url : "(off)", listen);
	}
	otlp_config_release(&oc);
}

/* ---- all of them ---- */

void doctor_otel(struct doctor *d, const struct config *cfg, const char *settings_path,
		 const struct doctor_otel_options *o)
{
	static struct tier tiers[2];
	struct tier *node = &tiers[0];
	struct check *c;
	int64_t window = o->always ? WINDOW_OTEL_NS : WINDOW_PLAIN_NS;
	double g1 = -1, g2 = -1;
	bool any = false;

	tier_load(&tiers[0], "node", 8889, "OTEL_UPSTREAM_QUEUE_SIZE", o);
	tier_load(&tiers[1], "central", 8890, "OTEL_QUEUE_SIZE", o);
	/*
	 * Files named on the command line are checked when they are there.
	 * Else a collector is checked when it is in use, and --otel checks the
	 * node's files wherever they are: that is what it was asked about.
	 */
	for (int i = 0; i < 2; i++)
		tiers[i].checked = tiers[i].present &&
				   (o->etc_dir || o->unit_dir || (o->always && i == 0) || in_use(&tiers[i]));
	if (!tiers[0].checked && !tiers[1].checked) {
		/* A host without collectors hears nothing of them unless it asks. */
		if (o->always) {
			c = doctor_report(d, "otel", FAIL, "no OpenTelemetry Collector is installed: no %s (in %s) and no %s",
					  node->unit, o->unit_dir ? o->unit_dir : "systemd's unit directories", node->config);
			doctor_set_fix(c, "sudo scripts/ops/install_otel_node_collector.sh (on a GPU host; "
				       "install_otel_central_collector.sh on the monitoring host)");
		}
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		if (!tiers[i].checked)
			continue;
		check_unit(d, &tiers[i], o);
		check_config(d, &tiers[i], o);
		check_metrics(d, &tiers[i], o);
		any |= tiers[i].reply[0] != NULL;
	}
	/*
	 * Two readings of each collector, `window` apart, gputel's count in
	 * between: what gputel exported in that time must have come in.  Its
	 * count is read a while after the node's first reading, because a batch
	 * counts as exported only once the node has answered for it: one the
	 * node accepted just before its reading must not count as exported
	 * after it.
	 */
	if (any) {
		char why[512];

		if (node->reply[0]) {
			sleep_until(node->read_at[0] + GPUTEL_READ_DELAY_NS);
			g1 = gputel_exported(cfg);
		}
		for (int i = 0; i < 2; i++)
			if (tiers[i].reply[0])
				sleep_until(tiers[i].read_at[0] + window);
		if (node->reply[0])
			g2 = gputel_exported(cfg);
		for (int i = 0; i < 2; i++) {
			struct tier *t = &tiers[i];

			if (!t->reply[0] || metrics_read(t, 1, why, sizeof why) == 0)
				continue;
			c = doctor_report(d, t->check[3], FAIL, "the self-metrics stopped answering during the check: %s", why);
			doctor_set_fix(c, "why it stopped: journalctl -u %s -n 50", t->unit);
		}
	}
	if (node->reply[1])
		check_flow(d, node, g1, g2, settings_path);
	for (int i = 0; i < 2; i++)
		if (tiers[i].reply[1])
			check_queue(d, &tiers[i]);
	if (node->checked)
		check_endpoint(d, node, cfg, settings_path);
out:
	tier_free(&tiers[0]);
	tier_free(&tiers[1]);
}
