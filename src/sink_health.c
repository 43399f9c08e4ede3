/*
 * sink_health.c - each GPU's health (health.h) as a run holds it: judged
 * on every snapshot and on every Xid the events sink publishes (it comes
 * before that sink, so that its GPUs are known when the kernel log is
 * read, and before the rendering), served as gputel_gpu_health
 * on /metrics, in /status (run_state.health), and cleared by an operator
 * over the control socket:
 *
 *   POST /v1/gpus/{gpu}/health/clear      200, the GPU's health after it
 *
 * where {gpu} is an index, a UUID or a PCI bus id (any of NVML's and the
 * kernel's forms).  The route is on the allocation API's socket, so it has
 * the same access: mode 0660, group JN_GROUP.
 *
 * The agent keeps what lasts (the worst Xid since the last reset, and
 * whether the GPU was last seen lost) in gpu-health.json in the state
 * directory, with the boot id, written whole (temporary file, fsync,
 * rename) whenever it changes: a restart of the same boot finds it, a new
 * boot forgets it (the kernel log of the new boot is read from its start,
 * so this boot's faults come back as events).  The exporter keeps nothing.
 * A GPU is matched to its saved state by UUID at the first snapshot; one
 * that is not on the node then starts afresh when it comes: it was reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "config.h"
#include "control.h"
#include "gpu_events.h"
#include "health.h"
#include "kevent.h"
#include "kmsg.h"
#include "log.h"
#include "pipeline.h"
#include "prom.h"
#include "sink.h"
#include "util.h"

#define HEALTH_FILE "gpu-health.json"
/* GPUs gone from the node stay known (their return is a reset), up to this many. */
#define HEALTH_GPUS_MAX (2 * GPUTEL_MAX_GPUS)
#define CLEAR_PREFIX "/v1/gpus/"
#define CLEAR_SUFFIX "/health/clear"

/* What gpu-health.json held for a GPU, until the first snapshot places it. */
struct saved {
	char uuid[sizeof(((struct gpu_ident *)0)->uuid)];
	struct health h;
};

struct health_sink {
	struct pipeline *p;
	struct health_gpu gpu[HEALTH_GPUS_MAX];
	size_t n;
	bool placed;                       /* the first snapshot placed the saved state */
	struct saved *saved;
	size_t n_saved;
	char boot_id[KMSG_BOOT_ID_LEN];
	char path[CONFIG_TEXT_MAX + 32];   /* "" when nothing is kept */
	bool said_save_failure;
};

/* What is kept across a restart differs. */
static bool kept_differs(const struct health *a, const struct health *b)
{
	return a->xid_state != b->xid_state || a->xid_code != b->xid_code || a->xid_wall_ns != b->xid_wall_ns ||
	       a->lost != b->lost;
}

/* ---- gpu-health.json ---- */

/* Only what lasts, for the GPUs that have any; GPUs on the node and those gone alike. */
static int save(struct health_sink *k)
{
	char tmp[sizeof k->path + 8];
	size_t cap = 256 + k->n * 320;
	struct outbuf o = { NULL, 0, cap, false };
	bool first = true;
	int fd, r = 0;

	if (!k->path[0])
		return 0;       /* nothing kept (the exporter): no file */
	o.p = malloc(cap);
	if (!o.p)
		return -ENOMEM;
	ob_puts(&o, "{\"version\": 1, \"boot_id\": ");
	ob_put_json_str(&o, k->boot_id);
	ob_puts(&o, ", \"gpus\": [");
	for (size_t i = 0; i < k->n; i++) {
		const struct health *h = &k->gpu[i].h;

		if (h->xid_state == HEALTH_HEALTHY && !h->lost)
			continue;
		ob_puts(&o, first ? "\n  {\"uuid\": " : ",\n  {\"uuid\": ");
		first = false;
		ob_put_json_str(&o, k->gpu[i].id.uuid);
		ob_puts(&o, ", \"xid_state\": ");
		ob_put_json_str(&o, health_state_name(h->xid_state));
		ob_puts(&o, ", \"xid\": ");
		ob_put_i64(&o, h->xid_code);
		ob_puts(&o, ", \"xid_at_ms\": ");
		ob_put_i64(&o, h->xid_wall_ns / 1000000);
		ob_puts(&o, h->lost ? ", \"lost\": true}" : ", \"lost\": false}");
	}
	ob_puts(&o, "\n]}\n");
	if (o.full || str_fmt(tmp, sizeof tmp, "%s.tmp", k->path) < 0) {
		free(o.p);
		return -ENAMETOOLONG;
	}
	/* Never written through a link planted at the temporary name. */
	if (unlink(tmp) != 0 && errno != ENOENT) {
		free(o.p);
		return -errno;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		free(o.p);
		return -errno;
	}
	errno = 0;
	if (write(fd, o.p, o.len) != (ssize_t)o.len)
		r = errno ? -errno : -ENOSPC;
	if (r == 0 && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, k->path) != 0)
		r = -errno;
	if (r == 0)
		r = fsync_parent_dir(k->path);
	else
		unlink(tmp);
	free(o.p);
	return r;
}

/* Saves, and says so once when it cannot (and once when it can again). */
static int save_logged(struct health_sink *k)
{
	int r = save(k);

	if (r != 0 && !k->said_save_failure)
		log_warn("health: cannot save %s: %s; after a restart the GPUs' health starts afresh; check the "
			 "state directory", k->path, strerror(-r));
	else if (r == 0 && k->said_save_failure)
		log_info("health: saving %s again", k->path);
	k->said_save_failure = r != 0;
	return r;
}

/* A whole number in [lo, hi] of a JSON object; false when it is not. */
static bool json_int(const cJSON *j, const char *key, double lo, double hi, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return false;
	*out = (int64_t)v->valuedouble;
	return true;
}

/* One GPU of the file: false for an entry that is not one (it is skipped, and that is logged). */
static bool parse_saved(const cJSON *g, struct saved *s)
{
	const cJSON *uuid = cJSON_GetObjectItemCaseSensitive(g, "uuid");
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(g, "xid_state");
	const cJSON *lost = cJSON_GetObjectItemCaseSensitive(g, "lost");
	int64_t code, at_ms;
	int st;

	if (!cJSON_IsString(uuid) || !uuid->valuestring[0] || strlen(uuid->valuestring) >= sizeof s->uuid ||
	    !cJSON_IsString(state) || (st = health_state_parse(state->valuestring)) < 0 || !cJSON_IsBool(lost) ||
	    !json_int(g, "xid", -1, 1e9, &code) || !json_int(g, "xid_at_ms", 0, 4102444800000.0, &at_ms))
		return false;
	str_copy(s->uuid, uuid->valuestring, sizeof s->uuid);
	health_init(&s->h);
	s->h.xid_state = (enum health_state)st;
	s->h.xid_code = st == HEALTH_HEALTHY ? -1 : (int)code;
	s->h.xid_wall_ns = st == HEALTH_HEALTHY ? 0 : at_ms * 1000000;
	s->h.lost = cJSON_IsTrue(lost);
	return true;
}

/* Reads gpu-health.json when it is of this boot; a missing file is a first start. */
static void load(struct health_sink *k)
{
	static char buf[256 * 1024];
	ssize_t n = file_read_small(k->path, buf, sizeof buf);
	cJSON *j, *g;
	const cJSON *boot;
	size_t bad = 0;

	if (n == -ENOENT)
		return;
	j = n >= 0 ? cJSON_Parse(buf) : NULL;
	boot = cJSON_GetObjectItemCaseSensitive(j, "boot_id");
	if (!cJSON_IsString(boot) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "gpus"))) {
		log_warn("health: %s is not a saved GPU health (%s); every GPU starts healthy", k->path,
			 n < 0 ? strerror((int)-n) : "not the JSON gputel writes");
		cJSON_Delete(j);
		return;
	}
	if (strcmp(boot->valuestring, k->boot_id) != 0) {
		log_info("health: a new boot since %s was saved: every GPU starts healthy, and this boot's kernel log "
			 "is read again", k->path);
		cJSON_Delete(j);
		return;
	}
	k->saved = calloc((size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "gpus")) + 1, sizeof *k->saved);
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(j, "gpus")) {
		if (!k->saved)
			break;
		if (parse_saved(g, &k->saved[k->n_saved]))
			k->n_saved++;
		else
			bad++;
	}
	if (bad)
		log_warn("health: %zu entr%s of %s %s damaged: %s GPU%s start%s healthy", bad, bad == 1 ? "y" : "ies",
			 k->path, bad == 1 ? "is" : "are", bad == 1 ? "its" : "their", bad == 1 ? "" : "s",
			 bad == 1 ? "s" : "");
	cJSON_Delete(j);
}

/* ---- the GPUs ---- */

static void gpu_name(char *buf, size_t n, const struct health_gpu *g)
{
	str_fmt(buf, n, "gpu %u (%s)", g->id.index, g->id.uuid[0] ? g->id.uuid : g->pci);
}

/* Logs a change of state and publishes it on /v1/events. */
static void announce(struct health_sink *k, const struct health_gpu *g, enum health_state before)
{
	char who[160], fields[HEALTH_REASON_MAX * 2 + 512];
	struct outbuf o = { fields, 0, sizeof fields - 1, false };

	gpu_name(who, sizeof who, g);
	if (g->h.state > before)
		log_warn("health: %s %s: %s", who, health_state_name(g->h.state), g->h.reason);
	else if (g->h.state == HEALTH_HEALTHY)
		log_info("health: %s healthy again (was %s)", who, health_state_name(before));
	else
		log_info("health: %s %s (was %s): %s", who, health_state_name(g->h.state), health_state_name(before),
			 g->h.reason);
	ob_puts(&o, "\"gpu\": ");
	ob_put_u64(&o, g->id.index);
	ob_puts(&o, ", \"uuid\": ");
	ob_put_json_str(&o, g->id.uuid);
	ob_puts(&o, ", \"pci_bus_id\": ");
	ob_put_json_str(&o, g->id.pci_bus_id);
	ob_puts(&o, ", \"state\": ");
	ob_put_json_str(&o, health_state_name(g->h.state));
	ob_puts(&o, ", \"previous\": ");
	ob_put_json_str(&o, health_state_name(before));
	ob_puts(&o, ", \"reason\": ");
	if (g->h.reason[0])
		ob_put_json_str(&o, g->h.reason);
	else
		ob_puts(&o, "null");
	if (o.full)
		return;
	fields[o.len] = '\0';
	pipeline_event(k->p, "gpu_health", fields);
}

/*
 * Judges one GPU on what came; announces a change of state, and saves a
 * change of what lasts.  Returns 0, or -errno when that save failed.
 */
static int step(struct health_sink *k, struct health_gpu *g, const struct health_input *in)
{
	struct health before = g->h;

	health_eval(&before, in, &g->h);
	/* A GPU first seen healthy is no news; one first seen lost is. */
	if (g->h.state != before.state)
		announce(k, g, before.state);
	return kept_differs(&before, &g->h) ? save_logged(k) : 0;
}

static bool same_gpu(const struct health_gpu *g, const struct gpu_ident *id, const char *pci)
{
	if (g->id.uuid[0] && id->uuid[0])
		return strcmp(g->id.uuid, id->uuid) == 0;
	return pci[0] && strcmp(g->pci, pci) == 0;
}

/* A GPU seen for the first time: with its saved state at the first snapshot, else afresh. */
static struct health_gpu *add_gpu(struct health_sink *k, const struct gpu_ident *id, const char *pci, int64_t now,
				  const bool *seen)
{
	struct health_gpu *g;
	struct health_input none = { .now_ns = now };

	if (k->n < HEALTH_GPUS_MAX) {
		g = &k->gpu[k->n++];
	} else {
		/* Full: the slot of a GPU that left, and is not back this tick (its return would be a reset anyway). */
		size_t i;

		for (i = 0; i < k->n && (k->gpu[i].present || seen[i]); i++)
			;
		if (i == k->n)
			return NULL;
		g = &k->gpu[i];
	}
	memset(g, 0, sizeof *g);
	g->id = *id;
	str_copy(g->pci, pci, sizeof g->pci);
	health_init(&g->h);
	for (size_t i = 0; !k->placed && i < k->n_saved; i++)
		if (id->uuid[0] && strcmp(k->saved[i].uuid, id->uuid) == 0) {
			char who[160];

			g->h = k->saved[i].h;
			/* The state it had, from when its Xid happened, before this tick's reading. */
			none.now_ns = g->h.xid_state > HEALTH_HEALTHY ? g->h.xid_wall_ns : now;
			health_eval(&g->h, &none, &g->h);
			gpu_name(who, sizeof who, g);
			if (g->h.state > HEALTH_HEALTHY)
				log_info("health: %s restored from %s: %s: %s", who, k->path,
					 health_state_name(g->h.state), g->h.reason);
			break;
		}
	return g;
}

static void health_sink_write(void *self, const struct snapshot *snap)
{
	struct health_sink *k = self;
	int64_t now = timespec_to_ns(&snap->wall);
	bool seen[HEALTH_GPUS_MAX] = { false };

	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		const struct gpu_reading *r = &snap->gpu[i];
		struct health_input in = { .reading = r, .now_ns = now };
		char pci[KEVENT_PCI_LEN] = "";
		struct health_gpu *g = NULL;

		if (kevent_pci_normalize(r->id.pci_bus_id, strlen(r->id.pci_bus_id), pci) != 0)
			pci[0] = '\0';
		for (size_t j = 0; j < k->n && !g; j++)
			if (same_gpu(&k->gpu[j], &r->id, pci))
				g = &k->gpu[j];
		if (!g && !(g = add_gpu(k, &r->id, pci, now, seen)))
			continue;
		g->id = r->id;
		str_copy(g->pci, pci, sizeof g->pci);
		g->present = true;
		seen[g - k->gpu] = true;
		step(k, g, &in);
	}
	/* No longer on the node: unhealthy while gone, and its return is a reset. */
	for (size_t j = 0; j < k->n; j++)
		if (!seen[j] && k->gpu[j].present) {
			struct health_input in = { .gone = true, .now_ns = now };

			k->gpu[j].present = false;
			step(k, &k->gpu[j], &in);
		}
	if (!k->placed) {
		/* The saved GPUs not on the node now start afresh when they come. */
		k->placed = true;
		free(k->saved);
		k->saved = NULL;
		k->n_saved = 0;
		save_logged(k);
	}
	k->p->st.health = k->gpu;
	k->p->st.n_health = k->n;
}

/* An Xid on a GPU of the node (by UUID, else by bus address); others are not judged. */
static void health_sink_gpu_event(void *self, const struct gpu_event *ev)
{
	struct health_sink *k = self;
	struct health_xid x = { ev->code, ev->wall_ns };
	struct health_input in = { .xids = &x, .n_xids = 1, .now_ns = ev->wall_ns };

	if (ev->kind != KEVENT_XID)
		return;
	for (size_t i = 0; i < k->n; i++) {
		struct health_gpu *g = &k->gpu[i];

		if (!g->present || !(ev->gpu.uuid[0] ? strcmp(g->id.uuid, ev->gpu.uuid) == 0
						       : ev->gpu.pci[0] && strcmp(g->pci, ev->gpu.pci) == 0))
			continue;
		step(k, g, &in);
		return;
	}
}

/* ---- /metrics ---- */

static void health_sink_metrics(void *self, struct outbuf *o, const struct snapshot *snap)
{
	struct health_sink *k = self;
	bool any = false;

	(void)snap;
	for (size_t i = 0; i < k->n; i++) {
		const struct health_gpu *g = &k->gpu[i];

		if (!g->present)
			continue;
		if (!any)
			prom_family(o, "gputel_gpu_health", "gauge",
				    "GPU health: one series per state (healthy, degraded, unhealthy), 1 for the GPU's "
				    "current state and 0 for the others; the reason is in /status and gputel gpus.");
		any = true;
		for (int s = 0; s < HEALTH_STATES; s++) {
			char state[48];

			str_fmt(state, sizeof state, "state=\"%s\"", health_state_name((enum health_state)s));
			prom_gpu_series(o, "gputel_gpu_health", &g->id, state);
			ob_puts(o, (int)g->h.state == s ? "1\n" : "0\n");
		}
	}
}

/* ---- POST /v1/gpus/{gpu}/health/clear ---- */

/* The GPU on the node that word names: an index, a UUID (any case) or a bus address in any form. */
static struct health_gpu *find_gpu(struct health_sink *k, const char *word)
{
	char pci[KEVENT_PCI_LEN];
	bool digits = word[0] != '\0' && strspn(word, "0123456789") == strlen(word);
	bool is_pci = !digits && kevent_pci_normalize(word, strlen(word), pci) == 0;

	for (size_t i = 0; i < k->n; i++) {
		struct health_gpu *g = &k->gpu[i];

		if (!g->present)
			continue;
		if (digits ? strlen(word) < 6 && g->id.index == (unsigned int)atoi(word)
			   : is_pci ? strcmp(g->pci, pci) == 0 : strcasecmp(g->id.uuid, word) == 0)
			return g;
	}
	return NULL;
}

static void reply_json(struct control_reply *r, unsigned int status, struct outbuf *o)
{
	r->status = status;
	if (o->full) {
		free(o->p);
		o->p = NULL;
	}
	if (o->p)
		ob_put(o, "\n", 1);
	r->body = o->p;
	r->len = o->p ? o->len : 0;
}

static void clear_gpu(struct health_sink *k, const char *word, struct control_reply *r)
{
	struct health_gpu *g = find_gpu(k, word);
	struct health before;
	struct health_input in = { .clear = true, .now_ns = wall_now_ns() };
	size_t cap = 2 * HEALTH_REASON_MAX + 1024;
	struct outbuf o;
	char msg[CONFIG_TEXT_MAX + 256], more[160] = "\"cleared\": null";
	int saved;

	if (!g) {
		str_fmt(msg, sizeof msg, "no GPU \"%.96s\" on this node; name it by index, UUID or PCI bus id "
			"(gputel gpus lists them)", word);
		control_error(r, MHD_HTTP_BAD_REQUEST, msg);
		return;
	}
	before = g->h;
	saved = step(k, g, &in);
	if (before.xid_state > HEALTH_HEALTHY) {
		char who[160];

		gpu_name(who, sizeof who, g);
		log_info("health: %s: Xid %d forgotten at an operator's request", who, before.xid_code);
	}
	if (saved != 0) {
		str_fmt(msg, sizeof msg, "gpu %u is cleared, but %s could not be saved (%s): after a restart its "
			"Xid counts again; check the state directory", g->id.index, k->path, strerror(-saved));
		control_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
		return;
	}
	/* The GPU's health now, and the Xid the clear forgot (null: none). */
	if (before.xid_state > HEALTH_HEALTHY) {
		struct timespec at = { (time_t)(before.xid_wall_ns / NS_PER_SEC), (long)(before.xid_wall_ns % NS_PER_SEC) };
		char ts[32];

		fmt_iso8601_ms(ts, &at);
		str_fmt(more, sizeof more, "\"cleared\": {\"xid\": %d, \"at\": \"%s\", \"state\": \"%s\"}",
			before.xid_code, ts, health_state_name(before.xid_state));
	}
	o = (struct outbuf){ malloc(cap), 0, cap, false };
	if (!o.p) {
		control_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	health_json(&o, &g->id, &g->h, more);
	reply_json(r, MHD_HTTP_OK, &o);
}

static bool health_sink_request(void *self, const char *method, const char *path, const char *body, size_t len,
				struct control_reply *r)
{
	struct health_sink *k = self;
	size_t n = strlen(path), pre = sizeof CLEAR_PREFIX - 1, suf = sizeof CLEAR_SUFFIX - 1;
	char word[128];

	(void)body;
	(void)len;
	if (n <= pre + suf || strncmp(path, CLEAR_PREFIX, pre) != 0 || strcmp(path + n - suf, CLEAR_SUFFIX) != 0)
		return false;
	if (n - pre - suf >= sizeof word || memchr(path + pre, '/', n - pre - suf)) {
		control_error(r, MHD_HTTP_BAD_REQUEST, "not a GPU; name it by index, UUID or PCI bus id "
			      "(gputel gpus lists them)");
		return true;
	}
	if (strcmp(method, "POST") != 0) {
		control_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed here; use POST");
		r->allow = "POST";
		return true;
	}
	memcpy(word, path + pre, n - pre - suf);
	word[n - pre - suf] = '\0';
	clear_gpu(k, word, r);
	return true;
}

/* ---- the sink ---- */

static int health_sink_open(void **self, struct pipeline *p, char *err, size_t errlen)
{
	const struct config *cfg = p->st.cfg;
	const char *procfs = getenv("GPUTEL_PROCFS_ROOT");
	struct health_sink *k = calloc(1, sizeof *k);
	int r;

	if (!k) {
		str_copy(err, "out of memory", errlen);
		return -1;
	}
	k->p = p;
	/* Only the agent keeps it: the exporter's state is its run's. */
	if (strcmp(p->st.mode, "agent") == 0) {
		r = kmsg_boot_id(procfs && *procfs ? procfs : "/proc", k->boot_id);
		if (r != 0)
			log_warn("health: cannot read the boot id (%s): the GPUs' health is not kept across restarts",
				 strerror(-r));
		else if (str_fmt(k->path, sizeof k->path, "%s/%s", cfg->state_dir, HEALTH_FILE) < 0 ||
			 access(cfg->state_dir, W_OK | X_OK) != 0) {
			log_warn("health: state-dir %s is not writable: the GPUs' health is not kept across restarts",
				 cfg->state_dir);
			k->path[0] = '\0';
		}
		if (k->path[0])
			load(k);
	}
	p->st.health = k->gpu;
	p->st.n_health = 0;
	*self = k;
	return 0;
}

static void health_sink_close(void *self)
{
	struct health_sink *k = self;

	k->p->st.health = NULL;
	k->p->st.n_health = 0;
	free(k->saved);
	free(k);
}

const struct sink_ops sink_health_ops = {
	.name = "health",
	.open = health_sink_open,
	.write = health_sink_write,
	.metrics = health_sink_metrics,
	.gpu_event = health_sink_gpu_event,
	.request = health_sink_request,
	.close = health_sink_close,
};
