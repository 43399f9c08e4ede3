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

#include "gpu_events.h"
#include "prom_internal.h"
#include "util.h"

/*
 * The guide's exporter read the first GPU only and labelled nothing; here
 * every GPU's series carries gpu="N" so that hosts with several GPUs are
 * not ambiguous.  Units are those of the original: W, °C, %, MiB ("mb").
 * The names and units of both sets are in the field table (fields.c).
 */
static void jn_series(struct outbuf *o, const struct field_prom *m, const struct gpu_reading *g,
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

	prom_gpu_fields(o, snap, PROM_NAMES_JN, jn_series, NULL);
	prom_host_fields(o, snap, PROM_NAMES_JN);
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
static void dcgm_series(struct outbuf *o, const struct field_prom *m, const struct gpu_reading *g,
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

/*
 * dcgm's Xid field is the code of the last Xid on the GPU, 0 for none:
 * from the GPU events (the kernel log's and NVML's, merged), which only a
 * run with an events sink has; without one the value is not known, and
 * the series is left out rather than read as "no Xid".
 */
static const struct field_prom dcgm_xid = {
	PROM_NAMES_DCGM, "DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.", 1, 1, 0, NULL,
};

void prom_render_dcgm(struct outbuf *o, const struct snapshot *snap, const struct prom_self *self)
{
	prom_gpu_fields(o, snap, PROM_NAMES_DCGM, dcgm_series, self);
	if (!self->xid_events || snap->n_gpus == 0)
		return;
	prom_family(o, dcgm_xid.name, dcgm_xid.type, dcgm_xid.help);
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		dcgm_series(o, &dcgm_xid, &snap->gpu[i], self);
		ob_put_i64(o, gpu_events_last_xid(self->xid_events, snap->gpu[i].id.pci_bus_id));
		ob_put(o, "\n", 1);
	}
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
