/*
 * outbuf.h - a bounded output buffer and exact decimal formatting, shared
 * by the writers that turn snapshots into text (sink_csv.c, prom.c).
 *
 * Appends never overflow: once something does not fit the buffer is
 * marked full, later appends are ignored, and the caller checks `full`
 * once at the end.  Numbers are formatted from integers only (no floating
 * point, no locale), so 81250 mW prints as 81.25 W exactly.
 */
#ifndef GPUTEL_OUTBUF_H
#define GPUTEL_OUTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct outbuf {
	char *p;
	size_t len, cap;
	bool full;
};

static inline void ob_put(struct outbuf *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static inline void ob_puts(struct outbuf *o, const char *s)
{
	ob_put(o, s, strlen(s));
}

/* Writes v in decimal (no terminator); returns the length (at most 20). */
size_t fmt_u64(char *buf, uint64_t v);

/*
 * Writes v / div rounded half away from zero to `decimals` places (0..6),
 * NUL-terminated: (81250, 1000, 2) -> "81.25".  Returns the length, 0 when
 * it does not fit in cap.
 */
size_t fmt_scaled(char *buf, size_t cap, int64_t v, int64_t div, int decimals);

void ob_put_u64(struct outbuf *o, uint64_t v);
void ob_put_i64(struct outbuf *o, int64_t v);

/* s as a JSON string, quotes included: '"' and '\\' escaped, control bytes as \u00XX. */
void ob_put_json_str(struct outbuf *o, const char *s);
void ob_put_scaled(struct outbuf *o, int64_t v, int64_t div, int decimals);

#endif
