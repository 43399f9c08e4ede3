/*
 * host_rapl.c - CPU package and DRAM power from powercap RAPL counters.
 *
 * There is no power file, only an energy counter that wraps, so power is
 * the wrap-corrected energy delta over the time between two reads of the
 * same zone.  Each zone keeps its own previous reading and time: a zone
 * whose read fails one tick is simply measured over a longer interval on
 * the next one.
 */
#include "host_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Used when the effective group has no name (no NSS entry). */
#define RAPL_DEFAULT_GROUP "justnews"

uint64_t rapl_energy_delta_uj(uint64_t prev_uj, uint64_t cur_uj, uint64_t max_range_uj)
{
	if (cur_uj >= prev_uj)
		return cur_uj - prev_uj;
	/*
	 * Without a believable range (unreadable, or below a value the counter
	 * already reached) only the part after the wrap can be known.
	 */
	if (max_range_uj < prev_uj)
		return cur_uj;
	return (max_range_uj - prev_uj) + cur_uj;
}

int64_t rapl_power_mw(uint64_t delta_uj, int64_t dt_ns)
{
	uint64_t dt, mw;

	if (dt_ns <= 0)
		return -1;
	dt = (uint64_t)dt_ns;
	/* µJ per ns is kW, hence the factor of 10^6 to reach mW; rounded. */
	if (delta_uj <= (UINT64_MAX - dt / 2) / 1000000u) {
		mw = (delta_uj * 1000000u + dt / 2) / dt;
	} else {
		/* Beyond any real counter; only avoid overflow, precision is moot. */
		uint64_t q = delta_uj / dt;

		if (q > (uint64_t)INT64_MAX / 1000000u)
			return INT64_MAX;
		mw = q * 1000000u + (delta_uj % dt) / ((dt + 999999u) / 1000000u);
	}
	return mw > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)mw;
}

static int cmp_zone(const void *a, const void *b)
{
	/* intel-rapl:0, intel-rapl:0:0, intel-rapl:0:1, intel-rapl:1, ... intel-rapl:10 */
	return strverscmp((const char *)a, (const char *)b);
}

static int zone_domain(const char *name)
{
	if (strncmp(name, "package-", 8) == 0)
		return RAPL_DOM_PACKAGE;
	if (strcmp(name, "dram") == 0)
		return RAPL_DOM_DRAM;
	return RAPL_DOM_OTHER;
}

static const char *domain_column(int domain)
{
	return domain == RAPL_DOM_DRAM ? "dram_w" : "cpu_pkg_w";
}

static void effective_group_name(char *out, size_t n)
{
	char buf[4096];
	struct group gr, *res = NULL;

	if (getgrgid_r(getegid(), &gr, buf, sizeof buf, &res) == 0 && res &&
	    res->gr_name && res->gr_name[0])
		str_copy(out, res->gr_name, n);
	else
		str_copy(out, RAPL_DEFAULT_GROUP, n);
}

/* One line that names the file and the fix; logged once per host_open. */
static void warn_unreadable(const char *path, int domain, int err)
{
	char group[256];

	if (err == EACCES || err == EPERM) {
		effective_group_name(group, sizeof group);
		log_warn("rapl: %s is readable by root only, so %s stays empty; "
			 "grant the service group read access with a udev rule: "
			 "SUBSYSTEM==\"powercap\", KERNEL==\"intel-rapl:*\", "
			 "RUN+=\"/bin/chgrp %s /sys%%p/energy_uj\", "
			 "RUN+=\"/bin/chmod g+r /sys%%p/energy_uj\" "
			 "(then: udevadm control --reload-rules && udevadm trigger); "
			 "scripts/perf/install_all.sh installs it as 60-gputel-rapl.rules",
			 path, domain_column(domain), group);
	} else {
		log_warn("rapl: cannot read %s (%s), so %s stays empty",
			 path, strerror(err), domain_column(domain));
	}
}

static int read_u64_file(const char *path, uint64_t *out)
{
	char buf[32];
	int64_t v;

	if (file_read_small(path, buf, sizeof buf) < 0)
		return -1;
	str_rtrim(buf);
	if (parse_int64(buf, &v) != 0 || v < 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int read_energy(int fd, uint64_t *out)
{
	int64_t v;
	int r = fd_read_int64(fd, &v);

	if (r != 0)
		return r;
	if (v < 0)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

static void scan_zone(struct rapl_set *s, const char *base, const char *zone_dir,
		      int *warned)
{
	struct host_rapl_info *info = &s->info[s->n];
	struct rapl_zone *z = &s->zone[s->n];
	char path[HOST_PATH_MAX];
	uint64_t v;
	int r;

	memset(info, 0, sizeof *info);
	memset(z, 0, sizeof *z);
	z->fd = -1;
	str_copy(info->zone, zone_dir, sizeof info->zone);
	if (str_fmt(path, sizeof path, "%s/%s/name", base, zone_dir) < 0 ||
	    file_read_small(path, info->name, sizeof info->name) < 0)
		info->name[0] = '\0';
	str_rtrim(info->name);
	/* The index says nothing about the domain; only "name" does. */
	z->domain = zone_domain(info->name);
	if (str_fmt(path, sizeof path, "%s/%s/max_energy_range_uj", base, zone_dir) < 0 ||
	    read_u64_file(path, &z->max_range_uj) != 0)
		z->max_range_uj = 0;

	if (str_fmt(path, sizeof path, "%s/%s/energy_uj", base, zone_dir) < 0) {
		z->open_err = ENAMETOOLONG;
	} else {
		z->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (z->fd < 0)
			z->open_err = errno;
	}
	if (z->fd >= 0) {
		/* The baseline: the counter's energy counts from here; its power from its first move. */
		r = read_energy(z->fd, &v);
		if (r == 0) {
			z->prev_uj = v;
			z->prev_ns = mono_now_ns();
			z->have_prev = 1;
			z->total_uj = v;
			info->readable = 1;
			s->any_readable = 1;
		}
	} else {
		r = -z->open_err;
	}

	if (z->domain == RAPL_DOM_PACKAGE)
		s->n_pkg++;
	else if (z->domain == RAPL_DOM_DRAM)
		s->n_dram++;
	/* Zones that are not summed (psys, core, uncore) are read only for detail. */
	if (z->domain != RAPL_DOM_OTHER && r != 0 && !*warned) {
		*warned = 1;
		warn_unreadable(path, z->domain, -r);
	}
	s->n++;
}

void rapl_scan(struct rapl_set *s, const char *sysfs_root)
{
	char names[HOST_MAX_ZONES][64];
	char base[HOST_PATH_MAX];
	size_t n = 0, i;
	int warned = 0, more = 0;
	struct dirent *de;
	DIR *d;

	memset(s, 0, sizeof *s);
	if (str_fmt(base, sizeof base, "%s/class/powercap", sysfs_root) < 0)
		return;
	d = opendir(base);
	if (!d)
		return;
	/*
	 * class/powercap lists subzones flat beside their parents.  The
	 * intel-rapl-mmio:* zones measure the same package through MMIO, so
	 * counting them too would double the power.
	 */
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "intel-rapl:", 11) != 0)
			continue;
		if (n == ARRAY_SIZE(names) ||
		    str_copy(names[n], de->d_name, sizeof names[n]) >= sizeof names[n]) {
			more = 1;
			continue;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmp_zone);
	if (more)
		log_warn("rapl: more than %d zones under %s; the rest are ignored",
			 HOST_MAX_ZONES, base);
	for (i = 0; i < n; i++)
		scan_zone(s, base, names[i], &warned);
}

void rapl_release(struct rapl_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->zone[i].fd >= 0)
			close(s->zone[i].fd);
		s->zone[i].fd = -1;
	}
	s->n = 0;
}

struct domain_sum {
	int64_t mw;
	unsigned int failed, pending;
};

/* The zone's counter into r's per-zone arrays, when detail is on. */
static void zone_result(const struct rapl_set *s, size_t i, int detail, struct host_reading *r,
			int state)
{
	if (!detail)
		return;
	r->zone_st[i] = (uint8_t)state;
	if (state == VAL_OK)
		r->zone_energy_uj[i] = s->zone[i].total_uj;
}

int rapl_sample(struct rapl_set *s, int64_t now_ns, int detail, struct host_reading *r)
{
	struct domain_sum dom[3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
	int fails = 0;
	size_t i;

	if (s->n == 0) {
		r->rapl = RAPL_ABSENT;
		return 0;
	}
	for (i = 0; i < s->n; i++) {
		struct rapl_zone *z = &s->zone[i];
		struct domain_sum *ds = &dom[z->domain];
		uint64_t cur, delta;
		int64_t mw;

		if (z->domain == RAPL_DOM_OTHER && !detail) {
			/* Not read now: start afresh when detail comes back, not across wraps. */
			z->have_prev = 0;
			continue;
		}
		if (z->fd < 0 || read_energy(z->fd, &cur) != 0) {
			ds->failed++;
			zone_result(s, i, detail, r, VAL_ERROR);
			continue;
		}
		if (!z->have_prev) {
			z->prev_uj = cur;
			z->prev_ns = now_ns;
			z->have_prev = 1;
			z->aligned = 0;
			if (z->total_uj == 0)
				z->total_uj = cur;
			ds->pending++;
			zone_result(s, i, detail, r, VAL_OK);
			continue;
		}
		if (cur < z->prev_uj && z->max_range_uj < z->prev_uj) {
			/* Went backwards with no usable range: this delta is unknowable. */
			z->prev_uj = cur;
			z->prev_ns = now_ns;
			z->aligned = 1;
			ds->failed++;
			zone_result(s, i, detail, r, VAL_ERROR);
			continue;
		}
		/*
		 * Unmoved: the interval is too short for this counter's update
		 * period (a package always draws power).  No value now; the
		 * next one covers the whole time since prev.
		 */
		if (now_ns <= z->prev_ns || cur == z->prev_uj) {
			ds->pending++;
			zone_result(s, i, detail, r, VAL_OK);
			continue;
		}
		delta = rapl_energy_delta_uj(z->prev_uj, cur, z->max_range_uj);
		if (z->aligned) {
			mw = rapl_power_mw(delta, now_ns - z->prev_ns);
			ds->mw = ds->mw > INT64_MAX - mw ? INT64_MAX : ds->mw + mw;
		} else {
			ds->pending++;
		}
		if (z->domain == RAPL_DOM_PACKAGE)
			s->pkg_energy_uj += delta;
		z->total_uj += delta;
		z->prev_uj = cur;
		z->prev_ns = now_ns;
		z->aligned = 1;
		zone_result(s, i, detail, r, VAL_OK);
	}
	if (detail) {
		r->n_zones = (unsigned int)s->n;
		r->zone_info = s->info;
	}

	/* A partial sum would read as a real, lower power: report an error instead. */
	if (s->n_pkg) {
		struct domain_sum *ds = &dom[RAPL_DOM_PACKAGE];

		if (ds->failed) {
			r->st[HOST_F_CPU_PKG_POWER_MW] = VAL_ERROR;
			r->st[HOST_F_CPU_PKG_ENERGY_MJ] = VAL_ERROR;
		} else {
			if (!ds->pending)
				HOST_SET(r, HOST_F_CPU_PKG_POWER_MW, ds->mw);
			HOST_SET(r, HOST_F_CPU_PKG_ENERGY_MJ,
				 (int64_t)(s->pkg_energy_uj / 1000u > (uint64_t)INT64_MAX ?
					   (uint64_t)INT64_MAX : s->pkg_energy_uj / 1000u));
		}
	}
	if (s->n_dram) {
		struct domain_sum *ds = &dom[RAPL_DOM_DRAM];

		if (ds->failed)
			r->st[HOST_F_DRAM_POWER_MW] = VAL_ERROR;
		else if (!ds->pending)
			HOST_SET(r, HOST_F_DRAM_POWER_MW, ds->mw);
	}
	fails = (int)(dom[RAPL_DOM_PACKAGE].failed + dom[RAPL_DOM_DRAM].failed);
	/*
	 * Whatever the reason (root-only since CVE-2020-8694, or a read that
	 * failed), energy that cannot be read is reported the same way.  Hosts
	 * that only have zones gputel does not sum are judged by the scan.
	 */
	if (fails || (s->n_pkg + s->n_dram == 0 && !s->any_readable))
		r->rapl = RAPL_UNREADABLE;
	else
		r->rapl = RAPL_OK;
	return fails;
}
