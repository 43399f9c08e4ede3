/* prom.c - see prom.h. */
#include "prom.h"

#include <stdbool.h>
#include <string.h>

#include "alloc.h"
#include "host.h"
#include "outbuf.h"
#include "prom_internal.h"
#include "util.h"

static const struct gpu_metric gpu_metrics[] = {
	{ "gputel_gpu_utilization_ratio", "gauge",
	  "Share of time a kernel ran on the GPU over the driver's window (0-1).",
	  GPU_F_UTIL_GPU_PCT, 1, 100, 2, NULL },
	{ "gputel_gpu_memory_utilization_ratio", "gauge",
	  "Share of time device memory was read or written (0-1).",
	  GPU_F_UTIL_MEM_PCT, 1, 100, 2, NULL },
	{ "gputel_gpu_memory_used_bytes", "gauge", "Device memory in use.",
	  GPU_F_MEM_USED_BYTES, 1, 1, 0, NULL },
	{ "gputel_gpu_memory_total_bytes", "gauge", "Device memory size.",
	  GPU_F_MEM_TOTAL_BYTES, 1, 1, 0, NULL },
	{ "gputel_gpu_temperature_celsius", "gauge", "GPU core temperature.",
	  GPU_F_TEMP_MC, 1, 1000, 3, NULL },
	{ "gputel_gpu_power_watts", "gauge",
	  "Board power draw (a 1 s average on Ampere and later, except GA100).",
	  GPU_F_POWER_MW, 1, 1000, 3, NULL },
	{ "gputel_gpu_power_limit_watts", "gauge", "Enforced power limit.",
	  GPU_F_POWER_LIMIT_MW, 1, 1000, 3, NULL },
	{ "gputel_gpu_energy_joules_total", "counter",
	  "Energy used since the driver loaded (Volta and later).",
	  GPU_F_ENERGY_MJ, 1, 1000, 3, NULL },
	{ "gputel_gpu_clock_hertz", "gauge", "Current clock frequency.",
	  GPU_F_CLOCK_SM_MHZ, 1000000, 1, 0, "clock=\"sm\"" },
	{ "gputel_gpu_clock_hertz", NULL, NULL,
	  GPU_F_CLOCK_MEM_MHZ, 1000000, 1, 0, "clock=\"mem\"" },
	{ "gputel_gpu_fan_ratio", "gauge", "Intended fan speed (0-1; may exceed 1).",
	  GPU_F_FAN_PCT, 1, 100, 2, NULL },
	{ "gputel_gpu_pstate", "gauge", "Performance state (0 = P0, the fastest).",
	  GPU_F_PSTATE, 1, 1, 0, NULL },
	{ "gputel_gpu_encoder_utilization_ratio", "gauge", "Video encoder utilisation (0-1).",
	  GPU_F_ENC_UTIL_PCT, 1, 100, 2, NULL },
	{ "gputel_gpu_decoder_utilization_ratio", "gauge", "Video decoder utilisation (0-1).",
	  GPU_F_DEC_UTIL_PCT, 1, 100, 2, NULL },
	{ "gputel_gpu_ecc_errors_total", "counter",
	  "ECC errors since the driver loaded (volatile counters).",
	  GPU_F_ECC_CORR_VOLATILE, 1, 1, 0, "type=\"corrected\"" },
	{ "gputel_gpu_ecc_errors_total", NULL, NULL,
	  GPU_F_ECC_UNCORR_VOLATILE, 1, 1, 0, "type=\"uncorrected\"" },
	{ "gputel_gpu_remapped_rows_total", "counter", "Memory rows remapped (Ampere and later).",
	  GPU_F_REMAP_CORR_ROWS, 1, 1, 0, "type=\"correctable\"" },
	{ "gputel_gpu_remapped_rows_total", NULL, NULL,
	  GPU_F_REMAP_UNCORR_ROWS, 1, 1, 0, "type=\"uncorrectable\"" },
	{ "gputel_gpu_remapped_rows_pending", "gauge", "1 when a row remap waits for a GPU reset.",
	  GPU_F_REMAP_PENDING, 1, 1, 0, NULL },
	{ "gputel_gpu_remapped_rows_failure", "gauge", "1 when a row remap failed.",
	  GPU_F_REMAP_FAILURE, 1, 1, 0, NULL },
	{ "gputel_gpu_xid_errors_total", "counter",
	  "Xid errors (GPU faults the driver reports) seen since gputel started.",
	  GPU_F_XID_TOTAL, 1, 1, 0, NULL },
};

/* Clock event (throttle) reason bits, exported one series each. */
static const struct {
	uint64_t bit;
	const char *reason;
} clock_reasons[] = {
	{ 0x1, "gpu_idle" },
	{ 0x2, "applications_clocks_setting" },
	{ 0x4, "sw_power_cap" },
	{ 0x8, "hw_slowdown" },
	{ 0x10, "sync_boost" },
	{ 0x20, "sw_thermal_slowdown" },
	{ 0x40, "hw_thermal_slowdown" },
	{ 0x80, "hw_power_brake_slowdown" },
	{ 0x100, "display_clock_setting" },
};

/* Host fields with a family of their own. */
static const struct host_metric {
	const char *name;
	const char *type;
	const char *help;
	int field;
	int64_t div;
	int decimals;
	const char *label;
} host_metrics[] = {
	{ "gputel_cpu_utilization_ratio", "gauge",
	  "Whole-host CPU busy share since the previous tick (0-1), from /proc/stat.",
	  HOST_F_CPU_UTIL_CPCT, 10000, 4, NULL },
	{ "gputel_memory_used_bytes", "gauge", "Host memory in use (MemTotal - MemAvailable).",
	  HOST_F_MEM_USED_BYTES, 1, 0, NULL },
	{ "gputel_memory_total_bytes", "gauge", "Host memory size (MemTotal).",
	  HOST_F_MEM_TOTAL_BYTES, 1, 0, NULL },
	{ "gputel_cpu_package_power_watts", "gauge",
	  "CPU package power from RAPL energy deltas, summed over packages.",
	  HOST_F_CPU_PKG_POWER_MW, 1000, 3, NULL },
	{ "gputel_dram_power_watts", "gauge", "DRAM power from RAPL energy deltas.",
	  HOST_F_DRAM_POWER_MW, 1000, 3, NULL },
	{ "gputel_cpu_package_energy_joules_total", "counter",
	  "CPU package energy since gputel started, wraparound corrected.",
	  HOST_F_CPU_PKG_ENERGY_MJ, 1000, 3, NULL },
	{ "gputel_host_temperature_celsius", "gauge",
	  "Hottest hwmon channel of each role (cpu_pkg, cpu_core, t_sensor, chipset, vrm).",
	  HOST_F_CPU_PKG_TEMP_MC, 1000, 3, "role=\"cpu_pkg\"" },
	{ "gputel_host_temperature_celsius", NULL, NULL,
	  HOST_F_CPU_CORE_MAX_MC, 1000, 3, "role=\"cpu_core\"" },
	{ "gputel_host_temperature_celsius", NULL, NULL,
	  HOST_F_T_SENSOR_MC, 1000, 3, "role=\"t_sensor\"" },
	{ "gputel_host_temperature_celsius", NULL, NULL,
	  HOST_F_CHIPSET_MC, 1000, 3, "role=\"chipset\"" },
	{ "gputel_host_temperature_celsius", NULL, NULL,
	  HOST_F_VRM_MC, 1000, 3, "role=\"vrm\"" },
};

size_t prom_escape_label(char *dst, size_t cap, const char *s)
{
	struct outbuf o = { dst, 0, cap ? cap - 1 : 0, cap == 0 };

	for (; *s; s++) {
		if (*s == '\\')
			ob_put(&o, "\\\\", 2);
		else if (*s == '"')
			ob_put(&o, "\\\"", 2);
		else if (*s == '\n')
			ob_put(&o, "\\n", 2);
		else
			ob_put(&o, s, 1);
	}
	if (o.full)
		return 0;
	dst[o.len] = '\0';
	return o.len;
}

void prom_put_label_value(struct outbuf *o, const char *s)
{
	char tmp[256];
	size_t n = prom_escape_label(tmp, sizeof tmp, s);

	ob_put(o, tmp, n);
}

void prom_family(struct outbuf *o, const char *name, const char *type, const char *help)
{
	ob_puts(o, "# HELP ");
	ob_puts(o, name);
	ob_put(o, " ", 1);
	ob_puts(o, help);
	ob_puts(o, "\n# TYPE ");
	ob_puts(o, name);
	ob_put(o, " ", 1);
	ob_puts(o, type);
	ob_put(o, "\n", 1);
}

/* name{gpu="0",uuid="...",pci_bus_id="...",name="..."[,extra]} */
static void gpu_series(struct outbuf *o, const char *name, const struct gpu_reading *g,
		       const char *extra)
{
	ob_puts(o, name);
	ob_puts(o, "{gpu=\"");
	ob_put_u64(o, g->id.index);
	ob_puts(o, "\",uuid=\"");
	prom_put_label_value(o, g->id.uuid);
	ob_puts(o, "\",pci_bus_id=\"");
	prom_put_label_value(o, g->id.pci_bus_id);
	ob_puts(o, "\",name=\"");
	prom_put_label_value(o, g->id.name);
	ob_put(o, "\"", 1);
	if (extra) {
		ob_put(o, ",", 1);
		ob_puts(o, extra);
	}
	ob_puts(o, "} ");
}

void prom_gpu_table(struct outbuf *o, const struct snapshot *snap, const struct gpu_metric *t,
		    size_t n, prom_series_fn series, const void *ctx)
{
	for (size_t m = 0; m < n; m++) {
		if (t[m].type)
			prom_family(o, t[m].name, t[m].type, t[m].help);
		for (unsigned int i = 0; i < snap->n_gpus; i++) {
			const struct gpu_reading *g = &snap->gpu[i];

			if (g->st[t[m].field] != VAL_OK)
				continue;
			series(o, &t[m], g, ctx);
			ob_put_scaled(o, g->val[t[m].field] * t[m].mul, t[m].div, t[m].decimals);
			ob_put(o, "\n", 1);
		}
	}
}

static void table_series(struct outbuf *o, const struct gpu_metric *m, const struct gpu_reading *g,
			 const void *ctx)
{
	(void)ctx;
	gpu_series(o, m->name, g, m->label);
}

static void render_gpus(struct outbuf *o, const struct snapshot *snap, const struct prom_self *self)
{
	if (snap->n_gpus == 0)
		return;
	prom_family(o, "gputel_gpu_info", "gauge",
	       "GPU identity; the value is always 1.");
	{
		char extra_buf[256];
		struct outbuf e = { extra_buf, 0, sizeof extra_buf - 1, false };

		ob_puts(&e, "driver_version=\"");
		prom_put_label_value(&e, self->driver_version ? self->driver_version : "");
		ob_puts(&e, "\",backend=\"");
		prom_put_label_value(&e, snap->backend ? snap->backend : "none");
		ob_put(&e, "\"", 1);
		extra_buf[e.full ? 0 : e.len] = '\0';
		for (unsigned int i = 0; i < snap->n_gpus; i++) {
			gpu_series(o, "gputel_gpu_info", &snap->gpu[i], extra_buf[0] ? extra_buf : NULL);
			ob_puts(o, "1\n");
		}
	}
	prom_family(o, "gputel_gpu_up", "gauge",
	       "1 while the GPU answers; 0 when it is lost or every query fails.");
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		gpu_series(o, "gputel_gpu_up", &snap->gpu[i], NULL);
		ob_puts(o, snap->gpu[i].health == GPU_HEALTH_UP ? "1\n" : "0\n");
	}
	prom_gpu_table(o, snap, gpu_metrics, ARRAY_SIZE(gpu_metrics), table_series, NULL);
	prom_family(o, "gputel_gpu_clocks_event_reason", "gauge",
	       "1 while this reason holds the GPU clocks down (NVML clock event / throttle reasons).");
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		const struct gpu_reading *g = &snap->gpu[i];
		char label[64];

		if (g->st[GPU_F_CLOCK_EVENT_MASK] != VAL_OK)
			continue;
		for (size_t r = 0; r < ARRAY_SIZE(clock_reasons); r++) {
			str_fmt(label, sizeof label, "reason=\"%s\"", clock_reasons[r].reason);
			gpu_series(o, "gputel_gpu_clocks_event_reason", g, label);
			ob_puts(o, (uint64_t)g->val[GPU_F_CLOCK_EVENT_MASK] & clock_reasons[r].bit
					   ? "1\n" : "0\n");
		}
	}
}

static void render_host(struct outbuf *o, const struct snapshot *snap)
{
	const struct host_reading *h = &snap->host;

	for (size_t m = 0; m < ARRAY_SIZE(host_metrics); m++) {
		const struct host_metric *d = &host_metrics[m];

		if (d->type)
			prom_family(o, d->name, d->type, d->help);
		if (h->st[d->field] != VAL_OK)
			continue;
		ob_puts(o, d->name);
		if (d->label) {
			ob_put(o, "{", 1);
			ob_puts(o, d->label);
			ob_put(o, "}", 1);
		}
		ob_put(o, " ", 1);
		ob_put_scaled(o, h->val[d->field], d->div, d->decimals);
		ob_put(o, "\n", 1);
	}
	if (h->n_temps) {
		prom_family(o, "gputel_hwmon_temperature_celsius", "gauge",
			    "Every hwmon temperature channel: chip is the driver's name, device tells "
			    "chips of the same name apart, sensor is the channel's label.");
		for (unsigned int i = 0; i < h->n_temps; i++) {
			const struct host_temp_info *t = &h->temp_info[i];

			if (h->temp_st[i] != VAL_OK)
				continue;
			ob_puts(o, "gputel_hwmon_temperature_celsius{chip=\"");
			prom_put_label_value(o, t->chip);
			ob_puts(o, "\",device=\"");
			prom_put_label_value(o, t->device);
			ob_puts(o, "\",sensor=\"");
			prom_put_label_value(o, t->label);
			ob_puts(o, "\"} ");
			ob_put_scaled(o, h->temp_mc[i], 1000, 3);
			ob_put(o, "\n", 1);
		}
	}
	if (h->n_zones) {
		prom_family(o, "gputel_rapl_energy_joules_total", "counter",
			    "Every RAPL powercap zone's energy counter, wraparound corrected "
			    "(zone is its name, path its powercap directory).");
		for (unsigned int i = 0; i < h->n_zones; i++) {
			const struct host_rapl_info *z = &h->zone_info[i];

			if (h->zone_st[i] != VAL_OK)
				continue;
			ob_puts(o, "gputel_rapl_energy_joules_total{zone=\"");
			prom_put_label_value(o, z->name[0] ? z->name : z->zone);
			ob_puts(o, "\",path=\"");
			prom_put_label_value(o, z->zone);
			ob_puts(o, "\"} ");
			/* µJ to J: the counter can exceed int64 µJ only after ~292,000 years. */
			ob_put_scaled(o, (int64_t)(h->zone_energy_uj[i] & INT64_MAX), 1000000, 6);
			ob_put(o, "\n", 1);
		}
	}
	if (h->rapl != RAPL_ABSENT) {
		prom_family(o, "gputel_rapl_readable", "gauge",
		       "1 when the RAPL energy counters can be read; 0 when energy_uj is root-only.");
		ob_puts(o, h->rapl == RAPL_OK ? "gputel_rapl_readable 1\n" : "gputel_rapl_readable 0\n");
	}
}

static void render_self(struct outbuf *o, const struct snapshot *snap, const struct prom_self *self)
{
	prom_family(o, "gputel_collect_duration_seconds", "gauge",
	       "Time each source took on the last tick.");
	ob_puts(o, "gputel_collect_duration_seconds{source=\"gpu\"} ");
	ob_put_scaled(o, snap->gpu_src.duration_ns, NS_PER_SEC, 6);
	ob_puts(o, "\ngputel_collect_duration_seconds{source=\"host\"} ");
	ob_put_scaled(o, snap->host_src.duration_ns, NS_PER_SEC, 6);
	ob_put(o, "\n", 1);
	prom_family(o, "gputel_collect_success", "gauge",
	       "1 when every read of the source succeeded on the last tick.");
	ob_puts(o, snap->gpu_src.ok ? "gputel_collect_success{source=\"gpu\"} 1\n"
				    : "gputel_collect_success{source=\"gpu\"} 0\n");
	ob_puts(o, snap->host_src.ok ? "gputel_collect_success{source=\"host\"} 1\n"
				     : "gputel_collect_success{source=\"host\"} 0\n");
	prom_family(o, "gputel_last_tick_timestamp_seconds", "gauge",
	       "Wall-clock time of the last tick.");
	ob_puts(o, "gputel_last_tick_timestamp_seconds ");
	ob_put_scaled(o, timespec_to_ns(&snap->wall), NS_PER_SEC, 3);
	ob_put(o, "\n", 1);
	prom_family(o, "gputel_telemetry_active", "gauge",
	       "1 while the activity agent has telemetry switched on.");
	ob_puts(o, self->telemetry_active ? "gputel_telemetry_active 1\n"
					  : "gputel_telemetry_active 0\n");
	if (self->have_csv) {
		prom_family(o, "gputel_csv_rows_written_total", "counter", "CSV rows written.");
		ob_puts(o, "gputel_csv_rows_written_total ");
		ob_put_u64(o, self->csv_rows_written);
		ob_put(o, "\n", 1);
		prom_family(o, "gputel_csv_rows_dropped_total", "counter",
		       "CSV rows dropped because the disk refused them beyond the in-memory backlog.");
		ob_puts(o, "gputel_csv_rows_dropped_total ");
		ob_put_u64(o, self->csv_rows_dropped);
		ob_put(o, "\n", 1);
	}
	prom_family(o, "gputel_build_info", "gauge", "gputel's version; the value is always 1.");
	ob_puts(o, "gputel_build_info{version=\"");
	prom_put_label_value(o, self->version ? self->version : "");
	ob_puts(o, "\"} 1\n");
}

/* name{allocation="id"} */
static void alloc_series(struct outbuf *o, const char *name, const struct alloc *a)
{
	ob_puts(o, name);
	ob_puts(o, "{allocation=\"");
	prom_put_label_value(o, a->id);
	ob_puts(o, "\"} ");
}

/*
 * The agent's live allocations.  Their series go with them when they end,
 * so that no stale series lingers (the ledger keeps the summaries).
 */
static void render_allocs(struct outbuf *o, const struct snapshot *snap, const struct alloc_table *t)
{
	int64_t now = timespec_to_ns(&snap->wall);

	prom_family(o, "gputel_allocations", "gauge", "Live allocations on this node.");
	ob_puts(o, "gputel_allocations ");
	ob_put_u64(o, t->n);
	ob_put(o, "\n", 1);
	if (t->n == 0)
		return;
	prom_family(o, "gputel_allocation_info", "gauge", "A live allocation; the value is always 1.");
	for (size_t i = 0; i < t->n; i++) {
		ob_puts(o, "gputel_allocation_info{allocation=\"");
		prom_put_label_value(o, t->a[i].id);
		ob_puts(o, "\",owner=\"");
		prom_put_label_value(o, t->a[i].owner);
		ob_puts(o, "\"} 1\n");
	}
	prom_family(o, "gputel_allocation_gpu_energy_joules_total", "counter",
		    "GPU energy used by each of the allocation's GPUs since it began.");
	for (size_t i = 0; i < t->n; i++)
		for (unsigned int k = 0; k < t->a[i].n_gpus; k++) {
			const struct alloc_gpu *g = &t->a[i].gpu[k];
			char idx[16];

			str_fmt(idx, sizeof idx, "%u", g->index);
			ob_puts(o, "gputel_allocation_gpu_energy_joules_total{allocation=\"");
			prom_put_label_value(o, t->a[i].id);
			ob_puts(o, "\",gpu=\"");
			ob_puts(o, idx);
			ob_puts(o, "\",uuid=\"");
			prom_put_label_value(o, g->uuid);
			ob_puts(o, "\"} ");
			ob_put_scaled(o, g->energy_uj, 1000000, 3);
			ob_put(o, "\n", 1);
		}
	prom_family(o, "gputel_allocation_cpu_energy_joules_total", "counter",
		    "CPU package energy of the whole host since the allocation began.");
	for (size_t i = 0; i < t->n; i++)
		if (t->a[i].use.cpu_energy_known) {
			alloc_series(o, "gputel_allocation_cpu_energy_joules_total", &t->a[i]);
			ob_put_scaled(o, t->a[i].use.cpu_energy_uj, 1000000, 3);
			ob_put(o, "\n", 1);
		}
	prom_family(o, "gputel_allocation_duration_seconds", "gauge", "Time since the allocation began.");
	for (size_t i = 0; i < t->n; i++) {
		alloc_series(o, "gputel_allocation_duration_seconds", &t->a[i]);
		ob_put_scaled(o, now > t->a[i].begun_wall_ns ? now - t->a[i].begun_wall_ns : 0, NS_PER_SEC, 3);
		ob_put(o, "\n", 1);
	}
	prom_family(o, "gputel_allocation_peak_memory_bytes", "gauge",
		    "Most device memory used on any one of the allocation's GPUs.");
	for (size_t i = 0; i < t->n; i++)
		if (t->a[i].use.mem_peak_bytes >= 0) {
			alloc_series(o, "gputel_allocation_peak_memory_bytes", &t->a[i]);
			ob_put_i64(o, t->a[i].use.mem_peak_bytes);
			ob_put(o, "\n", 1);
		}
	prom_family(o, "gputel_allocation_throttle_seconds_total", "counter",
		    "Time any of the allocation's GPUs was throttled (power or thermal).");
	for (size_t i = 0; i < t->n; i++) {
		alloc_series(o, "gputel_allocation_throttle_seconds_total", &t->a[i]);
		ob_put_scaled(o, t->a[i].use.throttle_ns, NS_PER_SEC, 3);
		ob_put(o, "\n", 1);
	}
	prom_family(o, "gputel_allocation_xid_errors_total", "counter",
		    "Xid errors on the allocation's GPUs since it began.");
	for (size_t i = 0; i < t->n; i++) {
		alloc_series(o, "gputel_allocation_xid_errors_total", &t->a[i]);
		ob_put_u64(o, t->a[i].use.xids);
		ob_put(o, "\n", 1);
	}
}

size_t prom_render(const struct snapshot *snap, const struct prom_self *self, char *buf,
		   size_t cap)
{
	struct outbuf o = { buf, 0, cap, false };
	unsigned int names = self->names ? self->names : PROM_NAMES_GPUTEL;

	if (names & PROM_NAMES_GPUTEL) {
		render_gpus(&o, snap, self);
		render_host(&o, snap);
		render_self(&o, snap, self);
		if (self->allocs)
			render_allocs(&o, snap, self->allocs);
	}
	if (names & PROM_NAMES_JN)
		prom_render_jn(&o, snap);
	if (names & PROM_NAMES_DCGM)
		prom_render_dcgm(&o, snap, self);
	return o.full ? 0 : o.len;
}
