/* otlp_encode.c - see otlp_encode.h. */
#include "otlp_encode.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp.pb-c.h"
#include "outbuf.h"
#include "util.h"

const char *otlp_content_type(enum otlp_format fmt)
{
	return fmt == OTLP_JSON ? "application/json" : "application/x-protobuf";
}

/* ------------------------------------------------------------------ protobuf */

/*
 * The messages of one request live in one arena, freed at once: a request
 * is hundreds of small structs that all die together.
 */
struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct arena_block *head;
	bool failed;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	size_t need = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);

	if (!b || b->cap - b->used < need) {
		size_t cap = need > 32768 ? need : 32768;

		b = malloc(sizeof *b + cap);
		if (!b) {
			a->failed = true;
			return NULL;
		}
		b->next = a->head;
		b->used = 0;
		b->cap = cap;
		a->head = b;
	}
	b->used += need;
	return memset((char *)b->data + b->used - need, 0, need);
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_block *b = a->head;

		a->head = b->next;
		free(b);
	}
}

#define NEW(a, type, init) new_msg(a, sizeof(type), &(type)init)

static void *new_msg(struct arena *a, size_t size, const void *init)
{
	void *p = arena_alloc(a, size);

	return p ? memcpy(p, init, size) : NULL;
}

/* The attributes of r that belong to owner, as KeyValue pointers; *n set. */
static Gputel__Otlp__KeyValue **pb_attrs(struct arena *a, const struct otlp_record *r, int owner, size_t *n)
{
	size_t count = otlp_attrs_of(r, owner), k = 0;
	Gputel__Otlp__KeyValue **kvs;

	*n = 0;
	if (count == 0)
		return NULL;
	kvs = arena_alloc(a, count * sizeof *kvs);
	if (!kvs)
		return NULL;
	for (size_t i = 0; i < r->n_attrs; i++) {
		const struct otlp_attr *at = &r->attr[i];
		Gputel__Otlp__KeyValue *kv;
		Gputel__Otlp__AnyValue *v;

		if (at->owner != owner)
			continue;
		kv = NEW(a, Gputel__Otlp__KeyValue, GPUTEL__OTLP__KEY_VALUE__INIT);
		v = NEW(a, Gputel__Otlp__AnyValue, GPUTEL__OTLP__ANY_VALUE__INIT);
		if (!kv || !v)
			return NULL;
		kv->key = (char *)otlp_str(r, at->key);
		kv->value = v;
		switch (at->type) {
		case OTLP_STR:
			v->value_case = GPUTEL__OTLP__ANY_VALUE__VALUE_STRING_VALUE;
			v->string_value = (char *)otlp_str(r, at->v.s);
			break;
		case OTLP_INT:
			v->value_case = GPUTEL__OTLP__ANY_VALUE__VALUE_INT_VALUE;
			v->int_value = at->v.i;
			break;
		case OTLP_DOUBLE:
			v->value_case = GPUTEL__OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
			v->double_value = at->v.d;
			break;
		default:
			v->value_case = GPUTEL__OTLP__ANY_VALUE__VALUE_BOOL_VALUE;
			v->bool_value = at->v.b;
			break;
		}
		kvs[k++] = kv;
	}
	*n = k;
	return kvs;
}

static ProtobufCBinaryData bytes(const uint8_t *p, size_t n)
{
	return (ProtobufCBinaryData){ .len = n, .data = (uint8_t *)p };
}

static Gputel__Otlp__LogRecord *pb_log(struct arena *a, const struct otlp_record *r)
{
	Gputel__Otlp__LogRecord *l = NEW(a, Gputel__Otlp__LogRecord, GPUTEL__OTLP__LOG_RECORD__INIT);
	Gputel__Otlp__AnyValue *body = NEW(a, Gputel__Otlp__AnyValue, GPUTEL__OTLP__ANY_VALUE__INIT);

	if (!l || !body)
		return NULL;
	l->time_unix_nano = (uint64_t)r->time_ns;
	l->observed_time_unix_nano = (uint64_t)r->observed_ns;
	l->severity_number = (Gputel__Otlp__SeverityNumber)r->severity;
	l->severity_text = (char *)otlp_str(r, r->severity_text);
	l->event_name = (char *)otlp_str(r, r->event_name);
	if (r->body) {
		body->value_case = GPUTEL__OTLP__ANY_VALUE__VALUE_STRING_VALUE;
		body->string_value = (char *)otlp_str(r, r->body);
		l->body = body;
	}
	l->attributes = pb_attrs(a, r, OTLP_OWNER_RECORD, &l->n_attributes);
	l->dropped_attributes_count = r->dropped_attrs;
	if (r->has_trace) {
		l->trace_id = bytes(r->trace.trace_id, TRACE_ID_LEN);
		l->span_id = bytes(r->trace.span_id, SPAN_ID_LEN);
		l->flags = r->trace.flags;
	}
	return l;
}

static Gputel__Otlp__Span *pb_span(struct arena *a, const struct otlp_record *r)
{
	Gputel__Otlp__Span *s = NEW(a, Gputel__Otlp__Span, GPUTEL__OTLP__SPAN__INIT);
	Gputel__Otlp__Status *st = NEW(a, Gputel__Otlp__Status, GPUTEL__OTLP__STATUS__INIT);

	if (!s || !st)
		return NULL;
	s->trace_id = bytes(r->trace.trace_id, TRACE_ID_LEN);
	s->span_id = bytes(r->trace.span_id, SPAN_ID_LEN);
	if (trace_id_valid(r->trace.parent_id, SPAN_ID_LEN))
		s->parent_span_id = bytes(r->trace.parent_id, SPAN_ID_LEN);
	s->flags = r->trace.flags;
	s->name = (char *)otlp_str(r, r->name);
	s->kind = (Gputel__Otlp__Span__SpanKind)r->kind;
	s->start_time_unix_nano = (uint64_t)r->time_ns;
	s->end_time_unix_nano = (uint64_t)r->end_ns;
	s->attributes = pb_attrs(a, r, OTLP_OWNER_RECORD, &s->n_attributes);
	s->dropped_attributes_count = r->dropped_attrs;
	s->dropped_events_count = r->dropped_events;
	if (r->n_events) {
		s->events = arena_alloc(a, r->n_events * sizeof *s->events);
		if (!s->events)
			return NULL;
		for (size_t i = 0; i < r->n_events; i++) {
			Gputel__Otlp__Span__Event *e = NEW(a, Gputel__Otlp__Span__Event, GPUTEL__OTLP__SPAN__EVENT__INIT);

			if (!e)
				return NULL;
			e->time_unix_nano = (uint64_t)r->event[i].time_ns;
			e->name = (char *)otlp_str(r, r->event[i].name);
			e->attributes = pb_attrs(a, r, (int)i, &e->n_attributes);
			e->dropped_attributes_count = r->event[i].dropped_attrs;
			s->events[i] = e;
		}
		s->n_events = r->n_events;
	}
	if (r->status != OTLP_STATUS_UNSET) {
		st->code = (Gputel__Otlp__Status__StatusCode)r->status;
		st->message = (char *)otlp_str(r, r->status_message);
		s->status = st;
	}
	return s;
}

static char *pack(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *out = malloc(n ? n : 1);

	if (!out)
		return NULL;
	*len = protobuf_c_message_pack(m, out);
	return (char *)out;
}

static char *encode_pb(enum otlp_signal signal, const struct otlp_record *resource,
		       const struct otlp_scope *scope, struct otlp_record *const *recs, size_t n, size_t *len)
{
	struct arena a = { NULL, false };
	Gputel__Otlp__Resource res = GPUTEL__OTLP__RESOURCE__INIT;
	Gputel__Otlp__InstrumentationScope sc = GPUTEL__OTLP__INSTRUMENTATION_SCOPE__INIT;
	char *out = NULL;

	res.attributes = pb_attrs(&a, resource, OTLP_OWNER_RECORD, &res.n_attributes);
	res.dropped_attributes_count = resource->dropped_attrs;
	sc.name = (char *)scope->name;
	sc.version = (char *)scope->version;
	if (signal == OTLP_LOGS) {
		Gputel__Otlp__ExportLogsServiceRequest req = GPUTEL__OTLP__EXPORT_LOGS_SERVICE_REQUEST__INIT;
		Gputel__Otlp__ResourceLogs rl = GPUTEL__OTLP__RESOURCE_LOGS__INIT, *rlp = &rl;
		Gputel__Otlp__ScopeLogs sl = GPUTEL__OTLP__SCOPE_LOGS__INIT, *slp = &sl;

		sl.scope = &sc;
		sl.log_records = arena_alloc(&a, n * sizeof *sl.log_records);
		for (size_t i = 0; sl.log_records && i < n; i++)
			sl.log_records[i] = pb_log(&a, recs[i]);
		sl.n_log_records = n;
		rl.resource = &res;
		rl.scope_logs = &slp;
		rl.n_scope_logs = 1;
		req.resource_logs = &rlp;
		req.n_resource_logs = 1;
		if (!a.failed)
			out = pack(&req.base, len);
	} else {
		Gputel__Otlp__ExportTraceServiceRequest req = GPUTEL__OTLP__EXPORT_TRACE_SERVICE_REQUEST__INIT;
		Gputel__Otlp__ResourceSpans rs = GPUTEL__OTLP__RESOURCE_SPANS__INIT, *rsp = &rs;
		Gputel__Otlp__ScopeSpans ss = GPUTEL__OTLP__SCOPE_SPANS__INIT, *ssp = &ss;

		ss.scope = &sc;
		ss.spans = arena_alloc(&a, n * sizeof *ss.spans);
		for (size_t i = 0; ss.spans && i < n; i++)
			ss.spans[i] = pb_span(&a, recs[i]);
		ss.n_spans = n;
		rs.resource = &res;
		rs.scope_spans = &ssp;
		rs.n_scope_spans = 1;
		req.resource_spans = &rsp;
		req.n_resource_spans = 1;
		if (!a.failed)
			out = pack(&req.base, len);
	}
	arena_free(&a);
	return out;
}

/* ------------------------------------------------------------------ JSON */

static void json_key(struct outbuf *o, const char *k)
{
	ob_put_json_str(o, k);
	ob_puts(o, ": ");
}

/* A 64-bit integer, as the JSON mapping wants it: a decimal string. */
static void json_i64(struct outbuf *o, const char *k, int64_t v)
{
	json_key(o, k);
	ob_puts(o, "\"");
	ob_put_i64(o, v);
	ob_puts(o, "\"");
}

static void json_hex(struct outbuf *o, const char *k, const uint8_t *id, size_t n)
{
	char hex[2 * TRACE_ID_LEN + 1];

	json_key(o, k);
	hex_encode(hex, id, n);
	ob_put_json_str(o, hex);
}

static void json_attrs(struct outbuf *o, const struct otlp_record *r, int owner)
{
	bool first = true;

	json_key(o, "attributes");
	ob_puts(o, "[");
	for (size_t i = 0; i < r->n_attrs; i++) {
		const struct otlp_attr *at = &r->attr[i];
		char num[40];

		if (at->owner != owner)
			continue;
		ob_puts(o, first ? "{" : ", {");
		first = false;
		json_key(o, "key");
		ob_put_json_str(o, otlp_str(r, at->key));
		ob_puts(o, ", \"value\": {");
		switch (at->type) {
		case OTLP_STR:
			json_key(o, "stringValue");
			ob_put_json_str(o, otlp_str(r, at->v.s));
			break;
		case OTLP_INT:
			json_i64(o, "intValue", at->v.i);
			break;
		case OTLP_DOUBLE:
			json_key(o, "doubleValue");
			snprintf(num, sizeof num, "%.17g", at->v.d);
			ob_puts(o, num);
			break;
		default:
			json_key(o, "boolValue");
			ob_puts(o, at->v.b ? "true" : "false");
			break;
		}
		ob_puts(o, "}}");
	}
	ob_puts(o, "]");
}

static void json_log(struct outbuf *o, const struct otlp_record *r)
{
	ob_puts(o, "{");
	json_i64(o, "timeUnixNano", r->time_ns);
	ob_puts(o, ", ");
	json_i64(o, "observedTimeUnixNano", r->observed_ns);
	ob_puts(o, ", \"severityNumber\": ");
	ob_put_i64(o, r->severity);
	if (r->severity_text) {
		ob_puts(o, ", ");
		json_key(o, "severityText");
		ob_put_json_str(o, otlp_str(r, r->severity_text));
	}
	if (r->event_name) {
		ob_puts(o, ", ");
		json_key(o, "eventName");
		ob_put_json_str(o, otlp_str(r, r->event_name));
	}
	if (r->body) {
		ob_puts(o, ", \"body\": {\"stringValue\": ");
		ob_put_json_str(o, otlp_str(r, r->body));
		ob_puts(o, "}");
	}
	ob_puts(o, ", ");
	json_attrs(o, r, OTLP_OWNER_RECORD);
	if (r->dropped_attrs) {
		ob_puts(o, ", \"droppedAttributesCount\": ");
		ob_put_u64(o, r->dropped_attrs);
	}
	if (r->has_trace) {
		ob_puts(o, ", ");
		json_hex(o, "traceId", r->trace.trace_id, TRACE_ID_LEN);
		ob_puts(o, ", ");
		json_hex(o, "spanId", r->trace.span_id, SPAN_ID_LEN);
		ob_puts(o, ", \"flags\": ");
		ob_put_u64(o, r->trace.flags);
	}
	ob_puts(o, "}");
}

static void json_span(struct outbuf *o, const struct otlp_record *r)
{
	ob_puts(o, "{");
	json_hex(o, "traceId", r->trace.trace_id, TRACE_ID_LEN);
	ob_puts(o, ", ");
	json_hex(o, "spanId", r->trace.span_id, SPAN_ID_LEN);
	if (trace_id_valid(r->trace.parent_id, SPAN_ID_LEN)) {
		ob_puts(o, ", ");
		json_hex(o, "parentSpanId", r->trace.parent_id, SPAN_ID_LEN);
	}
	ob_puts(o, ", \"flags\": ");
	ob_put_u64(o, r->trace.flags);
	ob_puts(o, ", ");
	json_key(o, "name");
	ob_put_json_str(o, otlp_str(r, r->name));
	ob_puts(o, ", \"kind\": ");
	ob_put_i64(o, r->kind);
	ob_puts(o, ", ");
	json_i64(o, "startTimeUnixNano", r->time_ns);
	ob_puts(o, ", ");
	json_i64(o, "endTimeUnixNano", r->end_ns);
	ob_puts(o, ", ");
	json_attrs(o, r, OTLP_OWNER_RECORD);
	if (r->dropped_attrs) {
		ob_puts(o, ", \"droppedAttributesCount\": ");
		ob_put_u64(o, r->dropped_attrs);
	}
	ob_puts(o, ", \"events\": [");
	for (size_t i = 0; i < r->n_events; i++) {
		ob_puts(o, i ? ", {" : "{");
		json_i64(o, "timeUnixNano", r->event[i].time_ns);
		ob_puts(o, ", ");
		json_key(o, "name");
		ob_put_json_str(o, otlp_str(r, r->event[i].name));
		ob_puts(o, ", ");
		json_attrs(o, r, (int)i);
		ob_puts(o, "}");
	}
	ob_puts(o, "]");
	if (r->dropped_events) {
		ob_puts(o, ", \"droppedEventsCount\": ");
		ob_put_u64(o, r->dropped_events);
	}
	if (r->status != OTLP_STATUS_UNSET) {
		ob_puts(o, ", \"status\": {\"code\": ");
		ob_put_i64(o, r->status);
		if (r->status_message) {
			ob_puts(o, ", ");
			json_key(o, "message");
			ob_put_json_str(o, otlp_str(r, r->status_message));
		}
		ob_puts(o, "}");
	}
	ob_puts(o, "}");
}

static void json_request(struct outbuf *o, enum otlp_signal signal, const struct otlp_record *resource,
			 const struct otlp_scope *scope, struct otlp_record *const *recs, size_t n)
{
	bool logs = signal == OTLP_LOGS;

	ob_puts(o, logs ? "{\"resourceLogs\": [{\"resource\": {" : "{\"resourceSpans\": [{\"resource\": {");
	json_attrs(o, resource, OTLP_OWNER_RECORD);
	ob_puts(o, logs ? "}, \"scopeLogs\": [{\"scope\": {" : "}, \"scopeSpans\": [{\"scope\": {");
	json_key(o, "name");
	ob_put_json_str(o, scope->name);
	ob_puts(o, ", ");
	json_key(o, "version");
	ob_put_json_str(o, scope->version);
	ob_puts(o, logs ? "}, \"logRecords\": [" : "}, \"spans\": [");
	for (size_t i = 0; i < n; i++) {
		if (i)
			ob_puts(o, ", ");
		if (logs)
			json_log(o, recs[i]);
		else
			json_span(o, recs[i]);
	}
	ob_puts(o, "]}]}]}");
}

static char *encode_json(enum otlp_signal signal, const struct otlp_record *resource,
			 const struct otlp_scope *scope, struct otlp_record *const *recs, size_t n, size_t *len)
{
	/* Text grows at most 6-fold when escaped; a second try covers a bad guess. */
	size_t cap = 1024 + resource->text_len * 6 + resource->n_attrs * 64;

	for (size_t i = 0; i < n; i++)
		cap += 512 + recs[i]->text_len * 6 + recs[i]->n_attrs * 96 + recs[i]->n_events * 128;
	for (int tries = 0; tries < 4; tries++, cap *= 2) {
		struct outbuf o = { malloc(cap), 0, cap, false };

		if (!o.p)
			return NULL;
		json_request(&o, signal, resource, scope, recs, n);
		if (!o.full) {
			*len = o.len;
			return o.p;
		}
		free(o.p);
	}
	return NULL;
}

char *otlp_encode(enum otlp_signal signal, enum otlp_format fmt, const struct otlp_record *resource,
		  const struct otlp_scope *scope, struct otlp_record *const *recs, size_t n, size_t *len)
{
	*len = 0;
	if (fmt == OTLP_JSON)
		return encode_json(signal, resource, scope, recs, n, len);
	return encode_pb(signal, resource, scope, recs, n, len);
}

/* ------------------------------------------------------------------ replies */

static void json_message(const char *body, size_t len, const char *obj_key, const char *count_key,
			 int64_t *count, char *msg, size_t msglen)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *o = root, *v;

	if (o && obj_key)
		o = cJSON_GetObjectItemCaseSensitive(root, obj_key);
	if (o && count_key) {
		v = cJSON_GetObjectItemCaseSensitive(o, count_key);
		/* The JSON mapping sends int64 as a string; a number is accepted too. */
		if (cJSON_IsString(v))
			*count = strtoll(v->valuestring, NULL, 10);
		else if (cJSON_IsNumber(v))
			*count = (int64_t)v->valuedouble;
	}
	v = o ? cJSON_GetObjectItemCaseSensitive(o, obj_key ? "errorMessage" : "message") : NULL;
	if (cJSON_IsString(v))
		str_copy(msg, v->valuestring, msglen);
	cJSON_Delete(root);
}

int64_t otlp_decode_partial(enum otlp_signal signal, enum otlp_format fmt, const char *body, size_t len,
			    char *msg, size_t msglen)
{
	int64_t rejected = 0;

	msg[0] = '\0';
	if (len == 0)
		return 0;
	if (fmt == OTLP_JSON) {
		json_message(body, len, "partialSuccess", signal == OTLP_LOGS ? "rejectedLogRecords" : "rejectedSpans",
			     &rejected, msg, msglen);
	} else if (signal == OTLP_LOGS) {
		Gputel__Otlp__ExportLogsServiceResponse *r =
			gputel__otlp__export_logs_service_response__unpack(NULL, len, (const uint8_t *)body);

		if (r && r->partial_success) {
			rejected = r->partial_success->rejected_log_records;
			str_copy(msg, r->partial_success->error_message ? r->partial_success->error_message : "", msglen);
		}
		if (r)
			gputel__otlp__export_logs_service_response__free_unpacked(r, NULL);
	} else {
		Gputel__Otlp__ExportTraceServiceResponse *r =
			gputel__otlp__export_trace_service_response__unpack(NULL, len, (const uint8_t *)body);

		if (r && r->partial_success) {
			rejected = r->partial_success->rejected_spans;
			str_copy(msg, r->partial_success->error_message ? r->partial_success->error_message : "", msglen);
		}
		if (r)
			gputel__otlp__export_trace_service_response__free_unpacked(r, NULL);
	}
	return rejected < 0 ? 0 : rejected;
}

void otlp_decode_error(enum otlp_format fmt, const char *body, size_t len, char *msg, size_t msglen)
{
	Gputel__Otlp__RpcStatus *st;
	int64_t unused = 0;

	msg[0] = '\0';
	if (len == 0)
		return;
	/* A server may answer in JSON or plain text whatever was asked: try what the body looks like. */
	if (fmt == OTLP_JSON || body[0] == '{') {
		json_message(body, len, NULL, NULL, &unused, msg, msglen);
		if (msg[0])
			return;
	}
	st = gputel__otlp__rpc_status__unpack(NULL, len, (const uint8_t *)body);
	if (st) {
		str_copy(msg, st->message ? st->message : "", msglen);
		gputel__otlp__rpc_status__free_unpacked(st, NULL);
	}
}
