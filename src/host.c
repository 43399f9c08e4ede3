/*
 * host.c - the host sensor source: ties hwmon, RAPL and /proc together
 * behind host_open/host_sample.  See host.h.
 */
#include "host_internal.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct host {
	char sysfs_root[HOST_PATH_MAX];
	char procfs_root[HOST_PATH_MAX];
	struct hwmon_set hwmon;
	struct rapl_set rapl;
	struct proc_src proc;
	int detail;              /* see host_set_detail */
};

static void root_from_env(char *out, size_t n, const char *var, const char *def)
{
	const char *v = getenv(var);
	size_t len;

	if (!v || !*v)
		v = def;
	if (str_copy(out, v, n) >= n) {
		/* A cut path would point somewhere else; better to find nothing. */
		log_warn("%s is longer than %zu bytes; host sensors are off", var, n - 1);
		str_copy(out, "/nonexistent", n);
	}
	/* So that paths in messages read "/sys/class/...", not "/sys//class/...". */
	len = strlen(out);
	while (len > 1 && out[len - 1] == '/')
		out[--len] = '\0';
}

struct host *host_open(void)
{
	struct host *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	root_from_env(h->sysfs_root, sizeof h->sysfs_root, "GPUTEL_SYSFS_ROOT", "/sys");
	root_from_env(h->procfs_root, sizeof h->procfs_root, "GPUTEL_PROCFS_ROOT", "/proc");
	hwmon_scan(&h->hwmon, h->sysfs_root);
	/* RAPL before /proc: its baseline time should sit close to its read. */
	rapl_scan(&h->rapl, h->sysfs_root);
	proc_src_open(&h->proc, h->procfs_root);
	log_debug("host: %zu temperature channels (%zu with a role), %zu rapl zones under %s",
		  h->hwmon.n, h->hwmon.n_roled, h->rapl.n, h->sysfs_root);
	return h;
}

void host_close(struct host *h)
{
	if (!h)
		return;
	hwmon_release(&h->hwmon);
	rapl_release(&h->rapl);
	proc_src_close(&h->proc);
	free(h);
}

void host_sample(struct host *h, struct snapshot *snap)
{
	int64_t t0 = mono_now_ns();
	struct host_reading *r = &snap->host;
	int fails = 0;

	/* VAL_ABSENT and RAPL_ABSENT are both 0: whatever is not read stays absent. */
	memset(r, 0, sizeof *r);
	if (h) {
		/* First, so that t0 is the time of the energy reads. */
		fails += rapl_sample(&h->rapl, t0, h->detail, r);
		fails += hwmon_sample(&h->hwmon, h->detail, r);
		fails += proc_src_sample(&h->proc, r);
	}
	snap->host_src.ok = fails == 0;
	snap->host_src.duration_ns = mono_now_ns() - t0;
}

void host_set_detail(struct host *h, int on)
{
	if (h)
		h->detail = on != 0;
}

size_t host_temps(const struct host *h, const struct host_temp_info **out)
{
	*out = h ? h->hwmon.info : NULL;
	return h ? h->hwmon.n : 0;
}

size_t host_rapl_zones(const struct host *h, const struct host_rapl_info **out)
{
	*out = h ? h->rapl.info : NULL;
	return h ? h->rapl.n : 0;
}

const char *host_sysfs_root(const struct host *h)
{
	return h ? h->sysfs_root : NULL;
}
