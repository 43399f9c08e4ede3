/*
 * prom_internal.h - what prom.c shares with prom_compat.c, the renderer of
 * the compatibility name sets.  Not part of the public prom API.
 */
#ifndef GPUTEL_PROM_INTERNAL_H
#define GPUTEL_PROM_INTERNAL_H

#include "outbuf.h"
#include "prom.h"

/*
 * One per-GPU sample: family name, TYPE, HELP, the field, and how to turn
 * the stored integer into the unit: value * mul / div to `decimals`
 * places.  Rows that share a family name are consecutive: the family's
 * HELP and TYPE are written once, before its first row (type NULL).
 */
struct gpu_metric {
	const char *name;
	const char *type;
	const char *help;
	int field;
	int64_t mul, div;
	int decimals;
	const char *label;   /* extra label, e.g. clock="sm", or NULL */
};

/* Writes one series' name and labels, up to the space before the value. */
typedef void (*prom_series_fn)(struct outbuf *o, const struct gpu_metric *m,
			       const struct gpu_reading *g, const void *ctx);

/*
 * Renders a per-GPU table: each family's HELP and TYPE once, then one
 * sample per GPU whose field is VAL_OK (others are left out, never 0).
 */
void prom_gpu_table(struct outbuf *o, const struct snapshot *snap, const struct gpu_metric *t,
		    size_t n, prom_series_fn series, const void *ctx);

/* "# HELP name help\n# TYPE name type\n" */
void prom_family(struct outbuf *o, const char *name, const char *type, const char *help);

/* s as an escaped label value (without the quotes). */
void prom_put_label_value(struct outbuf *o, const char *s);

/* The guide's exporter names (jn_*), from the same snapshot. */
void prom_render_jn(struct outbuf *o, const struct snapshot *snap);

/* dcgm-exporter's names, labels and units (DCGM_FI_*), for the fields gputel has. */
void prom_render_dcgm(struct outbuf *o, const struct snapshot *snap, const struct prom_self *self);

#endif
