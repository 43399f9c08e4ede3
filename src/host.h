/*
 * host.h - host sensors: hwmon temperatures, RAPL energy, /proc/stat CPU
 * utilisation and /proc/meminfo memory.
 *
 * host_open() scans the sysfs/procfs roots once, opens every file it will
 * read and keeps the descriptors; host_sample() then only pread()s them, so
 * a tick does no directory walks and no allocation.  The roots default to
 * "/sys" and "/proc" and follow GPUTEL_SYSFS_ROOT / GPUTEL_PROCFS_ROOT so
 * that tests run against fixture trees.
 */
#ifndef GPUTEL_HOST_H
#define GPUTEL_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

struct host;

/* One temperature channel found under hwmon, for `gputel gpus`. */
struct host_temp_info {
	char chip[64];       /* hwmon "name", e.g. coretemp, k10temp */
	char device[64];     /* the chip's device (coretemp.0, 0000:00:18.3), else hwmonN */
	char label[64];      /* temp*_label, or "tempN" when unlabelled; unique per chip */
	const char *role;    /* "cpu_pkg", "cpu_core", "t_sensor", "chipset", "vrm" or NULL */
};

/* One RAPL zone, for `gputel gpus`. */
struct host_rapl_info {
	char zone[64];       /* directory name, e.g. intel-rapl:0 */
	char name[64];       /* its "name", e.g. package-0, dram */
	int readable;        /* energy_uj could be opened */
};

/* Returns NULL only when out of memory; missing sensors are not errors. */
struct host *host_open(void);
void host_close(struct host *h);

/* Fills snap->host and snap->host_src. Never allocates. */
void host_sample(struct host *h, struct snapshot *snap);

/*
 * Detail on: every tick also reads every temperature channel and every RAPL
 * zone into snap->host's per-channel arrays (the exporter's
 * gputel_hwmon_temperature_celsius and gputel_rapl_energy_joules_total).
 * Off (the default): only the channels and zones behind snapshot fields.
 */
void host_set_detail(struct host *h, int on);

size_t host_temps(const struct host *h, const struct host_temp_info **out);
size_t host_rapl_zones(const struct host *h, const struct host_rapl_info **out);
const char *host_sysfs_root(const struct host *h);

/* ---- pure helpers, exposed for unit tests ---- */

/*
 * Energy consumed between two readings of a RAPL counter that wraps at
 * max_range_uj (max_energy_range_uj).  A counter that went backwards has
 * wrapped exactly once (more wraps between samples cannot be seen).
 */
uint64_t rapl_energy_delta_uj(uint64_t prev_uj, uint64_t cur_uj, uint64_t max_range_uj);

/* Average power in mW over dt_ns for an energy delta in µJ; -1 when dt_ns <= 0. */
int64_t rapl_power_mw(uint64_t delta_uj, int64_t dt_ns);

struct cpu_times {
	uint64_t busy;   /* user+nice+system+irq+softirq+steal */
	uint64_t idle;   /* idle+iowait */
};

/* Parses the aggregate "cpu" line of /proc/stat text. Returns 0 or -1. */
int proc_stat_parse(const char *text, struct cpu_times *out);

/*
 * Busy share between two /proc/stat readings in hundredths of a percent
 * (0..10000); -1 when no time passed.  Counters that went backwards
 * (iowait may) count as no change.
 */
int64_t cpu_util_cpct(const struct cpu_times *prev, const struct cpu_times *cur);

struct meminfo {
	uint64_t total_bytes;
	uint64_t available_bytes;  /* MemAvailable, or the legacy estimate */
};

/* Parses /proc/meminfo text by key. Returns 0 or -1 when MemTotal is missing. */
int proc_meminfo_parse(const char *text, struct meminfo *out);

/*
 * Classifies an hwmon temperature channel by chip name and label into one
 * of the roles above; NULL when it is none of them.
 */
const char *hwmon_classify(const char *chip, const char *label);

#endif
