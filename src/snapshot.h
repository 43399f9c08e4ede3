/*
 * snapshot.h - one tick's worth of readings, the only thing sinks see.
 *
 * The sampler fills a struct snapshot once per tick; the CSV writer (and,
 * later, the Prometheus renderer and the activity state machine) only read
 * it.  Every value carries a state: a value that is not supported, or whose
 * read failed, is never reported as 0 -- sinks print an empty cell instead.
 *
 * Values are integers in the unit their field name gives (mW, mJ, bytes,
 * millidegrees), so nothing on the per-tick path touches floating point
 * until a sink formats it.
 */
#ifndef GPUTEL_SNAPSHOT_H
#define GPUTEL_SNAPSHOT_H

#include <stdint.h>
#include <time.h>

#define GPUTEL_MAX_GPUS 64

enum val_state {
	VAL_ABSENT = 0,      /* not sampled (no such sensor, first tick of a rate) */
	VAL_OK = 1,
	VAL_UNSUPPORTED = 2, /* the device or driver does not offer it */
	VAL_ERROR = 3,       /* the read failed this tick */
};

/* Per-GPU fields.  The order is the order of gpu_fields[] in snapshot.c. */
enum gpu_field {
	GPU_F_UTIL_GPU_PCT,
	GPU_F_UTIL_MEM_PCT,
	GPU_F_MEM_USED_BYTES,
	GPU_F_MEM_TOTAL_BYTES,
	GPU_F_TEMP_MC,
	GPU_F_POWER_MW,
	GPU_F_POWER_LIMIT_MW,
	GPU_F_ENERGY_MJ,
	GPU_F_CLOCK_SM_MHZ,
	GPU_F_CLOCK_MEM_MHZ,
	GPU_F_FAN_PCT,
	GPU_F_PSTATE,
	GPU_F_CLOCK_EVENT_MASK,
	GPU_F_ENC_UTIL_PCT,
	GPU_F_DEC_UTIL_PCT,
	GPU_F_ECC_CORR_VOLATILE,
	GPU_F_ECC_UNCORR_VOLATILE,
	GPU_F_REMAP_CORR_ROWS,
	GPU_F_REMAP_UNCORR_ROWS,
	GPU_F_REMAP_PENDING,
	GPU_F_REMAP_FAILURE,
	GPU_F_XID_TOTAL,           /* Xid events seen since gputel started */
	GPU_F__COUNT
};

/* Host fields. */
enum host_field {
	HOST_F_CPU_PKG_POWER_MW,   /* sum of RAPL package-* zones */
	HOST_F_CPU_PKG_ENERGY_MJ,  /* wrap-corrected, since gputel started */
	HOST_F_DRAM_POWER_MW,      /* sum of RAPL dram zones */
	HOST_F_CPU_PKG_TEMP_MC,    /* hottest package sensor */
	HOST_F_CPU_CORE_MAX_MC,    /* hottest core / CCD */
	HOST_F_T_SENSOR_MC,        /* board thermistor header (T_Sensor) */
	HOST_F_CHIPSET_MC,         /* chipset / PCH */
	HOST_F_VRM_MC,
	HOST_F_CPU_UTIL_CPCT,      /* CPU busy, hundredths of a percent */
	HOST_F_MEM_USED_BYTES,     /* MemTotal - MemAvailable */
	HOST_F_MEM_TOTAL_BYTES,
	HOST_F__COUNT
};

enum gpu_health {
	GPU_HEALTH_UP = 0,
	GPU_HEALTH_DOWN = 1,       /* lost or failing; being re-acquired */
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

struct gpu_reading {
	struct gpu_ident id;
	int health;                     /* enum gpu_health */
	int64_t val[GPU_F__COUNT];
	uint8_t st[GPU_F__COUNT];       /* enum val_state */
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
	const char *backend;            /* "nvml", "nvidia-smi" or "none" */
	unsigned int n_gpus;
	struct gpu_reading gpu[GPUTEL_MAX_GPUS];
	struct host_reading host;
	struct source_status gpu_src;
	struct source_status host_src;
};

/*
 * How a field is printed: its column/key name (the unit is in the name),
 * and the divisor and decimals that turn the stored integer into that unit.
 * Indexed by enum gpu_field / enum host_field; defined in snapshot.c.
 */
struct field_desc {
	const char *name;
	int64_t div;
	int decimals;
	int hex;          /* print as 0x%016llx (bit masks) */
};

extern const struct field_desc gpu_field_desc[GPU_F__COUNT];
extern const struct field_desc host_field_desc[HOST_F__COUNT];

static inline void reading_set(int64_t *val, uint8_t *st, int f, int64_t v)
{
	val[f] = v;
	st[f] = VAL_OK;
}

#define GPU_SET(r, f, v) reading_set((r)->val, (r)->st, (f), (v))
#define HOST_SET(h, f, v) reading_set((h)->val, (h)->st, (f), (v))

#endif
