/*
 * otlp_queue.h - the OTLP exporter's bounded queue of encoded requests,
 * kept on disk so that a collector outage or an agent restart loses
 * nothing within the bound.
 *
 * Each batch is one file in the queue directory (state_dir/otlp-queue),
 * written whole to a temporary name and renamed, so a crash leaves either
 * the whole batch or none of it:
 *
 *	<seq, 16 hex>-<logs|traces>-<records>.<pb|json>[.gz]
 *
 * Batches go out oldest first; one is removed once the collector took it
 * (or refused it for good).  Past the bound the oldest are dropped, and
 * their records counted.  Where the directory cannot be written (full,
 * read-only), a batch is kept in memory instead, under the same bound,
 * and the failure said once until a write works again.
 *
 * Used by the exporter's thread only.
 */
#ifndef GPUTEL_OTLP_QUEUE_H
#define GPUTEL_OTLP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp_encode.h"
#include "otlp_record.h"

#define OTLP_QUEUE_DIR "otlp-queue"
#define OTLP_QUEUE_PATH_MAX 4096

struct otlp_batch {
	uint64_t seq;
	enum otlp_signal signal;
	enum otlp_format fmt;
	bool gzipped;
	uint32_t records;
	size_t bytes;
	char *mem;                      /* the body, when it could not be written to disk; else NULL */
};

struct otlp_queue {
	char dir[OTLP_QUEUE_PATH_MAX];  /* "": memory only */
	struct otlp_batch *b;           /* a ring, oldest at head */
	size_t head, n, cap;
	uint64_t next_seq;
	size_t bytes, max_bytes;
	uint64_t dropped[OTLP_SIGNALS]; /* records dropped past the bound or unreadable */
	uint64_t write_failures;
	bool write_failing;             /* said once until a write works */
};

/*
 * Opens the queue in dir (made if missing; "" or NULL: memory only) and
 * takes up the batches a previous run left there.  Returns 0, or -1 with
 * err set when dir cannot be made or read (the queue is then memory only:
 * the caller logs err and goes on).
 */
int otlp_queue_open(struct otlp_queue *q, const char *dir, size_t max_bytes, char *err, size_t errlen);
void otlp_queue_close(struct otlp_queue *q);

/* Counts the batches waiting in dir without touching them (gputel doctor, beside a running agent). */
int otlp_queue_peek(const char *dir, size_t *batches, size_t *bytes);

/*
 * Adds a batch (body is copied or written; the caller keeps it).  Drops
 * the oldest past the bound, this one too when it alone is larger.
 */
void otlp_queue_push(struct otlp_queue *q, enum otlp_signal signal, enum otlp_format fmt, bool gzipped,
		     uint32_t records, const char *body, size_t len);

/* The oldest batch, or NULL when empty. */
const struct otlp_batch *otlp_queue_head(const struct otlp_queue *q);

/*
 * The oldest batch's body, malloc'd.  NULL when it cannot be read: the
 * batch is then dropped (counted) and the caller tries the next.
 */
char *otlp_queue_read_head(struct otlp_queue *q, size_t *len);

/* Removes the oldest batch (sent, or refused for good). */
void otlp_queue_pop(struct otlp_queue *q);

#endif
