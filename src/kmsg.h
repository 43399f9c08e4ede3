/*
 * kmsg.h - the kernel's log records as they come, from /dev/kmsg or from
 * a file or FIFO in its record format (GPUTEL_KMSG: tests, the demo).
 * Never blocks: kmsg_drain() reads what is there and returns.  Resumes
 * after a restart where it left off: a position (boot id and the last
 * record's sequence number) is saved in the state directory, and records
 * at or before it are skipped when the boot is the same.  Records the
 * kernel overwrote before they were read (an overrun, or while gputel was
 * down) show as a gap in the sequence numbers and are counted as lost.
 *
 * Record format (Documentation/ABI/testing/dev-kmsg):
 *   PRIO,SEQ,TS_USEC,FLAGS[,...];MESSAGE\n[ KEY=VALUE\n...]
 * PRIO is facility * 8 + level; TS_USEC is CLOCK_MONOTONIC in
 * microseconds; the kernel writes unprintable bytes of MESSAGE as \xNN.
 */
#ifndef GPUTEL_KMSG_H
#define GPUTEL_KMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMSG_DEFAULT_PATH "/dev/kmsg"
#define KMSG_BOOT_ID_LEN 37   /* 36 characters and the NUL */

struct kmsg_record {
	uint64_t seq;
	int level;          /* 0 (emerg) .. 7 (debug) */
	int facility;       /* 0: the kernel */
	int64_t mono_us;    /* when it was logged, CLOCK_MONOTONIC */
	const char *msg;    /* not NUL-terminated */
	size_t len;
	/*
	 * The source numbers no records (the journal, kern.log: klog.h): seq
	 * means nothing, and events name no kernel_seq.  Zero for /dev/kmsg.
	 */
	bool no_seq;
};

struct kmsg_stats {
	uint64_t records;   /* delivered */
	uint64_t lost;      /* overwritten before they were read: gaps in the sequence */
	uint64_t malformed; /* not in record format, or longer than a record can be */
	uint64_t skipped;   /* at or before the resume position; kern.log: not the kernel's, or an earlier boot's */
};

struct kmsg;

/*
 * Opens path (a character device, FIFO or regular file).  With resume,
 * records up to and including after_seq are skipped, and a first record
 * past after_seq + 1 counts the ones between as lost.  Returns 0, or
 * -errno with err set to one line naming the path, the problem and the fix.
 */
int kmsg_open(struct kmsg **out, const char *path, bool resume, uint64_t after_seq, char *err,
	      size_t errlen);

/* A descriptor that poll() reports readable when records wait, or -1 (a regular file: drain every tick). */
int kmsg_fd(const struct kmsg *k);

typedef void (*kmsg_record_fn)(void *ctx, const struct kmsg_record *rec);

/*
 * Delivers the records that wait, at most max_records of them (the rest
 * stay for the next call), in order.  Returns how many were delivered, or
 * -errno when reading failed (the reader stays usable).
 */
int kmsg_drain(struct kmsg *k, unsigned int max_records, kmsg_record_fn fn, void *ctx);

/* The sequence number of the last record delivered or skipped; false before any. */
bool kmsg_last_seq(const struct kmsg *k, uint64_t *seq);

const struct kmsg_stats *kmsg_stats(const struct kmsg *k);

void kmsg_close(struct kmsg *k);

/*
 * Parses one record line (without its newline).  Returns 0, or -1 when it
 * is not in record format.  rec->msg points into line.
 */
int kmsg_parse_record(const char *line, size_t len, struct kmsg_record *rec);

/* The wall-clock time of a record, in ns since the epoch, from the clocks now. */
int64_t kmsg_wall_ns(const struct kmsg_record *rec);

/*
 * This boot's id (/proc/sys/kernel/random/boot_id under procfs_root) into
 * out.  Returns 0 or -errno.
 */
int kmsg_boot_id(const char *procfs_root, char out[KMSG_BOOT_ID_LEN]);

/*
 * The saved position: "BOOT_ID SEQ\n".  kmsg_position_load returns 0 with
 * both filled, -ENOENT when there is none, or -EINVAL for a file that is
 * not one (it is then ignored and replaced).  kmsg_position_save writes it
 * whole or not at all (a temporary file renamed over it).
 */
int kmsg_position_load(const char *path, char boot_id[KMSG_BOOT_ID_LEN], uint64_t *seq);
int kmsg_position_save(const char *path, const char *boot_id, uint64_t seq);

/*
 * Replaces the file at path with text, whole or not at all: a temporary
 * file (never through a link planted at its name), synced, renamed over
 * it.  Every source's position (klog.h) is saved this way.  0 or -errno.
 */
int kmsg_position_write(const char *path, const char *text);

#endif
