/* alloc.c - see alloc.h. */
#include "alloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "host.h"
#include "log.h"
#include "util.h"
#include "xid.h"

#define STATE_VERSION 1
#define STATE_MAX_BYTES (64u << 20)

/* ---- request parsing ---- */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Letters, digits and ._:@- : safe in a URL path, a file and a label. */
static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
}

/* The length of the UTF-8 sequence that byte c starts (1 for ASCII and for a byte that starts none). */
static size_t utf8_seq_len(unsigned char c)
{
	return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/*
 * s for a message: at most 40 bytes, anything unprintable or not UTF-8 as
 * '?', so that an error stays one line of valid UTF-8.
 */
static const char *shown(const char *s, char buf[48])
{
	size_t i = 0, o = 0;

	while (s[i] && o < 40) {
		unsigned char c = (unsigned char)s[i];
		size_t len = utf8_seq_len(c);

		if (c >= 0x80 && o + len <= 40 && utf8_valid(s + i, len, NULL)) {
			memcpy(buf + o, s + i, len);
			o += len;
			i += len;
			continue;
		}
		buf[o++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
		i++;
	}
	buf[o] = '\0';
	return buf;
}

/*
 * Refuses text that would break what it is written to: invalid UTF-8 makes
 * Prometheus drop the whole scrape, control characters split log and
 * ledger lines.  field names it in the message.
 */
static int check_text(const char *field, const char *s, char *err, size_t errlen)
{
	size_t at = 0;
	const char *why = text_problem(s, strlen(s), &at);

	if (!why)
		return 0;
	return fail(err, errlen, "%s: %s at byte %zu; send UTF-8 text without control characters "
		    "(\\u0000-\\u001f, \\u007f)", field, why, at + 1);
}

static bool label_key_ok(const char *k)
{
	if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
		return false;
	for (k++; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '_'))
			return false;
	return true;
}

static int parse_gpus(const cJSON *v, struct alloc_request *req, char *err, size_t errlen)
{
	const cJSON *e;

	if (!cJSON_IsArray(v))
		return fail(err, errlen, "gpus: must be a list of GPU indices or UUIDs, e.g. [0, 1]; "
			    "leave it out for every GPU");
	cJSON_ArrayForEach(e, v) {
		char *slot, tmp[48];

		if (req->n_gpus == GPUTEL_MAX_GPUS)
			return fail(err, errlen, "gpus: more than %d entries; a node has at most %d GPUs",
				    GPUTEL_MAX_GPUS, GPUTEL_MAX_GPUS);
		slot = req->gpu[req->n_gpus];
		if (cJSON_IsNumber(e)) {
			double d = e->valuedouble;

			if (!(d >= 0 && d < GPUTEL_MAX_GPUS) || d != floor(d))
				return fail(err, errlen, "gpus: %g is not a GPU index; give 0..%d or a UUID",
					    d, GPUTEL_MAX_GPUS - 1);
			snprintf(slot, ALLOC_UUID_MAX + 1, "%d", (int)d);
		} else if (cJSON_IsString(e)) {
			const char *s = e->valuestring;

			if (check_text("gpus", s, err, errlen) != 0)
				return -1;
			if (!*s || strlen(s) > ALLOC_UUID_MAX)
				return fail(err, errlen, "gpus: \"%s\" is not a GPU index or UUID; "
					    "give e.g. 0 or \"GPU-…\"", shown(s, tmp));
			str_copy(slot, s, ALLOC_UUID_MAX + 1);
		} else {
			return fail(err, errlen, "gpus: entries must be indices or UUID strings, e.g. [0, \"GPU-…\"]");
		}
		req->n_gpus++;
	}
	if (req->n_gpus == 0)
		return fail(err, errlen, "gpus: the list is empty; name the GPUs, or leave gpus out for every GPU");
	req->gpus_all = false;
	return 0;
}

/* The labels as a canonical JSON object of strings, checked. */
static int parse_labels(const cJSON *v, struct alloc_request *req, char *err, size_t errlen)
{
	char buf[ALLOC_LABELS_MAX * (ALLOC_LABEL_KEY_MAX + 6 * ALLOC_LABEL_VALUE_MAX + 8) + 4];
	struct outbuf o = { buf, 0, sizeof buf, false };
	const cJSON *e;
	unsigned int n = 0;

	if (!cJSON_IsObject(v))
		return fail(err, errlen, "labels: must be an object of strings, e.g. {\"job\": \"train-7\"}");
	ob_put(&o, "{", 1);
	cJSON_ArrayForEach(e, v) {
		char tmp[48], field[ALLOC_LABEL_KEY_MAX + 8];

		if (++n > ALLOC_LABELS_MAX)
			return fail(err, errlen, "labels: more than %d; keep the ones you query by",
				    ALLOC_LABELS_MAX);
		if (strlen(e->string) > ALLOC_LABEL_KEY_MAX || !label_key_ok(e->string))
			return fail(err, errlen, "labels: key \"%s\" is not a name; use letters, digits "
				    "and _ (at most %d), not starting with a digit", shown(e->string, tmp),
				    ALLOC_LABEL_KEY_MAX);
		for (const cJSON *p = v->child; p != e; p = p->next)
			if (strcmp(p->string, e->string) == 0)
				return fail(err, errlen, "labels: key \"%s\" appears twice", e->string);
		if (!cJSON_IsString(e) || strlen(e->valuestring) > ALLOC_LABEL_VALUE_MAX)
			return fail(err, errlen, "labels: \"%s\" must be a string of at most %d "
				    "printable characters", e->string, ALLOC_LABEL_VALUE_MAX);
		str_fmt(field, sizeof field, "labels.%s", e->string);
		if (check_text(field, e->valuestring, err, errlen) != 0)
			return -1;
		if (n > 1)
			ob_put(&o, ", ", 2);
		ob_put_json_str(&o, e->string);
		ob_put(&o, ": ", 2);
		ob_put_json_str(&o, e->valuestring);
	}
	ob_put(&o, "}", 1);
	if (o.full)
		return fail(err, errlen, "labels: too long");
	req->labels_json = malloc(o.len + 1);
	if (!req->labels_json)
		return fail(err, errlen, "out of memory");
	memcpy(req->labels_json, buf, o.len);
	req->labels_json[o.len] = '\0';
	return 0;
}

static int parse_fields(const cJSON *root, struct alloc_request *req, char *err, size_t errlen)
{
	const cJSON *v;
	bool have_id = false;

	if (!cJSON_IsObject(root))
		return fail(err, errlen, "the body must be a JSON object, e.g. {\"id\": \"job-1\", \"gpus\": [0]}");
	cJSON_ArrayForEach(v, root) {
		const char *k = v->string;
		char tmp[48];

		for (const cJSON *p = root->child; p != v; p = p->next)
			if (strcmp(p->string, k) == 0)
				return fail(err, errlen, "%s: given twice; give it once", shown(k, tmp));
		if (strcmp(k, "id") == 0) {
			const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
			size_t len = s ? strlen(s) : 0;

			if (!s || len == 0 || len > ALLOC_ID_MAX)
				return fail(err, errlen, "id: must be a string of 1 to %d characters", ALLOC_ID_MAX);
			if (check_text("id", s, err, errlen) != 0)
				return -1;
			for (const char *c = s; *c; c++)
				if (!id_char(*c))
					return fail(err, errlen, "id: '%c' is not allowed; use letters, digits and . _ : @ -",
						    isprint((unsigned char)*c) ? *c : '?');
			str_copy(req->id, s, sizeof req->id);
			have_id = true;
		} else if (strcmp(k, "owner") == 0) {
			if (!cJSON_IsString(v) || strlen(v->valuestring) > ALLOC_OWNER_MAX)
				return fail(err, errlen, "owner: must be a string of at most %d printable characters",
					    ALLOC_OWNER_MAX);
			if (check_text("owner", v->valuestring, err, errlen) != 0)
				return -1;
			str_copy(req->owner, v->valuestring, sizeof req->owner);
		} else if (strcmp(k, "pid") == 0) {
			if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > INT32_MAX ||
			    v->valuedouble != floor(v->valuedouble))
				return fail(err, errlen, "pid: must be a process id (a whole number from 1), "
					    "or left out");
			req->pid = (int64_t)v->valuedouble;
		} else if (strcmp(k, "ttl_seconds") == 0) {
			if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) ||
			    v->valuedouble > (double)ALLOC_TTL_MAX_S)
				return fail(err, errlen, "ttl_seconds: must be a number of seconds above 0 and at "
					    "most %lld, or left out", (long long)ALLOC_TTL_MAX_S);
			req->ttl_ns = (int64_t)llround(v->valuedouble * 1e9);
			if (req->ttl_ns < 1)
				req->ttl_ns = 1;
		} else if (strcmp(k, "gpus") == 0) {
			if (parse_gpus(v, req, err, errlen) != 0)
				return -1;
		} else if (strcmp(k, "labels") == 0) {
			if (parse_labels(v, req, err, errlen) != 0)
				return -1;
		} else if (strcmp(k, "traceparent") == 0) {
			const char *why;

			if (!cJSON_IsString(v))
				return fail(err, errlen, "traceparent: must be a W3C traceparent string, "
					    "e.g. \"00-<32 hex>-<16 hex>-01\", or left out");
			if (traceparent_parse(v->valuestring, req->parent_trace_id, req->parent_span_id,
					      &req->parent_flags, &why) != 0)
				return fail(err, errlen, "traceparent: %s", why);
			req->has_parent = true;
		} else {
			return fail(err, errlen, "unknown field \"%s\"; the fields are id, gpus, owner, pid, "
				    "ttl_seconds, labels, traceparent", shown(k, tmp));
		}
	}
	if (!have_id)
		return fail(err, errlen, "id: missing; give the allocation a name, e.g. {\"id\": \"job-1\"}");
	return 0;
}

int alloc_request_parse(const char *body, size_t len, struct alloc_request *req, char *err,
			size_t errlen)
{
	const char *end = NULL;
	char *text;
	cJSON *root;
	int r;

	memset(req, 0, sizeof *req);
	req->gpus_all = true;
	if (len == 0)
		return fail(err, errlen, "the body is empty; send a JSON object, e.g. {\"id\": \"job-1\", \"gpus\": [0]}");
	if (memchr(body, '\0', len))
		return fail(err, errlen, "the body holds a NUL byte; send JSON text");
	/* A copy, so that a \u0000 can be turned into a character the field checks refuse. */
	text = malloc(len);
	if (!text)
		return fail(err, errlen, "out of memory");
	memcpy(text, body, len);
	json_mark_nul_escapes(text, len);
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!root) {
		size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;

		free(text);
		return fail(err, errlen, "the body is not valid JSON (near byte %zu)", at);
	}
	/* One object and nothing after it but whitespace: a body with more is not what the client meant. */
	while (end && end < text + len && strchr(" \t\r\n", *end))
		end++;
	if (!end || end != text + len) {
		size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;

		free(text);
		cJSON_Delete(root);
		return fail(err, errlen, "the body goes on after its JSON object (at byte %zu); send one object", at);
	}
	free(text);
	r = parse_fields(root, req, err, errlen);
	cJSON_Delete(root);
	if (r != 0)
		alloc_request_release(req);
	return r;
}

void alloc_request_release(struct alloc_request *req)
{
	free(req->labels_json);
	req->labels_json = NULL;
}

/* ---- the table ---- */

static int find_gpu(const struct snapshot *snap, const char *ref)
{
	int64_t idx;

	if (parse_int64(ref, &idx) == 0) {
		for (unsigned int i = 0; i < snap->n_gpus; i++)
			if (snap->gpu[i].id.index == (uint64_t)idx)
				return (int)i;
		return -1;
	}
	for (unsigned int i = 0; i < snap->n_gpus; i++)
		if (strcasecmp(snap->gpu[i].id.uuid, ref) == 0)
			return (int)i;
	return -1;
}

int alloc_resolve_gpus(struct alloc *a, const struct alloc_request *req,
		       const struct snapshot *snap, char *err, size_t errlen)
{
	unsigned int n = req->gpus_all ? snap->n_gpus : req->n_gpus;
	uint64_t seen = 0;

	a->gpu = n ? calloc(n, sizeof *a->gpu) : NULL;
	if (n && !a->gpu) {
		fail(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++) {
		int pos = req->gpus_all ? (int)i : find_gpu(snap, req->gpu[i]);

		if (pos < 0) {
			fail(err, errlen, "gpus: \"%s\" is not a GPU on this node; see 'gputel gpus'",
			     req->gpu[i]);
			goto bad;
		}
		if (seen & (1ULL << pos)) {
			fail(err, errlen, "gpus: \"%s\" names GPU %u again; list each GPU once",
			     req->gpu[i], snap->gpu[pos].id.index);
			goto bad;
		}
		seen |= 1ULL << pos;
		a->gpu[i].pos = pos;
		a->gpu[i].index = snap->gpu[pos].id.index;
		str_copy(a->gpu[i].uuid, snap->gpu[pos].id.uuid, sizeof a->gpu[i].uuid);
	}
	a->n_gpus = n;
	return 0;
bad:
	free(a->gpu);
	a->gpu = NULL;
	return -1;
}

void alloc_release(struct alloc *a)
{
	if (!a)
		return;
	free(a->gpu);
	free(a->labels_json);
	a->gpu = NULL;
	a->labels_json = NULL;
	a->n_gpus = 0;
}

void alloc_table_init(struct alloc_table *t)
{
	memset(t, 0, sizeof *t);
}

void alloc_table_release(struct alloc_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		alloc_release(&t->a[i]);
	free(t->a);
	memset(t, 0, sizeof *t);
}

struct alloc *alloc_find(struct alloc_table *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->a[i].id, id) == 0)
			return &t->a[i];
	return NULL;
}

static void usage_init(struct alloc_usage *u)
{
	memset(u, 0, sizeof *u);
	u->util_peak_pct = -1;
	u->mem_peak_bytes = -1;
	u->temp_peak_mc = INT64_MIN;
}

/* Room for one more; NULL when full or out of memory. */
static struct alloc *table_slot(struct alloc_table *t)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct alloc *a;

		if (cap > ALLOC_LIVE_MAX)
			cap = ALLOC_LIVE_MAX;
		if (cap <= t->n)
			return NULL;
		a = realloc(t->a, cap * sizeof *a);
		if (!a)
			return NULL;
		t->a = a;
		t->cap = cap;
	}
	memset(&t->a[t->n], 0, sizeof t->a[t->n]);
	return &t->a[t->n];
}

int alloc_begin(struct alloc_table *t, struct alloc_request *req, const struct snapshot *snap,
		int64_t now_wall_ns, struct alloc **out, char *err, size_t errlen)
{
	struct alloc *a;
	int r;

	if (alloc_find(t, req->id)) {
		fail(err, errlen, "id: \"%s\" is already allocated; end it first or pick another id", req->id);
		return -EEXIST;
	}
	if (t->n >= ALLOC_LIVE_MAX) {
		fail(err, errlen, "the node holds %d allocations already; end some first", ALLOC_LIVE_MAX);
		return -ENOSPC;
	}
	a = table_slot(t);
	if (!a) {
		fail(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = alloc_resolve_gpus(a, req, snap, err, errlen);
	if (r != 0)
		return r == -ENOMEM ? r : -EINVAL;
	str_copy(a->id, req->id, sizeof a->id);
	str_copy(a->owner, req->owner, sizeof a->owner);
	a->pid = req->pid;
	a->ttl_ns = req->ttl_ns;
	a->labels_json = req->labels_json;
	req->labels_json = NULL;
	a->begun_wall_ns = now_wall_ns;
	a->expires_wall_ns = a->ttl_ns ? now_wall_ns + a->ttl_ns : 0;
	trace_ctx_new(&a->trace, req->has_parent, req->parent_trace_id, req->parent_span_id, req->parent_flags);
	a->span_exported = t->spans_exported;
	usage_init(&a->use);
	t->n++;
	t->changes++;
	*out = a;
	return 0;
}

int alloc_renew(struct alloc_table *t, const char *id, int64_t ttl_ns, int64_t now_wall_ns)
{
	struct alloc *a = alloc_find(t, id);

	if (!a)
		return -ENOENT;
	if (ttl_ns <= 0)
		ttl_ns = a->ttl_ns;
	if (ttl_ns <= 0)
		return -EINVAL;
	a->ttl_ns = ttl_ns;
	a->expires_wall_ns = now_wall_ns + ttl_ns;
	t->changes++;
	return 0;
}

int alloc_end(struct alloc_table *t, const char *id, int64_t now_wall_ns, const char *reason,
	      struct alloc *out)
{
	struct alloc *a = alloc_find(t, id);
	size_t i;

	if (!a)
		return -ENOENT;
	i = (size_t)(a - t->a);
	*out = *a;
	out->ended_wall_ns = now_wall_ns;
	out->end_reason = reason;
	memmove(&t->a[i], &t->a[i + 1], (t->n - i - 1) * sizeof t->a[0]);
	t->n--;
	t->changes++;
	return 0;
}

/* ---- accounting ---- */

/* Sums the zone counters named like want ("package-*" or "dram"); false when any is unreadable. */
static bool zone_sum(const struct host_reading *h, bool package, uint64_t *sum)
{
	bool any = false;

	*sum = 0;
	for (unsigned int i = 0; i < h->n_zones; i++) {
		const char *name = h->zone_info[i].name;
		bool match = package ? strncmp(name, "package-", 8) == 0 : strcmp(name, "dram") == 0;

		if (!match)
			continue;
		if (h->zone_st[i] != VAL_OK)
			return false;
		*sum += h->zone_energy_uj[i];
		any = true;
	}
	return any;
}

/*
 * The sums below stop at their bounds (alloc.h) instead of overflowing: a
 * driver or a state file with absurd figures gives an absurd allocation,
 * never undefined arithmetic.
 */
static int64_t energy_add(int64_t acc, int64_t uj)
{
	int64_t sum = i64_add_sat(acc, uj);

	return sum > ALLOC_ENERGY_UJ_MAX ? ALLOC_ENERGY_UJ_MAX : sum;
}

static uint64_t count_add(uint64_t acc, uint64_t n)
{
	if (acc >= (uint64_t)ALLOC_COUNT_MAX || n > (uint64_t)ALLOC_COUNT_MAX - acc)
		return (uint64_t)ALLOC_COUNT_MAX;
	return acc + n;
}

/* Adds cur - *mark to *acc when both are known and the counter did not go back. */
static void counter_step(uint64_t cur, bool cur_ok, uint64_t *mark, bool *have, int64_t *acc, bool *known)
{
	if (!cur_ok) {
		*have = false;
		return;
	}
	if (*have && cur >= *mark) {
		uint64_t delta = cur - *mark;

		*acc = energy_add(*acc, delta > (uint64_t)ALLOC_ENERGY_UJ_MAX ? ALLOC_ENERGY_UJ_MAX : (int64_t)delta);
		*known = true;
	}
	*mark = cur;
	*have = true;
}

/* One GPU's tick of dt_ns; its energy, or the time it went unmeasured. */
static void account_gpu(struct alloc *a, struct alloc_gpu *ag, const struct gpu_reading *g, int64_t dt_ns)
{
	struct alloc_usage *u = &a->use;
	bool measured = false;

	if (g->health != GPU_HEALTH_UP) {
		ag->energy_have = false;
		u->gpu_unmeasured_ns = i64_add_sat(u->gpu_unmeasured_ns, dt_ns);
		return;
	}
	if (g->st[GPU_F_ENERGY_MJ] == VAL_OK && g->val[GPU_F_ENERGY_MJ] >= 0) {
		int64_t e = g->val[GPU_F_ENERGY_MJ];

		/*
		 * A counter that went back was reset (driver reload): start over
		 * from it.  The step to the first reading after a loss or a reset
		 * is not known, and counts as unmeasured.
		 */
		if (ag->energy_have && e >= ag->energy_mark_mj && ag->energy_mark_mj >= 0) {
			int64_t uj = i64_mul_sat(e - ag->energy_mark_mj, 1000);

			u->gpu_energy_uj = energy_add(u->gpu_energy_uj, uj);
			ag->energy_uj = energy_add(ag->energy_uj, uj);
			measured = true;
		}
		ag->energy_mark_mj = e;
		ag->energy_have = true;
	} else if (g->st[GPU_F_POWER_MW] == VAL_OK && g->val[GPU_F_POWER_MW] >= 0 && dt_ns > 0) {
		/* mW × ns = 1e-12 J; to µJ: / 1e6. */
		int64_t uj = i64_mul_sat(g->val[GPU_F_POWER_MW], dt_ns) / 1000000;

		u->gpu_energy_uj = energy_add(u->gpu_energy_uj, uj);
		ag->energy_uj = energy_add(ag->energy_uj, uj);
		u->gpu_energy_integrated = count_add(u->gpu_energy_integrated, 1);
		ag->energy_have = false;
		measured = true;
	} else {
		ag->energy_have = false;
	}
	if (!measured)
		u->gpu_unmeasured_ns = i64_add_sat(u->gpu_unmeasured_ns, dt_ns);
	if (g->st[GPU_F_UTIL_GPU_PCT] == VAL_OK && u->util_samples < (uint64_t)ALLOC_COUNT_MAX) {
		/* A percentage: whatever else a driver says is held to 0..100. */
		int64_t v = g->val[GPU_F_UTIL_GPU_PCT];
		int pct = v < 0 ? 0 : v > 100 ? 100 : (int)v;

		u->util_sum_pct += (uint64_t)pct;
		u->util_samples++;
		if (pct > u->util_peak_pct)
			u->util_peak_pct = pct;
	}
	if (g->st[GPU_F_MEM_USED_BYTES] == VAL_OK && g->val[GPU_F_MEM_USED_BYTES] > u->mem_peak_bytes)
		u->mem_peak_bytes = g->val[GPU_F_MEM_USED_BYTES];
	if (g->st[GPU_F_TEMP_MC] == VAL_OK && g->val[GPU_F_TEMP_MC] > u->temp_peak_mc)
		u->temp_peak_mc = g->val[GPU_F_TEMP_MC];
	if (g->st[GPU_F_XID_TOTAL] == VAL_OK) {
		uint64_t x = (uint64_t)g->val[GPU_F_XID_TOTAL];

		if (ag->xid_have && x >= ag->xid_mark)
			u->xids = count_add(u->xids, x - ag->xid_mark);
		ag->xid_mark = x;
		ag->xid_have = true;
	}
}

void alloc_account(struct alloc_table *t, const struct snapshot *snap)
{
	uint64_t cpu = 0, dram = 0;
	bool cpu_ok = zone_sum(&snap->host, true, &cpu);
	bool dram_ok = zone_sum(&snap->host, false, &dram);

	for (size_t i = 0; i < t->n; i++) {
		struct alloc *a = &t->a[i];
		int64_t dt = a->mark_mono_ns ? snap->mono_ns - a->mark_mono_ns : 0;
		bool throttled = false;

		if (dt < 0)
			dt = 0;
		for (unsigned int k = 0; k < a->n_gpus; k++) {
			struct alloc_gpu *ag = &a->gpu[k];
			const struct gpu_reading *g;

			if (ag->pos < 0 || (unsigned int)ag->pos >= snap->n_gpus) {
				/* Gone from the node: its energy cannot be read. */
				a->use.gpu_unmeasured_ns = i64_add_sat(a->use.gpu_unmeasured_ns, dt);
				continue;
			}
			g = &snap->gpu[ag->pos];
			account_gpu(a, ag, g, dt);
			if (g->health == GPU_HEALTH_UP && g->st[GPU_F_CLOCK_EVENT_MASK] == VAL_OK &&
			    ((uint64_t)g->val[GPU_F_CLOCK_EVENT_MASK] & ALLOC_THROTTLE_MASK))
				throttled = true;
		}
		if (throttled)
			a->use.throttle_ns = i64_add_sat(a->use.throttle_ns, dt);
		counter_step(cpu, cpu_ok, &a->cpu_mark_uj, &a->cpu_mark_have, &a->use.cpu_energy_uj,
			     &a->use.cpu_energy_known);
		counter_step(dram, dram_ok, &a->dram_mark_uj, &a->dram_mark_have, &a->use.dram_energy_uj,
			     &a->use.dram_energy_known);
		a->mark_mono_ns = snap->mono_ns;
	}
}

size_t alloc_note_xid(struct alloc_table *t, const char *uuid, int gpu_index, int code, int64_t wall_ns)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct alloc *a = &t->a[i];
		struct alloc_usage *u = &a->use;
		bool holds = false;

		for (unsigned int k = 0; k < a->n_gpus && !holds; k++)
			holds = strcasecmp(a->gpu[k].uuid, uuid) == 0;
		/* A fault from before it began (this boot's kernel log, read at start) is not its own. */
		if (!holds || wall_ns < a->begun_wall_ns)
			continue;
		if (u->n_xid_events < ALLOC_XID_EVENTS_MAX)
			u->xid_events[u->n_xid_events++] = (struct alloc_xid_event){ code, gpu_index, wall_ns };
		else if (u->xid_events_dropped < (uint64_t)ALLOC_COUNT_MAX)
			u->xid_events_dropped++;
		t->changes++;
		n++;
	}
	return n;
}

/* ---- reaping ---- */

bool alloc_pid_alive(int64_t pid)
{
	if (pid <= 0 || pid > INT32_MAX)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

struct alloc *alloc_due(struct alloc_table *t, size_t from, int64_t now_wall_ns,
			bool (*pid_alive)(int64_t pid), const char **reason)
{
	for (size_t i = from; i < t->n; i++) {
		struct alloc *a = &t->a[i];

		if (a->expires_wall_ns && now_wall_ns >= a->expires_wall_ns) {
			*reason = "ttl expired";
			return a;
		}
		if (a->pid && pid_alive && !pid_alive(a->pid)) {
			*reason = "owner exited";
			return a;
		}
	}
	return NULL;
}

/* ---- JSON ---- */

static void put_key(struct outbuf *o, const char *k)
{
	ob_puts(o, ", \"");
	ob_puts(o, k);
	ob_puts(o, "\": ");
}

static void put_time(struct outbuf *o, const char *k, int64_t wall_ns)
{
	struct timespec ts = { (time_t)(wall_ns / NS_PER_SEC), (long)(wall_ns % NS_PER_SEC) };
	char buf[32];

	put_key(o, k);
	if (!wall_ns) {
		ob_puts(o, "null");
		return;
	}
	fmt_iso8601_ms(buf, &ts);
	ob_put_json_str(o, buf);
}

/* µJ as J with 3 decimals, and Wh with 6. */
static void put_energy(struct outbuf *o, const char *k_j, const char *k_wh, int64_t uj, bool known)
{
	put_key(o, k_j);
	if (!known) {
		ob_puts(o, "null");
		put_key(o, k_wh);
		ob_puts(o, "null");
		return;
	}
	ob_put_scaled(o, uj, 1000000, 3);
	put_key(o, k_wh);
	ob_put_scaled(o, uj / 1000, 3600000, 6);
}

/* "traceparent": the allocation's own span, for a job's spans to nest under; "parent_span_id" (or null). */
static void put_traceparent(struct outbuf *o, const struct trace_ctx *t)
{
	char tp[TRACEPARENT_LEN + 1], hex[2 * SPAN_ID_LEN + 1];

	traceparent_format(tp, t);
	put_key(o, "traceparent");
	ob_put_json_str(o, tp);
	put_key(o, "parent_span_id");
	if (trace_id_valid(t->parent_id, SPAN_ID_LEN)) {
		hex_encode(hex, t->parent_id, SPAN_ID_LEN);
		ob_put_json_str(o, hex);
	} else {
		ob_puts(o, "null");
	}
}

uint64_t alloc_xid_count(const struct alloc_usage *u)
{
	uint64_t listed = (uint64_t)u->n_xid_events + u->xid_events_dropped;

	return u->xids > listed ? u->xids : listed;
}

void alloc_json(struct outbuf *o, const struct alloc *a)
{
	const struct alloc_usage *u = &a->use;
	int64_t end = a->ended_wall_ns;
	bool gpu_known = u->gpu_energy_uj > 0 || u->gpu_energy_integrated > 0 || u->util_samples > 0;

	ob_puts(o, "{\"id\": ");
	ob_put_json_str(o, a->id);
	put_key(o, "owner");
	ob_put_json_str(o, a->owner);
	put_key(o, "pid");
	if (a->pid)
		ob_put_i64(o, a->pid);
	else
		ob_puts(o, "null");
	put_key(o, "gpus");
	ob_puts(o, "[");
	for (unsigned int i = 0; i < a->n_gpus; i++) {
		if (i)
			ob_puts(o, ", ");
		ob_puts(o, "{\"index\": ");
		if (a->gpu[i].pos >= 0)
			ob_put_u64(o, a->gpu[i].index);
		else
			ob_puts(o, "null");
		ob_puts(o, ", \"uuid\": ");
		ob_put_json_str(o, a->gpu[i].uuid);
		ob_puts(o, "}");
	}
	ob_puts(o, "]");
	put_key(o, "labels");
	ob_puts(o, a->labels_json ? a->labels_json : "{}");
	/* Only a span that will be exported is worth nesting a job's spans under. */
	if (a->span_exported)
		put_traceparent(o, &a->trace);
	put_key(o, "ttl_seconds");
	if (a->ttl_ns)
		ob_put_scaled(o, a->ttl_ns, NS_PER_SEC, 3);
	else
		ob_puts(o, "null");
	put_time(o, "begun", a->begun_wall_ns);
	put_time(o, "expires", a->expires_wall_ns);
	put_time(o, "ended", a->ended_wall_ns);
	put_key(o, "end_reason");
	if (a->end_reason)
		ob_put_json_str(o, a->end_reason);
	else
		ob_puts(o, "null");
	put_key(o, "duration_seconds");
	ob_put_scaled(o, (end ? end : a->begun_wall_ns) > a->begun_wall_ns
			  ? (end ? end : a->begun_wall_ns) - a->begun_wall_ns : 0, NS_PER_SEC, 3);
	put_energy(o, "gpu_energy_joules", "gpu_energy_wh", u->gpu_energy_uj, gpu_known);
	put_key(o, "gpu_energy_integrated");
	ob_puts(o, u->gpu_energy_integrated ? "true" : "false");
	put_key(o, "gpu_energy_partial");
	ob_puts(o, u->gpu_unmeasured_ns > 0 ? "true" : "false");
	put_key(o, "gpu_seconds_unmeasured");
	ob_put_scaled(o, u->gpu_unmeasured_ns, NS_PER_SEC, 3);
	put_energy(o, "cpu_energy_joules", "cpu_energy_wh", u->cpu_energy_uj, u->cpu_energy_known);
	put_energy(o, "dram_energy_joules", "dram_energy_wh", u->dram_energy_uj, u->dram_energy_known);
	put_key(o, "host_energy_scope");
	ob_puts(o, "\"whole host\"");
	put_key(o, "avg_utilization_percent");
	if (u->util_samples)
		ob_put_scaled(o, (int64_t)(u->util_sum_pct * 100 / u->util_samples), 100, 2);
	else
		ob_puts(o, "null");
	put_key(o, "peak_utilization_percent");
	if (u->util_peak_pct >= 0)
		ob_put_i64(o, u->util_peak_pct);
	else
		ob_puts(o, "null");
	put_key(o, "peak_memory_bytes");
	if (u->mem_peak_bytes >= 0)
		ob_put_i64(o, u->mem_peak_bytes);
	else
		ob_puts(o, "null");
	put_key(o, "peak_temperature_celsius");
	if (u->temp_peak_mc != INT64_MIN)
		ob_put_scaled(o, u->temp_peak_mc, 1000, 1);
	else
		ob_puts(o, "null");
	put_key(o, "throttle_seconds");
	ob_put_scaled(o, u->throttle_ns, NS_PER_SEC, 3);
	put_key(o, "xids");
	ob_put_u64(o, alloc_xid_count(u));
	put_key(o, "xid_events");
	ob_puts(o, "[");
	for (unsigned int i = 0; i < u->n_xid_events; i++) {
		const struct alloc_xid_event *x = &u->xid_events[i];

		ob_puts(o, i ? ", {\"code\": " : "{\"code\": ");
		ob_put_i64(o, x->code);
		put_key(o, "name");
		ob_put_json_str(o, xid_lookup(x->code)->name);
		if (x->gpu_index >= 0) {
			put_key(o, "gpu");
			ob_put_i64(o, x->gpu_index);
		}
		put_time(o, "at", x->wall_ns);
		ob_puts(o, "}");
	}
	ob_puts(o, "]");
	put_key(o, "xid_events_dropped");
	ob_put_u64(o, u->xid_events_dropped);
	ob_puts(o, "}");
}

/* ---- the state file ---- */

/*
 * Every integer is written as a decimal string: JSON readers keep numbers
 * as doubles, exact only to 2^53, and energy counters in µJ get there.
 */
static void put_int(struct outbuf *o, const char *k, int64_t v)
{
	put_key(o, k);
	ob_put(o, "\"", 1);
	ob_put_i64(o, v);
	ob_put(o, "\"", 1);
}

static void put_bool(struct outbuf *o, const char *k, bool v)
{
	put_key(o, k);
	ob_puts(o, v ? "true" : "false");
}

static void state_alloc(struct outbuf *o, const struct alloc *a)
{
	const struct alloc_usage *u = &a->use;

	ob_puts(o, "{\"id\": ");
	ob_put_json_str(o, a->id);
	put_key(o, "owner");
	ob_put_json_str(o, a->owner);
	put_int(o, "pid", a->pid);
	put_int(o, "ttl_ns", a->ttl_ns);
	put_key(o, "labels");
	ob_puts(o, a->labels_json ? a->labels_json : "{}");
	put_int(o, "begun_ns", a->begun_wall_ns);
	put_int(o, "expires_ns", a->expires_wall_ns);
	put_traceparent(o, &a->trace);
	put_key(o, "gpus");
	ob_puts(o, "[");
	for (unsigned int i = 0; i < a->n_gpus; i++) {
		const struct alloc_gpu *g = &a->gpu[i];

		ob_puts(o, i ? ", {\"uuid\": " : "{\"uuid\": ");
		ob_put_json_str(o, g->uuid);
		put_int(o, "index", g->index);
		put_int(o, "energy_uj", g->energy_uj);
		put_bool(o, "energy_have", g->energy_have);
		put_int(o, "energy_mark_mj", g->energy_mark_mj);
		put_bool(o, "xid_have", g->xid_have);
		put_int(o, "xid_mark", (int64_t)g->xid_mark);
		ob_puts(o, "}");
	}
	ob_puts(o, "]");
	put_int(o, "gpu_energy_uj", u->gpu_energy_uj);
	put_int(o, "gpu_energy_integrated", (int64_t)u->gpu_energy_integrated);
	put_int(o, "cpu_energy_uj", u->cpu_energy_uj);
	put_bool(o, "cpu_energy_known", u->cpu_energy_known);
	put_int(o, "dram_energy_uj", u->dram_energy_uj);
	put_bool(o, "dram_energy_known", u->dram_energy_known);
	put_int(o, "util_sum_pct", (int64_t)u->util_sum_pct);
	put_int(o, "util_samples", (int64_t)u->util_samples);
	put_int(o, "util_peak_pct", u->util_peak_pct);
	put_int(o, "mem_peak_bytes", u->mem_peak_bytes);
	put_int(o, "temp_peak_mc", u->temp_peak_mc);
	put_int(o, "throttle_ns", u->throttle_ns);
	put_int(o, "xids", (int64_t)u->xids);
	put_int(o, "gpu_unmeasured_ns", u->gpu_unmeasured_ns);
	put_key(o, "xid_events");
	ob_puts(o, "[");
	for (unsigned int i = 0; i < u->n_xid_events; i++) {
		ob_puts(o, i ? ", {\"code\": \"" : "{\"code\": \"");
		ob_put_i64(o, u->xid_events[i].code);
		ob_puts(o, "\"");
		put_int(o, "gpu", u->xid_events[i].gpu_index);
		put_int(o, "wall_ns", u->xid_events[i].wall_ns);
		ob_puts(o, "}");
	}
	ob_puts(o, "]");
	put_int(o, "xid_events_dropped", (int64_t)u->xid_events_dropped);
	put_bool(o, "cpu_mark_have", a->cpu_mark_have);
	put_int(o, "cpu_mark_uj", (int64_t)a->cpu_mark_uj);
	put_bool(o, "dram_mark_have", a->dram_mark_have);
	put_int(o, "dram_mark_uj", (int64_t)a->dram_mark_uj);
	ob_puts(o, "}");
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int alloc_save(const struct alloc_table *t, const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	size_t cap = 256;   /* the header, the ledger mark and the list's brackets */
	struct outbuf o;
	bool created = false;
	int fd, r;

	for (size_t i = 0; i < t->n; i++)
		cap += 2048 + ALLOC_XID_EVENTS_MAX * 80 + t->a[i].n_gpus * 256 + (t->a[i].labels_json ? strlen(t->a[i].labels_json) : 2) +
		       6 * (strlen(t->a[i].id) + strlen(t->a[i].owner));
	o = (struct outbuf){ malloc(cap), 0, cap, false };
	if (!o.p) {
		fail(err, errlen, "saving allocations: out of memory");
		return -ENOMEM;
	}
	ob_puts(&o, "{\"version\": 1");
	if (t->ledger.have) {
		ob_puts(&o, ", \"ledger\": {\"dev\": ");
		ob_put(&o, "\"", 1);
		ob_put_u64(&o, t->ledger.dev);
		ob_puts(&o, "\"");
		put_int(&o, "ino", (int64_t)t->ledger.ino);
		put_int(&o, "size", t->ledger.size);
		ob_puts(&o, "}");
	}
	ob_puts(&o, ", \"allocations\": [");
	for (size_t i = 0; i < t->n; i++) {
		ob_puts(&o, i ? ",\n  " : "\n  ");
		state_alloc(&o, &t->a[i]);
	}
	ob_puts(&o, "\n]}\n");
	if (o.full || str_fmt(tmp, sizeof tmp, "%s.tmp", path) < 0) {
		free(o.p);
		fail(err, errlen, "saving allocations to %s: the path or the state is too long", path);
		return -ENAMETOOLONG;
	}
	/*
	 * The temporary file is made afresh, never opened through whatever is
	 * there: a link planted at PATH.tmp would have the state written
	 * wherever it points.  unlink() removes a stale one (a crash mid-save)
	 * or a link without following it; O_EXCL|O_NOFOLLOW then refuse
	 * anything planted between the two calls.
	 */
	if (unlink(tmp) != 0 && errno != ENOENT) {
		r = -errno;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	created = true;
	r = write_all(fd, o.p, o.len);
	if (r == 0 && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r == 0) {
		created = false;
		r = fsync_parent_dir(path);
	}
out:
	free(o.p);
	if (r != 0 && !created && access(tmp, F_OK) == 0) {
		fail(err, errlen, "cannot save allocations: cannot replace %s: %s; remove it, and check "
		     "that the state directory is writable", tmp, strerror(-r));
	} else if (r != 0) {
		/* Only a file this call made: what it could not replace is not its to remove. */
		if (created)
			unlink(tmp);
		fail(err, errlen, "cannot save allocations to %s: %s; check that the state directory "
		     "exists, is writable and has space", path, strerror(-r));
	}
	return r;
}

/*
 * A decimal-string integer field within [lo, hi].  Returns 0, or -1 with
 * why naming the field and what is wrong with it.
 */
static int get_int(const cJSON *obj, const char *k, int64_t lo, int64_t hi, int64_t *out, char *why,
		   size_t whylen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k);

	if (!cJSON_IsString(v) || parse_int64(v->valuestring, out) != 0)
		return fail(why, whylen, "%s is missing or not a whole number", k);
	if (*out < lo || *out > hi)
		return fail(why, whylen, "%s %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", k, *out,
			    lo, hi);
	return 0;
}

static bool get_bool(const cJSON *obj, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, k));
}

/* A string field of 1..max bytes (0..max when may_be_empty) that check_text() accepts. */
static int get_text(const cJSON *obj, const char *k, size_t max, bool may_be_empty, const char **out,
		    char *why, size_t whylen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k);
	size_t len;

	if (!cJSON_IsString(v))
		return fail(why, whylen, "%s is missing or not a string", k);
	len = strlen(v->valuestring);
	if ((!may_be_empty && len == 0) || len > max)
		return fail(why, whylen, "%s is not %s%zu bytes long", k, may_be_empty ? "0 to " : "1 to ", max);
	if (check_text(k, v->valuestring, why, whylen) != 0)
		return -1;
	*out = v->valuestring;
	return 0;
}

/* The labels as a begin would have accepted them (parse_labels). */
static int check_labels(const cJSON *labels, char *why, size_t whylen)
{
	const cJSON *e;
	unsigned int n = 0;

	if (!cJSON_IsObject(labels))
		return fail(why, whylen, "labels is missing or not an object");
	cJSON_ArrayForEach(e, labels) {
		char tmp[48], field[ALLOC_LABEL_KEY_MAX + 8];

		if (++n > ALLOC_LABELS_MAX)
			return fail(why, whylen, "labels has more than %d entries", ALLOC_LABELS_MAX);
		if (strlen(e->string) > ALLOC_LABEL_KEY_MAX || !label_key_ok(e->string))
			return fail(why, whylen, "labels: key \"%s\" is not a name", shown(e->string, tmp));
		for (const cJSON *p = labels->child; p != e; p = p->next)
			if (strcmp(p->string, e->string) == 0)
				return fail(why, whylen, "labels: key \"%s\" appears twice", e->string);
		if (!cJSON_IsString(e) || strlen(e->valuestring) > ALLOC_LABEL_VALUE_MAX)
			return fail(why, whylen, "labels.%s is not a string of at most %d bytes", e->string,
				    ALLOC_LABEL_VALUE_MAX);
		str_fmt(field, sizeof field, "labels.%s", e->string);
		if (check_text(field, e->valuestring, why, whylen) != 0)
			return -1;
	}
	return 0;
}

static int load_gpu(struct alloc_gpu *ag, const cJSON *g, const struct snapshot *snap, char *why,
		    size_t whylen)
{
	const char *uuid;
	int64_t idx, mark, xid;

	if (!cJSON_IsObject(g))
		return fail(why, whylen, "a gpus entry is not an object");
	if (get_text(g, "uuid", ALLOC_UUID_MAX, false, &uuid, why, whylen) ||
	    get_int(g, "index", 0, UINT32_MAX, &idx, why, whylen) ||
	    get_int(g, "energy_mark_mj", 0, INT64_MAX, &mark, why, whylen) ||
	    /* A uint64 counter, written as its int64 bit pattern. */
	    get_int(g, "xid_mark", INT64_MIN, INT64_MAX, &xid, why, whylen) ||
	    get_int(g, "energy_uj", 0, ALLOC_ENERGY_UJ_MAX, &ag->energy_uj, why, whylen))
		return -1;
	str_copy(ag->uuid, uuid, sizeof ag->uuid);
	ag->index = (unsigned int)idx;
	ag->pos = -1;
	for (unsigned int p = 0; snap && p < snap->n_gpus; p++)
		if (strcasecmp(snap->gpu[p].id.uuid, ag->uuid) == 0) {
			ag->pos = (int)p;
			ag->index = snap->gpu[p].id.index;
		}
	ag->energy_have = get_bool(g, "energy_have");
	ag->energy_mark_mj = mark;
	ag->xid_have = get_bool(g, "xid_have");
	ag->xid_mark = (uint64_t)xid;
	return 0;
}

/* The Xids listed, held to what alloc_note_xid() could have made; a file from before them has none. */
static int load_xid_events(const cJSON *e, struct alloc_usage *u, char *why, size_t whylen)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(e, "xid_events"), *x;
	const cJSON *dropped = cJSON_GetObjectItemCaseSensitive(e, "xid_events_dropped");
	int64_t v;

	u->n_xid_events = 0;
	u->xid_events_dropped = 0;
	if (!list && !dropped)
		return 0;
	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > ALLOC_XID_EVENTS_MAX)
		return fail(why, whylen, "xid_events is not a list of at most %d entries", ALLOC_XID_EVENTS_MAX);
	cJSON_ArrayForEach(x, list) {
		struct alloc_xid_event *ev = &u->xid_events[u->n_xid_events];
		int64_t code, gpu;
		char what[160] = "not an object";

		if (!cJSON_IsObject(x) || get_int(x, "code", 0, 99999, &code, what, sizeof what) ||
		    get_int(x, "gpu", -1, INT32_MAX, &gpu, what, sizeof what) ||
		    get_int(x, "wall_ns", 0, ALLOC_TIME_MAX_NS, &ev->wall_ns, what, sizeof what))
			return fail(why, whylen, "xid_events[%u] is damaged: %s", u->n_xid_events, what);
		ev->code = (int32_t)code;
		ev->gpu_index = (int32_t)gpu;
		u->n_xid_events++;
	}
	if (get_int(e, "xid_events_dropped", 0, ALLOC_COUNT_MAX, &v, why, whylen) != 0)
		return -1;
	u->xid_events_dropped = (uint64_t)v;
	return 0;
}

/* Its span's ids; a file from before spans were kept has none, and the allocation gets a new trace. */
static int load_trace(struct alloc *a, const cJSON *e, char *why, size_t whylen)
{
	const cJSON *tp = cJSON_GetObjectItemCaseSensitive(e, "traceparent");
	const cJSON *parent = cJSON_GetObjectItemCaseSensitive(e, "parent_span_id");
	const char *bad;

	if (!tp) {
		trace_ctx_new(&a->trace, false, NULL, NULL, 0);
		return 0;
	}
	if (!cJSON_IsString(tp) ||
	    traceparent_parse(tp->valuestring, a->trace.trace_id, a->trace.span_id, &a->trace.flags, &bad) != 0)
		return fail(why, whylen, "traceparent is not a W3C traceparent");
	memset(a->trace.parent_id, 0, sizeof a->trace.parent_id);
	if (cJSON_IsString(parent) &&
	    hex_decode(a->trace.parent_id, SPAN_ID_LEN, parent->valuestring, strlen(parent->valuestring)) != 0)
		return fail(why, whylen, "parent_span_id is not 16 hex digits");
	return 0;
}

/*
 * One saved allocation, held to what a begin and the accounting could have
 * made of it: the same string checks, and bounds that keep every sum it
 * goes on to from overflowing.  Returns 0, or -1 with why set.
 */
static int load_alloc(struct alloc *a, const cJSON *e, const struct snapshot *snap, char *why,
		      size_t whylen)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(e, "labels");
	const cJSON *gpus = cJSON_GetObjectItemCaseSensitive(e, "gpus");
	const cJSON *unmeasured = cJSON_GetObjectItemCaseSensitive(e, "gpu_unmeasured_ns");
	struct alloc_usage *u = &a->use;
	const int64_t ttl_max = ALLOC_TTL_MAX_S * NS_PER_SEC;
	const char *id, *owner;
	int64_t v[8];
	int n, i = 0;
	const cJSON *g;

	if (!cJSON_IsObject(e))
		return fail(why, whylen, "it is not an object");
	if (get_text(e, "id", ALLOC_ID_MAX, false, &id, why, whylen) != 0)
		return -1;
	for (const char *c = id; *c; c++)
		if (!id_char(*c))
			return fail(why, whylen, "id holds '%c', which a begin does not allow",
				    isprint((unsigned char)*c) ? *c : '?');
	if (get_text(e, "owner", ALLOC_OWNER_MAX, true, &owner, why, whylen) != 0 ||
	    check_labels(labels, why, whylen) != 0)
		return -1;
	if (!cJSON_IsArray(gpus))
		return fail(why, whylen, "gpus is missing or not a list");
	n = cJSON_GetArraySize(gpus);
	if (n < 0 || n > GPUTEL_MAX_GPUS)
		return fail(why, whylen, "gpus has more than %d entries", GPUTEL_MAX_GPUS);
	str_copy(a->id, id, sizeof a->id);
	str_copy(a->owner, owner, sizeof a->owner);
	if (labels->child) {
		a->labels_json = cJSON_PrintUnformatted(labels);
		if (!a->labels_json)
			return fail(why, whylen, "out of memory");
	}
	a->gpu = n ? calloc((size_t)n, sizeof *a->gpu) : NULL;
	if (n && !a->gpu)
		return fail(why, whylen, "out of memory");
	cJSON_ArrayForEach(g, gpus) {
		if (load_gpu(&a->gpu[i], g, snap, why, whylen) != 0)
			return -1;
		for (int k = 0; k < i; k++)
			if (strcasecmp(a->gpu[k].uuid, a->gpu[i].uuid) == 0)
				return fail(why, whylen, "gpus names %s twice", a->gpu[i].uuid);
		i++;
		a->n_gpus = (unsigned int)i;   /* so far: what alloc_release frees is what was filled */
	}
	if (get_int(e, "pid", 0, INT32_MAX, &a->pid, why, whylen) ||
	    get_int(e, "ttl_ns", 0, ttl_max, &a->ttl_ns, why, whylen) ||
	    get_int(e, "begun_ns", 1, ALLOC_TIME_MAX_NS, &a->begun_wall_ns, why, whylen) ||
	    get_int(e, "expires_ns", 0, ALLOC_TIME_MAX_NS + ttl_max, &a->expires_wall_ns, why, whylen) ||
	    get_int(e, "gpu_energy_uj", 0, ALLOC_ENERGY_UJ_MAX, &u->gpu_energy_uj, why, whylen) ||
	    get_int(e, "gpu_energy_integrated", 0, ALLOC_COUNT_MAX, &v[0], why, whylen) ||
	    get_int(e, "cpu_energy_uj", 0, ALLOC_ENERGY_UJ_MAX, &u->cpu_energy_uj, why, whylen) ||
	    get_int(e, "dram_energy_uj", 0, ALLOC_ENERGY_UJ_MAX, &u->dram_energy_uj, why, whylen) ||
	    get_int(e, "util_samples", 0, ALLOC_COUNT_MAX, &v[2], why, whylen) ||
	    /* Older agents kept a driver's reading above 100 as it was: held to 100 below. */
	    get_int(e, "util_sum_pct", 0, INT64_MAX, &v[1], why, whylen) ||
	    get_int(e, "util_peak_pct", -1, INT32_MAX, &v[3], why, whylen) ||
	    get_int(e, "mem_peak_bytes", -1, INT64_MAX, &u->mem_peak_bytes, why, whylen) ||
	    /* Only shown (INT64_MIN: none seen), never summed: any value will do. */
	    get_int(e, "temp_peak_mc", INT64_MIN, INT64_MAX, &u->temp_peak_mc, why, whylen) ||
	    get_int(e, "throttle_ns", 0, INT64_MAX, &u->throttle_ns, why, whylen) ||
	    get_int(e, "xids", 0, ALLOC_COUNT_MAX, &v[4], why, whylen) ||
	    /* uint64 counters, written as their int64 bit patterns. */
	    get_int(e, "cpu_mark_uj", INT64_MIN, INT64_MAX, &v[5], why, whylen) ||
	    get_int(e, "dram_mark_uj", INT64_MIN, INT64_MAX, &v[6], why, whylen) ||
	    /* Written since the partial-energy flag came; a file from before has none. */
	    (unmeasured && get_int(e, "gpu_unmeasured_ns", 0, INT64_MAX, &u->gpu_unmeasured_ns, why, whylen)))
		return -1;
	if (a->expires_wall_ns && !a->ttl_ns)
		return fail(why, whylen, "expires_ns is set but ttl_ns is 0");
	if (load_trace(a, e, why, whylen) != 0)
		return -1;
	u->gpu_energy_integrated = (uint64_t)v[0];
	u->util_sum_pct = v[1] > 100 * v[2] ? (uint64_t)(100 * v[2]) : (uint64_t)v[1];
	u->util_samples = (uint64_t)v[2];
	u->util_peak_pct = v[3] > 100 ? 100 : (int)v[3];
	u->xids = (uint64_t)v[4];
	if (load_xid_events(e, u, why, whylen) != 0)
		return -1;
	u->cpu_energy_known = get_bool(e, "cpu_energy_known");
	u->dram_energy_known = get_bool(e, "dram_energy_known");
	a->cpu_mark_have = get_bool(e, "cpu_mark_have");
	a->cpu_mark_uj = (uint64_t)v[5];
	a->dram_mark_have = get_bool(e, "dram_mark_have");
	a->dram_mark_uj = (uint64_t)v[6];
	/* The first tick after a restart takes no time step: the marks carry the energy over. */
	a->mark_mono_ns = 0;
	return 0;
}

/* A mark that does not parse is as none: the whole ledger is read, which is slower but safe. */
static void load_ledger_mark(struct alloc_table *t, const cJSON *m)
{
	const cJSON *dev = cJSON_GetObjectItemCaseSensitive(m, "dev");
	int64_t ino, size;
	char why[128];
	char *end;
	unsigned long long d;

	memset(&t->ledger, 0, sizeof t->ledger);
	if (!cJSON_IsObject(m) || !cJSON_IsString(dev) || get_int(m, "ino", INT64_MIN, INT64_MAX, &ino, why, sizeof why) ||
	    get_int(m, "size", 0, INT64_MAX, &size, why, sizeof why))
		return;
	errno = 0;
	d = strtoull(dev->valuestring, &end, 10);
	if (errno || end == dev->valuestring || *end || dev->valuestring[0] == '-')
		return;
	t->ledger = (struct alloc_ledger_mark){ true, d, (uint64_t)ino, size };
}

/* Logs one entry of the state file that is not restored, and why. */
static void report_damaged(const char *path, int pos, const cJSON *e, const char *why)
{
	const cJSON *id = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "id") : NULL;
	char tmp[48];

	log_error("alloc: %s: allocation %d%s%s%s is damaged and not restored: %s", path, pos,
		  cJSON_IsString(id) ? " (\"" : "", cJSON_IsString(id) ? shown(id->valuestring, tmp) : "",
		  cJSON_IsString(id) ? "\")" : "", why);
}

int alloc_load(struct alloc_table *t, const char *path, const struct snapshot *snap, char *err,
	       size_t errlen)
{
	struct stat st;
	cJSON *root = NULL, *list, *e;
	char *text = NULL;
	int fd, r = 0, pos = 0, damaged = 0;
	ssize_t got;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		r = -errno;
		fail(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size > STATE_MAX_BYTES) {
		close(fd);
		fail(err, errlen, "%s is not a state file of at most %u MiB; move it aside", path,
		     STATE_MAX_BYTES >> 20);
		return -EINVAL;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		fail(err, errlen, "reading %s: out of memory", path);
		return -ENOMEM;
	}
	got = read(fd, text, (size_t)st.st_size);
	close(fd);
	if (got != (ssize_t)st.st_size) {
		free(text);
		fail(err, errlen, "cannot read %s whole; move it aside", path);
		return -EIO;
	}
	text[got] = '\0';
	/* A \u0000 would cut a string short unseen: made a control character, which the checks refuse. */
	json_mark_nul_escapes(text, (size_t)got);
	root = cJSON_ParseWithLength(text, (size_t)got);
	free(text);
	list = root ? cJSON_GetObjectItemCaseSensitive(root, "allocations") : NULL;
	if (!cJSON_IsArray(list)) {
		fail(err, errlen, "%s is not a gputel state file; move it aside (the allocations in it are lost)", path);
		r = -EINVAL;
		goto out;
	}
	load_ledger_mark(t, cJSON_GetObjectItemCaseSensitive(root, "ledger"));
	/* One damaged entry costs that entry only: the others are restored. */
	cJSON_ArrayForEach(e, list) {
		char why[256];
		struct alloc *a;

		pos++;
		if (t->n >= ALLOC_LIVE_MAX) {
			str_fmt(why, sizeof why, "the node holds at most %d allocations", ALLOC_LIVE_MAX);
			report_damaged(path, pos, e, why);
			damaged++;
			continue;
		}
		a = table_slot(t);
		if (!a) {
			fail(err, errlen, "reading %s: out of memory", path);
			r = -ENOMEM;
			break;
		}
		usage_init(&a->use);
		if (load_alloc(a, e, snap, why, sizeof why) != 0 ||
		    (alloc_find(t, a->id) && str_fmt(why, sizeof why, "its id is taken by an earlier entry") >= 0)) {
			report_damaged(path, pos, e, why);
			alloc_release(a);
			damaged++;
			continue;
		}
		t->n++;
	}
	if (r != 0) {
		alloc_table_release(t);
	} else if (damaged) {
		fail(err, errlen, "%s: %d of %d allocations are damaged and were not restored", path,
		     damaged, pos);
		r = damaged;
	}
out:
	cJSON_Delete(root);
	return r;
}
