/*
 * prom.h - renders a snapshot as Prometheus text exposition (format 0.0.4).
 *
 * The exporter renders once per tick into a buffer and serves that buffer
 * to every scrape, so a scrape never touches a sensor.  Names are gputel_*
 * in base units (watts, joules, bytes, celsius, hertz, ratios, seconds);
 * per-GPU series carry the labels gpu, uuid, pci_bus_id and name, and the
 * identity is also in gputel_gpu_info{...} 1.  A value that is not VAL_OK
 * is left out, never written as 0.  docs/metrics.md lists every family.
 * Two optional sets keep older names working for existing dashboards: the
 * guide's jn_* gauges and dcgm-exporter's DCGM_FI_* (prom_compat.c).
 */
#ifndef GPUTEL_PROM_H
#define GPUTEL_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "outbuf.h"
#include "snapshot.h"

struct gpu_events;

/* The name sets, PROM_NAMES_*, are defined with the field table (fields.h). */

/* What the renderer needs beyond the snapshot. */
struct prom_self {
	const char *version;
	const char *driver_version;   /* "" when unknown */
	unsigned int names;           /* PROM_NAMES_* bits; 0 means PROM_NAMES_GPUTEL */
	const char *hostname;         /* dcgm's Hostname label; NULL: the host's name */
	int telemetry_active;         /* 1 while the activity state is active */
	/* The GPU faults so far, for dcgm's DCGM_FI_DEV_XID_ERRORS; NULL: that series is not served. */
	const struct gpu_events *xid_events;
	/* More gputel_* families (the sinks' own, pipeline_metrics); NULL: none. */
	void (*extra)(void *ctx, struct outbuf *o, const struct snapshot *snap);
	void *extra_ctx;
};

/*
 * Renders the whole exposition into buf.  Returns its length, or 0 when it
 * did not fit (the caller grows the buffer and renders again).
 */
size_t prom_render(const struct snapshot *snap, const struct prom_self *self, char *buf,
		   size_t cap);

/* The host name for dcgm's Hostname label: $NODE_NAME when set (as dcgm-exporter does), else gethostname(). */
void prom_default_hostname(char *buf, size_t n);

/* For the sinks' own families (sink_ops.metrics): */

/* "# HELP name help\n# TYPE name type\n" */
void prom_family(struct outbuf *o, const char *name, const char *type, const char *help);

/* s as a label value (without the quotes): backslash, double quote and newline escaped. */
void prom_put_label_value(struct outbuf *o, const char *s);

/* name{gpu="0",uuid="...",pci_bus_id="...",name="..."[,extra]} and a space: a GPU's series, up to its value. */
void prom_gpu_series(struct outbuf *o, const char *name, const struct gpu_ident *id, const char *extra);

#endif
