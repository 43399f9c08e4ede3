/*
 * prom_compat.c - the compatibility name sets: the guide's exporter
 * (jn_*) and dcgm-exporter (DCGM_FI_*), rendered from the same snapshot as
 * the gputel_* set so that dashboards built on either keep working.
 *
 * Each keeps its original names, types and units, which is why promtool
 * has remarks on them (docs/metrics.md lists each).  A value gputel does
 * not have is left out, never invented.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "prom_internal.h"
#include "util.h"

/*
 * The guide's exporter read the first GPU only and labelled nothing; here
 * every GPU's series carries gpu="N" so that hosts with several GPUs are
 * not ambiguous.  Units are those of the original: W, °C, %, MiB ("mb").
 */
static const struct gpu_metric jn_gpu[] = {
	{ "jn_gpu_power_w", "gauge", "GPU power draw in watts.", GPU_F_POWER_MW, 1, 1000, 3, NULL },
	{ "jn_gpu_temp_c", "gauge", "GPU temperature in degrees Celsius.", GPU_F_TEMP_MC, 1, 1000, 0, NULL },
	{ "jn_gpu_util_pct", "gauge", "GPU utilisation in percent.", GPU_F_UTIL_GPU_PCT, 1, 1, 0, NULL },
	{ "jn_gpu_mem_util_pct", "gauge", "GPU memory utilisation in percent.", GPU_F_UTIL_MEM_PCT, 1, 1, 0, NULL },
	{ "jn_gpu_mem_used_mb", "gauge", "GPU memory used in MiB.", GPU_F_MEM_USED_BYTES, 1, 1 << 20, 0, NULL },
	{ "jn_gpu_fan_pct", "gauge", "GPU fan speed in percent.", GPU_F_FAN_PCT, 1, 1, 0, NULL },
};

static const struct {
	const char *name;
	const char *help;
	int field;
	int64_t div;
	int decimals;
} jn_host[] = {
	{ "jn_cpu_pkg_w", "CPU package power in watts, from RAPL energy deltas.", HOST_F_CPU_PKG_POWER_MW, 1000, 3 },
	{ "jn_cpu_pkg_temp_c", "CPU package temperature in degrees Celsius.", HOST_F_CPU_PKG_TEMP_MC, 1000, 1 },
	{ "jn_cpu_core_max_c", "Hottest CPU core in degrees Celsius.", HOST_F_CPU_CORE_MAX_MC, 1000, 1 },
	{ "jn_t_sensor_c", "Board T_Sensor temperature in degrees Celsius.", HOST_F_T_SENSOR_MC, 1000, 1 },
	{ "jn_chipset_temp_c", "Chipset temperature in degrees Celsius.", HOST_F_CHIPSET_MC, 1000, 1 },
	{ "jn_vrm_temp_c", "VRM temperature in degrees Celsius.", HOST_F_VRM_MC, 1000, 1 },
};

/* dcgm-exporter's names for the fields gputel reads; units as DCGM gives them. */
static const struct gpu_metric dcgm_gpu[] = {
	{ "DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", GPU_F_CLOCK_SM_MHZ, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).", GPU_F_CLOCK_MEM_MHZ, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", GPU_F_TEMP_MC, 1, 1000, 0, NULL },
	{ "DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", GPU_F_POWER_MW, 1, 1000, 3, NULL },
	{ "DCGM_FI_DEV_POWER_MGMT_LIMIT", "gauge", "Current power limit (in W).", GPU_F_POWER_LIMIT_MW, 1, 1000, 3, NULL },
	{ "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter",
	  "Total energy consumption since boot (in mJ).", GPU_F_ENERGY_MJ, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", GPU_F_UTIL_GPU_PCT, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).", GPU_F_UTIL_MEM_PCT, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %).", GPU_F_ENC_UTIL_PCT, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %).", GPU_F_DEC_UTIL_PCT, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", GPU_F_MEM_USED_BYTES, 1, 1 << 20, 0, NULL },
	{ "DCGM_FI_DEV_FB_TOTAL", "gauge", "Framebuffer memory total (in MiB).", GPU_F_MEM_TOTAL_BYTES, 1, 1 << 20, 0, NULL },
	{ "DCGM_FI_DEV_FAN_SPEED", "gauge", "Fan speed (in %).", GPU_F_FAN_PCT, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_PSTATE", "gauge", "Performance state (P-State) 0-15; 0 is the highest.", GPU_F_PSTATE, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "gauge",
	  "Current clock throttle (clock event) reasons, a bit mask.", GPU_F_CLOCK_EVENT_MASK, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter",
	  "Total single-bit volatile ECC errors.", GPU_F_ECC_CORR_VOLATILE, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter",
	  "Total double-bit volatile ECC errors.", GPU_F_ECC_UNCORR_VOLATILE, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter",
	  "Number of remapped rows for correctable errors.", GPU_F_REMAP_CORR_ROWS, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter",
	  "Number of remapped rows for uncorrectable errors.", GPU_F_REMAP_UNCORR_ROWS, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed.", GPU_F_REMAP_FAILURE, 1, 1, 0, NULL },
	{ "DCGM_FI_DEV_ROW_REMAP_PENDING", "gauge", "Whether remapping of rows is pending.", GPU_F_REMAP_PENDING, 1, 1, 0, NULL },
	/*
	 * DCGM measures this with profiling counters, which NVML does not
	 * offer; NVML's utilisation is the same share of time at a coarser
	 * grain, and NVIDIA's dashboard draws its utilisation panel from it.
	 */
	{ "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge",
	  "Ratio of time the graphics engine is active (from NVML utilisation).", GPU_F_UTIL_GPU_PCT, 1, 100, 2, NULL },
};

static void jn_series(struct outbuf *o, const struct gpu_metric *m, const struct gpu_reading *g,
		      const void *ctx)
{
	(void)ctx;
	ob_puts(o, m->name);
	ob_puts(o, "{gpu=\"");
	ob_put_u64(o, g->id.index);
	ob_puts(o, "\"} ");
}

void prom_render_jn(struct outbuf *o, const struct snapshot *snap)
{
	const struct host_reading *h = &snap->host;
	int64_t total_mw = 0;
	bool total_ok = snap->n_gpus > 0 && h->st[HOST_F_CPU_PKG_POWER_MW] == VAL_OK;

	prom_gpu_table(o, snap, jn_gpu, ARRAY_SIZE(jn_gpu), jn_series, NULL);
	for (size_t m = 0; m < ARRAY_SIZE(jn_host); m++) {
		prom_family(o, jn_host[m].name, "gauge", jn_host[m].help);
		if (h->st[jn_host[m].field] != VAL_OK)
			continue;
		ob_puts(o, jn_host[m].name);
		ob_put(o, " ", 1);
		ob_put_scaled(o, h->val[jn_host[m].field], jn_host[m].div, jn_host[m].decimals);
		ob_put(o, "\n", 1);
	}
	/* Every GPU and the CPU packages, or nothing: a partial sum would read low. */
	for (unsigned int i = 0; i < snap->n_gpus && total_ok; i++) {
		if (snap->gpu[i].st[GPU_F_POWER_MW] != VAL_OK)
			total_ok = false;
		else
			total_mw += snap->gpu[i].val[GPU_F_POWER_MW];
	}
	prom_family(o, "jn_system_total_w", "gauge",
		    "GPU power of every GPU plus CPU package power, in watts.");
	if (total_ok) {
		ob_puts(o, "jn_system_total_w ");
		ob_put_scaled(o, total_mw + h->val[HOST_F_CPU_PKG_POWER_MW], 1000, 3);
		ob_put(o, "\n", 1);
	}
}

/* gpu, UUID, pci_bus_id, device, modelName, Hostname, DCGM_FI_DRIVER_VERSION. */
static void dcgm_series(struct outbuf *o, const struct gpu_metric *m, const struct gpu_reading *g,
			const void *ctx)
{
	const struct prom_self *self = ctx;

	ob_puts(o, m->name);
	ob_puts(o, "{gpu=\"");
	ob_put_u64(o, g->id.index);
	ob_puts(o, "\",UUID=\"");
	prom_put_label_value(o, g->id.uuid);
	ob_puts(o, "\",pci_bus_id=\"");
	prom_put_label_value(o, g->id.pci_bus_id);
	ob_puts(o, "\",device=\"nvidia");
	ob_put_u64(o, g->id.index);
	ob_puts(o, "\",modelName=\"");
	prom_put_label_value(o, g->id.name);
	if (self->hostname && self->hostname[0]) {
		ob_puts(o, "\",Hostname=\"");
		prom_put_label_value(o, self->hostname);
	}
	if (self->driver_version && self->driver_version[0]) {
		ob_puts(o, "\",DCGM_FI_DRIVER_VERSION=\"");
		prom_put_label_value(o, self->driver_version);
	}
	ob_puts(o, "\"} ");
}

void prom_render_dcgm(struct outbuf *o, const struct snapshot *snap, const struct prom_self *self)
{
	prom_gpu_table(o, snap, dcgm_gpu, ARRAY_SIZE(dcgm_gpu), dcgm_series, self);
}

void prom_default_hostname(char *buf, size_t n)
{
	const char *node = getenv("NODE_NAME");

	if (node && *node) {
		str_copy(buf, node, n);
		return;
	}
	if (n == 0 || gethostname(buf, n) != 0)
		str_copy(buf, "", n);
	else
		buf[n - 1] = '\0';
}
