/*
 * Unit tests: OTLP records and their encoding (otlp_record.c,
 * otlp_encode.c: what is encoded decodes back with protobuf-c, and the JSON
 * form follows the protocol's mapping), W3C trace context (tracectx.c), the
 * exporter's settings from JN_OTLP_* and OTEL_* (otlp_config.c), Retry-After
 * (otlp_http.c) and the disk queue (otlp_queue.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "otlp.pb-c.h"
#include "otlp_config.h"
#include "otlp_encode.h"
#include "otlp_http.h"
#include "otlp_queue.h"
#include "otlp_record.h"
#include "tracectx.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/gputel-otlp-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const struct otlp_scope scope = { "gputel", "9.9.9" };

static struct otlp_record *resource(void)
{
	struct otlp_record *r = otlp_record_new(OTLP_RESOURCE);

	otlp_attr_str(r, OTLP_OWNER_RECORD, "service.name", "gputel");
	otlp_attr_str(r, OTLP_OWNER_RECORD, "justnews.gpu.host_role", "node");
	return r;
}

static struct otlp_record *xid_log(void)
{
	struct otlp_record *r = otlp_record_new(OTLP_LOGS);

	r->time_ns = 1796588140442898325LL;
	r->observed_ns = 1796588140500000000LL;
	r->severity = OTLP_SEV_FATAL;
	r->severity_text = otlp_text_z(r, "FATAL");
	r->event_name = otlp_text_z(r, "gpu.xid");
	/* A bad byte and a quote: made valid UTF-8, escaped in JSON. */
	r->body = otlp_text_z(r, "NVRM: Xid (PCI:0000:28:00): 79, \"GPU\" has fallen \xff off the bus.");
	otlp_attr_int(r, OTLP_OWNER_RECORD, "nvidia.xid.code", 79);
	otlp_attr_str(r, OTLP_OWNER_RECORD, "gpu.uuid", "GPU-1");
	otlp_attr_double(r, OTLP_OWNER_RECORD, "x.ratio", 0.5);
	otlp_attr_bool(r, OTLP_OWNER_RECORD, "x.flag", true);
	otlp_attr_str(r, OTLP_OWNER_RECORD, "x.empty", "");        /* left out */
	otlp_attr_double(r, OTLP_OWNER_RECORD, "x.nan", 0.0 / 0.0);  /* left out */
	return r;
}

static struct otlp_record *alloc_span(void)
{
	struct otlp_record *r = otlp_record_new(OTLP_TRACES);
	uint8_t tid[TRACE_ID_LEN], sid[SPAN_ID_LEN], flags;
	const char *why;
	int e;

	assert_int_equal(traceparent_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tid, sid, &flags, &why), 0);
	trace_ctx_new(&r->trace, true, tid, sid, flags);
	r->has_trace = true;
	r->name = otlp_text_z(r, "gpu.allocation");
	r->kind = OTLP_SPAN_INTERNAL;
	r->time_ns = 1000;
	r->end_ns = 5000;
	otlp_attr_double(r, OTLP_OWNER_RECORD, "gputel.gpu.energy_joules", 313.5);
	e = otlp_event_add(r, 2000, "gpu.xid");
	otlp_attr_int(r, e, "nvidia.xid.code", 13);
	r->status = OTLP_STATUS_ERROR;
	r->status_message = otlp_text_z(r, "1 Xid error during the allocation");
	return r;
}

static const Gputel__Otlp__KeyValue *find_kv(Gputel__Otlp__KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i]->key, key) == 0)
			return kv[i];
	return NULL;
}

static void test_logs_protobuf_round_trip(void **state)
{
	struct otlp_record *res = resource(), *r = xid_log();
	size_t len;
	char *body;
	Gputel__Otlp__ExportLogsServiceRequest *req;
	const Gputel__Otlp__LogRecord *l;
	const Gputel__Otlp__KeyValue *kv;

	(void)state;
	body = otlp_encode(OTLP_LOGS, OTLP_PROTOBUF, res, &scope, &r, 1, &len);
	assert_non_null(body);
	req = gputel__otlp__export_logs_service_request__unpack(NULL, len, (const uint8_t *)body);
	assert_non_null(req);
	assert_int_equal(req->n_resource_logs, 1);
	kv = find_kv(req->resource_logs[0]->resource->attributes, req->resource_logs[0]->resource->n_attributes,
		     "justnews.gpu.host_role");
	assert_non_null(kv);
	assert_string_equal(kv->value->string_value, "node");
	assert_string_equal(req->resource_logs[0]->scope_logs[0]->scope->name, "gputel");
	assert_int_equal(req->resource_logs[0]->scope_logs[0]->n_log_records, 1);
	l = req->resource_logs[0]->scope_logs[0]->log_records[0];
	assert_true(l->time_unix_nano == 1796588140442898325ULL);
	assert_int_equal(l->severity_number, 21);
	assert_string_equal(l->severity_text, "FATAL");
	assert_string_equal(l->event_name, "gpu.xid");
	assert_string_equal(l->body->string_value,
			    "NVRM: Xid (PCI:0000:28:00): 79, \"GPU\" has fallen \xef\xbf\xbd off the bus.");
	assert_int_equal(l->n_attributes, 4);
	kv = find_kv(l->attributes, l->n_attributes, "nvidia.xid.code");
	assert_int_equal(kv->value->value_case, GPUTEL__OTLP__ANY_VALUE__VALUE_INT_VALUE);
	assert_int_equal(kv->value->int_value, 79);
	kv = find_kv(l->attributes, l->n_attributes, "x.ratio");
	assert_true(kv->value->double_value == 0.5);
	kv = find_kv(l->attributes, l->n_attributes, "x.flag");
	assert_true(kv->value->bool_value);
	assert_null(find_kv(l->attributes, l->n_attributes, "x.empty"));
	assert_int_equal(l->trace_id.len, 0);
	gputel__otlp__export_logs_service_request__free_unpacked(req, NULL);
	free(body);
	otlp_record_free(r);
	otlp_record_free(res);
}

static void test_spans_protobuf_round_trip(void **state)
{
	struct otlp_record *res = resource(), *r[2] = { alloc_span(), alloc_span() };
	size_t len;
	char *body;
	Gputel__Otlp__ExportTraceServiceRequest *req;
	const Gputel__Otlp__Span *s;
	static const uint8_t parent[SPAN_ID_LEN] = { 0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31 };

	(void)state;
	body = otlp_encode(OTLP_TRACES, OTLP_PROTOBUF, res, &scope, r, 2, &len);
	req = gputel__otlp__export_trace_service_request__unpack(NULL, len, (const uint8_t *)body);
	assert_non_null(req);
	assert_int_equal(req->resource_spans[0]->scope_spans[0]->n_spans, 2);
	s = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_int_equal(s->trace_id.len, 16);
	assert_int_equal(s->trace_id.data[0], 0x0a);
	assert_int_equal(s->parent_span_id.len, 8);
	assert_memory_equal(s->parent_span_id.data, parent, 8);
	assert_int_equal(s->span_id.len, 8);
	assert_memory_not_equal(s->span_id.data, parent, 8);
	assert_string_equal(s->name, "gpu.allocation");
	assert_int_equal(s->kind, 1);
	assert_true(s->start_time_unix_nano == 1000 && s->end_time_unix_nano == 5000);
	assert_int_equal(s->flags, 1);
	assert_int_equal(s->n_events, 1);
	assert_string_equal(s->events[0]->name, "gpu.xid");
	assert_int_equal(s->events[0]->n_attributes, 1);
	assert_int_equal(s->events[0]->attributes[0]->value->int_value, 13);
	assert_int_equal(s->n_attributes, 1);     /* the event's attribute is not the span's */
	assert_int_equal(s->status->code, 2);
	/* Two spans of one allocation setup: different span ids. */
	assert_memory_not_equal(s->span_id.data, req->resource_spans[0]->scope_spans[0]->spans[1]->span_id.data, 8);
	gputel__otlp__export_trace_service_request__free_unpacked(req, NULL);
	free(body);
	otlp_record_free(r[0]);
	otlp_record_free(r[1]);
	otlp_record_free(res);
}

static void test_json_mapping(void **state)
{
	struct otlp_record *res = resource(), *l = xid_log(), *s = alloc_span();
	size_t len;
	char *body;
	cJSON *root;
	const cJSON *rec, *attrs, *span;

	(void)state;
	body = otlp_encode(OTLP_LOGS, OTLP_JSON, res, &scope, &l, 1, &len);
	root = cJSON_ParseWithLength(body, len);
	assert_non_null(root);
	rec = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(root, "resourceLogs"), 0), "scopeLogs"), 0), "logRecords"), 0);
	assert_non_null(rec);
	/* 64-bit integers are strings; enums are numbers. */
	assert_string_equal(cJSON_GetObjectItem(rec, "timeUnixNano")->valuestring, "1796588140442898325");
	assert_int_equal(cJSON_GetObjectItem(rec, "severityNumber")->valueint, 21);
	attrs = cJSON_GetObjectItem(rec, "attributes");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(attrs, 0), "value"), "intValue")->valuestring,
			    "79");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "body"), "stringValue")->valuestring,
			    "NVRM: Xid (PCI:0000:28:00): 79, \"GPU\" has fallen \xef\xbf\xbd off the bus.");
	cJSON_Delete(root);
	free(body);
	body = otlp_encode(OTLP_TRACES, OTLP_JSON, res, &scope, &s, 1, &len);
	root = cJSON_ParseWithLength(body, len);
	assert_non_null(root);
	span = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(root, "resourceSpans"), 0), "scopeSpans"), 0), "spans"), 0);
	/* Ids in hex, not base64. */
	assert_string_equal(cJSON_GetObjectItem(span, "traceId")->valuestring, "0af7651916cd43dd8448eb211c80319c");
	assert_string_equal(cJSON_GetObjectItem(span, "parentSpanId")->valuestring, "b7ad6b7169203331");
	assert_int_equal(strlen(cJSON_GetObjectItem(span, "spanId")->valuestring), 16);
	assert_string_equal(cJSON_GetObjectItem(span, "startTimeUnixNano")->valuestring, "1000");
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(span, "status"), "code")->valueint, 2);
	cJSON_Delete(root);
	free(body);
	otlp_record_free(l);
	otlp_record_free(s);
	otlp_record_free(res);
}

static void test_record_limits(void **state)
{
	struct otlp_record *r = otlp_record_new(OTLP_TRACES);
	char big[OTLP_TEXT_MAX];

	(void)state;
	for (int i = 0; i < OTLP_ATTRS_MAX + 5; i++)
		otlp_attr_int(r, OTLP_OWNER_RECORD, "k", i);
	assert_int_equal(r->n_attrs, OTLP_ATTRS_MAX);
	assert_int_equal(r->dropped_attrs, 5);
	for (int i = 0; i < OTLP_EVENTS_MAX + 2; i++)
		otlp_event_add(r, i, "e");
	assert_int_equal(r->n_events, OTLP_EVENTS_MAX);
	assert_int_equal(r->dropped_events, 2);
	/* A string past the record's bound is not kept, and says so. */
	memset(big, 'a', sizeof big);
	assert_int_equal(otlp_text(r, big, sizeof big), 0);
	assert_true(r->oom);
	/* NULs are dropped, not kept as string ends. */
	otlp_record_free(r);
	r = otlp_record_new(OTLP_LOGS);
	r->body = otlp_text(r, "a\0b", 3);
	assert_string_equal(otlp_str(r, r->body), "ab");
	otlp_record_free(r);
}

static void test_traceparent(void **state)
{
	uint8_t tid[16], sid[8], flags;
	const char *why;
	struct trace_ctx t;
	char out[TRACEPARENT_LEN + 1];

	(void)state;
	assert_int_equal(traceparent_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tid, sid, &flags, &why), 0);
	assert_int_equal(flags, 1);
	/* Upper case, all-zero ids, version ff, a 00 with more after it, too short: refused. */
	assert_int_equal(traceparent_parse("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", tid, sid, &flags, &why), -1);
	assert_int_equal(traceparent_parse("00-00000000000000000000000000000000-b7ad6b7169203331-01", tid, sid, &flags, &why), -1);
	assert_int_equal(traceparent_parse("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", tid, sid, &flags, &why), -1);
	assert_int_equal(traceparent_parse("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tid, sid, &flags, &why), -1);
	assert_int_equal(traceparent_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x", tid, sid, &flags, &why), -1);
	assert_int_equal(traceparent_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033", tid, sid, &flags, &why), -1);
	/* A later version may say more. */
	assert_int_equal(traceparent_parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what", tid, sid, &flags, &why), 0);
	/* A root span: a new trace, sampled, no parent; formatted back in the same form. */
	trace_ctx_new(&t, false, NULL, NULL, 0);
	assert_true(trace_id_valid(t.trace_id, 16) && trace_id_valid(t.span_id, 8));
	assert_false(trace_id_valid(t.parent_id, 8));
	traceparent_format(out, &t);
	assert_int_equal(strlen(out), TRACEPARENT_LEN);
	assert_int_equal(traceparent_parse(out, tid, sid, &flags, &why), 0);
	assert_memory_equal(tid, t.trace_id, 16);
	assert_memory_equal(sid, t.span_id, 8);
}

static int resolve(struct otlp_config *c, const char *endpoint, char **env, char *why)
{
	struct config cfg;

	config_defaults(&cfg);
	strcpy(cfg.state_dir, dir);
	strcpy(cfg.otlp_endpoint, endpoint);
	return otlp_config_resolve(c, &cfg, env, "node1", why, 512);
}

static const char *res_attr(const struct otlp_config *c, const char *key)
{
	for (size_t i = 0; i < c->resource->n_attrs; i++)
		if (strcmp(otlp_str(c->resource, c->resource->attr[i].key), key) == 0)
			return otlp_str(c->resource, c->resource->attr[i].v.s);
	return NULL;
}

static void test_config(void **state)
{
	struct otlp_config c;
	char why[512];
	char *none[] = { NULL };
	char *base[] = { "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318/", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json",
			 "OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20x, x-tenant = a",
			 "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=https://traces:4318/custom",
			 "OTEL_EXPORTER_OTLP_COMPRESSION=none", "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT=2500",
			 "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,service.name=from-attrs",
			 "OTEL_SERVICE_NAME=gpu-node", NULL };
	char *disabled[] = { "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_SDK_DISABLED=true", NULL };
	char *no_logs[] = { "OTEL_LOGS_EXPORTER=none", NULL };
	char *grpc[] = { "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", NULL };
	char *bad_url[] = { "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318", NULL };
	char *bad_headers[] = { "OTEL_EXPORTER_OTLP_HEADERS=novalue", NULL };
	char *bad_attrs[] = { "OTEL_RESOURCE_ATTRIBUTES=a=b,broken", NULL };

	(void)state;
	/* Off unless an endpoint is set. */
	assert_int_equal(resolve(&c, "", none, why), 0);
	assert_non_null(strstr(why, "JN_OTLP_ENDPOINT"));
	/* The key: base URL, both signals, protobuf and gzip by default, gputel's resource. */
	assert_int_equal(resolve(&c, "http://127.0.0.1:4318", none, why), 1);
	assert_string_equal(c.sig[OTLP_LOGS].url, "http://127.0.0.1:4318/v1/logs");
	assert_string_equal(c.sig[OTLP_TRACES].url, "http://127.0.0.1:4318/v1/traces");
	assert_int_equal(c.sig[OTLP_LOGS].fmt, OTLP_PROTOBUF);
	assert_true(c.sig[OTLP_LOGS].gzip);
	assert_int_equal(c.sig[OTLP_LOGS].timeout_ms, 10000);
	assert_string_equal(res_attr(&c, "service.name"), "gputel");
	assert_string_equal(res_attr(&c, "host.name"), "node1");
	assert_string_equal(res_attr(&c, "justnews.gpu.host_role"), "node");
	assert_non_null(res_attr(&c, "host.id"));
	otlp_config_release(&c);
	/* The standard variables: per-signal endpoint as is, headers decoded, service name precedence. */
	assert_int_equal(resolve(&c, "", base, why), 1);
	assert_string_equal(c.sig[OTLP_LOGS].url, "http://collector:4318/v1/logs");
	assert_string_equal(c.sig[OTLP_TRACES].url, "https://traces:4318/custom");
	assert_int_equal(c.sig[OTLP_LOGS].fmt, OTLP_JSON);
	assert_false(c.sig[OTLP_TRACES].gzip);
	assert_int_equal(c.sig[OTLP_LOGS].timeout_ms, 2500);
	assert_int_equal(c.sig[OTLP_TRACES].timeout_ms, 10000);
	assert_string_equal(c.sig[OTLP_LOGS].headers[0], "authorization: Bearer x");
	assert_string_equal(c.sig[OTLP_LOGS].headers[1], "x-tenant: a");
	assert_null(c.sig[OTLP_LOGS].headers[2]);
	assert_string_equal(res_attr(&c, "service.name"), "gpu-node");
	assert_string_equal(res_attr(&c, "deployment.environment"), "prod");
	otlp_config_release(&c);
	/* JN_OTLP_ENDPOINT wins over the variables. */
	assert_int_equal(resolve(&c, "http://mine:4318", base, why), 1);
	assert_string_equal(c.sig[OTLP_TRACES].url, "http://mine:4318/v1/traces");
	otlp_config_release(&c);
	assert_int_equal(resolve(&c, "http://c:4318", disabled, why), 0);
	assert_int_equal(resolve(&c, "http://c:4318", no_logs, why), 1);
	assert_false(c.sig[OTLP_LOGS].on);
	assert_true(c.sig[OTLP_TRACES].on);
	otlp_config_release(&c);
	/* What cannot work is an error naming the variable. */
	assert_int_equal(resolve(&c, "http://c:4318", grpc, why), -1);
	assert_non_null(strstr(why, "OTEL_EXPORTER_OTLP_PROTOCOL"));
	assert_int_equal(resolve(&c, "", bad_url, why), -1);
	assert_non_null(strstr(why, "OTEL_EXPORTER_OTLP_ENDPOINT"));
	assert_int_equal(resolve(&c, "http://c:4318", bad_headers, why), -1);
	assert_non_null(strstr(why, "OTEL_EXPORTER_OTLP_HEADERS"));
	/* A resource list that does not parse is dropped whole, with a warning. */
	assert_int_equal(resolve(&c, "http://c:4318", bad_attrs, why), 1);
	assert_non_null(strstr(why, "OTEL_RESOURCE_ATTRIBUTES"));
	assert_null(res_attr(&c, "a"));
	otlp_config_release(&c);
}

static void test_retry_after(void **state)
{
	(void)state;
	assert_int_equal(otlp_retry_after_ms("2", 0), 2000);
	assert_int_equal(otlp_retry_after_ms(" 0\r\n", 0), 0);
	assert_int_equal(otlp_retry_after_ms("-3", 0), -1);
	assert_int_equal(otlp_retry_after_ms("soon", 0), -1);
	assert_int_equal(otlp_retry_after_ms("999999999", 0), 86400000);
	/* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT. */
	assert_int_equal(otlp_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT\r\n", 784111777 - 5), 5000);
	assert_int_equal(otlp_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 5), 0);
}

static size_t files_in(const char *d)
{
	DIR *h = opendir(d);
	struct dirent *e;
	size_t n = 0;

	while (h && (e = readdir(h)) != NULL)
		n += e->d_name[0] != '.';
	if (h)
		closedir(h);
	return n;
}

static void test_queue(void **state)
{
	struct otlp_queue q;
	char qdir[128], err[512], body[1000];
	size_t len;
	char *got;

	(void)state;
	snprintf(qdir, sizeof qdir, "%s/queue", dir);
	memset(body, 'x', sizeof body);
	assert_int_equal(otlp_queue_open(&q, qdir, 2500, err, sizeof err), 0);
	otlp_queue_push(&q, OTLP_LOGS, OTLP_PROTOBUF, true, 3, body, 1000);
	otlp_queue_push(&q, OTLP_TRACES, OTLP_JSON, false, 1, body, 1000);
	assert_int_equal(files_in(qdir), 2);
	otlp_queue_close(&q);
	/* A restart takes them up, oldest first, with what they are. */
	assert_int_equal(otlp_queue_open(&q, qdir, 2500, err, sizeof err), 0);
	assert_int_equal(q.n, 2);
	assert_int_equal(otlp_queue_head(&q)->signal, OTLP_LOGS);
	assert_int_equal(otlp_queue_head(&q)->records, 3);
	assert_true(otlp_queue_head(&q)->gzipped);
	/* Past the bound, the oldest goes, counted. */
	otlp_queue_push(&q, OTLP_LOGS, OTLP_PROTOBUF, false, 7, body, 1000);
	assert_int_equal(q.n, 2);
	assert_int_equal(q.dropped[OTLP_LOGS], 3);
	assert_int_equal(otlp_queue_head(&q)->signal, OTLP_TRACES);
	got = otlp_queue_read_head(&q, &len);
	assert_int_equal(len, 1000);
	assert_memory_equal(got, body, 1000);
	free(got);
	otlp_queue_pop(&q);
	otlp_queue_pop(&q);
	assert_int_equal(files_in(qdir), 0);
	/* A batch larger than the whole bound is dropped at once. */
	otlp_queue_push(&q, OTLP_TRACES, OTLP_PROTOBUF, false, 2, body, 1000);
	otlp_queue_close(&q);
	assert_int_equal(otlp_queue_open(&q, qdir, 500, err, sizeof err), 0);
	assert_int_equal(q.n, 0);
	assert_int_equal(q.dropped[OTLP_TRACES], 2);
	/* A directory that cannot be written: kept in memory, the failure counted. */
	chmod(qdir, 0500);
	otlp_queue_push(&q, OTLP_LOGS, OTLP_PROTOBUF, false, 1, body, 100);
	if (geteuid() != 0) {
		assert_int_equal(q.write_failures, 1);
		assert_non_null(otlp_queue_head(&q)->mem);
	}
	assert_int_equal(q.n, 1);
	got = otlp_queue_read_head(&q, &len);
	assert_int_equal(len, 100);
	free(got);
	otlp_queue_pop(&q);
	chmod(qdir, 0700);
	otlp_queue_close(&q);
	/* A temporary file left by a crash is removed; a stranger's file is left alone. */
	snprintf(err, sizeof err, "%s/.tmp-0000000000000009-logs-1.pb", qdir);
	fclose(fopen(err, "w"));
	snprintf(err, sizeof err, "%s/notes.txt", qdir);
	fclose(fopen(err, "w"));
	assert_int_equal(otlp_queue_open(&q, qdir, 2500, err, sizeof err), 0);
	assert_int_equal(q.n, 0);
	assert_int_equal(files_in(qdir), 1);
	otlp_queue_close(&q);
	/* No directory at all: memory only. */
	assert_int_equal(otlp_queue_open(&q, "", 2500, err, sizeof err), 0);
	otlp_queue_push(&q, OTLP_LOGS, OTLP_PROTOBUF, false, 1, body, 10);
	assert_non_null(otlp_queue_head(&q)->mem);
	otlp_queue_close(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logs_protobuf_round_trip),
		cmocka_unit_test(test_spans_protobuf_round_trip),
		cmocka_unit_test(test_json_mapping),
		cmocka_unit_test(test_record_limits),
		cmocka_unit_test(test_traceparent),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_queue),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
