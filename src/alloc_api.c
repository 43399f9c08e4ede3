/* alloc_api.c - see alloc_api.h. */
#include "alloc_api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "commands.h"
#include "log.h"
#include "status.h"
#include "util.h"

/* An upper bound on alloc_json()'s length for a. */
static size_t json_size(const struct alloc *a)
{
	return 1664 + ALLOC_XID_EVENTS_MAX * 128 + (a->labels_json ? strlen(a->labels_json) : 2) + (size_t)a->n_gpus * 140 +
	       6 * (strlen(a->id) + strlen(a->owner));
}

/* Hands the buffer over to the reply (control frees it). */
static void set_reply(struct control_reply *r, unsigned int status, struct outbuf *o)
{
	r->status = status;
	if (!o->p || o->full) {
		free(o->p);
		r->body = NULL;
		r->len = 0;
		return;
	}
	ob_put(o, "\n", 1);
	r->body = o->p;
	r->len = o->len;
}

static void reply_alloc(struct control_reply *r, unsigned int status, const struct alloc *a)
{
	size_t cap = json_size(a) + 2;
	struct outbuf o = { malloc(cap), 0, cap, false };

	if (o.p)
		alloc_json(&o, a);
	set_reply(r, status, &o);
}

void alloc_api_event(struct alloc_api *api, const char *name, const char *fields)
{
	size_t cap = 128 + strlen(name) + (fields ? strlen(fields) : 0);
	struct outbuf o = { malloc(cap), 0, cap, false };
	struct timespec now;
	char ts[32];

	if (!api->control || !o.p) {
		free(o.p);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	fmt_iso8601_ms(ts, &now);
	ob_puts(&o, "{\"event\": ");
	ob_put_json_str(&o, name);
	ob_puts(&o, ", \"time\": ");
	ob_put_json_str(&o, ts);
	if (fields) {
		ob_puts(&o, ", ");
		ob_puts(&o, fields);
	}
	ob_puts(&o, "}");
	if (!o.full)
		control_publish(api->control, o.p, o.len);
	free(o.p);
}

/* {"event": name, ..., "allocation": {...}[, "reason": why]} */
static void alloc_event(struct alloc_api *api, const char *name, const struct alloc *a)
{
	size_t cap = json_size(a) + 64;
	struct outbuf o = { malloc(cap), 0, cap, false };

	if (!o.p)
		return;
	ob_puts(&o, "\"allocation\": ");
	alloc_json(&o, a);
	if (!o.full) {
		o.p[o.len] = '\0';
		alloc_api_event(api, name, o.p);
	}
	free(o.p);
}

/*
 * One line per ended allocation, written whole and made durable, or not at
 * all: a write or sync that fails is cut back off, so that the ledger never
 * holds half a line and the caller can say that nothing happened.  Opened
 * per line, so a rotated ledger needs no signal; never through a planted
 * link.  Returns 0, or -1 with err set.
 */
static int ledger_append(struct alloc_api *api, const struct alloc *a, char *err, size_t errlen)
{
	size_t cap = json_size(a) + 2, done = 0;
	struct outbuf o = { malloc(cap), 0, cap, false };
	struct stat st;
	int fd, e = 0;

	if (!o.p) {
		str_fmt(err, errlen, "cannot end allocation %s: out of memory; it is still live", a->id);
		return -1;
	}
	alloc_json(&o, a);
	ob_put(&o, "\n", 1);
	fd = open(api->ledger_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0 || fstat(fd, &st) != 0) {
		e = errno;
	} else if (o.full) {
		e = ENOMEM;
	} else {
		while (done < o.len && e == 0) {
			ssize_t w = write(fd, o.p + done, o.len - done);

			if (w > 0)
				done += (size_t)w;
			else if (w < 0 && errno != EINTR)
				e = errno;
			else if (w == 0)
				e = ENOSPC;
		}
		if (e == 0 && fdatasync(fd) != 0)
			e = errno;
		if (e != 0 && ftruncate(fd, st.st_size) != 0)
			log_error("alloc: cannot cut a failed line back off %s: %s; its last line may be "
				  "incomplete", api->ledger_path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	free(o.p);
	if (e == 0)
		return 0;
	str_fmt(err, errlen, "cannot write the end of allocation %s to the ledger %s: %s; it is still "
		"live: check that the log directory is writable and has space, then end it again",
		a->id, api->ledger_path, strerror(e));
	return -1;
}

/* Where the ledger stands now; have is false when there is none. */
static struct alloc_ledger_mark ledger_mark_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return (struct alloc_ledger_mark){ false, 0, 0, 0 };
	return (struct alloc_ledger_mark){ true, (uint64_t)st.st_dev, (uint64_t)st.st_ino, (int64_t)st.st_size };
}

/*
 * Flags (ended[i]) the table's allocations that have a line in the ledger
 * file at path, from byte from on.  A line is theirs when it carries their
 * id and their begin time: a reused id is another allocation.  Lines are
 * matched as alloc_json() writes them, without a JSON parse: the ledger
 * can be long.
 */
static void ledger_scan(struct alloc_api *api, const char *path, int64_t from, bool *ended)
{
	static const char id_key[] = "{\"id\": \"", begun_key[] = "\"begun\": \"";
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	if (from > 0 && fseeko(f, (off_t)from, SEEK_SET) != 0) {
		fclose(f);
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		char *id = line + sizeof id_key - 1, *q, *begun, want[32];
		struct timespec ts;
		struct alloc *a;
		size_t n;

		if (strncmp(line, id_key, sizeof id_key - 1) != 0 || !(q = strchr(id, '"')))
			continue;
		*q = '\0';
		a = alloc_find(&api->table, id);
		if (!a || !(begun = strstr(q + 1, begun_key)))
			continue;
		begun += sizeof begun_key - 1;
		ts = (struct timespec){ (time_t)(a->begun_wall_ns / NS_PER_SEC), (long)(a->begun_wall_ns % NS_PER_SEC) };
		fmt_iso8601_ms(want, &ts);
		n = strlen(want);
		if (strncmp(begun, want, n) == 0 && begun[n] == '"')
			ended[a - api->table.a] = true;
	}
	free(line);
	fclose(f);
}

/*
 * Drops the restored allocations that were ended already.  An end writes
 * its ledger line first and the state file after (finish()), so an end
 * whose save failed, or a kill -9 between the two, leaves an allocation in
 * the state file that the ledger says is over: restoring it would end it,
 * and write it to the ledger, a second time.  Only the ledger after the
 * saved mark (alloc.h) can hold such a line.  The ledger is the record
 * rather than a list of ended ids kept in the state file, because the
 * state file is exactly what could not be written.
 */
static void ledger_reconcile(struct alloc_api *api)
{
	struct alloc_ledger_mark saved = api->table.ledger, now = ledger_mark_of(api->ledger_path);
	size_t n = api->table.n;
	bool *ended;

	if (n == 0)
		return;
	ended = calloc(n, sizeof *ended);
	if (!ended) {
		log_error("alloc: out of memory reading the ledger %s; allocations ended just before the "
			  "restart may be ended again", api->ledger_path);
		return;
	}
	if (saved.have && now.have && saved.dev == now.dev && saved.ino == now.ino) {
		ledger_scan(api, api->ledger_path, now.size >= saved.size ? saved.size : 0, ended);
	} else {
		/* Rotated since (logrotate renames it to .1): the lines after the mark are there. */
		char rotated[ALLOC_API_PATH_MAX + 4];
		struct alloc_ledger_mark old;

		if (saved.have && str_fmt(rotated, sizeof rotated, "%s.1", api->ledger_path) == 0 &&
		    (old = ledger_mark_of(rotated)).have && old.dev == saved.dev && old.ino == saved.ino)
			ledger_scan(api, rotated, old.size >= saved.size ? saved.size : 0, ended);
		ledger_scan(api, api->ledger_path, 0, ended);
	}
	for (size_t i = n; i-- > 0;) {
		struct alloc gone;
		char id[ALLOC_ID_MAX + 1];

		if (!ended[i])
			continue;
		str_copy(id, api->table.a[i].id, sizeof id);
		if (alloc_end(&api->table, id, 0, "", &gone) == 0)
			alloc_release(&gone);
		log_info("alloc: %s was ended before the restart (it is in the ledger %s): not restored",
			 id, api->ledger_path);
	}
	free(ended);
}

static void batch_drop(struct alloc_api *api, const char *id)
{
	for (size_t i = 0; i < api->batch_n; i++)
		if (strcmp(api->batch[i], id) == 0) {
			memmove(&api->batch[i], &api->batch[i + 1], (api->batch_n - i - 1) * sizeof api->batch[0]);
			api->batch_n--;
			return;
		}
}

static int batch_add(struct alloc_api *api, const char *id)
{
	if (api->batch_n == api->batch_cap) {
		size_t cap = api->batch_cap ? api->batch_cap * 2 : 16;
		void *b = realloc(api->batch, cap * sizeof api->batch[0]);

		if (!b)
			return -1;
		api->batch = b;
		api->batch_cap = cap;
	}
	str_copy(api->batch[api->batch_n++], id, ALLOC_ID_MAX + 1);
	return 0;
}

/*
 * The snapshot a begin or an end is measured on.  The first time round the
 * request waits (defer) for a fresh one, which the agent asks of the
 * sampler; when the driver is not answering, it is measured on the latest
 * tick at once.  NULL: nothing has been sampled yet.
 */
static const struct snapshot *measure_on(struct alloc_api *api, struct control_reply *r)
{
	if (!r->resumed && api->host.want_fresh && api->host.want_fresh(api->host.ctx)) {
		r->defer = true;
		return NULL;
	}
	return r->resumed && api->fresh ? api->fresh : api->snap;
}

/*
 * Ends allocation id: records it in the ledger, then removes it, announces
 * and logs it.  The ledger line is the end's record: once it is written the
 * end has happened, whether or not the state file can then be saved (a
 * restart finds the line: ledger_reconcile).  Returns 0 with *done filled
 * (the caller releases it), or -1 with err set when the line could not be
 * written: then nothing happened, and the allocation is still live.
 */
static int finish(struct alloc_api *api, const char *id, int64_t now, const char *reason,
		  const char *event, struct alloc *done, char *err, size_t errlen)
{
	struct alloc *a = alloc_find(&api->table, id);
	struct alloc summary;

	if (!a) {
		str_fmt(err, errlen, "no allocation \"%s\"", id);
		return -1;
	}
	summary = *a;           /* the summary as it will be: shares a's GPUs and labels */
	summary.ended_wall_ns = now;
	summary.end_reason = reason;
	if (ledger_append(api, &summary, err, errlen) != 0)
		return -1;
	alloc_end(&api->table, id, now, reason, done);
	batch_drop(api, id);
	alloc_event(api, event, done);
	if (api->host.ended)
		api->host.ended(api->host.ctx, done);
	log_info("alloc: %s ended (%s) after %.1fs: gpu energy %.1f J, cpu package %.1f J, %llu xids",
		 done->id, reason, (double)(done->ended_wall_ns - done->begun_wall_ns) / NS_PER_SEC,
		 (double)done->use.gpu_energy_uj / 1e6, (double)done->use.cpu_energy_uj / 1e6,
		 (unsigned long long)alloc_xid_count(&done->use));
	if (done->use.gpu_unmeasured_ns > 0)
		log_warn("alloc: %s: gpu energy is partial: %.1f gpu-seconds were not measured (a GPU was "
			 "lost, gone or unreadable)", done->id, (double)done->use.gpu_unmeasured_ns / NS_PER_SEC);
	return 0;
}

static unsigned int begin_error(int rc)
{
	if (rc == -EINVAL)
		return MHD_HTTP_BAD_REQUEST;
	return rc == -EEXIST ? MHD_HTTP_CONFLICT : MHD_HTTP_SERVICE_UNAVAILABLE;
}

static void do_begin(struct alloc_api *api, const char *body, size_t len, struct control_reply *r)
{
	struct alloc_request req;
	const struct snapshot *snap;
	struct alloc *a;
	char err[512];
	int rc;

	if (alloc_request_parse(body, len, &req, err, sizeof err) != 0) {
		control_error(r, MHD_HTTP_BAD_REQUEST, err);
		return;
	}
	if (alloc_find(&api->table, req.id)) {
		str_fmt(err, sizeof err, "id: \"%s\" is already allocated; end it first or pick another id", req.id);
		control_error(r, MHD_HTTP_CONFLICT, err);
		goto out;
	}
	snap = measure_on(api, r);
	if (r->defer)
		goto out;
	if (!snap) {
		control_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "no sample yet; try again in a second");
		goto out;
	}
	rc = alloc_begin(&api->table, &req, snap, timespec_to_ns(&snap->wall), &a, err, sizeof err);
	if (rc != 0) {
		control_error(r, begin_error(rc), err);
		goto out;
	}
	/* Its baseline (and one more step for the others) from the same instant. */
	alloc_account(&api->table, snap);
	a = alloc_find(&api->table, req.id);
	if (batch_add(api, a->id) != 0) {
		struct alloc gone;

		alloc_end(&api->table, a->id, 0, "", &gone);
		alloc_release(&gone);
		control_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		goto out;
	}
	log_info("alloc: %s begun by %s on %u gpu%s%s", a->id, a->owner[0] ? a->owner : "(no owner)",
		 a->n_gpus, a->n_gpus == 1 ? "" : "s", a->ttl_ns ? " with a TTL" : "");
	alloc_event(api, "allocation_begun", a);
	reply_alloc(r, MHD_HTTP_CREATED, a);
	r->commit = true;
out:
	alloc_request_release(&req);
}

/* A PUT .../renew body: empty, or {"ttl_seconds": N}.  Returns 0 with *ttl_ns set (0: keep), or -1. */
static int parse_renew(const char *body, size_t len, int64_t *ttl_ns)
{
	cJSON *root;
	const cJSON *v;
	bool ok;

	*ttl_ns = 0;
	if (len == 0)
		return 0;
	root = cJSON_ParseWithLength(body, len);
	v = root ? cJSON_GetObjectItemCaseSensitive(root, "ttl_seconds") : NULL;
	ok = cJSON_IsObject(root) && (!root->child || (v && root->child == v && !v->next));
	if (ok && v) {
		ok = cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble <= (double)ALLOC_TTL_MAX_S;
		*ttl_ns = ok ? (int64_t)(v->valuedouble * 1e9) : 0;
	}
	cJSON_Delete(root);
	return ok ? 0 : -1;
}

static void do_renew(struct alloc_api *api, const char *id, const char *body, size_t len,
		     struct control_reply *r)
{
	int64_t ttl_ns;
	char msg[256];
	int rc;

	if (parse_renew(body, len, &ttl_ns) != 0) {
		control_error(r, MHD_HTTP_BAD_REQUEST, "the body must be empty or {\"ttl_seconds\": N} with N above 0");
		return;
	}
	rc = alloc_renew(&api->table, id, ttl_ns, wall_now_ns());
	if (rc == -ENOENT) {
		str_fmt(msg, sizeof msg, "no allocation \"%s\"; see GET /v1/allocations", id);
		control_error(r, MHD_HTTP_NOT_FOUND, msg);
	} else if (rc != 0) {
		str_fmt(msg, sizeof msg, "allocation \"%s\" has no TTL to renew; give {\"ttl_seconds\": N}", id);
		control_error(r, MHD_HTTP_CONFLICT, msg);
	} else {
		reply_alloc(r, MHD_HTTP_OK, alloc_find(&api->table, id));
		r->commit = true;
	}
}

static void do_end(struct alloc_api *api, const char *id, struct control_reply *r)
{
	const struct snapshot *snap;
	struct alloc done;
	char msg[ALLOC_API_PATH_MAX + 256];

	if (!alloc_find(&api->table, id)) {
		str_fmt(msg, sizeof msg, "no allocation \"%s\"; see GET /v1/allocations", id);
		control_error(r, MHD_HTTP_NOT_FOUND, msg);
		return;
	}
	snap = measure_on(api, r);
	if (r->defer)
		return;
	/* The last stretch up to this instant counts. */
	if (snap)
		alloc_account(&api->table, snap);
	if (finish(api, id, snap ? timespec_to_ns(&snap->wall) : wall_now_ns(), "released", "allocation_ended",
		   &done, msg, sizeof msg) != 0) {
		log_error("alloc: %s", msg);
		control_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
		return;
	}
	/*
	 * Answered at once, not held for the state save: the ledger line is the
	 * record, so the end stands even if that save fails (the next tick
	 * saves the table).  Held, it would share the save's 500 with the
	 * begins it is committed with.
	 */
	reply_alloc(r, MHD_HTTP_OK, &done);
	alloc_release(&done);
}

static void do_list(struct alloc_api *api, struct control_reply *r)
{
	size_t cap = 64;
	struct outbuf o;

	for (size_t i = 0; i < api->table.n; i++)
		cap += json_size(&api->table.a[i]) + 2;
	o = (struct outbuf){ malloc(cap), 0, cap, false };
	if (o.p) {
		ob_puts(&o, "{\"allocations\": [");
		for (size_t i = 0; i < api->table.n; i++) {
			if (i)
				ob_puts(&o, ", ");
			alloc_json(&o, &api->table.a[i]);
		}
		ob_puts(&o, "]}");
	}
	set_reply(r, MHD_HTTP_OK, &o);
}

static void do_status(struct alloc_api *api, struct control_reply *r)
{
	size_t cap = STATUS_JSON_MAX;
	struct outbuf o = { malloc(cap), 0, cap, false };

	if (o.p && api->host.status)
		api->host.status(api->host.ctx, &o);
	set_reply(r, MHD_HTTP_OK, &o);
}

static void method_not_allowed(struct control_reply *r, const char *allow)
{
	char msg[96];

	str_fmt(msg, sizeof msg, "method not allowed here; use %s", allow);
	control_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, msg);
	r->allow = allow;
}

/* GET, or DELETE, or PUT .../renew on /v1/allocations/{id}. */
static void route_one(struct alloc_api *api, const char *method, const char *rest, const char *body,
		      size_t len, struct control_reply *r)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	char id[ALLOC_ID_MAX + 1];
	const struct alloc *a;
	char msg[160];

	if (n == 0 || n > ALLOC_ID_MAX || (slash && strcmp(slash, "/renew") != 0)) {
		control_error(r, MHD_HTTP_NOT_FOUND, "no such path; see docs/control-api.md");
		return;
	}
	memcpy(id, rest, n);
	id[n] = '\0';
	if (slash) {
		if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0)
			do_renew(api, id, body, len, r);
		else
			method_not_allowed(r, "PUT");
	} else if (strcmp(method, "DELETE") == 0) {
		do_end(api, id, r);
	} else if (strcmp(method, "GET") != 0) {
		method_not_allowed(r, "GET, DELETE");
	} else if ((a = alloc_find(&api->table, id)) != NULL) {
		reply_alloc(r, MHD_HTTP_OK, a);
	} else {
		str_fmt(msg, sizeof msg, "no allocation \"%.64s\"; see GET /v1/allocations", id);
		control_error(r, MHD_HTTP_NOT_FOUND, msg);
	}
}

static void handle(void *ctx, const char *method, const char *path, const char *body, size_t len,
		   struct control_reply *r)
{
	static const char prefix[] = "/v1/allocations/";
	struct alloc_api *api = ctx;
	bool get = strcmp(method, "GET") == 0;

	if (strcmp(path, "/v1/allocations") == 0) {
		if (get)
			do_list(api, r);
		else if (strcmp(method, "POST") == 0)
			do_begin(api, body, len, r);
		else
			method_not_allowed(r, "GET, POST");
	} else if (strncmp(path, prefix, sizeof prefix - 1) == 0) {
		route_one(api, method, path + sizeof prefix - 1, body, len, r);
	} else if (strcmp(path, "/v1/status") == 0) {
		if (get)
			do_status(api, r);
		else
			method_not_allowed(r, "GET");
	} else if (!api->host.route || !api->host.route(api->host.ctx, method, path, body, len, r)) {
		control_error(r, MHD_HTTP_NOT_FOUND,
			      "no such path; try /v1/allocations, /v1/status, /v1/events or /v1/gpus/GPU/health/clear");
	}
}

static int save(struct alloc_api *api, char *err, size_t errlen)
{
	int r;

	/* Every allocation in the table is live now: none has a line before this point. */
	api->table.ledger = ledger_mark_of(api->ledger_path);
	r = alloc_save(&api->table, api->state_path, err, errlen);

	if (r == 0) {
		api->saved_changes = api->table.changes;
		api->saved_mono_ns = mono_now_ns();
		api->warned_save = false;
	}
	return r;
}

static int commit(void *ctx, char *err, size_t errlen)
{
	struct alloc_api *api = ctx;
	char again[512];

	if (api->table.changes == api->saved_changes) {
		api->batch_n = 0;
		return 0;
	}
	if (save(api, err, errlen) == 0) {
		api->batch_n = 0;
		return 0;
	}
	log_error("alloc: %s", err);
	/* Begins that are not on disk could be lost in a crash: undo them. */
	for (size_t i = 0; i < api->batch_n; i++) {
		struct alloc gone;

		if (alloc_end(&api->table, api->batch[i], 0, "", &gone) == 0)
			alloc_release(&gone);
	}
	api->batch_n = 0;
	save(api, again, sizeof again);
	return -1;
}

struct control_ops alloc_api_ops(struct alloc_api *api)
{
	return (struct control_ops){ handle, commit, api };
}

int alloc_api_init(struct alloc_api *api, const char *state_dir, const char *log_dir,
		   const struct alloc_api_host *host, const struct snapshot *snap, char *err,
		   size_t errlen)
{
	int r;

	memset(api, 0, sizeof *api);
	alloc_table_init(&api->table);
	if (host) {
		api->host = *host;
		api->table.spans_exported = host->spans_exported;
	}
	api->snap = snap;
	if (str_fmt(api->state_path, sizeof api->state_path, "%s/%s", state_dir, ALLOC_STATE_FILE) < 0 ||
	    str_fmt(api->ledger_path, sizeof api->ledger_path, "%s/%s", log_dir, ALLOC_LEDGER_FILE) < 0) {
		str_copy(err, "the state or log directory path is too long", errlen);
		return -1;
	}
	r = alloc_load(&api->table, api->state_path, snap, err, errlen);
	for (size_t i = 0; i < api->table.n; i++)
		api->table.a[i].span_exported = api->table.spans_exported;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return -1;
	api->saved_changes = api->table.changes;
	api->saved_mono_ns = mono_now_ns();
	ledger_reconcile(api);
	if (r > 0) {
		/* Some entries are damaged (each logged): the file is kept for a person, the good ones saved anew. */
		char aside[ALLOC_API_PATH_MAX + 64], again[512];

		str_fmt(aside, sizeof aside, "%s.damaged-%lld", api->state_path, (long long)time(NULL));
		if (rename(api->state_path, aside) == 0)
			log_error("alloc: %s; the file is kept as %s", err, aside);
		else
			log_error("alloc: %s; cannot keep the file as %s: %s", err, aside, strerror(errno));
		api->table.changes++;
		if (save(api, again, sizeof again) != 0)
			log_error("alloc: %s", again);
	}
	if (api->table.n)
		log_info("alloc: %zu allocation%s restored from %s", api->table.n,
			 api->table.n == 1 ? "" : "s", api->state_path);
	return 0;
}

void alloc_api_release(struct alloc_api *api)
{
	alloc_table_release(&api->table);
	free(api->batch);
	api->batch = NULL;
	api->batch_n = api->batch_cap = 0;
}

void alloc_api_tick(struct alloc_api *api, const struct snapshot *snap)
{
	int64_t now = wall_now_ns();
	const char *why = NULL;
	struct alloc *a;
	char err[512], msg[ALLOC_API_PATH_MAX + 256];
	size_t from = 0;

	api->snap = snap;
	alloc_account(&api->table, snap);
	/* One that cannot be ended now (no ledger line) stays live, and is tried again next tick. */
	while ((a = alloc_due(&api->table, from, now, alloc_pid_alive, &why)) != NULL) {
		char id[ALLOC_ID_MAX + 1];
		struct alloc done;

		from = (size_t)(a - api->table.a);
		str_copy(id, a->id, sizeof id);
		if (finish(api, id, now, why, "allocation_reaped", &done, msg, sizeof msg) == 0) {
			alloc_release(&done);
			api->warned_ledger = false;
		} else {
			from++;
			if (!api->warned_ledger)
				log_error("alloc: %s", msg);
			api->warned_ledger = true;
		}
	}
	/* Changes at once; the accounting of live allocations every few seconds. */
	if (api->table.changes != api->saved_changes ||
	    (api->table.n && snap->mono_ns - api->saved_mono_ns >= ALLOC_API_SAVE_NS)) {
		if (save(api, err, sizeof err) != 0 && !api->warned_save) {
			api->warned_save = true;
			log_error("alloc: %s", err);
		}
	}
}
