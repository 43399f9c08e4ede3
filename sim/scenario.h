/*
 * scenario.h - the simulated driver's timeline: a small line-oriented text
 * format (docs/simulator.md) parsed once into per-GPU, per-value keyframe
 * tracks, then evaluated at any time t with no allocation and no syscall.
 *
 * Shared by the simulated NVML library, the fake nvidia-smi, the unit
 * tests and a fuzzer, so nothing here prints, exits or keeps global state:
 * every failure comes back as a return code and a one-line message.
 */
#ifndef GPUTEL_SIM_SCENARIO_H
#define GPUTEL_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCN_MAX_GPUS 64
#define SCN_DEFAULT_GPUS 2
#define SCN_NAME_MAX 96   /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define SCN_DRIVER_MAX 80 /* NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE */
#define SCN_ERR_MAX 640   /* room for the "known keys: ..." list */
#define SCN_UUID_MAX 48   /* "GPU-" + 36 + NUL, rounded up */
#define SCN_BUSID_MAX 32

/* Values that vary along the timeline (keys of an `at` line). */
enum scn_var {
	SCN_UTIL,          /* util, % */
	SCN_MEM_UTIL,      /* mem_util, % */
	SCN_POWER_W,       /* power_w */
	SCN_POWER_LIMIT_W, /* power_limit_w */
	SCN_TEMP_C,        /* temp_c */
	SCN_MEM_USED_MIB,  /* mem_used_mib */
	SCN_MEM_TOTAL_MIB, /* memory_total_mib */
	SCN_SM_MHZ,        /* sm_mhz */
	SCN_MEM_MHZ,       /* mem_mhz */
	SCN_FAN,           /* fan, % */
	SCN_PSTATE,        /* pstate, 0..15 */
	SCN_CLOCK_EVENTS,  /* clock_events, bit mask */
	SCN_ENC_UTIL,      /* enc_util, % */
	SCN_DEC_UTIL,      /* dec_util, % */
	SCN_ECC_CORR,      /* ecc_corr, count */
	SCN_ECC_UNCORR,    /* ecc_uncorr, count */
	SCN_REMAP_CORR,    /* remap_corr, rows */
	SCN_REMAP_UNCORR,  /* remap_uncorr, rows */
	SCN_REMAP_PENDING, /* remap_pending, 0/1 */
	SCN_REMAP_FAILURE, /* remap_failure, 0/1 */
	SCN_LATENCY_MS,    /* latency_ms */
	SCN_LOST,          /* 1 between `lost` and `recover` */
	SCN_UNSUPPORTED,   /* mask of 1 << enum scn_field */
	SCN_ERROR,         /* mask of 1 << enum scn_field */
	SCN_VAR_COUNT
};

/* The query groups that unsupported= and error= name. */
enum scn_field {
	SCN_F_UTIL,
	SCN_F_MEM_UTIL,
	SCN_F_MEMORY,
	SCN_F_TEMP,
	SCN_F_POWER,
	SCN_F_POWER_LIMIT,
	SCN_F_ENERGY,
	SCN_F_SM_CLOCK,
	SCN_F_MEM_CLOCK,
	SCN_F_FAN,
	SCN_F_PSTATE,
	SCN_F_CLOCK_EVENTS,
	SCN_F_ENC,
	SCN_F_DEC,
	SCN_F_ECC,
	SCN_F_REMAP,
	SCN_F_COUNT
};

/* How a query on one GPU ends at time t. */
enum scn_status {
	SCN_OK = 0,
	SCN_ST_UNSUPPORTED, /* NVML_ERROR_NOT_SUPPORTED / [N/A] */
	SCN_ST_ERROR,       /* NVML_ERROR_UNKNOWN / [Unknown Error] */
	SCN_ST_LOST,        /* NVML_ERROR_GPU_IS_LOST / [GPU is lost] */
};

/* Every NVML function the simulated library exports (`missing` names). */
enum scn_fn {
	SCN_FN_nvmlInit_v2,
	SCN_FN_nvmlInit,
	SCN_FN_nvmlInitWithFlags,
	SCN_FN_nvmlShutdown,
	SCN_FN_nvmlErrorString,
	SCN_FN_nvmlSystemGetDriverVersion,
	SCN_FN_nvmlSystemGetNVMLVersion,
	SCN_FN_nvmlDeviceGetCount_v2,
	SCN_FN_nvmlDeviceGetCount,
	SCN_FN_nvmlDeviceGetHandleByIndex_v2,
	SCN_FN_nvmlDeviceGetHandleByIndex,
	SCN_FN_nvmlDeviceGetHandleByUUID,
	SCN_FN_nvmlDeviceGetName,
	SCN_FN_nvmlDeviceGetUUID,
	SCN_FN_nvmlDeviceGetPciInfo_v3,
	SCN_FN_nvmlDeviceGetPciInfo_v2,
	SCN_FN_nvmlDeviceGetPciInfo,
	SCN_FN_nvmlDeviceGetMinorNumber,
	SCN_FN_nvmlDeviceGetPersistenceMode,
	SCN_FN_nvmlDeviceGetUtilizationRates,
	SCN_FN_nvmlDeviceGetMemoryInfo,
	SCN_FN_nvmlDeviceGetMemoryInfo_v2,
	SCN_FN_nvmlDeviceGetTemperature,
	SCN_FN_nvmlDeviceGetTemperatureV,
	SCN_FN_nvmlDeviceGetPowerUsage,
	SCN_FN_nvmlDeviceGetEnforcedPowerLimit,
	SCN_FN_nvmlDeviceGetTotalEnergyConsumption,
	SCN_FN_nvmlDeviceGetClockInfo,
	SCN_FN_nvmlDeviceGetFanSpeed,
	SCN_FN_nvmlDeviceGetPerformanceState,
	SCN_FN_nvmlDeviceGetCurrentClocksEventReasons,
	SCN_FN_nvmlDeviceGetCurrentClocksThrottleReasons,
	SCN_FN_nvmlDeviceGetEncoderUtilization,
	SCN_FN_nvmlDeviceGetDecoderUtilization,
	SCN_FN_nvmlDeviceGetTotalEccErrors,
	SCN_FN_nvmlDeviceGetRemappedRows,
	SCN_FN_nvmlEventSetCreate,
	SCN_FN_nvmlDeviceGetSupportedEventTypes,
	SCN_FN_nvmlDeviceRegisterEvents,
	SCN_FN_nvmlEventSetWait_v2,
	SCN_FN_nvmlEventSetWait,
	SCN_FN_nvmlEventSetFree,
	SCN_FN_COUNT
};

struct scenario; /* opaque, immutable once parsed */

/*
 * Parses scenario text (need not be NUL-terminated; len bytes).  name is
 * what error messages call the text ("x.scn").  gpus_override > 0 replaces
 * the scenario's `gpus` (GPUTEL_SIM_GPUS); 0 keeps it.  Returns 0 with *out
 * set (free it with scn_free), or -1 with *out NULL and err holding
 * "<name>:<line>: <problem>; <fix>".
 */
int scn_parse(const char *text, size_t len, const char *name, int gpus_override,
	      struct scenario **out, char *err, size_t errlen);

/* scn_parse() on a file; unreadable files fail as "<path>: ...". */
int scn_load_file(const char *path, int gpus_override, struct scenario **out,
		  char *err, size_t errlen);

/*
 * What the library and the fake nvidia-smi do at start: GPUTEL_SIM_GPUS,
 * GPUTEL_SIM_SCENARIO (or the built-in steady load), GPUTEL_SIM_EPOCH.
 * On success *has_epoch tells whether *epoch (unix seconds) was given.
 * Errors come back ready to show: "scenario <file>:<line>: ..." or
 * "GPUTEL_SIM_GPUS=...: ...".
 */
int scn_load_env(struct scenario **out, bool *has_epoch, double *epoch,
		 char *err, size_t errlen);

/* The scenario used when GPUTEL_SIM_SCENARIO is unset. */
const char *scn_default_text(void);

void scn_free(struct scenario *s);

/* Global settings. */
int scn_gpus(const struct scenario *s);
const char *scn_driver(const struct scenario *s);
int scn_driver_major(const struct scenario *s); /* "550.54.15" -> 550 */
const char *scn_gpu_name(const struct scenario *s);
double scn_loop(const struct scenario *s); /* 0: no loop */
bool scn_missing(const struct scenario *s, enum scn_fn fn);

/*
 * Evaluation at t seconds on the timeline (t < 0 reads as 0; with `loop`
 * t wraps).  Steps hold until the next keyframe; a `ramp` keyframe is
 * reached linearly from the one before it.  Out-of-range gpu or var gives 0.
 */
double scn_value(const struct scenario *s, int gpu, enum scn_var v, double t);
bool scn_lost(const struct scenario *s, int gpu, double t);
/* Lost first, then unsupported=, then error=. */
enum scn_status scn_status(const struct scenario *s, int gpu, enum scn_field f, double t);

/*
 * Energy in mJ since the driver "loaded": a fixed per-GPU starting offset
 * plus the exact integral of power_w over [0, t].  Monotonic in t.
 */
double scn_energy_mj(const struct scenario *s, int gpu, double t);
/* The per-GPU starting offset of scn_energy_mj(), in mJ. */
double scn_energy_offset_mj(int gpu);

/*
 * The earliest Xid on gpu with after < when <= upto (absolute timeline
 * seconds; loops repeat their events).  Returns 1 with *when and *xid set,
 * or 0 when there is none.
 */
int scn_next_xid(const struct scenario *s, int gpu, double after, double upto,
		 double *when, unsigned *xid);

/* Identity shared by the library and the fake nvidia-smi. */
void scn_gpu_uuid(int gpu, char *buf, size_t n);       /* GPU-xxxxxxxx-xxxx-... */
void scn_gpu_bus_id(int gpu, char *buf, size_t n);     /* 00000000:18:00.0 */
void scn_gpu_bus_id_legacy(int gpu, char *buf, size_t n); /* 0000:18:00.0 */
unsigned scn_gpu_pci_domain(int gpu);
unsigned scn_gpu_pci_bus(int gpu);

/* Names. */
const char *scn_field_name(enum scn_field f);
const char *scn_fn_name(enum scn_fn fn);
int scn_fn_from_name(const char *name); /* -1 when unknown */

/*
 * Environment helpers (exposed for tests).  Return 0, or -1 with err set.
 * An empty or unset value is the caller's business: pass non-NULL text.
 */
int scn_parse_gpus_env(const char *value, int *out, char *err, size_t errlen);
int scn_parse_epoch_env(const char *value, double *out, char *err, size_t errlen);

#endif
