/*
 * fields.c - the field table: see fields.h.
 *
 * One row per field.  The compatibility sets keep their original names,
 * types and units (docs/metrics.md lists promtool's remarks on them); a
 * value gputel does not have is left out of every set, never invented.
 */
#include "fields.h"

#include <stddef.h>

#define MIB (1024 * 1024)

/* Series of a row, one per name set it appears in. */
#define GPUTEL(name, type, help, mul, div, dec, label) \
	{ PROM_NAMES_GPUTEL, name, type, help, mul, div, dec, label }
#define JN(name, help, div, dec) { PROM_NAMES_JN, name, "gauge", help, 1, div, dec, NULL }
#define DCGM(name, type, help, div, dec) { PROM_NAMES_DCGM, name, type, help, 1, div, dec, NULL }

const struct gpu_field_info gpu_fields[GPU_F__COUNT] = {
	[GPU_F_UTIL_GPU_PCT] = {
		"percent", { "util_gpu_percent", 1, 0, false },
		{ "utilization.gpu", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_utilization_ratio", "gauge",
			 "Share of time a kernel ran on the GPU over the driver's window (0-1).", 1, 100, 2, NULL),
		  JN("jn_gpu_util_pct", "GPU utilisation in percent.", 1, 0),
		  DCGM("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", 1, 0),
		  /*
		   * DCGM measures this with profiling counters, which NVML does
		   * not offer; NVML's utilisation is the same share of time at a
		   * coarser grain, and NVIDIA's dashboard draws its utilisation
		   * panel from it.
		   */
		  { PROM_NAMES_DCGM, "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge",
		    "Ratio of time the graphics engine is active (from NVML utilisation).", 1, 100, 2, NULL } },
	},
	[GPU_F_UTIL_MEM_PCT] = {
		"percent", { "util_mem_percent", 1, 0, false },
		{ "utilization.memory", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_memory_utilization_ratio", "gauge",
			 "Share of time device memory was read or written (0-1).", 1, 100, 2, NULL),
		  JN("jn_gpu_mem_util_pct", "GPU memory utilisation in percent.", 1, 0),
		  DCGM("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).", 1, 0) },
	},
	[GPU_F_MEM_USED_BYTES] = {
		"bytes", { "memory_used_mb", MIB, 0, false },
		{ "memory.used", SMI_K_NUMBER, MIB, NULL },
		{ GPUTEL("gputel_gpu_memory_used_bytes", "gauge", "Device memory in use.", 1, 1, 0, NULL),
		  JN("jn_gpu_mem_used_mb", "GPU memory used in MiB.", MIB, 0),
		  DCGM("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", MIB, 0) },
	},
	[GPU_F_MEM_TOTAL_BYTES] = {
		"bytes", { "memory_total_mb", MIB, 0, false },
		{ "memory.total", SMI_K_NUMBER, MIB, NULL },
		{ GPUTEL("gputel_gpu_memory_total_bytes", "gauge", "Device memory size.", 1, 1, 0, NULL),
		  DCGM("DCGM_FI_DEV_FB_TOTAL", "gauge", "Framebuffer memory total (in MiB).", MIB, 0) },
	},
	[GPU_F_TEMP_MC] = {
		"millidegrees Celsius", { "temperature_c", 1000, 0, false },
		{ "temperature.gpu", SMI_K_NUMBER, 1000, NULL },
		{ GPUTEL("gputel_gpu_temperature_celsius", "gauge", "GPU core temperature.", 1, 1000, 3, NULL),
		  JN("jn_gpu_temp_c", "GPU temperature in degrees Celsius.", 1000, 0),
		  DCGM("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", 1000, 0) },
	},
	[GPU_F_POWER_MW] = {
		"mW", { "power_draw_w", 1000, 2, false },
		{ "power.draw", SMI_K_NUMBER, 1000, NULL },
		{ GPUTEL("gputel_gpu_power_watts", "gauge",
			 "Board power draw (a 1 s average on Ampere and later, except GA100).", 1, 1000, 3, NULL),
		  JN("jn_gpu_power_w", "GPU power draw in watts.", 1000, 3),
		  DCGM("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", 1000, 3) },
	},
	[GPU_F_POWER_LIMIT_MW] = {
		"mW", { "power_limit_w", 1000, 2, false },
		{ "enforced.power.limit", SMI_K_NUMBER, 1000, NULL },
		{ GPUTEL("gputel_gpu_power_limit_watts", "gauge", "Enforced power limit.", 1, 1000, 3, NULL),
		  DCGM("DCGM_FI_DEV_POWER_MGMT_LIMIT", "gauge", "Current power limit (in W).", 1000, 3) },
	},
	[GPU_F_ENERGY_MJ] = {
		"mJ", { "energy_j", 1000, 3, false },
		{ NULL, SMI_K_NONE, 0, NULL },
		{ GPUTEL("gputel_gpu_energy_joules_total", "counter",
			 "Energy used since the driver loaded (Volta and later).", 1, 1000, 3, NULL),
		  DCGM("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter",
		       "Total energy consumption since boot (in mJ).", 1, 0) },
	},
	[GPU_F_CLOCK_SM_MHZ] = {
		"MHz", { "sm_clock_mhz", 1, 0, false },
		{ "clocks.sm", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_clock_hertz", "gauge", "Current clock frequency.", 1000000, 1, 0,
			 "clock=\"sm\""),
		  DCGM("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", 1, 0) },
	},
	[GPU_F_CLOCK_MEM_MHZ] = {
		"MHz", { "mem_clock_mhz", 1, 0, false },
		{ "clocks.mem", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_clock_hertz", "gauge", "Current clock frequency.", 1000000, 1, 0,
			 "clock=\"mem\""),
		  DCGM("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).", 1, 0) },
	},
	[GPU_F_FAN_PCT] = {
		"percent", { "fan", 1, 0, false },
		{ "fan.speed", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_fan_ratio", "gauge", "Intended fan speed (0-1; may exceed 1).", 1, 100, 2, NULL),
		  JN("jn_gpu_fan_pct", "GPU fan speed in percent.", 1, 0),
		  DCGM("DCGM_FI_DEV_FAN_SPEED", "gauge", "Fan speed (in %).", 1, 0) },
	},
	[GPU_F_PSTATE] = {
		"P-state", { "pstate", 1, 0, false },
		{ "pstate", SMI_K_PSTATE, 1, NULL },
		{ GPUTEL("gputel_gpu_pstate", "gauge", "Performance state (0 = P0, the fastest).", 1, 1, 0, NULL),
		  DCGM("DCGM_FI_DEV_PSTATE", "gauge", "Performance state (P-State) 0-15; 0 is the highest.", 1, 0) },
	},
	/* gputel's own family for this one is one series per reason bit (prom.c). */
	[GPU_F_CLOCK_EVENT_MASK] = {
		"bit mask", { "clocks_event_reasons", 1, 0, true },
		{ "clocks_event_reasons.active", SMI_K_HEX, 1, "clocks_throttle_reasons.active" },
		{ DCGM("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "gauge",
		       "Current clock throttle (clock event) reasons, a bit mask.", 1, 0) },
	},
	[GPU_F_ENC_UTIL_PCT] = {
		"percent", { "encoder_util_percent", 1, 0, false },
		{ "utilization.encoder", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_encoder_utilization_ratio", "gauge", "Video encoder utilisation (0-1).", 1, 100,
			 2, NULL),
		  DCGM("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %).", 1, 0) },
	},
	[GPU_F_DEC_UTIL_PCT] = {
		"percent", { "decoder_util_percent", 1, 0, false },
		{ "utilization.decoder", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_decoder_utilization_ratio", "gauge", "Video decoder utilisation (0-1).", 1, 100,
			 2, NULL),
		  DCGM("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %).", 1, 0) },
	},
	[GPU_F_ECC_CORR_VOLATILE] = {
		"errors", { "ecc_corrected_volatile", 1, 0, false },
		{ "ecc.errors.corrected.volatile.total", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_ecc_errors_total", "counter",
			 "ECC errors since the driver loaded (volatile counters).", 1, 1, 0, "type=\"corrected\""),
		  DCGM("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", "Total single-bit volatile ECC errors.", 1, 0) },
	},
	[GPU_F_ECC_UNCORR_VOLATILE] = {
		"errors", { "ecc_uncorrected_volatile", 1, 0, false },
		{ "ecc.errors.uncorrected.volatile.total", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_ecc_errors_total", "counter",
			 "ECC errors since the driver loaded (volatile counters).", 1, 1, 0, "type=\"uncorrected\""),
		  DCGM("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total double-bit volatile ECC errors.", 1, 0) },
	},
	[GPU_F_REMAP_CORR_ROWS] = {
		"rows", { "remapped_rows_correctable", 1, 0, false },
		{ "remapped_rows.correctable", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_remapped_rows_total", "counter", "Memory rows remapped (Ampere and later).", 1,
			 1, 0, "type=\"correctable\""),
		  DCGM("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter",
		       "Number of remapped rows for correctable errors.", 1, 0) },
	},
	[GPU_F_REMAP_UNCORR_ROWS] = {
		"rows", { "remapped_rows_uncorrectable", 1, 0, false },
		{ "remapped_rows.uncorrectable", SMI_K_NUMBER, 1, NULL },
		{ GPUTEL("gputel_gpu_remapped_rows_total", "counter", "Memory rows remapped (Ampere and later).", 1,
			 1, 0, "type=\"uncorrectable\""),
		  DCGM("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter",
		       "Number of remapped rows for uncorrectable errors.", 1, 0) },
	},
	[GPU_F_REMAP_PENDING] = {
		"0/1", { "remapped_rows_pending", 1, 0, false },
		{ "remapped_rows.pending", SMI_K_BOOL, 1, NULL },
		{ GPUTEL("gputel_gpu_remapped_rows_pending", "gauge", "1 when a row remap waits for a GPU reset.", 1,
			 1, 0, NULL),
		  DCGM("DCGM_FI_DEV_ROW_REMAP_PENDING", "gauge", "Whether remapping of rows is pending.", 1, 0) },
	},
	[GPU_F_REMAP_FAILURE] = {
		"0/1", { "remapped_rows_failure", 1, 0, false },
		{ "remapped_rows.failure", SMI_K_BOOL, 1, NULL },
		{ GPUTEL("gputel_gpu_remapped_rows_failure", "gauge", "1 when a row remap failed.", 1, 1, 0, NULL),
		  DCGM("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed.", 1, 0) },
	},
	[GPU_F_XID_TOTAL] = {
		"events", { "xid_total", 1, 0, false },
		{ NULL, SMI_K_NONE, 0, NULL },
		/* On /metrics per code, merged with the kernel log's: sink_events.c. */
		{ { 0 } },
	},
};

#define HOST_TEMP(role) \
	GPUTEL("gputel_host_temperature_celsius", "gauge", \
	       "Hottest hwmon channel of each role (cpu_pkg, cpu_core, t_sensor, chipset, vrm).", 1, 1000, 3, \
	       "role=\"" role "\"")

const struct host_field_info host_fields[HOST_F__COUNT] = {
	[HOST_F_CPU_PKG_POWER_MW] = {
		"mW", { "cpu_pkg_w", 1000, 2, false },
		{ GPUTEL("gputel_cpu_package_power_watts", "gauge",
			 "CPU package power from RAPL energy deltas, summed over packages.", 1, 1000, 3, NULL),
		  JN("jn_cpu_pkg_w", "CPU package power in watts, from RAPL energy deltas.", 1000, 3) },
	},
	[HOST_F_CPU_PKG_ENERGY_MJ] = {
		"mJ", { "cpu_pkg_energy_j", 1000, 3, false },
		{ GPUTEL("gputel_cpu_package_energy_joules_total", "counter",
			 "CPU package energy since gputel started, wraparound corrected.", 1, 1000, 3, NULL) },
	},
	[HOST_F_DRAM_POWER_MW] = {
		"mW", { "dram_w", 1000, 2, false },
		{ GPUTEL("gputel_dram_power_watts", "gauge", "DRAM power from RAPL energy deltas.", 1, 1000, 3,
			 NULL) },
	},
	[HOST_F_CPU_PKG_TEMP_MC] = {
		"millidegrees Celsius", { "cpu_pkg_temp_c", 1000, 1, false },
		{ HOST_TEMP("cpu_pkg"),
		  JN("jn_cpu_pkg_temp_c", "CPU package temperature in degrees Celsius.", 1000, 1) },
	},
	[HOST_F_CPU_CORE_MAX_MC] = {
		"millidegrees Celsius", { "cpu_core_max_c", 1000, 1, false },
		{ HOST_TEMP("cpu_core"), JN("jn_cpu_core_max_c", "Hottest CPU core in degrees Celsius.", 1000, 1) },
	},
	[HOST_F_T_SENSOR_MC] = {
		"millidegrees Celsius", { "t_sensor_temp_c", 1000, 1, false },
		{ HOST_TEMP("t_sensor"), JN("jn_t_sensor_c", "Board T_Sensor temperature in degrees Celsius.", 1000, 1) },
	},
	[HOST_F_CHIPSET_MC] = {
		"millidegrees Celsius", { "chipset_temp_c", 1000, 1, false },
		{ HOST_TEMP("chipset"), JN("jn_chipset_temp_c", "Chipset temperature in degrees Celsius.", 1000, 1) },
	},
	[HOST_F_VRM_MC] = {
		"millidegrees Celsius", { "vrm_temp_c", 1000, 1, false },
		{ HOST_TEMP("vrm"), JN("jn_vrm_temp_c", "VRM temperature in degrees Celsius.", 1000, 1) },
	},
	[HOST_F_CPU_UTIL_CPCT] = {
		"hundredths of a percent", { "cpu_util_percent", 100, 2, false },
		{ GPUTEL("gputel_cpu_utilization_ratio", "gauge",
			 "Whole-host CPU busy share since the previous tick (0-1), from /proc/stat.", 1, 10000, 4,
			 NULL) },
	},
	[HOST_F_MEM_USED_BYTES] = {
		"bytes", { "host_mem_used_mb", MIB, 0, false },
		{ GPUTEL("gputel_memory_used_bytes", "gauge", "Host memory in use (MemTotal - MemAvailable).", 1, 1,
			 0, NULL) },
	},
	[HOST_F_MEM_TOTAL_BYTES] = {
		"bytes", { "host_mem_total_mb", MIB, 0, false },
		{ GPUTEL("gputel_memory_total_bytes", "gauge", "Host memory size (MemTotal).", 1, 1, 0, NULL) },
	},
};
