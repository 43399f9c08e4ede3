/*
 * snapshot.h - one tick's worth of readings, the only thing sinks see.
 *
 * The sampler fills a struct snapshot once per tick; the sinks (the CSV
 * file, the Prometheus rendering, allocation accounting) and the agent's
 * activity policy only read it.  Every value carries a state: a value that
 * is not supported, or whose read failed, is never reported as 0 -- sinks
 * print an empty cell or leave the series out instead.
 *
 * The fields, their units and their names everywhere are in fields.h.
 */
#ifndef GPUTEL_SNAPSHOT_H
#define GPUTEL_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "fields.h"

#define GPUTEL_MAX_GPUS 64

enum val_state {
	VAL_ABSENT = 0,      /* not sampled (no such sensor, first tick of a rate) */
	VAL_OK = 1,
	VAL_UNSUPPORTED = 2, /* the device or driver does not offer it */
	VAL_ERROR = 3,       /* the read failed this tick */
};

enum gpu_health {
	GPU_HEALTH_UP = 0,
	GPU_HEALTH_DOWN = 1,       /* lost or failing; being re-acquired */
	GPU_HEALTH_STALE = 2,      /* the driver did not answer within the tick's budget */
};

enum rapl_state {
	RAPL_ABSENT = 0,     /* no powercap zones on this host */
	RAPL_OK = 1,
	RAPL_UNREADABLE = 2, /* energy_uj exists but is root-only */
};

struct gpu_ident {
	unsigned int index;
	char uuid[96];
	char name[96];
	char pci_bus_id[32];
};

/*
 * Xid events NVML reported for a GPU since gputel started, per code: a
 * running count, so that a consumer that skips a snapshot (a lite tick, a
 * fresh sample) still sees every event as the difference from the last
 * count it saw.  Codes beyond the first GPU_XID_CODES_MAX - 1 a GPU
 * reports share the last entry, code GPU_XID_CODE_OTHER.
 */
#define GPU_XID_CODES_MAX 8
#define GPU_XID_CODE_OTHER (-1)

struct gpu_xid_count {
	int32_t code;
	uint64_t count;
};

struct gpu_reading {
	struct gpu_ident id;
	int health;                     /* enum gpu_health */
	int64_t val[GPU_F__COUNT];
	uint8_t st[GPU_F__COUNT];       /* enum val_state */
	unsigned int n_xid_codes;       /* entries in xid_codes (0: none seen, or no event support) */
	struct gpu_xid_count xid_codes[GPU_XID_CODES_MAX];
};

/* Every hwmon temperature channel and every RAPL zone, one value each. */
#define SNAP_MAX_HOST_TEMPS 128
#define SNAP_MAX_RAPL_ZONES 16

struct host_temp_info;
struct host_rapl_info;

struct host_reading {
	int rapl;                       /* enum rapl_state */
	int64_t val[HOST_F__COUNT];
	uint8_t st[HOST_F__COUNT];
	/*
	 * Per channel and per zone, filled only while host detail is on (the
	 * exporter wants them; the CSV does not).  The info arrays name each
	 * entry and stay valid until the host source is closed.
	 */
	unsigned int n_temps;
	const struct host_temp_info *temp_info;
	int32_t temp_mc[SNAP_MAX_HOST_TEMPS];
	uint8_t temp_st[SNAP_MAX_HOST_TEMPS];
	unsigned int n_zones;
	const struct host_rapl_info *zone_info;
	uint64_t zone_energy_uj[SNAP_MAX_RAPL_ZONES];   /* wrap-corrected counter */
	uint8_t zone_st[SNAP_MAX_RAPL_ZONES];
};

/* What a source (the GPU backend, the host sensors) did this tick. */
struct source_status {
	int64_t duration_ns;
	int ok;                         /* 1 when every reading it tried succeeded */
};

struct snapshot {
	uint64_t seq;                   /* 1, 2, 3, ... per run; gaps mean skipped ticks */
	struct timespec wall;           /* CLOCK_REALTIME when the tick began */
	int64_t mono_ns;                /* CLOCK_MONOTONIC when the tick began */
	bool lite;                      /* only GPU utilisation and health were sampled */
	int64_t gpu_answered_ns;        /* CLOCK_MONOTONIC of the GPU source's last answer */
	const char *backend;            /* "nvml", "nvidia-smi" or "none" */
	unsigned int n_gpus;
	struct gpu_reading gpu[GPUTEL_MAX_GPUS];
	struct host_reading host;
	struct source_status gpu_src;
	struct source_status host_src;
};

/* "up", "down" or "stale": the CSV's gpu_status and `gputel gpus`. */
static inline const char *gpu_health_name(int health)
{
	return health == GPU_HEALTH_UP ? "up" : health == GPU_HEALTH_STALE ? "stale" : "down";
}

/* Copies src into dst: only its GPUs' slots, not the whole array. */
static inline void snapshot_copy(struct snapshot *dst, const struct snapshot *src)
{
	memcpy(dst, src, offsetof(struct snapshot, gpu));
	memcpy(dst->gpu, src->gpu, src->n_gpus * sizeof src->gpu[0]);
	dst->host = src->host;
	dst->gpu_src = src->gpu_src;
	dst->host_src = src->host_src;
}

static inline void reading_set(int64_t *val, uint8_t *st, int f, int64_t v)
{
	val[f] = v;
	st[f] = VAL_OK;
}

#define GPU_SET(r, f, v) reading_set((r)->val, (r)->st, (f), (v))
#define HOST_SET(h, f, v) reading_set((h)->val, (h)->st, (f), (v))

#endif
