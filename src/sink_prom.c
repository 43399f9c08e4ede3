/*
 * sink_prom.c - the Prometheus sink: renders every tick once (prom.c,
 * with every sink's own families) and publishes it, with the /status
 * document, to the HTTP server (http.c) that answers every scrape from
 * that page.
 *
 * Served always, or -- JN_EXPORTER_MODE=active -- only while telemetry is
 * on, as the guide's agent did.  While the agent is idle its ticks are
 * lite (utilisation and health only); every JN_IDLE_SAMPLE_SECONDS one is
 * full, and in between the lite tick's values are rendered over the last
 * full one's, so that no family vanishes from /metrics and no counter
 * goes back.  The rendering grows as needed up to PROM_RENDER_MAX; a tick
 * that still does not fit is not published, and that is logged and
 * counted (gputel_metrics_render_failures_total).
 */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "pipeline.h"
#include "prom.h"
#include "sink.h"
#include "status.h"
#include "util.h"

#define PROM_RENDER_START (256 * 1024)
#define PROM_RENDER_MAX (64 * 1024 * 1024)

struct prom_sink {
	struct pipeline *p;
	struct http_options opt;
	struct http_server *http;
	char *buf;
	size_t cap;
	char status[STATUS_JSON_MAX];
	struct snapshot *last_full;   /* the last tick sampled in full */
	struct snapshot *merged;      /* a lite tick over it */
	bool have_full;
	uint64_t render_failures;
	bool said_failure;
};

static bool http_wanted(const struct prom_sink *k)
{
	return k->p->st.cfg->exporter_mode == CONFIG_EXPORTER_ALWAYS || k->p->st.telemetry;
}

static int http_on(struct prom_sink *k, char *err, size_t errlen)
{
	if (k->http)
		return 0;
	return http_start(&k->http, &k->opt, err, errlen);
}

static void http_off(struct prom_sink *k)
{
	if (!k->http)
		return;
	log_debug("http: %llu request%s served", (unsigned long long)http_requests(k->http),
		  plural_s(http_requests(k->http)));
	http_stop(k->http);
	k->http = NULL;
}

/*
 * A lite tick rendered over the last full one: its time, utilisation and
 * health, with the full tick's other values (a GPU that is not up shows
 * only what the lite tick has).
 */
static const struct snapshot *over_last_full(struct prom_sink *k, const struct snapshot *lite)
{
	const struct snapshot *full = k->last_full;
	struct snapshot *m = k->merged;

	m->seq = lite->seq;
	m->wall = lite->wall;
	m->mono_ns = lite->mono_ns;
	m->lite = false;
	m->gpu_answered_ns = lite->gpu_answered_ns;
	m->backend = lite->backend;
	m->gpu_src = lite->gpu_src;
	m->host = full->host;
	m->host_src = full->host_src;
	m->n_gpus = lite->n_gpus;
	for (unsigned int i = 0; i < lite->n_gpus; i++) {
		const struct gpu_reading *l = &lite->gpu[i];
		struct gpu_reading *g = &m->gpu[i];

		*g = *l;
		if (l->health != GPU_HEALTH_UP || i >= full->n_gpus ||
		    strcmp(full->gpu[i].id.uuid, l->id.uuid) != 0)
			continue;
		for (int f = 0; f < GPU_F__COUNT; f++)
			if (l->st[f] != VAL_OK && full->gpu[i].st[f] == VAL_OK) {
				g->st[f] = VAL_OK;
				g->val[f] = full->gpu[i].val[f];
			}
	}
	return m;
}

static void own_metrics(void *ctx, struct outbuf *o, const struct snapshot *snap)
{
	struct prom_sink *k = ctx;

	pipeline_metrics(k->p, o, snap);
	prom_family(o, "gputel_metrics_render_failures_total", "counter",
		    "Ticks not published because their rendering outgrew the limit.");
	ob_puts(o, "gputel_metrics_render_failures_total ");
	ob_put_u64(o, k->render_failures);
	ob_put(o, "\n", 1);
}

/* Renders into k->buf, growing it as needed; 0 when it cannot fit. */
static size_t render(struct prom_sink *k, const struct snapshot *snap)
{
	const struct run_state *st = &k->p->st;
	struct prom_self self = {
		.version = GPUTEL_VERSION,
		.driver_version = st->driver_version,
		.names = st->cfg->metric_names,
		.hostname = st->hostname,
		.telemetry_active = st->telemetry,
		.xid_events = st->gpu_events,
		.extra = own_metrics,
		.extra_ctx = k,
	};

	for (;;) {
		size_t n = prom_render(snap, &self, k->buf, k->cap);
		char *bigger;

		if (n > 0)
			return n;
		if (k->cap >= PROM_RENDER_MAX || !(bigger = realloc(k->buf, k->cap * 2)))
			return 0;
		k->buf = bigger;
		k->cap *= 2;
	}
}

static void prom_sink_free(struct prom_sink *k)
{
	if (!k)
		return;
	if (k->http)
		log_info("http: %llu request%s served", (unsigned long long)http_requests(k->http),
			 plural_s(http_requests(k->http)));
	http_off(k);
	free(k->merged);
	free(k->last_full);
	free(k->buf);
	free(k);
}

static int prom_sink_open(void **self, struct pipeline *p, char *err, size_t errlen)
{
	const struct config *cfg = p->st.cfg;
	struct prom_sink *k = calloc(1, sizeof *k);
	int64_t three = 3 * cfg->poll_interval_ns;
	int r = -1;

	if (!k || !(k->buf = malloc(PROM_RENDER_START)) || !(k->last_full = malloc(sizeof *k->last_full)) ||
	    !(k->merged = malloc(sizeof *k->merged))) {
		str_copy(err, "out of memory", errlen);
		goto out;
	}
	k->p = p;
	k->cap = PROM_RENDER_START;
	/* /healthz: stale after three missed ticks, and never sooner than 3 s. */
	k->opt = (struct http_options){ cfg->exporter_bind, (unsigned int)cfg->exporter_port,
					three > 3 * NS_PER_SEC ? three : 3 * NS_PER_SEC, NULL };
	/* Listen first: a port that is taken is a usage error, found before any GPU work. */
	if (http_wanted(k) && http_on(k, err, errlen) != 0)
		goto out;
	*self = k;
	k = NULL;
	r = 0;
out:
	prom_sink_free(k);
	return r;
}

static void prom_sink_write(void *self, const struct snapshot *snap)
{
	struct prom_sink *k = self;
	const struct snapshot *view = snap;
	struct outbuf status = { k->status, 0, sizeof k->status - 1, false };
	char err[512];
	size_t n;

	if (!snap->lite) {
		snapshot_copy(k->last_full, snap);
		k->have_full = true;
	} else if (k->have_full && k->p->st.cfg->idle_sample_ns > 0) {
		view = over_last_full(k, snap);
	}
	if (!http_wanted(k)) {
		http_off(k);
		return;
	}
	if (!k->http && http_on(k, err, sizeof err) != 0) {
		log_once(&k->said_failure, LOG_WARN, "http: exporter not started: %s", err);
		return;
	}
	n = render(k, view);
	if (n == 0) {
		k->render_failures++;
		log_warn("http: the metrics of tick %llu do not fit in %d MiB; serving the previous tick's (%llu so far)",
			 (unsigned long long)snap->seq, PROM_RENDER_MAX >> 20,
			 (unsigned long long)k->render_failures);
		return;
	}
	status_json(&status, snap, &k->p->st);
	ob_put(&status, "\n", 1);
	if (http_publish(k->http, k->buf, n, k->status, status.full ? 0 : status.len, snap->gpu_answered_ns) != 0)
		log_warn("http: out of memory publishing tick %llu; serving the previous one",
			 (unsigned long long)snap->seq);
}

static void prom_sink_close(void *self)
{
	prom_sink_free(self);
}

const struct sink_ops sink_prom_ops = {
	.name = "prom",
	.open = prom_sink_open,
	.write = prom_sink_write,
	.close = prom_sink_close,
};
