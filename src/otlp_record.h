/*
 * otlp_record.h - one OpenTelemetry log record or span, self-contained.
 *
 * The loop's thread builds a record from what it knows (a GPU event, an
 * ended allocation, an activity period) and hands it to the exporter's
 * thread (otlp.h), which batches and encodes it (otlp_encode.h).  So a
 * record owns a copy of every string: its text lives in one buffer and the
 * fields hold offsets into it (0: none).  Strings are made valid UTF-8 as
 * they are copied (a bad byte becomes U+FFFD), since a collector refuses a
 * whole request over one bad string field.
 *
 * Attributes belong to the record (owner OTLP_OWNER_RECORD) or to one of a
 * span's events (owner = the event's index).  Past the limits, what does
 * not fit is counted as dropped, as OTLP's dropped_*_count fields say.
 */
#ifndef GPUTEL_OTLP_RECORD_H
#define GPUTEL_OTLP_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tracectx.h"

#define OTLP_ATTRS_MAX 64
#define OTLP_EVENTS_MAX 24
#define OTLP_TEXT_MAX (64 * 1024)       /* a record's strings in all */
#define OTLP_OWNER_RECORD (-1)

enum otlp_signal { OTLP_LOGS, OTLP_TRACES, OTLP_RESOURCE, OTLP_SIGNALS = 2 };

enum otlp_value_type { OTLP_STR, OTLP_INT, OTLP_DOUBLE, OTLP_BOOL };

/* OTLP SeverityNumber, the first of each range. */
enum otlp_severity {
	OTLP_SEV_DEBUG = 5,
	OTLP_SEV_INFO = 9,
	OTLP_SEV_WARN = 13,
	OTLP_SEV_ERROR = 17,
	OTLP_SEV_FATAL = 21,
};

enum otlp_span_kind { OTLP_SPAN_INTERNAL = 1 };
enum otlp_status { OTLP_STATUS_UNSET = 0, OTLP_STATUS_OK = 1, OTLP_STATUS_ERROR = 2 };

struct otlp_attr {
	int16_t owner;
	uint8_t type;                   /* enum otlp_value_type */
	uint32_t key;                   /* offset */
	union {
		uint32_t s;             /* offset */
		int64_t i;
		double d;
		bool b;
	} v;
};

struct otlp_event {
	int64_t time_ns;
	uint32_t name;
	uint32_t dropped_attrs;
};

struct otlp_record {
	struct otlp_record *next;       /* the exporter's lists */
	enum otlp_signal signal;
	/* A log's time and the time it was observed; a span's start and end. */
	int64_t time_ns, end_ns, observed_ns;
	/* Logs. */
	int severity;                   /* enum otlp_severity, 0: unspecified */
	uint32_t severity_text, body, event_name;
	/* Spans (a log may carry trace and span ids too: has_trace). */
	bool has_trace;
	struct trace_ctx trace;
	uint32_t name;
	int kind;
	int status;
	uint32_t status_message;
	/* Both. */
	size_t n_attrs;
	struct otlp_attr attr[OTLP_ATTRS_MAX];
	uint32_t dropped_attrs;
	size_t n_events;
	struct otlp_event event[OTLP_EVENTS_MAX];
	uint32_t dropped_events;
	bool oom;                       /* a string could not be kept: the record is incomplete */
	char *text;
	size_t text_len, text_cap;
	size_t size;                    /* about what it takes in memory, for the exporter's bound */
	int64_t intake_ns;              /* when the exporter took it (monotonic) */
};

struct otlp_record *otlp_record_new(enum otlp_signal signal);
void otlp_record_free(struct otlp_record *r);

/* The string at offset off ("" for 0). */
static inline const char *otlp_str(const struct otlp_record *r, uint32_t off)
{
	return off ? r->text + off : "";
}

/* Copies s (n bytes, made valid UTF-8, NULs dropped); returns its offset, 0 when it could not be kept. */
uint32_t otlp_text(struct otlp_record *r, const char *s, size_t n);
uint32_t otlp_text_z(struct otlp_record *r, const char *s);

/* Attributes of the record (owner OTLP_OWNER_RECORD) or of event owner.  An empty string value is left out. */
void otlp_attr_str(struct otlp_record *r, int owner, const char *key, const char *value);
void otlp_attr_strn(struct otlp_record *r, int owner, const char *key, const char *value, size_t n);
void otlp_attr_int(struct otlp_record *r, int owner, const char *key, int64_t value);
/* A non-finite value is left out: JSON has no way to say it. */
void otlp_attr_double(struct otlp_record *r, int owner, const char *key, double value);
void otlp_attr_bool(struct otlp_record *r, int owner, const char *key, bool value);

/* A span event; returns its index for otlp_attr_*, or -1 when it was dropped (counted). */
int otlp_event_add(struct otlp_record *r, int64_t time_ns, const char *name);

/* Counts the record's attributes that belong to owner. */
size_t otlp_attrs_of(const struct otlp_record *r, int owner);

#endif
