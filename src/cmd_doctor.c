/*
 * cmd_doctor.c - `gputel doctor`: the installation checklist as one command.
 *
 * Each check prints one line, PASS, WARN or FAIL, with what it found and,
 * when not PASS, the command that fixes it.  The checks look at the node
 * the way the service sees it: permissions are judged for the service
 * account (JN_USER, with JN_GROUP as its group, as systemd's User= and
 * Group= set them), not for whoever runs the doctor.  Nothing is changed.
 *
 * Exit status: 0 when no check failed, 1 when one did, 2 on bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cjson/cJSON.h>

#include "child.h"
#include "commands.h"
#include "config.h"
#include "doctor.h"
#include "gpu.h"
#include "gputel.h"
#include "health.h"
#include "host.h"
#include "klog.h"
#include "log.h"
#include "otlp_config.h"
#include "otlp_http.h"
#include "otlp_queue.h"
#include "prom_lint.h"
#include "sampler.h"
#include "util.h"

#define LOGROTATE_POLICY "/etc/logrotate.d/justnews-perf"
#define SERVICE_UNIT "justnews-gpu-telemetry.service"
#define LOGROTATE_FIX "sudo scripts/perf/install_logrotate.sh (it writes the policy from the settings file)"
#define MAX_CHECKS 48
#define MAX_GROUPS 256
#define HTTP_TIMEOUT_MS 3000
#define METRICS_MAX_BYTES (16 << 20)
/* Free space on the log directory's file system. */
#define DISK_FAIL_BYTES (100ULL << 20)
#define DISK_WARN_BYTES (1ULL << 30)
#define DISK_WARN_PERCENT 5.0
/* A CSV row's size when no CSV file is there to measure (47 columns: ~300 bytes). */
#define CSV_ROW_BYTES_GUESS 320

static const char doctor_usage[] =
	"usage: gputel doctor [--config FILE] [--logrotate FILE] [--json]\n"
	"                     [--otel] [--otel-dir DIR] [--unit-dir DIR] [--otelcol PATH]\n"
	"\n"
	"Checks the installation as the service sees it and prints one line per\n"
	"check, PASS, WARN or FAIL, with the fix:\n"
	"  config       the settings file parses\n"
	"  account      the service user (JN_USER) and group (JN_GROUP) exist\n"
	"  gpus         NVML loads and which GPUs answer, or the fallback in use\n"
	"  persistence  persistence mode of every GPU\n"
	"  rapl         the RAPL energy counters are readable by the service user\n"
	"  logdir       JN_LOGDIR is writable by the service user\n"
	"  statedir     JN_STATE_DIR is writable by the service user\n"
	"  disk         free space for the log directory\n"
	"  exporter     http://JN_EXPORTER_BIND:JN_EXPORTER_PORT/metrics answers valid metrics\n"
	"  control      the control socket answers, with mode 0660 and group JN_GROUP\n"
	"  health       no GPU is unhealthy (FAIL) or degraded (WARN), as the agent judges them\n"
	"  service      " SERVICE_UNIT " is active and enabled (when systemd runs)\n"
	"  logrotate    the logrotate policy is present and matches the settings\n"
	"and, for each OpenTelemetry Collector of docs/otel-collectors.md in use (its unit\n"
	"justnews-otel-TIER.service enabled or running; TIER node or central):\n"
	"  otel-TIER-unit     its unit is active and enabled (when systemd runs)\n"
	"  otel-TIER-config   \"otelcol validate\" accepts its configuration under its env file\n"
	"  otel-TIER-metrics  its self-metrics answer (127.0.0.1:8889 node, :8890 central)\n"
	"  otel-node-flow     records come in and go upstream while gputel exports\n"
	"  otel-TIER-queue    its exporters' send failures, drops and queues are low\n"
	"  otel-endpoint      gputel's OTLP export goes to the node collector\n"
	"\n"
	"  --config FILE     settings file (default /etc/default/justnews-gpu-telemetry)\n"
	"  --logrotate FILE  the logrotate policy (default " LOGROTATE_POLICY ")\n"
	"  --json            one JSON object: {\"checks\": [...], \"summary\": {...}}\n"
	"  --otel            only the collectors' checks, the node's even when its unit is\n"
	"                    not enabled, waiting 3 s (not 1.5 s) to see records flow;\n"
	"                    FAIL when no collector is installed\n"
	"  --otel-dir DIR    their configurations and env files, checked when there\n"
	"                    (default: the paths their units name, else\n"
	"                    /etc/justnews/monitoring/otel)\n"
	"  --unit-dir DIR    the directory of their units, checked when there (default:\n"
	"                    systemd's, /etc first)\n"
	"  --otelcol PATH    the collector to validate with (default: the unit's ExecStart)\n"
	"\n"
	"Exit status: 0 when no check failed, 1 when one did, 2 on bad usage.\n";

static const char *const verdict_name[] = { "PASS", "WARN", "FAIL" };

struct check {
	const char *name;
	enum verdict verdict;
	char message[768];
	char fix[512];
};

/* The service account, as systemd starts the service: User=, Group=, and the user's groups. */
struct account {
	bool have_user, have_group;
	uid_t uid;
	gid_t gid;                 /* JN_GROUP */
	gid_t groups[MAX_GROUPS];
	int n_groups;
};

struct doctor {
	struct config cfg;
	struct config_errors errs;
	const char *config_flag;
	const char *logrotate_path;
	struct account acct;
	struct sampler sampler;
	bool sampler_open;
	unsigned int n_gpus;
	struct check checks[MAX_CHECKS];
	int n_checks;
};

static struct check *report(struct doctor *d, const char *name, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_fix(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static struct check *vreport(struct doctor *d, const char *name, enum verdict v, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static struct check *vreport(struct doctor *d, const char *name, enum verdict v, const char *fmt, va_list ap)
{
	static struct check overflow;
	struct check *c = d->n_checks < MAX_CHECKS ? &d->checks[d->n_checks++] : &overflow;

	c->name = name;
	c->verdict = v;
	c->fix[0] = '\0';
	vsnprintf(c->message, sizeof c->message, fmt, ap);
	return c;
}

static struct check *report(struct doctor *d, const char *name, enum verdict v, const char *fmt, ...)
{
	struct check *c;
	va_list ap;

	va_start(ap, fmt);
	c = vreport(d, name, v, fmt, ap);
	va_end(ap);
	return c;
}

/* report() and set_fix() as doctor.h gives them to the checks of doctor_otel.c. */
struct check *doctor_report(struct doctor *d, const char *name, enum verdict v, const char *fmt, ...)
{
	struct check *c;
	va_list ap;

	va_start(ap, fmt);
	c = vreport(d, name, v, fmt, ap);
	va_end(ap);
	return c;
}

static void set_fix(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fix, sizeof c->fix, fmt, ap);
	va_end(ap);
}

void doctor_set_fix(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fix, sizeof c->fix, fmt, ap);
	va_end(ap);
}

/* ---- permissions, judged for the service account ---- */

static bool in_groups(const struct account *a, gid_t g)
{
	for (int i = 0; i < a->n_groups; i++)
		if (a->groups[i] == g)
			return true;
	return false;
}

/*
 * Whether the account may access a file with these permission bits
 * (4 read, 2 write, 1 search/execute), by the owner/group/other rule.
 * Root may read and write anything.  ACLs are not considered.
 */
static bool may(const struct account *a, const struct stat *st, unsigned int want)
{
	unsigned int bits;

	if (a->uid == 0)
		return !(want & 1) || (st->st_mode & 0111) || S_ISDIR(st->st_mode);
	if (st->st_uid == a->uid)
		bits = (st->st_mode >> 6) & 7;
	else if (in_groups(a, st->st_gid))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return (bits & want) == want;
}

static void owner_text(const struct stat *st, char *buf, size_t n)
{
	struct passwd *pw = getpwuid(st->st_uid);
	struct group *gr = getgrgid(st->st_gid);
	char u[32], g[32];

	if (pw)
		str_copy(u, pw->pw_name, sizeof u);
	else
		snprintf(u, sizeof u, "%u", (unsigned int)st->st_uid);
	if (gr)
		str_copy(g, gr->gr_name, sizeof g);
	else
		snprintf(g, sizeof g, "%u", (unsigned int)st->st_gid);
	snprintf(buf, n, "mode %04o %s:%s", (unsigned int)(st->st_mode & 07777), u, g);
}

/*
 * The first directory above path (not path itself) the account cannot
 * search, or "" when it can reach path.  Missing ancestors are skipped.
 */
static void unreachable_ancestor(const struct account *a, const char *path, char *out, size_t n)
{
	char dir[PATH_MAX];
	struct stat st;

	out[0] = '\0';
	for (size_t i = 1; path[i] && i < sizeof dir; i++) {
		if (path[i] != '/')
			continue;
		memcpy(dir, path, i);
		dir[i] = '\0';
		if (stat(dir, &st) == 0 && !may(a, &st, 1)) {
			str_copy(out, dir, n);
			return;
		}
	}
}

static void load_account(struct doctor *d)
{
	struct account *a = &d->acct;
	struct passwd *pw = getpwnam(d->cfg.user);
	struct group *gr = getgrnam(d->cfg.group);
	int n = MAX_GROUPS - 1;

	a->have_user = pw != NULL;
	a->have_group = gr != NULL;
	a->n_groups = 0;
	if (gr) {
		a->gid = gr->gr_gid;
		a->groups[a->n_groups++] = gr->gr_gid;
	}
	if (!pw)
		return;
	a->uid = pw->pw_uid;
	if (getgrouplist(d->cfg.user, pw->pw_gid, a->groups + a->n_groups, &n) >= 0)
		a->n_groups += n;
}

/* ---- running a command (systemctl) ---- */

/* Runs argv with stdout captured (first line kept) and stderr dropped; returns the exit status or -1. */
int doctor_run_capture(char *const argv[], char *out, size_t n)
{
	struct child_spec spec = { .argv = argv, .stdin_null = true, .err = CHILD_NULL };
	int status = 0, err = 0;

	if (child_run(&spec, 5 * NS_PER_SEC, out, n, NULL, &status, &err) != CHILD_EXITED)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- the checks ---- */

static void check_config(struct doctor *d)
{
	const char *path = *d->cfg.file ? d->cfg.file : CONFIG_DEFAULT_PATH;
	struct check *c;
	int set = 0;

	for (int i = 0; i < CONFIG_KEY__COUNT; i++)
		set += d->cfg.origin[i].src == CONFIG_SRC_FILE;
	if (d->errs.n_errors) {
		c = report(d, "config", FAIL, "%s: %s", path, d->errs.n_msgs ? d->errs.msg[0].text : "errors");
		set_fix(c, "edit %s, then: gputel config check --config %s", path, path);
	} else if (!d->cfg.file_found) {
		c = report(d, "config", WARN, "%s does not exist: every key is at its default", path);
		set_fix(c, "sudo scripts/perf/install_service.sh installs it with the defaults");
	} else if (d->errs.n_warnings) {
		c = report(d, "config", WARN, "%s parses, with a warning: %s", path,
			   d->errs.n_msgs ? d->errs.msg[0].text : "");
		set_fix(c, "edit %s, then: gputel config check --config %s", path, path);
	} else {
		report(d, "config", PASS, "%s parses: %d of %d keys set there", path, set, CONFIG_KEY__COUNT);
	}
}

static void check_account(struct doctor *d)
{
	struct check *c;

	if (!d->acct.have_user || !d->acct.have_group) {
		c = report(d, "account", FAIL, "the service %s %s does not exist (JN_%s)",
			   d->acct.have_user ? "group" : "user", d->acct.have_user ? d->cfg.group : d->cfg.user,
			   d->acct.have_user ? "GROUP" : "USER");
		set_fix(c, "sudo scripts/perf/install_service.sh creates it (systemd-sysusers), or set JN_USER/JN_GROUP to an existing account");
		return;
	}
	report(d, "account", PASS, "the service runs as %s (uid %u), group %s (gid %u)", d->cfg.user,
	       (unsigned int)d->acct.uid, d->cfg.group, (unsigned int)d->acct.gid);
}

static void check_gpus(struct doctor *d, struct snapshot *snap)
{
	struct gpu_options opt = { .interval_ns = NS_PER_SEC };
	struct gpu_set *g = &d->sampler.gpus;
	char err[1024], up[512] = "", down[256] = "";
	unsigned int n_up = 0;
	struct check *c;
	int r;

	r = sampler_open(&d->sampler, &opt, err, sizeof err);
	if (r != 0) {
		c = report(d, "gpus", FAIL, "%s", err);
		set_fix(c, "correct GPUTEL_NVML_LIBRARY / GPUTEL_NVIDIA_SMI / GPUTEL_GPU_BACKEND in the environment");
		return;
	}
	d->sampler_open = true;
	d->sampler.seq = 1;
	sampler_take(&d->sampler, snap);
	d->n_gpus = snap->n_gpus;
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		const struct gpu_reading *gr = &snap->gpu[i];
		char *list = gr->health == GPU_HEALTH_UP ? up : down;
		size_t len = strlen(list);

		if (gr->health == GPU_HEALTH_UP)
			n_up++;
		snprintf(list + len, (gr->health == GPU_HEALTH_UP ? sizeof up : sizeof down) - len, "%s%u %s",
			 len ? ", " : "", gr->id.index, gr->health == GPU_HEALTH_UP ? gr->id.name : gr->id.uuid);
	}
	if (!g->backend) {
		c = report(d, "gpus", FAIL, "no GPU backend: %s", g->reason);
		set_fix(c, "install the NVIDIA driver so that nvidia-smi works (it brings libnvidia-ml.so.1)");
		return;
	}
	if (strcmp(g->backend->name, "nvml") != 0) {
		c = report(d, "gpus", WARN, "%s in use (%u GPUs answer: %s) because %s", g->backend->name, n_up, up,
			   g->reason);
		set_fix(c, "install the driver's NVML library (libnvidia-ml.so.1): NVML costs ~0.1 ms a tick, nvidia-smi ~24 ms");
		return;
	}
	if (snap->n_gpus == 0) {
		c = report(d, "gpus", WARN, "NVML (driver %s) loads but lists no GPU", g->backend->driver_version(g->state));
		set_fix(c, "check that the GPUs are visible: nvidia-smi -L, lspci | grep -i nvidia");
		return;
	}
	if (n_up < snap->n_gpus) {
		c = report(d, "gpus", FAIL, "NVML (driver %s): %u of %u GPUs answer; not answering: %s",
			   g->backend->driver_version(g->state), n_up, snap->n_gpus, down);
		set_fix(c, "check the lost GPUs with nvidia-smi and for Xid errors with: journalctl -k | grep -i xid");
		return;
	}
	report(d, "gpus", PASS, "NVML (%s): %u GPUs answer: %s", g->backend->detail(g->state), n_up, up);
}

static void check_persistence(struct doctor *d, const struct snapshot *snap)
{
	char off[256] = "", unknown[256] = "";
	unsigned int n_on = 0;
	struct check *c;

	if (!d->sampler_open || !d->sampler.gpus.backend || snap->n_gpus == 0)
		return;
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		int p = gpu_persistence(&d->sampler.gpus, (int)i);
		char *list = p == 0 ? off : unknown;
		size_t len = strlen(list);

		if (p == 1) {
			n_on++;
			continue;
		}
		snprintf(list + len, sizeof off - len, "%s%u", len ? "," : "", snap->gpu[i].id.index);
	}
	if (*off) {
		c = report(d, "persistence", WARN,
			   "persistence mode is off on GPU %s: the driver tears down between uses, so queries after an idle spell are slow", off);
		set_fix(c, "sudo systemctl enable --now nvidia-persistenced (or: sudo nvidia-smi -pm 1)");
	} else if (*unknown) {
		c = report(d, "persistence", WARN, "persistence mode cannot be read on GPU %s (%s backend)", unknown,
			   gpu_backend_name(&d->sampler.gpus));
		set_fix(c, "check it with: nvidia-smi --query-gpu=index,persistence_mode --format=csv");
	} else {
		report(d, "persistence", PASS, "persistence mode is on for all %u GPUs", n_on);
	}
}

static void check_rapl(struct doctor *d)
{
	const struct host_rapl_info *z;
	size_t n = d->sampler_open ? host_rapl_zones(d->sampler.host, &z) : 0;
	const char *root = d->sampler_open ? host_sysfs_root(d->sampler.host) : "/sys";
	char path[PATH_MAX], bad[256] = "", badown[96] = "";
	size_t n_ok = 0;
	struct check *c;

	if (n == 0) {
		c = report(d, "rapl", WARN, "no RAPL energy counters under %s/class/powercap (a VM, or a CPU without RAPL): "
			   "the CPU power columns stay empty", root);
		set_fix(c, "none needed on such a host; on bare metal load the driver: sudo modprobe intel_rapl_common");
		return;
	}
	if (!d->acct.have_user) {
		report(d, "rapl", WARN, "%zu RAPL zones; who may read them cannot be judged without the service user %s",
		       n, d->cfg.user);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		size_t len = strlen(bad);

		snprintf(path, sizeof path, "%s/class/powercap/%s/energy_uj", root, z[i].zone);
		if (stat(path, &st) == 0 && may(&d->acct, &st, 4)) {
			n_ok++;
			continue;
		}
		if (!*badown && stat(path, &st) == 0)
			owner_text(&st, badown, sizeof badown);
		snprintf(bad + len, sizeof bad - len, "%s%s", len ? ", " : "", z[i].zone);
	}
	if (*bad) {
		c = report(d, "rapl", FAIL, "energy_uj of %s is not readable by %s (%s): the CPU power columns stay empty",
			   bad, d->cfg.user, *badown ? badown : "missing");
		set_fix(c, "sudo scripts/perf/install_all.sh installs 60-gputel-rapl.rules and tmpfiles.d/gputel.conf; "
			"to apply them now: sudo udevadm trigger --subsystem-match=powercap --action=change");
		return;
	}
	report(d, "rapl", PASS, "%zu RAPL zones readable by %s (group %s)", n_ok, d->cfg.user, d->cfg.group);
}

/*
 * The kernel log, where the driver's Xid lines carry the process and the
 * text that NVML's events lack: the first source the agent would read
 * (klog.h), and how to get a better one.  Judged as this user; the service
 * gets CAP_SYSLOG from its unit.
 */
static void check_kernel_log(struct doctor *d)
{
	enum klog_kind kinds[KLOG__COUNT];
	struct klog_options o = { .boot_id = "unknown" };
	char why[512], all[768] = "";
	size_t len = 0;
	struct klog *k = NULL;
	struct check *c;
	int n = klog_sources(kinds, why, sizeof why), i;

	if (n < 0) {
		c = report(d, "kernel-log", WARN, "%s: GPU events come from NVML alone, without process or text", why);
		set_fix(c, "set GPUTEL_KERNEL_LOG_SOURCES to some of kmsg, journal, kern.log, or unset it");
		return;
	}
	for (i = 0; i < n; i++) {
		if (klog_open_kind(&k, kinds[i], &o, why, sizeof why) == 0)
			break;
		if (len < sizeof all)
			len += (size_t)snprintf(all + len, sizeof all - len, "%s%s", len ? "; " : "", why);
	}
	if (i == n) {
		c = report(d, "kernel-log", WARN, "%s: GPU events come from NVML alone, without process or text", all);
		set_fix(c, "the service unit grants CAP_SYSLOG for /dev/kmsg; without it: sudo usermod -aG systemd-journal %s "
			"(the journal), or -aG adm (/var/log/kern.log); or lower kernel.dmesg_restrict to 0", d->cfg.user);
		return;
	}
	switch (kinds[i]) {
	case KLOG_KMSG:
		report(d, "kernel-log", PASS, "%s is readable: Xid, SXid and fallen-off-the-bus lines become events",
		       klog_describe(k));
		break;
	case KLOG_JOURNAL:
		report(d, "kernel-log", PASS, "reading %s (group systemd-journal or adm): Xid, SXid and fallen-off-the-bus "
		       "lines become events; /dev/kmsg would be cheaper: grant CAP_SYSLOG (the shipped unit does)",
		       klog_describe(k));
		break;
	default:
		c = report(d, "kernel-log", WARN, "reading %s (group adm): Xid, SXid and fallen-off-the-bus lines become "
			   "events, but its lines have no level (no driver warnings) and come as rsyslog writes them",
			   klog_describe(k));
		set_fix(c, "grant CAP_SYSLOG for /dev/kmsg (the shipped unit does), or: sudo usermod -aG systemd-journal %s "
			"(the journal)", d->cfg.user);
		break;
	}
	klog_close(k);
}

/*
 * OTLP export: off, or where each signal goes; that libcurl loads; and
 * what waits in the disk queue (batches there mean the collector has not
 * been taking them).  The collector itself is not contacted: an empty
 * export is not something to send it.
 */
static void check_otlp(struct doctor *d)
{
	struct otlp_config oc;
	struct otlp_http *h;
	size_t batches, bytes;
	char why[512], err[512];
	struct check *c;
	int on = otlp_config_resolve(&oc, &d->cfg, environ, "doctor", why, sizeof why);

	if (on < 0) {
		c = report(d, "otlp", FAIL, "%s", why);
		set_fix(c, "fix it in /etc/default/justnews-gpu-telemetry (docs/otlp.md)");
		return;
	}
	if (on == 0) {
		report(d, "otlp", PASS, "OTLP export is off (%s); Xid events and spans stay on this node", why);
		return;
	}
	h = otlp_http_new(oc.curl_library, err, sizeof err);
	if (!h) {
		c = report(d, "otlp", FAIL, "%s", err);
		set_fix(c, "sudo apt install libcurl3-gnutls");
		otlp_config_release(&oc);
		return;
	}
	otlp_http_free(h);
	if (otlp_queue_peek(oc.queue_dir, &batches, &bytes) == 0 && batches) {
		c = report(d, "otlp", WARN, "logs to %s, traces to %s; %zu batch%s (%zu KiB) wait in %s: the collector "
			   "has not taken them", oc.sig[OTLP_LOGS].on ? oc.sig[OTLP_LOGS].url : "(off)",
			   oc.sig[OTLP_TRACES].on ? oc.sig[OTLP_TRACES].url : "(off)", batches, batches == 1 ? "" : "es",
			   bytes >> 10, oc.queue_dir);
		set_fix(c, "check the collector (the agent's log says what it answered; gputel_otlp_retries_total)");
	} else {
		report(d, "otlp", PASS, "logs to %s, traces to %s; nothing waits in the queue",
		       oc.sig[OTLP_LOGS].on ? oc.sig[OTLP_LOGS].url : "(off)",
		       oc.sig[OTLP_TRACES].on ? oc.sig[OTLP_TRACES].url : "(off)");
	}
	otlp_config_release(&oc);
}

/* A directory the service must write: exists, is a directory, writable and reachable by the account. */
static void check_dir(struct doctor *d, const char *name, const char *key, const char *path)
{
	char own[96], blocker[PATH_MAX];
	struct stat st;
	struct statvfs vfs;
	struct check *c;

	if (stat(path, &st) != 0) {
		c = report(d, name, FAIL, "%s=%s: %s", key, path, strerror(errno));
		set_fix(c, "sudo install -d -o %s -g %s -m 0750 %s (install_service.sh does this)", d->cfg.user,
			d->cfg.group, path);
		return;
	}
	owner_text(&st, own, sizeof own);
	if (!S_ISDIR(st.st_mode)) {
		c = report(d, name, FAIL, "%s=%s is not a directory", key, path);
		set_fix(c, "move it away, then: sudo install -d -o %s -g %s -m 0750 %s", d->cfg.user, d->cfg.group, path);
		return;
	}
	if (!d->acct.have_user) {
		report(d, name, WARN, "%s (%s): cannot judge without the service user %s", path, own, d->cfg.user);
		return;
	}
	if (!may(&d->acct, &st, 2 | 1)) {
		c = report(d, name, FAIL, "%s (%s) is not writable by %s", path, own, d->cfg.user);
		set_fix(c, "sudo chown %s:%s %s && sudo chmod 0750 %s", d->cfg.user, d->cfg.group, path, path);
		return;
	}
	unreachable_ancestor(&d->acct, path, blocker, sizeof blocker);
	if (*blocker) {
		c = report(d, name, FAIL, "%s is writable, but %s cannot enter %s above it", path, d->cfg.user, blocker);
		set_fix(c, "sudo chmod o+x %s (or give %s's group search access)", blocker, d->cfg.group);
		return;
	}
	if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
		c = report(d, name, FAIL, "%s is on a read-only file system", path);
		set_fix(c, "point %s at a writable file system", key);
		return;
	}
	report(d, name, PASS, "%s (%s) is writable by %s", path, own, d->cfg.user);
}


/* Average bytes per line of the largest CSV file in dir (its first 64 KiB); 0 when there is none. */
static double csv_row_bytes(const char *dir)
{
	char best[PATH_MAX] = "", path[PATH_MAX], buf[65536];
	off_t best_size = 0;
	struct dirent *e;
	struct stat st;
	DIR *dp = opendir(dir);
	ssize_t n;
	size_t lines = 0;

	if (!dp)
		return 0;
	while ((e = readdir(dp))) {
		size_t len = strlen(e->d_name);

		if (len < 5 || strcmp(e->d_name + len - 4, ".csv") != 0 ||
		    str_fmt(path, sizeof path, "%s/%s", dir, e->d_name) < 0 || stat(path, &st) != 0 ||
		    !S_ISREG(st.st_mode) || st.st_size <= best_size)
			continue;
		best_size = st.st_size;
		str_copy(best, path, sizeof best);
	}
	closedir(dp);
	if (!*best)
		return 0;
	n = file_read_small(best, buf, sizeof buf);
	for (ssize_t i = 0; i < n; i++)
		lines += buf[i] == '\n';
	return lines > 1 ? (double)n / (double)lines : 0;
}

static void check_disk(struct doctor *d)
{
	char dir[PATH_MAX];
	struct statvfs vfs;
	struct check *c;
	unsigned long long avail, total;
	double pct, row, per_day, days;
	unsigned int gpus = d->n_gpus ? d->n_gpus : 1;

	/* The log directory, or the nearest directory above it that exists. */
	str_copy(dir, d->cfg.logdir, sizeof dir);
	while (statvfs(dir, &vfs) != 0) {
		char *slash = strrchr(dir, '/');

		if (!slash || slash == dir) {
			str_copy(dir, "/", sizeof dir);
			if (statvfs(dir, &vfs) != 0) {
				report(d, "disk", WARN, "cannot read the free space of %s: %s", d->cfg.logdir, strerror(errno));
				return;
			}
			break;
		}
		*slash = '\0';
	}
	avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	total = (unsigned long long)vfs.f_blocks * vfs.f_frsize;
	pct = total ? 100.0 * (double)avail / (double)total : 0;
	row = csv_row_bytes(d->cfg.logdir);
	if (row <= 0)
		row = CSV_ROW_BYTES_GUESS;
	per_day = row * gpus * 86400.0 * NS_PER_SEC / (double)d->cfg.poll_interval_ns;
	days = (double)avail / per_day;
	if (avail < DISK_FAIL_BYTES) {
		c = report(d, "disk", FAIL, "%s: %.0f MiB free (%.1f%%): telemetry stops writing rows when it fills",
			   dir, (double)avail / (1 << 20), pct);
		set_fix(c, "free space, or lower JN_ROTATE_KEEP_DAYS and rerun scripts/perf/install_logrotate.sh");
		return;
	}
	if (avail < DISK_WARN_BYTES || pct < DISK_WARN_PERCENT) {
		c = report(d, "disk", WARN, "%s: %.2f GiB free (%.1f%%), about %.0f days of continuous telemetry for %u GPUs",
			   dir, (double)avail / (1 << 30), pct, days, gpus);
		set_fix(c, "free space, or lower JN_ROTATE_KEEP_DAYS and rerun scripts/perf/install_logrotate.sh");
		return;
	}
	report(d, "disk", PASS, "%s: %.1f GiB free (%.0f%%), about %.0f days of continuous telemetry for %u GPUs at %.3g s",
	       dir, (double)avail / (1 << 30), pct, days, gpus, (double)d->cfg.poll_interval_ns / NS_PER_SEC);
}

/* ---- the exporter ---- */

/* Connects to addr:port within the timeout; returns the socket or -1 with errno set. */
static int tcp_connect(const char *addr, int port, int timeout_ms)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	struct pollfd p;
	int fd, err = 0;
	socklen_t elen = sizeof err;

	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		len = sizeof *in;
	} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		len = sizeof *in6;
	} else {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, timeout_ms) != 1) {
		close(fd);
		errno = ETIMEDOUT;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err) {
		close(fd);
		errno = err ? err : EIO;
		return -1;
	}
	return fd;
}

/* Reads the whole reply (the server closes: HTTP/1.0) into a malloc'd buffer; returns its length or -1. */
static ssize_t http_get(int fd, const char *host, const char *path, char **out)
{
	char req[512];
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int64_t deadline = mono_now_ns() + (int64_t)HTTP_TIMEOUT_MS * 1000000;
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: gputel-doctor\r\n\r\n", path, host);

	if (!buf || n < 0 || (size_t)n >= sizeof req || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		free(buf);
		return -1;
	}
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int64_t left = (deadline - mono_now_ns()) / 1000000;
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) != 1) {
			free(buf);
			errno = ETIMEDOUT;
			return -1;
		}
		if (len + 1 >= cap) {
			char *bigger = cap < METRICS_MAX_BYTES ? realloc(buf, cap * 2) : NULL;

			if (!bigger) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			buf = bigger;
			cap *= 2;
		}
		r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	return (ssize_t)len;
}

int doctor_http_get(const char *addr, int port, const char *path, char **reply, const char **body)
{
	char hostport[96];
	char *end;
	int fd = tcp_connect(addr, port, HTTP_TIMEOUT_MS), status = 0, err;
	ssize_t n;

	if (fd < 0)
		return -1;
	snprintf(hostport, sizeof hostport, strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
	n = http_get(fd, hostport, path, reply);
	err = errno;
	close(fd);
	if (n < 0) {
		errno = err;
		return -1;
	}
	if (sscanf(*reply, "HTTP/1.%*d %d", &status) != 1 || !(end = strstr(*reply, "\r\n\r\n"))) {
		free(*reply);
		*reply = NULL;
		errno = EPROTO;
		return -1;
	}
	*body = end + 4;
	return status;
}

static void check_exporter(struct doctor *d)
{
	const char *bind = d->cfg.exporter_bind;
	const char *addr = !strcmp(bind, "0.0.0.0") ? "127.0.0.1" : !strcmp(bind, "::") ? "::1" : bind;
	char url[128], hostport[96];
	char *reply = NULL, *body;
	const char *bad;
	unsigned int samples = 0, lineno = 0;
	int64_t t0 = mono_now_ns();
	struct check *c;
	ssize_t n;
	int fd, status = 0;

	snprintf(hostport, sizeof hostport, strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, d->cfg.exporter_port);
	snprintf(url, sizeof url, "http://%s/metrics", hostport);
	fd = tcp_connect(addr, d->cfg.exporter_port, HTTP_TIMEOUT_MS);
	if (fd < 0) {
		if (d->cfg.exporter_mode == CONFIG_EXPORTER_ACTIVE && errno == ECONNREFUSED) {
			c = report(d, "exporter", WARN, "%s: nothing listens; with JN_EXPORTER_MODE=active the agent serves "
				   "metrics only while telemetry is on", url);
			set_fix(c, "set JN_EXPORTER_MODE=always to be scraped all the time (then: sudo systemctl reload %s)",
				SERVICE_UNIT);
			return;
		}
		c = report(d, "exporter", FAIL, "%s: %s", url, strerror(errno));
		set_fix(c, "start the agent: sudo systemctl start %s (journalctl -u %s says why it stopped)",
			SERVICE_UNIT, SERVICE_UNIT);
		return;
	}
	n = http_get(fd, hostport, "/metrics", &reply);
	close(fd);
	if (n < 0) {
		c = report(d, "exporter", FAIL, "%s: no complete reply: %s", url, strerror(errno));
		set_fix(c, "see journalctl -u %s; another program may hold port %d", SERVICE_UNIT, d->cfg.exporter_port);
		return;
	}
	if (sscanf(reply, "HTTP/1.%*d %d", &status) != 1 || status != 200 || !(body = strstr(reply, "\r\n\r\n"))) {
		c = report(d, "exporter", FAIL, "%s: answered %.*s, not 200 OK", url, (int)strcspn(reply, "\r\n"), reply);
		set_fix(c, "is port %d gputel's? check: ss -ltnp 'sport = :%d'", d->cfg.exporter_port, d->cfg.exporter_port);
		free(reply);
		return;
	}
	*body = '\0';
	if (!strcasestr(reply, "\r\nContent-Type: text/plain")) {
		c = report(d, "exporter", FAIL, "%s: the reply is not text/plain, so not Prometheus metrics", url);
		set_fix(c, "is port %d gputel's? check: ss -ltnp 'sport = :%d'", d->cfg.exporter_port, d->cfg.exporter_port);
		free(reply);
		return;
	}
	bad = prom_text_check(body + 4, strlen(body + 4), &samples, &lineno);
	if (bad) {
		c = report(d, "exporter", FAIL, "%s: line %u is not valid Prometheus text: %s", url, lineno, bad);
		set_fix(c, "report it with the output of: curl -s %s", url);
		free(reply);
		return;
	}
	free(reply);
	if (samples == 0) {
		c = report(d, "exporter", FAIL, "%s: 200 OK but no samples", url);
		set_fix(c, "see journalctl -u %s", SERVICE_UNIT);
		return;
	}
	report(d, "exporter", PASS, "%s: %u samples of valid Prometheus text in %.1f ms", url, samples,
	       (double)(mono_now_ns() - t0) / 1e6);
}

static void check_control(struct doctor *d)
{
	const char *path = d->cfg.control_socket;
	char own[96];
	char *json = NULL;
	struct stat st;
	struct check *c;
	int r;

	if (!*path) {
		report(d, "control", PASS, "the allocation API is off (JN_CONTROL_SOCKET is empty)");
		return;
	}
	if (lstat(path, &st) != 0) {
		c = report(d, "control", FAIL, "%s: %s: the agent is not running, or runs with another JN_CONTROL_SOCKET",
			   path, strerror(errno));
		set_fix(c, "sudo systemctl start %s", SERVICE_UNIT);
		return;
	}
	owner_text(&st, own, sizeof own);
	if (!S_ISSOCK(st.st_mode)) {
		c = report(d, "control", FAIL, "%s is not a socket (%s)", path, own);
		set_fix(c, "remove it, then: sudo systemctl restart %s", SERVICE_UNIT);
		return;
	}
	if ((st.st_mode & 0777) != 0660 || (d->acct.have_group && st.st_gid != d->acct.gid)) {
		c = report(d, "control", FAIL, "%s has %s; it must be mode 0660, group %s, so that only that group "
			   "may begin allocations", path, own, d->cfg.group);
		set_fix(c, "sudo chgrp %s %s && sudo chmod 0660 %s (the agent sets both when it starts: "
			"sudo systemctl restart %s)", d->cfg.group, path, path, SERVICE_UNIT);
		return;
	}
	r = gputel_status(path, &json);
	if (r != GPUTEL_OK) {
		c = report(d, "control", FAIL, "%s (%s): %s", path, own, gputel_strerror(r));
		set_fix(c, r == GPUTEL_E_PERMISSION ? "run the doctor as root or as a member of the socket's group"
						     : "sudo systemctl restart " SERVICE_UNIT);
		gputel_free(json);
		return;
	}
	{
		const char *a = json ? strstr(json, "\"allocations\": ") : NULL;

		report(d, "control", PASS, "%s (%s) answers: %ld live allocations", path, own,
		       a ? strtol(a + 15, NULL, 10) : 0L);
	}
	gputel_free(json);
}

/*
 * Each GPU's health (health.h): the agent's judgement, which knows the
 * GPU's Xids; where no agent answers, this reading's alone.  FAIL for an
 * unhealthy GPU, WARN for a degraded one, naming each with its reason.
 */
static void check_health(struct doctor *d, const struct snapshot *snap)
{
	char *json = NULL, bad[2][640] = { "", "" }, first[2][32] = { "", "" };
	cJSON *j = NULL;
	const cJSON *list;
	unsigned int n[HEALTH_STATES] = { 0 };
	struct check *c;

	if (!d->sampler_open || snap->n_gpus == 0)
		return;
	if (d->cfg.control_socket[0] && gputel_status(d->cfg.control_socket, &json) == GPUTEL_OK)
		j = cJSON_Parse(json);
	gputel_free(json);
	list = cJSON_GetObjectItemCaseSensitive(j, "health");
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		const struct gpu_reading *r = &snap->gpu[i];
		struct health h;
		struct health_input in = { .reading = r, .now_ns = timespec_to_ns(&snap->wall) };
		const cJSON *g;
		int st = -1;
		char *list_of;
		size_t len;

		health_init(&h);
		health_eval(&h, &in, &h);
		cJSON_ArrayForEach(g, list) {
			const cJSON *uuid = cJSON_GetObjectItemCaseSensitive(g, "uuid");
			const cJSON *state = cJSON_GetObjectItemCaseSensitive(g, "state");
			const cJSON *why = cJSON_GetObjectItemCaseSensitive(g, "reason");

			if (cJSON_IsString(uuid) && strcmp(uuid->valuestring, r->id.uuid) == 0 && cJSON_IsString(state) &&
			    (st = health_state_parse(state->valuestring)) >= 0) {
				h.state = (enum health_state)st;
				str_copy(h.reason, cJSON_IsString(why) ? why->valuestring : "", sizeof h.reason);
			}
		}
		n[h.state]++;
		if (h.state == HEALTH_HEALTHY)
			continue;
		list_of = bad[h.state - 1];
		len = strlen(list_of);
		if (!first[h.state - 1][0])
			str_fmt(first[h.state - 1], sizeof first[0], "%u", r->id.index);
		snprintf(list_of + len, sizeof bad[0] - len, "%sGPU %u %s: %s", len ? "; " : "", r->id.index,
			 health_state_name(h.state), h.reason);
	}
	if (n[HEALTH_UNHEALTHY] || n[HEALTH_DEGRADED]) {
		c = report(d, "health", n[HEALTH_UNHEALTHY] ? FAIL : WARN, "%s%s%s", bad[1], *bad[1] && *bad[0] ? "; " : "",
			   bad[0]);
		set_fix(c, "%s; once it is repaired or reset: gputel health clear %s",
			n[HEALTH_UNHEALTHY] ? "drain the GPU and follow the action above" : "follow the action above when the GPU is idle",
			n[HEALTH_UNHEALTHY] ? first[1] : first[0]);
	} else {
		report(d, "health", PASS, "all %u GPUs healthy, %s", snap->n_gpus,
		       cJSON_IsArray(list) ? "as the agent judges them" :
					     "judged on this reading alone (no agent answers, so Xids are not judged)");
	}
	cJSON_Delete(j);
}

static void check_service(struct doctor *d)
{
	char *active_argv[] = { "systemctl", "is-active", SERVICE_UNIT, NULL };
	char *enabled_argv[] = { "systemctl", "is-enabled", SERVICE_UNIT, NULL };
	char active[64], enabled[64];
	struct check *c;

	if (access("/run/systemd/system", F_OK) != 0) {
		c = report(d, "service", WARN, "systemd is not running here (a container?): %s not checked", SERVICE_UNIT);
		set_fix(c, "run the agent another way: gputel agent (it reads the same settings file)");
		return;
	}
	if (doctor_run_capture(active_argv, active, sizeof active) < 0 || !*active)
		str_copy(active, "unknown", sizeof active);
	if (doctor_run_capture(enabled_argv, enabled, sizeof enabled) < 0 || !*enabled)
		str_copy(enabled, "unknown", sizeof enabled);
	if (strcmp(active, "active") != 0) {
		c = report(d, "service", FAIL, "%s is %s (%s)", SERVICE_UNIT, active, enabled);
		set_fix(c, "sudo systemctl enable --now %s; why it stopped: journalctl -u %s -n 50", SERVICE_UNIT,
			SERVICE_UNIT);
	} else if (strcmp(enabled, "enabled") != 0) {
		c = report(d, "service", WARN, "%s is active but %s: it will not start at boot", SERVICE_UNIT, enabled);
		set_fix(c, "sudo systemctl enable %s", SERVICE_UNIT);
	} else {
		report(d, "service", PASS, "%s is active and enabled", SERVICE_UNIT);
	}
}

/*
 * Finds the directive word at the start of a line of the policy (after
 * blanks) and copies the rest of that line to out.  Returns whether found.
 */
static bool policy_directive(const char *text, const char *word, char *out, size_t n)
{
	size_t wl = strlen(word);

	out[0] = '\0';
	for (const char *line = text; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != '\0')) {
		const char *p = line + strspn(line, " \t");

		if (strncmp(p, word, wl) != 0 || (p[wl] != ' ' && p[wl] != '\t' && p[wl] != '\n' && p[wl] != '\0'))
			continue;
		p += wl + strspn(p + wl, " \t");
		snprintf(out, n, "%.*s", (int)strcspn(p, " \t\n"), p);
		if (!strcmp(word, "su"))   /* "su USER GROUP": both words */
			snprintf(out, n, "%.*s", (int)strcspn(p, "\n"), p);
		return true;
	}
	return false;
}

/* Whether the policy's directive has the value the settings give; else a WARN. */
static bool policy_value_ok(struct doctor *d, const char *path, const char *text, const char *directive,
			    const char *want, const char *setting)
{
	char got[128];
	struct check *c;

	policy_directive(text, directive, got, sizeof got);
	if (!strcmp(got, want))
		return true;
	c = report(d, "logrotate", WARN, "%s has %s %s, the settings say %s", path, directive, *got ? got : "(none)",
		   setting);
	set_fix(c, "%s", LOGROTATE_FIX);
	return false;
}

static void check_logrotate(struct doctor *d)
{
	const char *path = d->logrotate_path;
	static char text[65536];
	char want[2 * CONFIG_NAME_MAX + 8], setting[2 * CONFIG_NAME_MAX + 24], got[128], glob[PATH_MAX + 8];
	ssize_t n = file_read_small(path, text, sizeof text);
	struct check *c;
	const char *fix = LOGROTATE_FIX;

	if (n < 0) {
		c = report(d, "logrotate", FAIL, "%s: %s: the CSV files grow until the disk is full", path, strerror((int)-n));
		set_fix(c, "%s", fix);
		return;
	}
	snprintf(glob, sizeof glob, "%s/*.csv", d->cfg.logdir);
	if (!strstr(text, glob)) {
		c = report(d, "logrotate", FAIL, "%s does not rotate %s (JN_LOGDIR)", path, glob);
		set_fix(c, "%s", fix);
		return;
	}
	if (policy_directive(text, "copytruncate", got, sizeof got)) {
		c = report(d, "logrotate", WARN, "%s uses copytruncate, which loses the rows written while it copies", path);
		set_fix(c, "%s", fix);
		return;
	}
	/* The values the installer writes from the settings file. */
	snprintf(want, sizeof want, "%dM", d->cfg.rotate_size_mb);
	snprintf(setting, sizeof setting, "JN_ROTATE_SIZE_MB=%d", d->cfg.rotate_size_mb);
	if (!policy_value_ok(d, path, text, "maxsize", want, setting))
		return;
	snprintf(want, sizeof want, "%d", d->cfg.rotate_keep_days);
	snprintf(setting, sizeof setting, "JN_ROTATE_KEEP_DAYS=%d", d->cfg.rotate_keep_days);
	if (!policy_value_ok(d, path, text, "maxage", want, setting))
		return;
	snprintf(want, sizeof want, "%s %s", d->cfg.user, d->cfg.group);
	snprintf(setting, sizeof setting, "JN_USER=%s JN_GROUP=%s", d->cfg.user, d->cfg.group);
	if (!policy_value_ok(d, path, text, "su", want, setting))
		return;
	if (access("/usr/sbin/logrotate", X_OK) != 0 && access("/sbin/logrotate", X_OK) != 0) {
		c = report(d, "logrotate", WARN, "%s is in place, but logrotate is not installed", path);
		set_fix(c, "sudo apt-get install logrotate");
		return;
	}
	report(d, "logrotate", PASS, "%s rotates %s/ daily and above %d MiB, keeps %d days, as %s", path,
	       d->cfg.logdir, d->cfg.rotate_size_mb, d->cfg.rotate_keep_days, want);
}

/* ---- output ---- */

static void print_text(const struct doctor *d, int n_pass, int n_warn, int n_fail)
{
	for (int i = 0; i < d->n_checks; i++) {
		const struct check *c = &d->checks[i];

		printf("%s  %-12s %s", verdict_name[c->verdict], c->name, c->message);
		if (*c->fix)
			printf("; fix: %s", c->fix);
		putchar('\n');
	}
	printf("%d passed, %d warning%s, %d failed\n", n_pass, n_warn, plural_s((uint64_t)n_warn), n_fail);
}

static void print_json(const struct doctor *d, int n_pass, int n_warn, int n_fail)
{
	printf("{\"version\": \"%s\", \"checks\": [", GPUTEL_VERSION);
	for (int i = 0; i < d->n_checks; i++) {
		const struct check *c = &d->checks[i];

		printf("%s\n  {\"check\": \"%s\", \"status\": \"%s\", \"message\": ", i ? "," : "", c->name,
		       verdict_name[c->verdict]);
		cli_json_str(c->message);
		printf(", \"fix\": ");
		if (*c->fix)
			cli_json_str(c->fix);
		else
			printf("null");
		putchar('}');
	}
	printf("\n ],\n \"summary\": {\"pass\": %d, \"warn\": %d, \"fail\": %d}}\n", n_pass, n_warn, n_fail);
}

int cmd_doctor(int argc, char **argv)
{
	static struct doctor d;
	static struct snapshot snap;
	struct doctor_otel_options otel = { 0 };
	bool json = false;
	int n[3] = { 0, 0, 0 };
	int r;

	memset(&d, 0, sizeof d);
	d.logrotate_path = LOGROTATE_POLICY;
	for (int i = 1; i < argc; i++) {
		const char *v;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(doctor_usage, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--otel")) {
			otel.always = true;
		} else if ((r = opt_value(argc, argv, &i, "--otel-dir", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			otel.etc_dir = v;
		} else if ((r = opt_value(argc, argv, &i, "--unit-dir", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			otel.unit_dir = v;
		} else if ((r = opt_value(argc, argv, &i, "--otelcol", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			otel.otelcol = v;
		} else if ((r = opt_value(argc, argv, &i, "--config", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			d.config_flag = v;
		} else if ((r = opt_value(argc, argv, &i, "--logrotate", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			d.logrotate_path = v;
		} else {
			return usage_error("doctor", "unknown option '%s'; see 'gputel doctor --help'", argv[i]);
		}
	}
	/* The checks report problems themselves; the logs would repeat them. */
	if (log_get_level() > LOG_ERROR)
		log_set_level(LOG_ERROR);
	config_errors_init(&d.errs);
	config_defaults(&d.cfg);
	config_resolve(&d.cfg, d.config_flag, environ, &d.errs);
	load_account(&d);

	/* --otel: the collectors alone, for a host whose gputel was checked already or is elsewhere. */
	if (otel.always) {
		doctor_otel(&d, &d.cfg, *d.cfg.file ? d.cfg.file : CONFIG_DEFAULT_PATH, &otel);
		goto print;
	}
	check_config(&d);
	check_account(&d);
	check_gpus(&d, &snap);
	check_persistence(&d, &snap);
	check_rapl(&d);
	check_kernel_log(&d);
	check_otlp(&d);
	check_dir(&d, "logdir", "JN_LOGDIR", d.cfg.logdir);
	check_dir(&d, "statedir", "JN_STATE_DIR", d.cfg.state_dir);
	check_disk(&d);
	check_exporter(&d);
	check_control(&d);
	check_health(&d, &snap);
	check_service(&d);
	check_logrotate(&d);
	if (d.sampler_open)
		sampler_close(&d.sampler);
	doctor_otel(&d, &d.cfg, *d.cfg.file ? d.cfg.file : CONFIG_DEFAULT_PATH, &otel);

print:
	for (int i = 0; i < d.n_checks; i++)
		n[d.checks[i].verdict]++;
	if (json)
		print_json(&d, n[PASS], n[WARN], n[FAIL]);
	else
		print_text(&d, n[PASS], n[WARN], n[FAIL]);
	return n[FAIL] ? 1 : 0;
}
