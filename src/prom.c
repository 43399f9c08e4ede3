/* prom.c - see prom.h. */
#include "prom.h"

#include <stdbool.h>
#include <string.h>

#include "host.h"
#include "outbuf.h"
#include "prom_internal.h"
#include "util.h"

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

/*
 * Backslash, double quote and newline escaped (the text format's rules),
 * straight into the rendering: an escaped value is up to twice as long as
 * the value (an owner of 128 '"' is 256 bytes), so no fixed scratch buffer.
 */
void prom_put_label_value(struct outbuf *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			ob_put(o, "\\\\", 2);
		else if (*s == '"')
			ob_put(o, "\\\"", 2);
		else if (*s == '\n')
			ob_put(o, "\\n", 2);
		else
			ob_put(o, s, 1);
	}
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

void prom_gpu_series(struct outbuf *o, const char *name, const struct gpu_ident *id, const char *extra)
{
	ob_puts(o, name);
	ob_puts(o, "{gpu=\"");
	ob_put_u64(o, id->index);
	ob_puts(o, "\",uuid=\"");
	prom_put_label_value(o, id->uuid);
	ob_puts(o, "\",pci_bus_id=\"");
	prom_put_label_value(o, id->pci_bus_id);
	ob_puts(o, "\",name=\"");
	prom_put_label_value(o, id->name);
	ob_put(o, "\"", 1);
	if (extra) {
		ob_put(o, ",", 1);
		ob_puts(o, extra);
	}
	ob_puts(o, "} ");
}

/*
 * Whether row m belongs to name set `set`; if so, and it starts a family
 * (*family holds the last one written), its HELP and TYPE go out first.
 */
static bool in_set(struct outbuf *o, const struct field_prom *m, unsigned int set, const char **family)
{
	if (m->set != set)
		return false;
	if (!*family || strcmp(*family, m->name) != 0)
		prom_family(o, m->name, m->type, m->help);
	*family = m->name;
	return true;
}

void prom_gpu_fields(struct outbuf *o, const struct snapshot *snap, unsigned int set,
		     prom_series_fn series, const void *ctx)
{
	const char *family = NULL;

	for (int f = 0; f < GPU_F__COUNT; f++) {
		for (int k = 0; k < FIELD_PROM_MAX && gpu_fields[f].prom[k].set; k++) {
			const struct field_prom *m = &gpu_fields[f].prom[k];

			if (!in_set(o, m, set, &family))
				continue;
			for (unsigned int i = 0; i < snap->n_gpus; i++) {
				const struct gpu_reading *g = &snap->gpu[i];

				if (g->st[f] != VAL_OK)
					continue;
				series(o, m, g, ctx);
				ob_put_scaled(o, g->val[f] * m->mul, m->div, m->decimals);
				ob_put(o, "\n", 1);
			}
		}
	}
}

void prom_host_fields(struct outbuf *o, const struct snapshot *snap, unsigned int set)
{
	const struct host_reading *h = &snap->host;
	const char *family = NULL;

	for (int f = 0; f < HOST_F__COUNT; f++) {
		for (int k = 0; k < FIELD_PROM_MAX && host_fields[f].prom[k].set; k++) {
			const struct field_prom *m = &host_fields[f].prom[k];

			if (!in_set(o, m, set, &family) || h->st[f] != VAL_OK)
				continue;
			ob_puts(o, m->name);
			if (m->label) {
				ob_put(o, "{", 1);
				ob_puts(o, m->label);
				ob_put(o, "}", 1);
			}
			ob_put(o, " ", 1);
			ob_put_scaled(o, h->val[f] * m->mul, m->div, m->decimals);
			ob_put(o, "\n", 1);
		}
	}
}

static void table_series(struct outbuf *o, const struct field_prom *m, const struct gpu_reading *g,
			 const void *ctx)
{
	(void)ctx;
	prom_gpu_series(o, m->name, &g->id, m->label);
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
			prom_gpu_series(o, "gputel_gpu_info", &snap->gpu[i].id, extra_buf[0] ? extra_buf : NULL);
			ob_puts(o, "1\n");
		}
	}
	prom_family(o, "gputel_gpu_up", "gauge",
	       "1 while the GPU answers; 0 when it is lost or every query fails.");
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		prom_gpu_series(o, "gputel_gpu_up", &snap->gpu[i].id, NULL);
		ob_puts(o, snap->gpu[i].health == GPU_HEALTH_UP ? "1\n" : "0\n");
	}
	prom_gpu_fields(o, snap, PROM_NAMES_GPUTEL, table_series, NULL);
	prom_family(o, "gputel_gpu_clocks_event_reason", "gauge",
	       "1 while this reason holds the GPU clocks down (NVML clock event / throttle reasons).");
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		const struct gpu_reading *g = &snap->gpu[i];
		char label[64];

		if (g->st[GPU_F_CLOCK_EVENT_MASK] != VAL_OK)
			continue;
		for (size_t r = 0; r < ARRAY_SIZE(clock_reasons); r++) {
			str_fmt(label, sizeof label, "reason=\"%s\"", clock_reasons[r].reason);
			prom_gpu_series(o, "gputel_gpu_clocks_event_reason", &g->id, label);
			ob_puts(o, (uint64_t)g->val[GPU_F_CLOCK_EVENT_MASK] & clock_reasons[r].bit
					   ? "1\n" : "0\n");
		}
	}
}

static void render_host(struct outbuf *o, const struct snapshot *snap)
{
	const struct host_reading *h = &snap->host;

	prom_host_fields(o, snap, PROM_NAMES_GPUTEL);
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
	prom_family(o, "gputel_build_info", "gauge", "gputel's version; the value is always 1.");
	ob_puts(o, "gputel_build_info{version=\"");
	prom_put_label_value(o, self->version ? self->version : "");
	ob_puts(o, "\"} 1\n");
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
		if (self->extra)
			self->extra(self->extra_ctx, &o, snap);
	}
	if (names & PROM_NAMES_JN)
		prom_render_jn(&o, snap);
	if (names & PROM_NAMES_DCGM)
		prom_render_dcgm(&o, snap, self);
	return o.full ? 0 : o.len;
}
