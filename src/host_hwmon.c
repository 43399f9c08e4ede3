/*
 * host_hwmon.c - temperatures from /sys/class/hwmon.
 *
 * hwmonN numbers change between boots, so chips are told apart by their
 * "name" and channels by their label (channel numbers have gaps on
 * coretemp).  Every channel keeps an open descriptor, but a tick reads
 * only those that feed a snapshot field unless host detail is on (the
 * exporter's per-channel series).
 */
#include "host_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const char *const role_name[HOST_ROLE__COUNT] = {
	[HOST_ROLE_CPU_PKG] = "cpu_pkg",
	[HOST_ROLE_CPU_CORE] = "cpu_core",
	[HOST_ROLE_T_SENSOR] = "t_sensor",
	[HOST_ROLE_CHIPSET] = "chipset",
	[HOST_ROLE_VRM] = "vrm",
};

static const int role_field[HOST_ROLE__COUNT] = {
	[HOST_ROLE_CPU_PKG] = HOST_F_CPU_PKG_TEMP_MC,
	[HOST_ROLE_CPU_CORE] = HOST_F_CPU_CORE_MAX_MC,
	[HOST_ROLE_T_SENSOR] = HOST_F_T_SENSOR_MC,
	[HOST_ROLE_CHIPSET] = HOST_F_CHIPSET_MC,
	[HOST_ROLE_VRM] = HOST_F_VRM_MC,
};

static int is_amd_cpu_chip(const char *chip)
{
	/* zenpower replaces k10temp on the same PCI device and keeps its labels. */
	return strcmp(chip, "k10temp") == 0 || strcmp(chip, "zenpower") == 0;
}

static int has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

const char *hwmon_classify(const char *chip, const char *label)
{
	if (!chip)
		chip = "";
	if (!label)
		label = "";
	if (strcmp(chip, "coretemp") == 0) {
		/* Older kernels labelled the package channel "Physical id N". */
		if (has_prefix_ci(label, "Package id") || has_prefix_ci(label, "Physical id"))
			return role_name[HOST_ROLE_CPU_PKG];
		if (has_prefix_ci(label, "Core "))
			return role_name[HOST_ROLE_CPU_CORE];
	} else if (is_amd_cpu_chip(chip)) {
		/*
		 * Tctl is offset from the die temperature on some parts; the scan
		 * drops it when the same chip also has Tdie.  Older k10temp had no
		 * labels at all, and its lone temp1 is Tctl.
		 */
		if (strcasecmp(label, "Tdie") == 0 || strcasecmp(label, "Tctl") == 0 ||
		    (strcmp(chip, "k10temp") == 0 && strcmp(label, "temp1") == 0))
			return role_name[HOST_ROLE_CPU_PKG];
		if (has_prefix_ci(label, "Tccd"))
			return role_name[HOST_ROLE_CPU_CORE];
	}
	if (strcasecmp(label, "T_Sensor") == 0)
		return role_name[HOST_ROLE_T_SENSOR];
	/*
	 * "Chipset" (asus_ec; asus_wmi_sensors says "Chipset Temperature"),
	 * "PCH", nct6775's "PCH_CHIP_TEMP", and intel_pch_thermal, whose chip
	 * is named after the PCH generation (pch_cannonlake, pch_skylake).
	 */
	if (has_prefix_ci(label, "Chipset") || strcasecmp(label, "PCH") == 0 ||
	    strcasecmp(label, "PCH_CHIP_TEMP") == 0 || strncmp(chip, "pch_", 4) == 0)
		return role_name[HOST_ROLE_CHIPSET];
	if (strcasestr(label, "VRM"))
		return role_name[HOST_ROLE_VRM];
	return NULL;
}

static int role_index(const char *role)
{
	int i;

	for (i = 0; i < HOST_ROLE__COUNT; i++)
		if (role == role_name[i])
			return i;
	return -1;
}

/* Accepts exactly "temp<digits>_input" and returns the channel number. */
static int parse_temp_input(const char *name, unsigned int *chan)
{
	const char *p = name + 4;
	unsigned int n = 0;

	if (strncmp(name, "temp", 4) != 0 || *p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > 100000)
			return -1;
		n = n * 10 + (unsigned int)(*p - '0');
	}
	if (strcmp(p, "_input") != 0)
		return -1;
	*chan = n;
	return 0;
}

static int cmp_dirname(const void *a, const void *b)
{
	/* hwmon10 after hwmon9, so the order is the same on every scan. */
	return strverscmp((const char *)a, (const char *)b);
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return (x > y) - (x < y);
}

static void read_chip_name(const char *dir, char *out, size_t n)
{
	char path[HOST_PATH_MAX];

	out[0] = '\0';
	/* Drivers older than the hwmon "name" rework kept it under device/. */
	if ((str_fmt(path, sizeof path, "%s/name", dir) < 0 ||
	     file_read_small(path, out, n) < 0) &&
	    (str_fmt(path, sizeof path, "%s/device/name", dir) < 0 ||
	     file_read_small(path, out, n) < 0))
		out[0] = '\0';
	str_rtrim(out);
}

/*
 * The chip's device, which tells two chips of the same name apart (one
 * coretemp per socket): the basename of the "device" link, such as
 * "coretemp.0" or "0000:00:18.3".  Virtual chips have no such link; their
 * hwmonN name is the only handle, even though it can change between boots.
 */
static void read_chip_device(const char *dir, char *out, size_t n)
{
	char path[HOST_PATH_MAX], target[HOST_PATH_MAX];
	const char *base;
	ssize_t len;

	if (str_fmt(path, sizeof path, "%s/device", dir) >= 0 &&
	    (len = readlink(path, target, sizeof target - 1)) > 0) {
		target[len] = '\0';
		base = strrchr(target, '/');
		str_copy(out, base ? base + 1 : target, n);
		if (out[0])
			return;
	}
	base = strrchr(dir, '/');
	str_copy(out, base ? base + 1 : dir, n);
}

static void scan_chip(struct hwmon_set *s, const char *dir)
{
	unsigned int chans[HOST_MAX_CHANNELS_PER_CHIP];
	char labels[HOST_MAX_CHANNELS_PER_CHIP][64];
	char chip[64], device[64], path[HOST_PATH_MAX];
	size_t n = 0, i, j;
	int has_tdie = 0;
	struct dirent *de;
	DIR *d;

	read_chip_name(dir, chip, sizeof chip);
	read_chip_device(dir, device, sizeof device);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL && n < ARRAY_SIZE(chans))
		if (parse_temp_input(de->d_name, &chans[n]) == 0)
			n++;
	closedir(d);
	qsort(chans, n, sizeof chans[0], cmp_uint);

	/* All labels first: whether Tctl counts depends on a Tdie anywhere on the chip. */
	for (i = 0; i < n; i++) {
		if (str_fmt(path, sizeof path, "%s/temp%u_label", dir, chans[i]) < 0 ||
		    file_read_small(path, labels[i], sizeof labels[i]) < 0)
			labels[i][0] = '\0';
		str_rtrim(labels[i]);
		if (labels[i][0] == '\0')
			str_fmt(labels[i], sizeof labels[i], "temp%u", chans[i]);
		if (strcasecmp(labels[i], "Tdie") == 0)
			has_tdie = 1;
	}
	/* A label a driver repeats would make two series with the same labels. */
	for (i = 1; i < n; i++)
		for (j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0) {
				char tmp[64];

				str_fmt(tmp, sizeof tmp, "%.40s (temp%u)", labels[i], chans[i]);
				str_copy(labels[i], tmp, sizeof labels[i]);
				break;
			}

	for (i = 0; i < n; i++) {
		struct host_temp_info *ti;
		const char *role;
		int ri;

		if (s->n >= HOST_MAX_TEMPS) {
			s->truncated = 1;
			return;
		}
		role = hwmon_classify(chip, labels[i]);
		if (role && is_amd_cpu_chip(chip) && has_tdie &&
		    strcasecmp(labels[i], "Tctl") == 0)
			role = NULL;
		ti = &s->info[s->n];
		str_copy(ti->chip, chip, sizeof ti->chip);
		str_copy(ti->device, device, sizeof ti->device);
		str_copy(ti->label, labels[i], sizeof ti->label);
		ti->role = role;
		/* A channel that cannot be opened still counts, as a failing one. */
		if (str_fmt(path, sizeof path, "%s/temp%u_input", dir, chans[i]) < 0)
			s->fd[s->n] = -1;
		else
			s->fd[s->n] = open(path, O_RDONLY | O_CLOEXEC);
		ri = role_index(role);
		s->role[s->n] = ri < 0 ? HWMON_NO_ROLE : (uint8_t)ri;
		if (ri >= 0) {
			s->roled[s->n_roled++] = (uint16_t)s->n;
			s->n_role[ri]++;
		}
		s->n++;
	}
}

void hwmon_scan(struct hwmon_set *s, const char *sysfs_root)
{
	char names[HOST_MAX_HWMON_DIRS][32];
	char base[HOST_PATH_MAX], dir[HOST_PATH_MAX];
	size_t n = 0, i;
	struct dirent *de;
	DIR *d;

	s->n = s->n_roled = 0;
	s->truncated = 0;
	memset(s->n_role, 0, sizeof s->n_role);
	if (str_fmt(base, sizeof base, "%s/class/hwmon", sysfs_root) < 0)
		return;
	d = opendir(base);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL && n < ARRAY_SIZE(names))
		if (strncmp(de->d_name, "hwmon", 5) == 0 &&
		    str_copy(names[n], de->d_name, sizeof names[n]) < sizeof names[n])
			n++;
	closedir(d);
	qsort(names, n, sizeof names[0], cmp_dirname);

	for (i = 0; i < n; i++)
		if (str_fmt(dir, sizeof dir, "%s/%s", base, names[i]) >= 0)
			scan_chip(s, dir);
	if (s->truncated)
		log_warn("hwmon: more than %d temperature channels under %s; the rest are ignored",
			 HOST_MAX_TEMPS, base);
}

void hwmon_release(struct hwmon_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	s->n = s->n_roled = 0;
}

int hwmon_sample(const struct hwmon_set *s, int detail, struct host_reading *r)
{
	int64_t max[HOST_ROLE__COUNT];
	unsigned int ok[HOST_ROLE__COUNT] = {0};
	size_t count = detail ? s->n : s->n_roled, j;
	int fails = 0, k;

	for (k = 0; k < HOST_ROLE__COUNT; k++)
		max[k] = INT64_MIN;
	for (j = 0; j < count; j++) {
		size_t i = detail ? j : s->roled[j];
		int64_t v;

		/* Sensors with nothing attached fail with an errno or junk: skip them. */
		if (s->fd[i] < 0 || fd_read_int64(s->fd[i], &v) != 0) {
			/*
			 * Only role channels count against host_src.ok: boards list
			 * unconnected inputs that never read, and they would keep it 0.
			 */
			if (s->role[i] != HWMON_NO_ROLE)
				fails++;
			if (detail)
				r->temp_st[i] = VAL_ERROR;
			continue;
		}
		if (detail) {
			r->temp_mc[i] = v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
			r->temp_st[i] = VAL_OK;
		}
		k = s->role[i];
		if (k == HWMON_NO_ROLE)
			continue;
		if (v > max[k])
			max[k] = v;
		ok[k]++;
	}
	if (detail) {
		r->n_temps = (unsigned int)s->n;
		r->temp_info = s->info;
	}
	for (k = 0; k < HOST_ROLE__COUNT; k++) {
		if (s->n_role[k] == 0)
			continue;
		if (ok[k] == 0)
			r->st[role_field[k]] = VAL_ERROR;
		else
			HOST_SET(r, role_field[k], max[k]);
	}
	return fails;
}
