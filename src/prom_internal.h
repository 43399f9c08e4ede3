/*
 * prom_internal.h - what prom.c shares with prom_compat.c, the renderer of
 * the compatibility name sets.  Not part of the public prom API.
 */
#ifndef GPUTEL_PROM_INTERNAL_H
#define GPUTEL_PROM_INTERNAL_H

#include "outbuf.h"
#include "prom.h"

/* Writes one series' name and labels, up to the space before the value. */
typedef void (*prom_series_fn)(struct outbuf *o, const struct field_prom *m,
			       const struct gpu_reading *g, const void *ctx);

/*
 * Renders every GPU field's series in name set `set` (fields.c): each
 * family's HELP and TYPE once, then one sample per GPU whose field is
 * VAL_OK (others are left out, never 0).
 */
void prom_gpu_fields(struct outbuf *o, const struct snapshot *snap, unsigned int set,
		     prom_series_fn series, const void *ctx);

/* Likewise for the host fields, whose series have no labels beyond their own. */
void prom_host_fields(struct outbuf *o, const struct snapshot *snap, unsigned int set);


/* The guide's exporter names (jn_*), from the same snapshot. */
void prom_render_jn(struct outbuf *o, const struct snapshot *snap);

/* dcgm-exporter's names, labels and units (DCGM_FI_*), for the fields gputel has. */
void prom_render_dcgm(struct outbuf *o, const struct snapshot *snap, const struct prom_self *self);

#endif
