/*
 * klog.h - the kernel's log, from the first source this account can read:
 *
 *   kmsg      /dev/kmsg (kmsg.h): every record as the kernel numbers it,
 *             with its level and time.  Needs CAP_SYSLOG where
 *             kernel.dmesg_restrict=1 (the shipped unit grants it).
 *   journal   the systemd journal's kernel transport, this boot's records
 *             (klog_journal.c).  libsystemd is loaded only when this
 *             source is tried, never linked.  Needs group systemd-journal
 *             or adm.
 *   kern.log  /var/log/kern.log as rsyslog writes it, followed across
 *             rotation (klog_file.c).  No levels.  Needs group adm.
 *
 * GPUTEL_KMSG (a file or FIFO in /dev/kmsg's record format: tests, the
 * demo) replaces the list with itself; GPUTEL_KERNEL_LOG_SOURCES names the
 * sources to try and their order (default "kmsg,journal,kern.log").
 * GPUTEL_JOURNAL_DIR reads the journal files of one directory instead of
 * the system's, GPUTEL_KERN_LOG another file than /var/log/kern.log.
 *
 * Whatever the source, the records come as struct kmsg_record (the
 * journal's and kern.log's with no_seq set: they have no kernel sequence
 * numbers), never blocking, and the counters of struct kmsg_stats apply.
 * Each source keeps its own position file in the state directory
 * (kmsg.position, journal.position, kern-log.position), so that a restart
 * goes on where the last run stopped, and a change of source does not
 * read another's position.
 */
#ifndef GPUTEL_KLOG_H
#define GPUTEL_KLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmsg.h"

enum klog_kind { KLOG_KMSG, KLOG_JOURNAL, KLOG_KERN_LOG, KLOG__COUNT };

#define KLOG_DEFAULT_KERN_LOG "/var/log/kern.log"

struct klog_options {
	const char *state_dir;   /* where the positions are kept; NULL: none (the doctor, no state dir) */
	const char *boot_id;     /* this boot's (kmsg_boot_id), or "unknown" */
	/* kmsg: the last record of this boot events.jsonl holds (a kill -9 before the position was saved). */
	bool have_tail_seq;
	uint64_t tail_seq;
};

struct klog;

/*
 * The sources to try, in order, into out: GPUTEL_KMSG alone, or
 * GPUTEL_KERNEL_LOG_SOURCES, or all three.  Returns how many, or -1 with
 * err set when GPUTEL_KERNEL_LOG_SOURCES names something else.
 */
int klog_sources(enum klog_kind out[KLOG__COUNT], char *err, size_t errlen);

/*
 * Opens the first source of klog_sources() that can be read, resumed from
 * its position.  Returns 0, or -1 with err set to one line that says, for
 * each source, why not and how to get it.
 */
int klog_open(struct klog **out, const struct klog_options *o, char *err, size_t errlen);

/* Opens that one source (with o->state_dir NULL: from its start, as the doctor does).  0 or -errno with err. */
int klog_open_kind(struct klog **out, enum klog_kind kind, const struct klog_options *o, char *err, size_t errlen);

/* "kmsg", "journal" or "kern.log": the names GPUTEL_KERNEL_LOG_SOURCES takes, and the metric's label. */
const char *klog_kind_name(enum klog_kind kind);
enum klog_kind klog_kind(const struct klog *k);

/* What is read, for the log: "/dev/kmsg", "the systemd journal's kernel messages", "/var/log/kern.log". */
const char *klog_describe(const struct klog *k);

/* Why the sources before it (klog_open) could not be read, as klog_open's err would say; "" when none. */
const char *klog_passed_over(const struct klog *k);

/* Whether it went on from a saved position (or events.jsonl's last record). */
bool klog_resumed(const struct klog *k);

/*
 * Whether the records carry the kernel's sequence numbers (kmsg): then
 * events.jsonl's last one guards a restart after a kill -9, and the
 * position may wait for the tick.  The others' should be saved right after
 * the records that made events.
 */
bool klog_numbered(const struct klog *k);

/* A descriptor poll() reports readable when records may wait, or -1 (drain every tick). */
int klog_fd(const struct klog *k);

/* As kmsg_drain: at most max_records, in order; how many, or -errno (the reader stays usable). */
int klog_drain(struct klog *k, unsigned int max_records, kmsg_record_fn fn, void *ctx);

const struct kmsg_stats *klog_stats(const struct klog *k);

/*
 * Saves the position when it moved since the last save.  Returns 1 when
 * saved, 0 when there was nothing to save (or no state directory), -errno.
 */
int klog_save_position(struct klog *k);

/* The position file's path, "" when none is kept. */
const char *klog_position_path(const struct klog *k);

void klog_close(struct klog *k);

#endif
