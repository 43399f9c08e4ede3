/*
 * host_internal.h - what host.c shares with host_hwmon.c, host_rapl.c and
 * host_proc.c.  Not part of the public host API.
 *
 * Each source has a scan step (run once from host_open: walks directories,
 * opens and keeps descriptors) and a sample step (run every tick: only
 * pread()s those descriptors).  Everything lives in fixed arrays inside
 * struct host, so a tick never allocates.  A sample step returns how many
 * reads it tried that failed, which host_sample folds into host_src.ok.
 */
#ifndef GPUTEL_HOST_INTERNAL_H
#define GPUTEL_HOST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "host.h"

#define HOST_MAX_HWMON_DIRS 64
#define HOST_MAX_CHANNELS_PER_CHIP 64
#define HOST_MAX_TEMPS SNAP_MAX_HOST_TEMPS
#define HOST_MAX_ZONES SNAP_MAX_RAPL_ZONES

/* Paths are built from a root that comes from the environment. */
#define HOST_PATH_MAX 4096

enum host_role {
	HOST_ROLE_CPU_PKG,
	HOST_ROLE_CPU_CORE,
	HOST_ROLE_T_SENSOR,
	HOST_ROLE_CHIPSET,
	HOST_ROLE_VRM,
	HOST_ROLE__COUNT
};

/* ---- host_hwmon.c ---- */

#define HWMON_NO_ROLE 0xff

struct hwmon_set {
	size_t n;                                   /* channels found */
	struct host_temp_info info[HOST_MAX_TEMPS];
	int fd[HOST_MAX_TEMPS];                     /* -1 when the open failed */
	uint8_t role[HOST_MAX_TEMPS];               /* enum host_role, or HWMON_NO_ROLE */
	size_t n_roled;                             /* channels with a role ... */
	uint16_t roled[HOST_MAX_TEMPS];             /* ... and their indexes */
	unsigned int n_role[HOST_ROLE__COUNT];
	int truncated;                              /* hit HOST_MAX_TEMPS */
};

void hwmon_scan(struct hwmon_set *s, const char *sysfs_root);
void hwmon_release(struct hwmon_set *s);
/* detail: read every channel into r's per-channel arrays, not only the roled ones. */
int hwmon_sample(const struct hwmon_set *s, int detail, struct host_reading *r);

/* ---- host_rapl.c ---- */

enum rapl_domain {
	RAPL_DOM_OTHER = 0,   /* psys, core, uncore: listed, not summed */
	RAPL_DOM_PACKAGE = 1,
	RAPL_DOM_DRAM = 2,
};

struct rapl_zone {
	int fd;                  /* energy_uj; -1 when the open failed */
	int domain;              /* enum rapl_domain */
	int open_err;            /* errno of the failed open, else 0 */
	int have_prev;
	/*
	 * prev_uj was read just after the counter moved.  A power value needs
	 * such a start: a counter that updates every 50 ms, read 3 ms after
	 * an arbitrary priming read, would otherwise give 0 W or many times
	 * the real power.
	 */
	int aligned;
	uint64_t max_range_uj;   /* 0 when max_energy_range_uj was unreadable */
	uint64_t prev_uj;
	int64_t prev_ns;
	/*
	 * The zone's wrap-corrected counter: its first raw reading plus every
	 * delta since, so it matches energy_uj until the first wrap.
	 */
	uint64_t total_uj;
};

struct rapl_set {
	size_t n;
	struct host_rapl_info info[HOST_MAX_ZONES];
	struct rapl_zone zone[HOST_MAX_ZONES];
	unsigned int n_pkg, n_dram;
	uint64_t pkg_energy_uj;  /* accumulated since rapl_scan */
	int any_readable;        /* some zone's energy_uj could be read at scan */
};

void rapl_scan(struct rapl_set *s, const char *sysfs_root);
void rapl_release(struct rapl_set *s);
/* detail: also read the zones that are not summed, and fill r's per-zone arrays. */
int rapl_sample(struct rapl_set *s, int64_t now_ns, int detail, struct host_reading *r);

/* ---- host_proc.c ---- */

struct proc_src {
	int stat_fd;             /* -1 when /proc/stat could not be opened */
	int meminfo_fd;
	int stat_open_err;       /* errno of the failed open, else 0 */
	int meminfo_open_err;
	int have_prev;
	struct cpu_times prev;
	/*
	 * The aggregate "cpu" line comes first and is well under 1 KiB, so the
	 * rest of /proc/stat (per-CPU and interrupt lines) is never copied.
	 * Every key gputel needs from /proc/meminfo sits in its first 4 KiB.
	 */
	char stat_buf[1024];
	char meminfo_buf[4096];
};

void proc_src_open(struct proc_src *p, const char *procfs_root);
void proc_src_close(struct proc_src *p);
int proc_src_sample(struct proc_src *p, struct host_reading *r);

#endif
