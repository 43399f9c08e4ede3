/*
 * tracectx.h - W3C trace context: the `traceparent` that ties gputel's
 * spans to an orchestrator's trace and a job's own spans to gputel's.
 *
 *	traceparent = "00-" trace-id(32 hex) "-" parent-id(16 hex) "-" flags(2 hex)
 *
 * An allocation begun with a traceparent becomes a child span of it (same
 * trace id, the given id as parent); one begun without starts a new trace.
 * Either way the allocation's own span id is made at begin, so `gputel
 * run` can hand the job TRACEPARENT naming the allocation's span before
 * the span itself is exported (at the end).
 */
#ifndef GPUTEL_TRACECTX_H
#define GPUTEL_TRACECTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACE_ID_LEN 16
#define SPAN_ID_LEN 8
#define TRACEPARENT_LEN 55              /* "00-" 32 "-" 16 "-" 2 */
#define TRACE_FLAG_SAMPLED 0x01

struct trace_ctx {
	uint8_t trace_id[TRACE_ID_LEN];
	uint8_t span_id[SPAN_ID_LEN];       /* this span's */
	uint8_t parent_id[SPAN_ID_LEN];     /* all zero: a root span */
	uint8_t flags;
};

/*
 * Parses a traceparent header value.  Returns 0 with *trace_id, *span_id
 * and *flags set, or -1 with why naming the problem.  Version 00 must be
 * exactly 55 characters; a later version may carry more after the flags
 * (the spec's forward compatibility); ff and all-zero ids are invalid.
 */
int traceparent_parse(const char *s, uint8_t trace_id[TRACE_ID_LEN], uint8_t span_id[SPAN_ID_LEN],
		      uint8_t *flags, const char **why);

/* Writes "00-<trace>-<span>-<flags>" for ctx's own span: TRACEPARENT_LEN + 1 bytes. */
void traceparent_format(char out[TRACEPARENT_LEN + 1], const struct trace_ctx *ctx);

/*
 * A new span: a child of parent (trace id and flags taken from it) when
 * have_parent, else the root of a new, sampled trace.  Ids come from the
 * kernel's random source; never all zero.
 */
void trace_ctx_new(struct trace_ctx *ctx, bool have_parent, const uint8_t trace_id[TRACE_ID_LEN],
		   const uint8_t parent_id[SPAN_ID_LEN], uint8_t flags);

bool trace_id_valid(const uint8_t *id, size_t len);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void hex_encode(char *out, const uint8_t *id, size_t len);

/* Exactly 2 * len hex digits (either case) into id; -1 otherwise. */
int hex_decode(uint8_t *id, size_t len, const char *s, size_t n);

#endif
