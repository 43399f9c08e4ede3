/*
 * sink_csv.h - the per-tick CSV files: the CSV sink (sink_csv_ops in
 * sink.h) and the durable file writer beneath it.
 *
 * The sink writes a file, gpu_telemetry_<UTC yyyymmddThhmmssZ>.csv, for
 * each period while telemetry is on: one for the whole run of `gputel
 * collect`, one per active period of the agent.  One row per GPU per tick
 * (one host-only row when there is no GPU), the guide's 14 columns first
 * and in its order, then the rest (docs/csv.md).
 *
 * While the agent holds utilisation above start-util (run_state.preroll),
 * the sink keeps the full rows of that hold window in memory (at most
 * CSV_PREROLL_MAX bytes and CSV_PREROLL_TICKS ticks, the oldest dropped
 * first); when telemetry turns on, the period's file starts with them, so
 * it covers the job from its first busy tick.  A hold that breaks drops
 * them.
 *
 * A period whose file cannot be opened (the process out of descriptors,
 * the out-dir gone) is tried again every tick; the rows of the ticks
 * without a file are counted as dropped, and so is the pre-roll of a
 * period that ends before its file could be opened.
 *
 * Durability rules, each of which a test holds it to:
 *   - a tick's rows go out in a single write(2) on an O_APPEND descriptor;
 *     when a nearly full disk takes only part of it, the whole rows it
 *     took stay and the torn row is cut back at once, so a row on disk is
 *     never torn;
 *   - a write that fails (full disk, EFBIG, I/O error) keeps the rows in a
 *     bounded in-memory backlog and retries every tick, writing the oldest
 *     rows first, as many whole ones as fit; rows beyond the backlog are
 *     dropped and counted, the failure is logged once, recovery once more;
 *   - csv_reopen() (SIGHUP/SIGUSR1, logrotate's create mode) reopens the
 *     path, writing a header into a new file;
 *   - a file truncated under us (copytruncate) gets a header again and the
 *     rows of the last moments before the truncation are written again, so
 *     none falls into logrotate's copy/truncate gap (dedupe on seq+gpu_index).
 */
#ifndef GPUTEL_SINK_CSV_H
#define GPUTEL_SINK_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "snapshot.h"

#define CSV_BATCH_MAX (GPUTEL_MAX_GPUS * 1024)   /* one tick's rows */
#define CSV_BACKLOG_MAX (1024 * 1024)             /* rows kept while writes fail */
#define CSV_RECENT_MAX (256 * 1024)               /* rows re-sent after a truncation */
#define CSV_RECENT_BATCHES 256
#define CSV_PREROLL_MAX (4 * 1024 * 1024)         /* rows of the hold window */
#define CSV_PREROLL_TICKS 8192

/* The out-dir that means standard output (gputel collect --out-dir -). */
#define CSV_STDOUT "-"

struct csv_file {
	char path[4096];
	int fd;
	bool stream;              /* standard output: no size to track, nothing to reopen */
	off_t expect_size;        /* where our last write ended: less means truncated */
	bool reopen_pending;      /* a reopen failed: try again next tick */
	bool failing;             /* writes are failing: logged once */
	int last_errno;           /* of the last failed write, 0 after one that succeeded */
	char *batch;              /* this tick's rows */
	char *backlog;            /* rows not yet on disk, whole rows only */
	size_t backlog_len;
	uint64_t backlog_rows;    /* data rows in the backlog (a header is not one) */
	size_t backlog_head;      /* bytes of a header at the backlog's start, 0 when none */
	char *recent;             /* the last rows that reached the file */
	size_t recent_len;
	size_t recent_ends[CSV_RECENT_BATCHES]; /* end offset of each batch in recent */
	unsigned int recent_batches;
	uint64_t rows_written;
	uint64_t rows_dropped;
	uint64_t rows_dropped_reported;
};

/*
 * Creates dir/gpu_telemetry_<start>.csv with its header (dir CSV_STDOUT:
 * standard output).  Returns 0, or -errno with err filled (one line naming
 * the directory and the fix).
 */
int csv_open(struct csv_file *c, const char *dir, time_t start, char *err, size_t errlen);

/* Formats snap's rows of the GPUs in `gpus` (CSV_ALL_GPUS or bits by index) and writes them. */
void csv_write(struct csv_file *c, const struct snapshot *snap, uint64_t gpus);

/* Writes n bytes of whole, formatted rows (`rows` of them) by the same rules. */
void csv_write_rows(struct csv_file *c, const char *p, size_t n, uint64_t rows);

/* Reopens the path (after logrotate moved the file away). */
void csv_reopen(struct csv_file *c);

/* Last attempt to write the backlog, then closes. Frees everything. */
void csv_close(struct csv_file *c);

/* ---- pure formatting, exposed for tests and `gputel gpus` ---- */

size_t csv_header(char *buf, size_t cap);

#define CSV_ALL_GPUS (~(uint64_t)0)

/*
 * Formats snap's rows into buf: one per GPU whose NVML index is set in
 * gpus, or one host row when there is none.  Returns the length, 0 if it
 * did not fit; *n_rows (when not NULL) gets the row count.
 */
size_t csv_format_rows(const struct snapshot *snap, uint64_t gpus, char *buf, size_t cap, uint64_t *n_rows);

/* Number of columns, and the name of column i (docs and tests use these). */
size_t csv_column_count(void);
const char *csv_column_name(size_t i);

#endif
