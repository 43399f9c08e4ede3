/*
 * otlp.h - the OTLP exporter: records in from the loop's thread, batches
 * out to a collector from a thread of its own.
 *
 *	x = otlp_start(&cfg, err, sizeof err);   takes cfg over
 *	otlp_submit(x, record);                  never waits on the network or the disk
 *	otlp_stats(x, &st);                      for /metrics
 *	otlp_stop(x);                            what is not sent stays queued on disk
 *
 * Batching follows the SDKs' log and span processors: a batch goes when it
 * holds OTLP_BATCH_MAX records or its oldest has waited OTLP_BATCH_DELAY_NS.
 * Each batch is encoded once and written to the disk queue (otlp_queue.h)
 * before it is sent, so an outage or a restart loses nothing within the
 * queue's bound.  Sending follows the OTLP/HTTP spec: 2xx is done (a
 * partial success counts the rejected records as failed, never retried);
 * 429, 502, 503, 504 and no answer are retried, after Retry-After when the
 * collector gave one, else after an exponential backoff with jitter; every
 * other status drops the batch, counted as failed.  Batches go oldest
 * first, one at a time, so order is kept.
 */
#ifndef GPUTEL_OTLP_H
#define GPUTEL_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp_config.h"
#include "otlp_record.h"

#define OTLP_INTAKE_MAX_BYTES (32u << 20)  /* records waiting for the thread: a storm's bound */
#define OTLP_BACKOFF_MIN_NS (1000 * 1000 * 1000LL)
#define OTLP_BACKOFF_MAX_NS (60 * 1000 * 1000 * 1000LL)

struct otlp_stats {
	uint64_t exported[OTLP_SIGNALS];   /* records the collector took */
	uint64_t failed[OTLP_SIGNALS];     /* refused for good (a 4xx, a partial success) */
	uint64_t dropped[OTLP_SIGNALS];    /* never sent: past a bound, or unreadable */
	uint64_t retries[OTLP_SIGNALS];    /* sends that will be tried again */
	uint64_t queue_bytes;
	uint64_t queue_batches;
	uint64_t queue_write_failures;
};

struct otlp_exporter;

/*
 * Loads libcurl, opens the disk queue and starts the thread.  Takes cfg
 * over (released by otlp_stop, or here on failure).  NULL with err set to
 * one line when libcurl cannot be loaded or the thread cannot start.
 */
struct otlp_exporter *otlp_start(struct otlp_config *cfg, char *err, size_t errlen);

/* Hands r over (freed by the exporter).  A signal that is off, or a full intake, drops it (counted). */
void otlp_submit(struct otlp_exporter *x, struct otlp_record *r);

/* True when the signal is exported. */
bool otlp_signal_on(const struct otlp_exporter *x, enum otlp_signal s);

void otlp_stats(struct otlp_exporter *x, struct otlp_stats *st);

/*
 * Stops the thread: what waits is written to the queue, a send in flight
 * is cut short (its batch stays queued).  Returns within about a second.
 */
void otlp_stop(struct otlp_exporter *x);

#endif
