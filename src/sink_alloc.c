/*
 * sink_alloc.c - the allocation sink: the agent's control socket
 * (control.c) serving the allocation API (alloc_api.c), and the per-tick
 * accounting of every live allocation (alloc.c).
 *
 * Its first tick loads the saved allocations (their GPUs are placed by
 * UUID on what that tick shows); every tick after accounts and reaps.  A
 * begin or an end waits for a fresh sample, asked of the sampler, without
 * holding up the loop; when the driver is not answering it is measured on
 * the latest tick at once.  It carries the agent's events to /v1/events
 * and renders the gputel_allocation_* families.
 *
 * The control socket's directory and the state directory must exist;
 * where both are the defaults and do not (a hand-run agent, not the
 * service), the agent runs without this sink and says so.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc_api.h"
#include "config.h"
#include "control.h"
#include "gpu_events.h"
#include "log.h"
#include "pipeline.h"
#include "prom.h"
#include "sampler.h"
#include "sink.h"
#include "status.h"
#include "util.h"

struct alloc_sink {
	struct pipeline *p;
	struct run_state *st;
	struct control *control;
	struct alloc_api api;
	bool loaded;                 /* the saved allocations were loaded (first tick) */
	bool fresh_asked;            /* a fresh sample was asked of the sampler */
};

static bool want_fresh(void *ctx)
{
	struct alloc_sink *k = ctx;

	if (!k->fresh_asked)
		k->fresh_asked = sampler_request_fresh(k->st->sampler);
	return k->fresh_asked;
}

static void ended(void *ctx, const struct alloc *a)
{
	struct alloc_sink *k = ctx;

	pipeline_alloc_ended(k->p, a);
}

static void write_status(void *ctx, struct outbuf *o)
{
	struct alloc_sink *k = ctx;

	status_json(o, k->api.snap, k->st);
}

/* The other sinks' paths on the control socket (the GPUs' health). */
static bool route(void *ctx, const char *method, const char *path, const char *body, size_t len,
		  struct control_reply *r)
{
	struct alloc_sink *k = ctx;

	return pipeline_request(k->p, method, path, body, len, r);
}

/* Loads the saved allocations, placing their GPUs by UUID on what snap shows. */
static void load(struct alloc_sink *k, const struct snapshot *snap)
{
	const struct config *cfg = k->st->cfg;
	struct alloc_api_host host = { .want_fresh = want_fresh, .status = write_status, .ended = ended,
					.route = route, .ctx = k, .spans_exported = k->st->spans_exported };
	char err[1024];

	k->loaded = true;
	if (alloc_api_init(&k->api, cfg->state_dir, cfg->logdir, &host, snap, err, sizeof err) != 0) {
		char aside[ALLOC_API_PATH_MAX + 64];

		/* Refusing to start would leave the node without telemetry; keep the file for a person. */
		str_fmt(aside, sizeof aside, "%s.damaged-%lld", k->api.state_path, (long long)time(NULL));
		log_error("alloc: %s; moved to %s, starting with no allocations", err, aside);
		rename(k->api.state_path, aside);
		alloc_api_init(&k->api, cfg->state_dir, cfg->logdir, &host, snap, err, sizeof err);
	}
	k->api.control = k->control;
}

/* Returns 0, 1 when the agent goes without the socket, or -1 with err set (exit 2). */
static int alloc_sink_open(void **self, struct pipeline *p, char *err, size_t errlen)
{
	const struct config *cfg = p->st.cfg;
	struct control_options opt = { cfg->control_socket, 0660, cfg->group, NULL };
	bool explicit = cfg->origin[CONFIG_CONTROL_SOCKET].src != CONFIG_SRC_DEFAULT ||
			cfg->origin[CONFIG_STATE_DIR].src != CONFIG_SRC_DEFAULT;
	struct alloc_sink *k;
	struct control_ops ops;
	char dir[CONFIG_TEXT_MAX];
	struct stat st;
	char *slash;

	if (!cfg->control_socket[0])
		return 1;
	str_copy(dir, cfg->control_socket, sizeof dir);
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	if (!explicit && (stat(dir, &st) != 0 || stat(cfg->state_dir, &st) != 0)) {
		log_warn("agent: no control socket: %s or %s does not exist (the service creates both); "
			 "set JN_CONTROL_SOCKET and JN_STATE_DIR to use the allocation API", dir, cfg->state_dir);
		return 1;
	}
	if (stat(cfg->state_dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(cfg->state_dir, W_OK | X_OK) != 0) {
		str_fmt(err, errlen, "state-dir %s is missing or not writable; create it (install -d %s) or set JN_STATE_DIR",
			cfg->state_dir, cfg->state_dir);
		return -1;
	}
	/* The guide's default group may not exist on a host set up by hand. */
	if (!getgrnam(cfg->group) && cfg->origin[CONFIG_GROUP].src == CONFIG_SRC_DEFAULT)
		opt.group = NULL;
	k = calloc(1, sizeof *k);
	if (!k) {
		str_copy(err, "out of memory", errlen);
		return -1;
	}
	k->p = p;
	k->st = &p->st;
	/* A request that comes before the first tick waits for a sample like any other. */
	k->api.host = (struct alloc_api_host){ .want_fresh = want_fresh, .status = write_status, .ended = ended,
					       .route = route, .ctx = k, .spans_exported = p->st.spans_exported };
	ops = alloc_api_ops(&k->api);
	if (control_start(&k->control, &opt, &ops, err, errlen) != 0) {
		free(k);
		return -1;
	}
	log_info("agent: allocation API on %s", cfg->control_socket);
	*self = k;
	return 0;
}

static void alloc_sink_write(void *self, const struct snapshot *snap)
{
	struct alloc_sink *k = self;

	if (!k->loaded)
		load(k, snap);
	else
		alloc_api_tick(&k->api, snap);
	k->st->allocations = alloc_api_live(&k->api);
}

static void alloc_sink_fresh(void *self, const struct snapshot *snap)
{
	struct alloc_sink *k = self;

	k->fresh_asked = false;
	/* Before the first tick: the saved allocations are placed on this sample. */
	if (!k->loaded && snap)
		load(k, snap);
	k->api.fresh = snap;
	control_resume_deferred(k->control);
	k->api.fresh = NULL;
	k->st->allocations = alloc_api_live(&k->api);
	control_run(k->control);
}

static void alloc_sink_event(void *self, const char *name, const char *fields_json)
{
	struct alloc_sink *k = self;

	alloc_api_event(&k->api, name, fields_json);
}

/* An Xid goes into the list of every live allocation on its GPU. */
static void alloc_sink_gpu_event(void *self, const struct gpu_event *ev)
{
	struct alloc_sink *k = self;

	if (ev->kind == KEVENT_XID && ev->gpu.uuid[0])
		alloc_note_xid(&k->api.table, ev->gpu.uuid, ev->gpu.index, ev->code, ev->wall_ns);
}

static int alloc_sink_fd(void *self)
{
	return control_fd(((struct alloc_sink *)self)->control);
}

static void alloc_sink_io(void *self)
{
	struct alloc_sink *k = self;

	control_run(k->control);
	k->st->allocations = alloc_api_live(&k->api);
}

/* name{allocation="id"} */
static void alloc_series(struct outbuf *o, const char *name, const struct alloc *a)
{
	ob_puts(o, name);
	ob_puts(o, "{allocation=\"");
	prom_put_label_value(o, a->id);
	ob_puts(o, "\"} ");
}

/*
 * The agent's live allocations.  Their series go with them when they end,
 * so that no stale series lingers (the ledger keeps the summaries).
 */
static void render_allocs(struct outbuf *o, const struct snapshot *snap, const struct alloc_table *t)
{
	int64_t now = timespec_to_ns(&snap->wall);

	prom_family(o, "gputel_allocations", "gauge", "Live allocations on this node.");
	ob_puts(o, "gputel_allocations ");
	ob_put_u64(o, t->n);
	ob_put(o, "\n", 1);
	if (t->n == 0)
		return;
	prom_family(o, "gputel_allocation_info", "gauge", "A live allocation; the value is always 1.");
	for (size_t i = 0; i < t->n; i++) {
		ob_puts(o, "gputel_allocation_info{allocation=\"");
		prom_put_label_value(o, t->a[i].id);
		ob_puts(o, "\",owner=\"");
		prom_put_label_value(o, t->a[i].owner);
		ob_puts(o, "\"} 1\n");
	}
	prom_family(o, "gputel_allocation_gpu_energy_joules_total", "counter",
		    "GPU energy used by each of the allocation's GPUs since it began.");
	for (size_t i = 0; i < t->n; i++)
		for (unsigned int k = 0; k < t->a[i].n_gpus; k++) {
			const struct alloc_gpu *g = &t->a[i].gpu[k];
			char idx[16];

			str_fmt(idx, sizeof idx, "%u", g->index);
			ob_puts(o, "gputel_allocation_gpu_energy_joules_total{allocation=\"");
			prom_put_label_value(o, t->a[i].id);
			ob_puts(o, "\",gpu=\"");
			ob_puts(o, idx);
			ob_puts(o, "\",uuid=\"");
			prom_put_label_value(o, g->uuid);
			ob_puts(o, "\"} ");
			ob_put_scaled(o, g->energy_uj, 1000000, 3);
			ob_put(o, "\n", 1);
		}
	prom_family(o, "gputel_allocation_cpu_energy_joules_total", "counter",
		    "CPU package energy of the whole host since the allocation began.");
	for (size_t i = 0; i < t->n; i++)
		if (t->a[i].use.cpu_energy_known) {
			alloc_series(o, "gputel_allocation_cpu_energy_joules_total", &t->a[i]);
			ob_put_scaled(o, t->a[i].use.cpu_energy_uj, 1000000, 3);
			ob_put(o, "\n", 1);
		}
	prom_family(o, "gputel_allocation_duration_seconds", "gauge", "Time since the allocation began.");
	for (size_t i = 0; i < t->n; i++) {
		alloc_series(o, "gputel_allocation_duration_seconds", &t->a[i]);
		ob_put_scaled(o, now > t->a[i].begun_wall_ns ? now - t->a[i].begun_wall_ns : 0, NS_PER_SEC, 3);
		ob_put(o, "\n", 1);
	}
	prom_family(o, "gputel_allocation_peak_memory_bytes", "gauge",
		    "Most device memory used on any one of the allocation's GPUs.");
	for (size_t i = 0; i < t->n; i++)
		if (t->a[i].use.mem_peak_bytes >= 0) {
			alloc_series(o, "gputel_allocation_peak_memory_bytes", &t->a[i]);
			ob_put_i64(o, t->a[i].use.mem_peak_bytes);
			ob_put(o, "\n", 1);
		}
	prom_family(o, "gputel_allocation_throttle_seconds_total", "counter",
		    "Time any of the allocation's GPUs was throttled (power or thermal).");
	for (size_t i = 0; i < t->n; i++) {
		alloc_series(o, "gputel_allocation_throttle_seconds_total", &t->a[i]);
		ob_put_scaled(o, t->a[i].use.throttle_ns, NS_PER_SEC, 3);
		ob_put(o, "\n", 1);
	}
	prom_family(o, "gputel_allocation_xid_errors_total", "counter",
		    "Xid errors on the allocation's GPUs since it began.");
	for (size_t i = 0; i < t->n; i++) {
		alloc_series(o, "gputel_allocation_xid_errors_total", &t->a[i]);
		ob_put_u64(o, alloc_xid_count(&t->a[i].use));
		ob_put(o, "\n", 1);
	}
}

static void alloc_sink_metrics(void *self, struct outbuf *o, const struct snapshot *snap)
{
	struct alloc_sink *k = self;

	render_allocs(o, snap, &k->api.table);
}

static void alloc_sink_close(void *self)
{
	struct alloc_sink *k = self;
	char err[1024];

	/* Live allocations stay: saved with their accounting, restored at the next start. */
	if (k->loaded && alloc_api_live(&k->api) &&
	    alloc_save(&k->api.table, k->api.state_path, err, sizeof err) != 0)
		log_error("alloc: %s", err);
	control_stop(k->control);
	k->api.control = NULL;
	alloc_api_release(&k->api);
	free(k);
}

const struct sink_ops sink_alloc_ops = {
	.name = "alloc",
	.open = alloc_sink_open,
	.write = alloc_sink_write,
	.fresh = alloc_sink_fresh,
	.metrics = alloc_sink_metrics,
	.event = alloc_sink_event,
	.gpu_event = alloc_sink_gpu_event,
	.fd = alloc_sink_fd,
	.io = alloc_sink_io,
	.close = alloc_sink_close,
};
