/*
 * snapshot.c - names and print scaling of every sampled field, shared by
 * the CSV writer and `gputel gpus` (and later the Prometheus renderer), so
 * a field is named once.  docs/csv.md documents each one.
 */
#include "snapshot.h"

#define MIB (1024 * 1024)

const struct field_desc gpu_field_desc[GPU_F__COUNT] = {
	[GPU_F_UTIL_GPU_PCT] = { "util_gpu_percent", 1, 0, 0 },
	[GPU_F_UTIL_MEM_PCT] = { "util_mem_percent", 1, 0, 0 },
	[GPU_F_MEM_USED_BYTES] = { "memory_used_mb", MIB, 0, 0 },
	[GPU_F_MEM_TOTAL_BYTES] = { "memory_total_mb", MIB, 0, 0 },
	[GPU_F_TEMP_MC] = { "temperature_c", 1000, 0, 0 },
	[GPU_F_POWER_MW] = { "power_draw_w", 1000, 2, 0 },
	[GPU_F_POWER_LIMIT_MW] = { "power_limit_w", 1000, 2, 0 },
	[GPU_F_ENERGY_MJ] = { "energy_j", 1000, 3, 0 },
	[GPU_F_CLOCK_SM_MHZ] = { "sm_clock_mhz", 1, 0, 0 },
	[GPU_F_CLOCK_MEM_MHZ] = { "mem_clock_mhz", 1, 0, 0 },
	[GPU_F_FAN_PCT] = { "fan", 1, 0, 0 },
	[GPU_F_PSTATE] = { "pstate", 1, 0, 0 },
	[GPU_F_CLOCK_EVENT_MASK] = { "clocks_event_reasons", 1, 0, 1 },
	[GPU_F_ENC_UTIL_PCT] = { "encoder_util_percent", 1, 0, 0 },
	[GPU_F_DEC_UTIL_PCT] = { "decoder_util_percent", 1, 0, 0 },
	[GPU_F_ECC_CORR_VOLATILE] = { "ecc_corrected_volatile", 1, 0, 0 },
	[GPU_F_ECC_UNCORR_VOLATILE] = { "ecc_uncorrected_volatile", 1, 0, 0 },
	[GPU_F_REMAP_CORR_ROWS] = { "remapped_rows_correctable", 1, 0, 0 },
	[GPU_F_REMAP_UNCORR_ROWS] = { "remapped_rows_uncorrectable", 1, 0, 0 },
	[GPU_F_REMAP_PENDING] = { "remapped_rows_pending", 1, 0, 0 },
	[GPU_F_REMAP_FAILURE] = { "remapped_rows_failure", 1, 0, 0 },
	[GPU_F_XID_TOTAL] = { "xid_total", 1, 0, 0 },
};

const struct field_desc host_field_desc[HOST_F__COUNT] = {
	[HOST_F_CPU_PKG_POWER_MW] = { "cpu_pkg_w", 1000, 2, 0 },
	[HOST_F_CPU_PKG_ENERGY_MJ] = { "cpu_pkg_energy_j", 1000, 3, 0 },
	[HOST_F_DRAM_POWER_MW] = { "dram_w", 1000, 2, 0 },
	[HOST_F_CPU_PKG_TEMP_MC] = { "cpu_pkg_temp_c", 1000, 1, 0 },
	[HOST_F_CPU_CORE_MAX_MC] = { "cpu_core_max_c", 1000, 1, 0 },
	[HOST_F_T_SENSOR_MC] = { "t_sensor_temp_c", 1000, 1, 0 },
	[HOST_F_CHIPSET_MC] = { "chipset_temp_c", 1000, 1, 0 },
	[HOST_F_VRM_MC] = { "vrm_temp_c", 1000, 1, 0 },
	[HOST_F_CPU_UTIL_CPCT] = { "cpu_util_percent", 100, 2, 0 },
	[HOST_F_MEM_USED_BYTES] = { "host_mem_used_mb", MIB, 0, 0 },
	[HOST_F_MEM_TOTAL_BYTES] = { "host_mem_total_mb", MIB, 0, 0 },
};
