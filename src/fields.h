/*
 * fields.h - every sampled field, and everything said about it, in one
 * place.
 *
 * A field is an enum entry (its slot in a snapshot) and one row of
 * gpu_fields[] or host_fields[] (fields.c): the unit it is stored in, its
 * CSV column and print scaling, its nvidia-smi --query-gpu name, and the
 * Prometheus series it becomes in each name set (gputel, the guide's jn_*,
 * dcgm-exporter's DCGM_FI_*).  The CSV header, the Prometheus renderers,
 * the nvidia-smi query and `gputel gpus` all read these rows; the drift
 * tests (tests/unit/test_fields.c) hold docs/csv.md and docs/metrics.md to
 * them.  docs/architecture.md lists the steps for adding a field.
 *
 * Values are stored as integers in the unit the enum name gives (mW, mJ,
 * bytes, millidegrees), so nothing on the per-tick path touches floating
 * point until a sink formats it.
 */
#ifndef GPUTEL_FIELDS_H
#define GPUTEL_FIELDS_H

#include <stdbool.h>
#include <stdint.h>

/* Per-GPU fields.  The order is the order of their rows and Prometheus families. */
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

/*
 * How a field is printed as text (the CSV column, `gputel gpus`): its name
 * (the unit is in the name), and the divisor and decimals that turn the
 * stored integer into that unit.
 */
struct field_desc {
	const char *name;
	int64_t div;
	int decimals;
	bool hex;         /* print as 0x%016llx (bit masks) */
};

/* How nvidia-smi --query-gpu reads a token (gpu_smi.c). */
enum smi_kind {
	SMI_K_NONE = 0, /* nvidia-smi has no such field */
	SMI_K_INDEX,    /* identity: the nvidia-smi index */
	SMI_K_UUID,     /* identity: GPU-xxxxxxxx-... */
	SMI_K_NUMBER,   /* decimal, times scale */
	SMI_K_PSTATE,   /* "P8" -> 8 */
	SMI_K_HEX,      /* "0x0000000000000004" -> 4 */
	SMI_K_BOOL,     /* "Yes"/"No" or a count (remapped_rows.pending/failure) */
};

struct field_smi {
	const char *name;     /* as --query-gpu spells it; NULL: not offered */
	enum smi_kind kind;
	int64_t scale;        /* SMI_K_NUMBER: MiB -> bytes, W -> mW, C -> mC */
	const char *fallback; /* older drivers' name for it, or NULL */
};

/* Name sets (JN_METRIC_NAMES, --metric-names); the same bits as CONFIG_METRICS_*. */
#define PROM_NAMES_GPUTEL (1u << 0)   /* gputel_* (the default) */
#define PROM_NAMES_JN (1u << 1)       /* the guide's exporter: jn_gpu_power_w, ... */
#define PROM_NAMES_DCGM (1u << 2)     /* dcgm-exporter: DCGM_FI_DEV_GPU_UTIL, ... */

/*
 * One Prometheus series a field becomes: value * mul / div, printed with
 * `decimals` places.  Fields whose series share a family name have
 * neighbouring rows (the family's HELP and TYPE go before the first).
 */
struct field_prom {
	unsigned int set;     /* PROM_NAMES_*; 0 ends a row's list */
	const char *name;
	const char *type;     /* "gauge" or "counter" */
	const char *help;
	int64_t mul, div;
	int decimals;
	const char *label;    /* an extra label, e.g. clock="sm", or NULL */
};

#define FIELD_PROM_MAX 4

struct gpu_field_info {
	const char *unit;     /* of the stored integer */
	struct field_desc csv;
	struct field_smi smi;
	struct field_prom prom[FIELD_PROM_MAX];
};

struct host_field_info {
	const char *unit;
	struct field_desc csv;
	struct field_prom prom[FIELD_PROM_MAX];
};

extern const struct gpu_field_info gpu_fields[GPU_F__COUNT];
extern const struct host_field_info host_fields[HOST_F__COUNT];

#endif
