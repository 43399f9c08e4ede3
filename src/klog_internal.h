/*
 * klog_internal.h - what klog.c needs of each kernel log source, and what
 * the unit tests and the fuzzer reach of the kern.log reader.  Not for the
 * rest of gputel: that uses klog.h.
 */
#ifndef GPUTEL_KLOG_INTERNAL_H
#define GPUTEL_KLOG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmsg.h"

/* What a source is opened with. */
struct klog_args {
	const char *path;           /* kmsg: the device or file; journal: a directory, or NULL for the system's; kern.log: the file */
	const char *position_path;  /* its saved position, NULL: none kept (start afresh, say nothing) */
	const char *boot_id;        /* this boot's, "unknown" when not known */
	bool have_tail_seq;         /* kmsg: events.jsonl's last record of this boot */
	uint64_t tail_seq;
	bool resumed;               /* out: went on from a saved position */
};

struct klog_ops {
	const char *name;           /* for GPUTEL_KERNEL_LOG_SOURCES and the metric's label */
	const char *position_file;  /* its file in the state directory */
	/* 0, or -errno with err: one line naming the source, the problem and how to get access. */
	int (*open)(void **self, struct klog_args *a, char *err, size_t errlen);
	int (*fd)(const void *self);
	int (*drain)(void *self, unsigned int max_records, kmsg_record_fn fn, void *ctx);
	const struct kmsg_stats *(*stats)(const void *self);
	/* The position file's text (one line), false before anything was read. */
	bool (*position)(const void *self, char *buf, size_t n);
	void (*close)(void *self);
};

extern const struct klog_ops klog_journal_ops;
extern const struct klog_ops klog_file_ops;

/* ---- kern.log: the syslog prefix ---- */

/* One line of a syslog file, as rsyslog writes it. */
struct klog_syslog_line {
	int64_t wall_ns;            /* its time stamp */
	bool kernel;                /* the tag is "kernel:" */
	const char *msg;            /* after the tag, and after the kernel's own "[ secs.usecs]" if there */
	size_t len;
};

/*
 * Parses "TIMESTAMP HOST TAG: MESSAGE", the timestamp either RFC 3164
 * ("Dec  6 20:01:02", local time, the year the one that puts it no more
 * than a day after now_ns) or RFC 3339 ("2026-12-06T20:01:02.123456+00:00").
 * line need not be NUL-terminated.  Returns 0, or -1 when it is not such a
 * line.  out->msg points into line.
 */
int klog_parse_syslog(const char *line, size_t len, int64_t now_ns, struct klog_syslog_line *out);

/* ---- kern.log: the reader, for the unit tests ---- */

/*
 * Lines longer than this are not a record (counted malformed): rsyslog's
 * default maximum message is 8 KiB, the kernel's far less.
 */
#define KLOG_FILE_LINE_MAX 8192

/* A kern.log reader; args->position_path may be NULL.  min_wall_ns: skip earlier lines on a first start. */
int klog_file_open_at(void **self, struct klog_args *a, int64_t first_start_min_wall_ns, char *err, size_t errlen);

#endif
