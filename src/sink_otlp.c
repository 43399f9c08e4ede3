/*
 * sink_otlp.c - the agent's OpenTelemetry export: GPU kernel events as
 * OTLP log records, ended allocations and activity periods as spans,
 * handed to the exporter (otlp.h) which batches and sends them from its
 * own thread.  Off (the sink is left out) unless an endpoint is set:
 * JN_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (otlp_config.h).
 *
 * The attribute names follow OpenTelemetry's semantic conventions where
 * they have one (process.pid, process.executable.name) and the gpu.* and
 * nvidia.* names of docs/otlp.md elsewhere; docs/otlp.md lists them all.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "config.h"
#include "gpu_events.h"
#include "log.h"
#include "otlp.h"
#include "otlp_config.h"
#include "pipeline.h"
#include "prom.h"
#include "sink.h"
#include "util.h"
#include "xid.h"

extern char **environ;

struct otlp_sink {
	struct pipeline *p;
	struct otlp_exporter *x;
};

static int otlp_sink_open(void **self, struct pipeline *p, char *err, size_t errlen)
{
	struct otlp_config cfg;
	struct otlp_sink *k;
	char why[512], said[OTLP_SIGNALS][2200];
	bool on_sig[OTLP_SIGNALS];
	int on = otlp_config_resolve(&cfg, p->st.cfg, environ, p->st.hostname, why, sizeof why);

	if (on < 0) {
		str_fmt(err, errlen, "otlp: %s", why);
		return -1;
	}
	if (on == 0) {
		log_debug("otlp: no export (%s)", why);
		return 1;
	}
	if (why[0])
		log_warn("otlp: %s", why);
	k = calloc(1, sizeof *k);
	if (!k) {
		otlp_config_release(&cfg);
		str_fmt(err, errlen, "out of memory");
		return -1;
	}
	for (int s = 0; s < OTLP_SIGNALS; s++) {
		on_sig[s] = cfg.sig[s].on;
		if (on_sig[s])
			str_fmt(said[s], sizeof said[s], "otlp: %s go to %.2048s (%s%s)", otlp_signal_name((enum otlp_signal)s),
				cfg.sig[s].url, cfg.sig[s].fmt == OTLP_JSON ? "http/json" : "http/protobuf",
				cfg.sig[s].gzip ? ", gzip" : "");
	}
	k->p = p;
	k->x = otlp_start(&cfg, err, errlen);
	if (!k->x) {
		free(k);
		return -1;
	}
	/* Said once it can work: not before a missing libcurl stops the start. */
	for (int s = 0; s < OTLP_SIGNALS; s++)
		if (on_sig[s])
			log_info("%s", said[s]);
	p->st.spans_exported = otlp_signal_on(k->x, OTLP_TRACES);
	*self = k;
	return 0;
}

/* ---------------------------------------------------------------- logs */

static int severity_of(const struct gpu_event *ev, const char **text)
{
	static const struct { int number; const char *text; } xid_sev[] = {
		[XID_SEV_INFO] = { OTLP_SEV_INFO, "INFO" },
		[XID_SEV_WARN] = { OTLP_SEV_WARN, "WARN" },
		[XID_SEV_ERROR] = { OTLP_SEV_ERROR, "ERROR" },
		[XID_SEV_FATAL] = { OTLP_SEV_FATAL, "FATAL" },
	};

	if (ev->kind == KEVENT_XID) {
		*text = xid_sev[ev->info->severity].text;
		return xid_sev[ev->info->severity].number;
	}
	if (ev->kind == KEVENT_SXID) {
		*text = ev->fatal ? "FATAL" : "ERROR";
		return ev->fatal ? OTLP_SEV_FATAL : OTLP_SEV_ERROR;
	}
	/* A driver message, by the kernel's priority: emerg..crit, err, warning, and below. */
	if (ev->level <= 2) {
		*text = "FATAL";
		return OTLP_SEV_FATAL;
	}
	*text = ev->level == 3 ? "ERROR" : ev->level == 4 ? "WARN" : "INFO";
	return ev->level == 3 ? OTLP_SEV_ERROR : ev->level == 4 ? OTLP_SEV_WARN : OTLP_SEV_INFO;
}

static void add_gpu(struct otlp_record *r, int owner, const struct gpu_event_gpu *g)
{
	if (g->index >= 0)
		otlp_attr_int(r, owner, "gpu.index", g->index);
	otlp_attr_str(r, owner, "gpu.uuid", g->uuid);
	otlp_attr_str(r, owner, "gpu.pci_bus_id", g->pci);
	otlp_attr_str(r, owner, "gpu.name", g->name);
}

static void otlp_sink_gpu_event(void *self, const struct gpu_event *ev)
{
	struct otlp_sink *k = self;
	struct otlp_record *r;
	const char *sev_text;
	char body[256];

	if (!otlp_signal_on(k->x, OTLP_LOGS) || !(r = otlp_record_new(OTLP_LOGS)))
		return;
	r->time_ns = ev->wall_ns;
	r->observed_ns = wall_now_ns();
	r->severity = severity_of(ev, &sev_text);
	r->severity_text = otlp_text_z(r, sev_text);
	r->event_name = otlp_text_z(r, ev->kind == KEVENT_XID ? "gpu.xid" : ev->kind == KEVENT_SXID ? "nvswitch.sxid"
				   : "gpu.driver_message");
	if (ev->text) {
		r->body = otlp_text(r, ev->text, ev->text_len);
	} else {
		/* NVML alone saw it: no kernel text, so say what it is. */
		str_fmt(body, sizeof body, "Xid %d (%s) on GPU %d %s: %s", ev->code, ev->info ? ev->info->name : "unknown",
			ev->gpu.index, ev->gpu.uuid, ev->info ? ev->info->meaning : "");
		r->body = otlp_text_z(r, body);
	}
	if (ev->kind == KEVENT_SXID) {
		otlp_attr_str(r, OTLP_OWNER_RECORD, "nvidia.nvswitch.pci_bus_id", ev->gpu.pci);
		otlp_attr_int(r, OTLP_OWNER_RECORD, "nvidia.sxid.code", ev->code);
		otlp_attr_bool(r, OTLP_OWNER_RECORD, "nvidia.sxid.fatal", ev->fatal == 1);
	} else {
		add_gpu(r, OTLP_OWNER_RECORD, &ev->gpu);
	}
	if (ev->kind == KEVENT_XID) {
		otlp_attr_int(r, OTLP_OWNER_RECORD, "nvidia.xid.code", ev->code);
		otlp_attr_str(r, OTLP_OWNER_RECORD, "nvidia.xid.name", ev->info->name);
		otlp_attr_str(r, OTLP_OWNER_RECORD, "nvidia.xid.action", ev->info->action);
		otlp_attr_str(r, OTLP_OWNER_RECORD, "nvidia.xid.severity", xid_severity_name(ev->info->severity));
	}
	if (ev->gpu_instance >= 0)
		otlp_attr_int(r, OTLP_OWNER_RECORD, "nvidia.mig.gpu_instance_id", ev->gpu_instance);
	if (ev->compute_instance >= 0)
		otlp_attr_int(r, OTLP_OWNER_RECORD, "nvidia.mig.compute_instance_id", ev->compute_instance);
	if (ev->pid >= 0)
		otlp_attr_int(r, OTLP_OWNER_RECORD, "process.pid", ev->pid);
	otlp_attr_str(r, OTLP_OWNER_RECORD, "process.executable.name", ev->process);
	otlp_attr_str(r, OTLP_OWNER_RECORD, "gputel.event.source", ev->source);
	if (ev->has_seq)
		otlp_attr_int(r, OTLP_OWNER_RECORD, "linux.kmsg.seq", (int64_t)ev->seq);
	otlp_submit(k->x, r);
}

/* ---------------------------------------------------------------- spans */

static struct otlp_record *span_new(const struct trace_ctx *t, const char *name, int64_t start, int64_t end)
{
	struct otlp_record *r = otlp_record_new(OTLP_TRACES);

	if (!r)
		return NULL;
	r->trace = *t;
	r->has_trace = true;
	r->name = otlp_text_z(r, name);
	r->kind = OTLP_SPAN_INTERNAL;
	r->time_ns = start;
	r->end_ns = end > start ? end : start;
	return r;
}

static void add_labels(struct otlp_record *r, const char *labels_json)
{
	cJSON *root = labels_json ? cJSON_Parse(labels_json) : NULL;
	const cJSON *v;
	char key[96];

	cJSON_ArrayForEach(v, root) {
		if (!cJSON_IsString(v) || str_fmt(key, sizeof key, "gputel.allocation.label.%s", v->string) < 0)
			continue;
		otlp_attr_str(r, OTLP_OWNER_RECORD, key, v->valuestring);
	}
	cJSON_Delete(root);
}

static void otlp_sink_alloc_ended(void *self, const struct alloc *a)
{
	struct otlp_sink *k = self;
	const struct alloc_usage *u = &a->use;
	struct otlp_record *r;
	char list[GPUTEL_MAX_GPUS * (ALLOC_UUID_MAX + 1) + 1];
	struct outbuf o = { list, 0, sizeof list - 1, false };
	uint64_t xids = alloc_xid_count(u);

	if (!otlp_signal_on(k->x, OTLP_TRACES) || !(r = span_new(&a->trace, "gpu.allocation", a->begun_wall_ns, a->ended_wall_ns)))
		return;
	otlp_attr_str(r, OTLP_OWNER_RECORD, "gputel.allocation.id", a->id);
	otlp_attr_str(r, OTLP_OWNER_RECORD, "gputel.allocation.owner", a->owner);
	if (a->pid)
		otlp_attr_int(r, OTLP_OWNER_RECORD, "process.pid", a->pid);
	otlp_attr_str(r, OTLP_OWNER_RECORD, "gputel.allocation.end_reason", a->end_reason ? a->end_reason : "");
	otlp_attr_int(r, OTLP_OWNER_RECORD, "gpu.count", a->n_gpus);
	for (unsigned int i = 0; i < a->n_gpus; i++) {
		if (i)
			ob_put(&o, ",", 1);
		ob_puts(&o, a->gpu[i].uuid);
	}
	list[o.full ? 0 : o.len] = '\0';
	otlp_attr_str(r, OTLP_OWNER_RECORD, "gpu.uuids", list);
	otlp_attr_double(r, OTLP_OWNER_RECORD, "gputel.gpu.energy_joules", (double)u->gpu_energy_uj / 1e6);
	otlp_attr_bool(r, OTLP_OWNER_RECORD, "gputel.gpu.energy_partial", u->gpu_unmeasured_ns > 0);
	if (u->cpu_energy_known)
		otlp_attr_double(r, OTLP_OWNER_RECORD, "gputel.host.cpu_energy_joules", (double)u->cpu_energy_uj / 1e6);
	if (u->dram_energy_known)
		otlp_attr_double(r, OTLP_OWNER_RECORD, "gputel.host.dram_energy_joules", (double)u->dram_energy_uj / 1e6);
	if (u->util_samples)
		otlp_attr_double(r, OTLP_OWNER_RECORD, "gputel.gpu.utilization_avg_percent",
				 (double)u->util_sum_pct / (double)u->util_samples);
	if (u->util_peak_pct >= 0)
		otlp_attr_int(r, OTLP_OWNER_RECORD, "gputel.gpu.utilization_peak_percent", u->util_peak_pct);
	if (u->mem_peak_bytes >= 0)
		otlp_attr_int(r, OTLP_OWNER_RECORD, "gputel.gpu.memory_peak_bytes", u->mem_peak_bytes);
	if (u->temp_peak_mc != INT64_MIN)
		otlp_attr_double(r, OTLP_OWNER_RECORD, "gputel.gpu.temperature_peak_celsius", (double)u->temp_peak_mc / 1000.0);
	otlp_attr_double(r, OTLP_OWNER_RECORD, "gputel.gpu.throttle_seconds", (double)u->throttle_ns / 1e9);
	otlp_attr_int(r, OTLP_OWNER_RECORD, "gputel.gpu.xid_count", (int64_t)xids);
	add_labels(r, a->labels_json);
	for (unsigned int i = 0; i < u->n_xid_events; i++) {
		const struct xid_info *info = xid_lookup(u->xid_events[i].code);
		int e = otlp_event_add(r, u->xid_events[i].wall_ns, "gpu.xid");

		if (e < 0)
			continue;
		otlp_attr_int(r, e, "nvidia.xid.code", u->xid_events[i].code);
		otlp_attr_str(r, e, "nvidia.xid.name", info->name);
		if (u->xid_events[i].gpu_index >= 0)
			otlp_attr_int(r, e, "gpu.index", u->xid_events[i].gpu_index);
	}
	r->dropped_events += (uint32_t)(u->xid_events_dropped > UINT32_MAX ? UINT32_MAX : u->xid_events_dropped);
	if (xids) {
		char msg[64];

		str_fmt(msg, sizeof msg, "%" PRIu64 " Xid error%s during the allocation", xids, plural_s(xids));
		r->status = OTLP_STATUS_ERROR;
		r->status_message = otlp_text_z(r, msg);
	}
	otlp_submit(k->x, r);
}

static void otlp_sink_period_ended(void *self, const struct activity_period *period)
{
	struct otlp_sink *k = self;
	struct trace_ctx t;
	struct otlp_record *r;

	if (!otlp_signal_on(k->x, OTLP_TRACES))
		return;
	trace_ctx_new(&t, false, NULL, NULL, 0);
	r = span_new(&t, "gpu.activity_period", period->begun_wall_ns, period->ended_wall_ns);
	if (!r)
		return;
	otlp_attr_int(r, OTLP_OWNER_RECORD, "gputel.period.number", period->number);
	otlp_attr_str(r, OTLP_OWNER_RECORD, "gputel.period.reason", period->reason);
	otlp_attr_str(r, OTLP_OWNER_RECORD, "gputel.period.ended_by", period->ended_by);
	otlp_attr_str(r, OTLP_OWNER_RECORD, "gputel.csv.path", period->csv_path);
	otlp_attr_int(r, OTLP_OWNER_RECORD, "gputel.csv.rows", (int64_t)period->csv_rows);
	otlp_attr_int(r, OTLP_OWNER_RECORD, "gputel.csv.rows_dropped", (int64_t)period->csv_dropped);
	otlp_submit(k->x, r);
}

/* ---------------------------------------------------------------- metrics */

static void per_signal(struct outbuf *o, const char *name, const char *help, const uint64_t v[OTLP_SIGNALS])
{
	prom_family(o, name, "counter", help);
	for (int s = 0; s < OTLP_SIGNALS; s++) {
		ob_puts(o, name);
		ob_puts(o, "{signal=\"");
		ob_puts(o, otlp_signal_name((enum otlp_signal)s));
		ob_puts(o, "\"} ");
		ob_put_u64(o, v[s]);
		ob_put(o, "\n", 1);
	}
}

static void gauge(struct outbuf *o, const char *name, const char *help, uint64_t v)
{
	prom_family(o, name, "gauge", help);
	ob_puts(o, name);
	ob_put(o, " ", 1);
	ob_put_u64(o, v);
	ob_put(o, "\n", 1);
}

static void otlp_sink_metrics(void *self, struct outbuf *o, const struct snapshot *snap)
{
	struct otlp_sink *k = self;
	struct otlp_stats st;

	(void)snap;
	otlp_stats(k->x, &st);
	per_signal(o, "gputel_otlp_exported_total", "OTLP records the collector took.", st.exported);
	per_signal(o, "gputel_otlp_failed_total",
		   "OTLP records the collector refused for good (an HTTP 4xx other than 429, or a partial success); not retried.",
		   st.failed);
	per_signal(o, "gputel_otlp_dropped_total",
		   "OTLP records never sent: past the queue's bound (JN_OTLP_QUEUE_MB), or unreadable from it.", st.dropped);
	per_signal(o, "gputel_otlp_retries_total",
		   "OTLP sends to be tried again (HTTP 429, 502, 503, 504, or no answer).", st.retries);
	gauge(o, "gputel_otlp_queue_bytes", "Bytes of OTLP batches waiting to be sent.", st.queue_bytes);
	gauge(o, "gputel_otlp_queue_batches", "OTLP batches waiting to be sent.", st.queue_batches);
}

static void otlp_sink_write(void *self, const struct snapshot *snap)
{
	(void)self;
	(void)snap;
}

static void otlp_sink_close(void *self)
{
	struct otlp_sink *k = self;

	otlp_stop(k->x);
	free(k);
}

const struct sink_ops sink_otlp_ops = {
	.name = "otlp",
	.open = otlp_sink_open,
	.write = otlp_sink_write,
	.metrics = otlp_sink_metrics,
	.gpu_event = otlp_sink_gpu_event,
	.alloc_ended = otlp_sink_alloc_ended,
	.period_ended = otlp_sink_period_ended,
	.close = otlp_sink_close,
};
