/* otlp.c - see otlp.h. */
#include "otlp.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "gzip.h"
#include "log.h"
#include "otlp_encode.h"
#include "otlp_http.h"
#include "otlp_queue.h"
#include "util.h"

#define REFUSAL_LOG_EVERY_NS (60 * NS_PER_SEC)
#define TRIM_AFTER_BYTES (4u << 20)     /* a storm's records: given back to the system once sent on */
#define RETRY_AFTER_MAX_MS (300 * 1000)

struct otlp_exporter {
	struct otlp_config cfg;
	struct otlp_http *http;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;              /* on CLOCK_MONOTONIC */
	atomic_bool abort;              /* cuts a send in flight short */
	/* Under mu. */
	struct otlp_record *head[OTLP_SIGNALS], *tail[OTLP_SIGNALS];
	size_t count[OTLP_SIGNALS];
	size_t intake_bytes;
	bool trim_wanted;               /* the intake held TRIM_AFTER_BYTES: trim the heap once it is empty */
	bool stopping;
	struct otlp_stats st;
	uint64_t queue_dropped[OTLP_SIGNALS];  /* the queue's own count, copied */
	/* The thread's alone. */
	struct otlp_queue queue;
	struct otlp_http_reply reply;
	char curl_path[4096];           /* the libcurl otlp_http_find found; loaded by the first send */
	bool curl_failed;               /* it would not load: said once */
	int64_t next_try_ns;            /* no send before (a backoff) */
	int64_t backoff_ns;
	bool outage;                    /* said once, until a send works */
	int64_t outage_since_ns;
	int64_t refusal_logged_ns;
	uint64_t refusals_unlogged;
	uint64_t rng;
};

static const struct otlp_scope scope = { "gputel", GPUTEL_VERSION };

/* A jitter source; xorshift is plenty for spreading retries. */
static uint64_t next_random(struct otlp_exporter *x)
{
	x->rng ^= x->rng << 13;
	x->rng ^= x->rng >> 7;
	x->rng ^= x->rng << 17;
	return x->rng;
}

/* Copies the queue's figures into the stats; under mu. */
static void sync_queue_stats(struct otlp_exporter *x)
{
	x->st.queue_bytes = x->queue.bytes;
	x->st.queue_batches = x->queue.n;
	x->st.queue_write_failures = x->queue.write_failures;
	memcpy(x->queue_dropped, x->queue.dropped, sizeof x->queue_dropped);
}

/* Encodes a batch and puts it in the queue; called without mu. */
static void enqueue(struct otlp_exporter *x, enum otlp_signal s, struct otlp_record **recs, size_t n)
{
	const struct otlp_signal_config *sc = &x->cfg.sig[s];
	size_t len = 0, gz_len = 0;
	char *body = otlp_encode(s, sc->fmt, x->cfg.resource, &scope, recs, n, &len), *gz = NULL;
	bool gzipped = false;

	if (!body) {
		log_warn("otlp: out of memory encoding %zu %s record%s: dropped", n, otlp_signal_name(s), plural_s(n));
		pthread_mutex_lock(&x->mu);
		x->st.dropped[s] += n;
		pthread_mutex_unlock(&x->mu);
		return;
	}
	if (sc->gzip && gzip_buf(body, len, &gz, &gz_len)) {
		free(body);
		body = gz;
		len = gz_len;
		gzipped = true;
	}
	otlp_queue_push(&x->queue, s, sc->fmt, gzipped, (uint32_t)n, body, len);
	free(body);
}

static bool retryable(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

static void count(struct otlp_exporter *x, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&x->mu);
	*field += n;
	sync_queue_stats(x);
	pthread_mutex_unlock(&x->mu);
}

/* The collector answered (took or refused a batch): an outage, if one was said, is over. */
static void answered(struct otlp_exporter *x, const char *url)
{
	if (x->outage)
		log_info("otlp: %s answers again after %.0f s", url,
			 (double)(mono_now_ns() - x->outage_since_ns) / NS_PER_SEC);
	x->outage = false;
	x->backoff_ns = 0;
}

/* Sends the oldest batch; called without mu. */
static void send_head(struct otlp_exporter *x)
{
	const struct otlp_batch *b = otlp_queue_head(&x->queue);
	struct otlp_batch batch = *b;
	const struct otlp_signal_config *sc = &x->cfg.sig[batch.signal];
	struct otlp_http_opts opts = { sc->timeout_ms, sc->ca_file, sc->client_cert, sc->client_key,
				       (const char *const *)sc->headers, &x->abort };
	struct otlp_http_reply *r = &x->reply;
	const char *sig = batch.signal == OTLP_LOGS ? "log record" : "span";
	char msg[512];
	size_t len;
	char *body;
	int rc;

	if (!sc->on) {
		/* Queued by a run that exported this signal; this one does not. */
		otlp_queue_pop(&x->queue);
		count(x, &x->st.dropped[batch.signal], batch.records);
		return;
	}
	if (!x->http) {
		char err[512];

		x->http = otlp_http_new(x->curl_path, err, sizeof err);
		if (!x->http) {
			/* It checked out at the start; should it fail now, the batches wait, as for an outage. */
			if (!x->curl_failed)
				log_error("otlp: %s", err);
			x->curl_failed = true;
			x->next_try_ns = mono_now_ns() + OTLP_BACKOFF_MAX_NS;
			return;
		}
	}
	body = otlp_queue_read_head(&x->queue, &len);
	if (!body) {
		count(x, &x->st.dropped[batch.signal], 0);
		return;
	}
	rc = otlp_http_post(x->http, sc->url, otlp_content_type(batch.fmt), batch.gzipped, body, len, &opts, r);
	free(body);
	if (rc != 0 && atomic_load(&x->abort))
		return;         /* stopping: the batch stays queued for the next run */
	if (rc == 0 && r->status >= 200 && r->status < 300) {
		int64_t rejected = otlp_decode_partial(batch.signal, batch.fmt, r->body, r->body_len, msg, sizeof msg);

		if ((uint64_t)rejected > batch.records)
			rejected = batch.records;
		if (rejected || msg[0])
			log_warn("otlp: the collector at %s took %" PRIu32 " %s%s but rejected %" PRId64 "%s%s",
				 sc->url, batch.records, sig, plural_s(batch.records), rejected, msg[0] ? ": " : "", msg);
		otlp_queue_pop(&x->queue);
		pthread_mutex_lock(&x->mu);
		x->st.exported[batch.signal] += batch.records - (uint64_t)rejected;
		x->st.failed[batch.signal] += (uint64_t)rejected;
		sync_queue_stats(x);
		pthread_mutex_unlock(&x->mu);
		answered(x, sc->url);
		return;
	}
	if (rc != 0 || retryable(r->status)) {
		int64_t delay_ns;

		if (r->retry_after_ms >= 0) {
			delay_ns = (r->retry_after_ms < RETRY_AFTER_MAX_MS ? r->retry_after_ms : RETRY_AFTER_MAX_MS) * 1000000LL;
		} else {
			/* Exponential, with "equal jitter": half the step fixed, half random. */
			x->backoff_ns = x->backoff_ns ? x->backoff_ns * 2 : OTLP_BACKOFF_MIN_NS;
			if (x->backoff_ns > OTLP_BACKOFF_MAX_NS)
				x->backoff_ns = OTLP_BACKOFF_MAX_NS;
			delay_ns = x->backoff_ns / 2 + (int64_t)(next_random(x) % (uint64_t)(x->backoff_ns / 2 + 1));
		}
		x->next_try_ns = mono_now_ns() + delay_ns;
		count(x, &x->st.retries[batch.signal], 1);
		if (!x->outage) {
			if (rc != 0)
				str_fmt(msg, sizeof msg, "%s", r->error);
			else
				str_fmt(msg, sizeof msg, "HTTP %ld", r->status);
			log_warn("otlp: cannot send to %s (%s); records wait in the queue (%zu KiB) and are retried, "
				 "first in %.1f s", sc->url, msg, x->queue.bytes >> 10, (double)delay_ns / NS_PER_SEC);
			x->outage = true;
			x->outage_since_ns = mono_now_ns();
		}
		return;
	}
	/* Refused for good: retrying the same bytes cannot help. */
	answered(x, sc->url);
	otlp_decode_error(batch.fmt, r->body, r->body_len, msg, sizeof msg);
	otlp_queue_pop(&x->queue);
	count(x, &x->st.failed[batch.signal], batch.records);
	if (mono_now_ns() - x->refusal_logged_ns >= REFUSAL_LOG_EVERY_NS || !x->refusal_logged_ns) {
		log_error("otlp: the collector at %s refused %" PRIu32 " %s%s with HTTP %ld%s%s; dropped, not retried%s",
			  sc->url, batch.records, sig, plural_s(batch.records), r->status, msg[0] ? ": " : "", msg,
			  x->refusals_unlogged ? " (more refusals since the last said)" : "");
		x->refusal_logged_ns = mono_now_ns();
		x->refusals_unlogged = 0;
	} else {
		x->refusals_unlogged++;
	}
}

/* The next batch due (full, old enough, or everything when stopping); -1 none.  Under mu. */
static int due_signal(const struct otlp_exporter *x, int64_t now)
{
	for (int s = 0; s < OTLP_SIGNALS; s++)
		if (x->count[s] && (x->stopping || x->count[s] >= x->cfg.batch_max ||
				    now - x->head[s]->intake_ns >= x->cfg.batch_delay_ns))
			return s;
	return -1;
}

static void *run(void *arg)
{
	struct otlp_exporter *x = arg;

	pthread_mutex_lock(&x->mu);
	for (;;) {
		int64_t now = mono_now_ns(), deadline = now + 3600 * NS_PER_SEC;
		int s = due_signal(x, now);
		struct timespec ts;

		if (s >= 0) {
			struct otlp_record *recs[OTLP_BATCH_MAX];
			size_t n = 0;

			while (n < x->cfg.batch_max && n < OTLP_BATCH_MAX && x->head[s]) {
				struct otlp_record *r = x->head[s];

				x->head[s] = r->next;
				x->intake_bytes -= r->size;
				recs[n++] = r;
			}
			if (!x->head[s])
				x->tail[s] = NULL;
			x->count[s] -= n;
			pthread_mutex_unlock(&x->mu);
			enqueue(x, (enum otlp_signal)s, recs, n);
			for (size_t i = 0; i < n; i++)
				otlp_record_free(recs[i]);
			pthread_mutex_lock(&x->mu);
			sync_queue_stats(x);
			/* After a storm the freed records would stay the agent's for good: hand them back. */
			if (x->trim_wanted && x->intake_bytes == 0) {
				x->trim_wanted = false;
				pthread_mutex_unlock(&x->mu);
				malloc_trim(0);
				pthread_mutex_lock(&x->mu);
			}
			continue;
		}
		if (x->stopping)
			break;
		if (x->queue.n && now >= x->next_try_ns) {
			pthread_mutex_unlock(&x->mu);
			send_head(x);
			pthread_mutex_lock(&x->mu);
			continue;
		}
		for (s = 0; s < OTLP_SIGNALS; s++)
			if (x->count[s] && x->head[s]->intake_ns + x->cfg.batch_delay_ns < deadline)
				deadline = x->head[s]->intake_ns + x->cfg.batch_delay_ns;
		if (x->queue.n && x->next_try_ns < deadline)
			deadline = x->next_try_ns;
		ts.tv_sec = deadline / NS_PER_SEC;
		ts.tv_nsec = deadline % NS_PER_SEC;
		pthread_cond_timedwait(&x->cv, &x->mu, &ts);
	}
	sync_queue_stats(x);
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

/* What otlp_start made, once the thread has stopped or never started. */
static void exporter_free(struct otlp_exporter *x)
{
	otlp_queue_close(&x->queue);
	otlp_http_free(x->http);
	otlp_config_release(&x->cfg);
	pthread_cond_destroy(&x->cv);
	pthread_mutex_destroy(&x->mu);
	free(x);
}

struct otlp_exporter *otlp_start(struct otlp_config *cfg, char *err, size_t errlen)
{
	struct otlp_exporter *x = calloc(1, sizeof *x);
	pthread_condattr_t ca;
	char qerr[512];
	int rc;

	if (!x) {
		str_fmt(err, errlen, "otlp: out of memory");
		otlp_config_release(cfg);
		return NULL;
	}
	x->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg);
	/* Checked now, loaded by the first send: an agent with nothing to send never maps libcurl and its TLS. */
	if (otlp_http_find(x->cfg.curl_library, x->curl_path, sizeof x->curl_path, err, errlen) != 0) {
		otlp_config_release(&x->cfg);
		free(x);
		return NULL;
	}
	if (otlp_queue_open(&x->queue, x->cfg.queue_dir, x->cfg.queue_max_bytes, qerr, sizeof qerr) != 0)
		log_warn("%s", qerr);
	x->rng = (uint64_t)mono_now_ns() | 1;
	atomic_init(&x->abort, false);
	pthread_mutex_init(&x->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cv, &ca);
	pthread_condattr_destroy(&ca);
	sync_queue_stats(x);
	rc = pthread_create(&x->thread, NULL, run, x);
	if (rc != 0) {
		str_fmt(err, errlen, "otlp: cannot start the exporter's thread: %s", strerror(rc));
		exporter_free(x);
		return NULL;
	}
	return x;
}

bool otlp_signal_on(const struct otlp_exporter *x, enum otlp_signal s)
{
	return x && s < OTLP_SIGNALS && x->cfg.sig[s].on;
}

void otlp_submit(struct otlp_exporter *x, struct otlp_record *r)
{
	enum otlp_signal s = r->signal;

	if (!otlp_signal_on(x, s)) {
		otlp_record_free(r);
		return;
	}
	r->next = NULL;
	r->intake_ns = mono_now_ns();
	pthread_mutex_lock(&x->mu);
	if (x->stopping || x->intake_bytes + r->size > OTLP_INTAKE_MAX_BYTES) {
		x->st.dropped[s]++;
		pthread_mutex_unlock(&x->mu);
		otlp_record_free(r);
		return;
	}
	if (x->tail[s])
		x->tail[s]->next = r;
	else
		x->head[s] = r;
	x->tail[s] = r;
	x->intake_bytes += r->size;
	if (x->intake_bytes >= TRIM_AFTER_BYTES)
		x->trim_wanted = true;
	/* The thread sleeps until its next deadline: wake it for a new first record or a full batch. */
	if (++x->count[s] == 1 || x->count[s] >= x->cfg.batch_max)
		pthread_cond_signal(&x->cv);
	pthread_mutex_unlock(&x->mu);
}

void otlp_stats(struct otlp_exporter *x, struct otlp_stats *st)
{
	pthread_mutex_lock(&x->mu);
	*st = x->st;
	for (int s = 0; s < OTLP_SIGNALS; s++)
		st->dropped[s] += x->queue_dropped[s];
	pthread_mutex_unlock(&x->mu);
}

void otlp_stop(struct otlp_exporter *x)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->mu);
	x->stopping = true;
	atomic_store(&x->abort, true);
	pthread_cond_signal(&x->cv);
	pthread_mutex_unlock(&x->mu);
	pthread_join(x->thread, NULL);
	if (x->queue.n)
		log_info("otlp: %zu batch%s (%zu KiB) not yet sent stay queued in %s for the next start", x->queue.n,
			 x->queue.n == 1 ? "" : "es", x->queue.bytes >> 10, x->queue.dir[0] ? x->queue.dir : "memory (lost)");
	exporter_free(x);
}
