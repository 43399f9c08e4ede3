/* gpu_events.c - see gpu_events.h. */
#include "gpu_events.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Bounds on the bookkeeping: a storm past them is published unmerged and counted. */
#define PENDING_MAX 256
#define KNOWN_MAX (GPUTEL_MAX_GPUS * 2)
#define SEEN_MAX (GPUTEL_MAX_GPUS * GPU_XID_CODES_MAX)
/* NVML events of one GPU and code taken in one snapshot beyond this are not held. */
#define HOLD_PER_SNAPSHOT 64

/* An NVML event waiting for its kernel line. */
struct held {
	struct gpu_event_gpu gpu;
	int code;
	int64_t mono_ns, wall_ns;
};

/* A kernel Xid line: absorbs the NVML event of the same Xid, and the companion "fallen off the bus" line. */
struct credit {
	char pci[KEVENT_PCI_LEN];
	int code;
	int64_t mono_ns;
	enum kevent_kind origin;
	bool nvml_matched;
};

/* The running NVML count last seen for a GPU and code. */
struct seen {
	char uuid[KEVENT_UUID_MAX];
	int32_t code;
	uint64_t count;
};

struct gpu_events {
	struct gpu_event_gpu known[KNOWN_MAX];
	size_t n_known;
	struct held held[PENDING_MAX];
	size_t n_held;
	struct credit credit[PENDING_MAX];
	size_t n_credit;
	struct seen seen[SEEN_MAX];
	size_t n_seen;
	struct gpu_event_count *counts;
	size_t n_counts, cap_counts;
	uint64_t counted;
	uint64_t unmerged;
};

struct gpu_events *gpu_events_new(void)
{
	return calloc(1, sizeof(struct gpu_events));
}

void gpu_events_free(struct gpu_events *e)
{
	if (!e)
		return;
	free(e->counts);
	free(e);
}

static int64_t span(int64_t a, int64_t b)
{
	return a > b ? a - b : b - a;
}

/* The GPU at bus address pci: as the snapshots or the driver's lines named it, else unknown. */
static struct gpu_event_gpu gpu_at(const struct gpu_events *e, const char *pci)
{
	struct gpu_event_gpu g = { .index = -1 };

	for (size_t i = 0; i < e->n_known; i++)
		if (strcmp(e->known[i].pci, pci) == 0)
			return e->known[i];
	str_copy(g.pci, pci, sizeof g.pci);
	return g;
}

/* Adds or refreshes what is known of the GPU at g->pci; a driver's line never overrides a snapshot. */
static void know(struct gpu_events *e, const struct gpu_event_gpu *g, bool from_snapshot)
{
	size_t i;

	for (i = 0; i < e->n_known; i++)
		if (strcmp(e->known[i].pci, g->pci) == 0)
			break;
	if (i == e->n_known) {
		if (e->n_known == KNOWN_MAX)
			return;
		e->n_known++;
	} else if (!from_snapshot && e->known[i].index >= 0) {
		return;
	}
	e->known[i] = *g;
}

static void count(struct gpu_events *e, const struct gpu_event *ev)
{
	struct gpu_event_count *c = NULL;

	for (size_t i = 0; i < e->n_counts; i++)
		if (e->counts[i].kind == ev->kind && e->counts[i].code == ev->code &&
		    strcmp(e->counts[i].gpu.pci, ev->gpu.pci) == 0) {
			c = &e->counts[i];
			break;
		}
	if (!c) {
		if (e->n_counts == e->cap_counts) {
			size_t cap = e->cap_counts ? e->cap_counts * 2 : 16;
			struct gpu_event_count *more = realloc(e->counts, cap * sizeof *more);

			if (!more)
				return;
			e->counts = more;
			e->cap_counts = cap;
		}
		c = &e->counts[e->n_counts++];
		*c = (struct gpu_event_count){ .kind = ev->kind, .code = ev->code };
	}
	c->gpu = ev->gpu;   /* the latest name for it */
	c->count++;
	c->last_wall_ns = ev->wall_ns;
	c->last_seq = ++e->counted;
}

static void publish(struct gpu_events *e, struct gpu_event *ev, gpu_event_fn fn, void *ctx)
{
	if (ev->kind == KEVENT_XID)
		ev->info = xid_lookup(ev->code);
	if (ev->kind == KEVENT_XID || ev->kind == KEVENT_SXID)
		count(e, ev);
	fn(ctx, ev);
}

static struct gpu_event nvml_event(const struct held *h)
{
	return (struct gpu_event){
		.kind = KEVENT_XID, .source = "nvml", .code = h->code, .wall_ns = h->wall_ns, .level = 3,
		.gpu = h->gpu, .gpu_instance = -1, .compute_instance = -1, .pid = -1, .fatal = -1,
	};
}

/* One NVML event: absorbed by the kernel line that came first, else held for the one to come. */
static void take_nvml(struct gpu_events *e, const struct held *h, gpu_event_fn fn, void *ctx)
{
	for (size_t i = 0; i < e->n_credit; i++) {
		struct credit *c = &e->credit[i];

		if (!c->nvml_matched && c->code == h->code && strcmp(c->pci, h->gpu.pci) == 0 &&
		    span(c->mono_ns, h->mono_ns) <= GPU_EVENTS_MATCH_NS) {
			c->nvml_matched = true;
			return;
		}
	}
	if (e->n_held == PENDING_MAX) {
		struct gpu_event ev = nvml_event(h);

		e->unmerged++;
		publish(e, &ev, fn, ctx);
		return;
	}
	e->held[e->n_held++] = *h;
}

static void expire(struct gpu_events *e, int64_t now_ns, gpu_event_fn fn, void *ctx)
{
	size_t k = 0;

	for (size_t i = 0; i < e->n_held; i++) {
		if (now_ns - e->held[i].mono_ns >= GPU_EVENTS_HOLD_NS) {
			struct gpu_event ev = nvml_event(&e->held[i]);

			publish(e, &ev, fn, ctx);
		} else {
			e->held[k++] = e->held[i];
		}
	}
	e->n_held = k;
	k = 0;
	for (size_t i = 0; i < e->n_credit; i++)
		if (now_ns - e->credit[i].mono_ns <= GPU_EVENTS_MATCH_NS)
			e->credit[k++] = e->credit[i];
	e->n_credit = k;
}

/* How many more NVML events of uuid and code since the last snapshot. */
static uint64_t nvml_new(struct gpu_events *e, const char *uuid, const struct gpu_xid_count *x)
{
	struct seen *s = NULL;
	uint64_t before;

	for (size_t i = 0; i < e->n_seen; i++)
		if (e->seen[i].code == x->code && strcmp(e->seen[i].uuid, uuid) == 0) {
			s = &e->seen[i];
			break;
		}
	if (!s) {
		if (e->n_seen == SEEN_MAX)
			return 0;
		s = &e->seen[e->n_seen++];
		str_copy(s->uuid, uuid, sizeof s->uuid);
		s->code = x->code;
		s->count = 0;
	}
	/* A count that went back started over (a new backend): all of it is new. */
	before = x->count >= s->count ? s->count : 0;
	s->count = x->count;
	return x->count - before;
}

void gpu_events_snapshot(struct gpu_events *e, const struct snapshot *snap, gpu_event_fn fn, void *ctx)
{
	int64_t wall = timespec_to_ns(&snap->wall);

	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		const struct gpu_reading *r = &snap->gpu[i];
		struct gpu_event_gpu g = { .index = (int)r->id.index };

		if (kevent_pci_normalize(r->id.pci_bus_id, strlen(r->id.pci_bus_id), g.pci) != 0)
			continue;
		str_copy(g.uuid, r->id.uuid, sizeof g.uuid);
		str_copy(g.name, r->id.name, sizeof g.name);
		know(e, &g, true);
		for (unsigned int k = 0; k < r->n_xid_codes && k < GPU_XID_CODES_MAX; k++) {
			uint64_t n = nvml_new(e, g.uuid, &r->xid_codes[k]);
			struct held h = { g, r->xid_codes[k].code, snap->mono_ns, wall };

			for (uint64_t j = 0; j < n; j++) {
				if (j < HOLD_PER_SNAPSHOT) {
					take_nvml(e, &h, fn, ctx);
				} else {
					struct gpu_event ev = nvml_event(&h);

					e->unmerged++;
					publish(e, &ev, fn, ctx);
				}
			}
		}
	}
	expire(e, snap->mono_ns, fn, ctx);
}

/* A kernel Xid (or "fallen off the bus") line: published, unless it is the companion of one just seen. */
static void take_kernel_xid(struct gpu_events *e, const struct kevent *kv, struct gpu_event *ev, int64_t mono_ns,
			    gpu_event_fn fn, void *ctx)
{
	bool matched = false;

	for (size_t i = 0; i < e->n_credit; i++) {
		const struct credit *c = &e->credit[i];

		if (c->code == 79 && kv->code == 79 && c->origin != kv->kind && strcmp(c->pci, kv->pci) == 0 &&
		    span(c->mono_ns, mono_ns) <= GPU_EVENTS_MATCH_NS)
			return;
	}
	for (size_t i = 0; i < e->n_held; i++)
		if (e->held[i].code == kv->code && strcmp(e->held[i].gpu.pci, kv->pci) == 0 &&
		    span(e->held[i].mono_ns, mono_ns) <= GPU_EVENTS_MATCH_NS) {
			memmove(&e->held[i], &e->held[i + 1], (e->n_held - i - 1) * sizeof e->held[0]);
			e->n_held--;
			matched = true;
			break;
		}
	if (e->n_credit < PENDING_MAX) {
		struct credit *c = &e->credit[e->n_credit++];

		str_copy(c->pci, kv->pci, sizeof c->pci);
		c->code = kv->code;
		c->mono_ns = mono_ns;
		c->origin = kv->kind;
		c->nvml_matched = matched;
	} else {
		e->unmerged++;
	}
	ev->kind = KEVENT_XID;
	ev->source = matched ? "kernel+nvml" : "kernel";
	publish(e, ev, fn, ctx);
}

void gpu_events_kernel(struct gpu_events *e, const struct kmsg_record *rec, gpu_event_fn fn, void *ctx)
{
	struct kevent kv;
	struct gpu_event ev;
	int64_t mono_ns = rec->mono_us * 1000;

	switch (kevent_parse(rec->msg, rec->len, &kv)) {
	case KEVENT_GPU_UUID: {
		struct gpu_event_gpu g = { .index = -1 };

		str_copy(g.pci, kv.pci, sizeof g.pci);
		str_copy(g.uuid, kv.uuid, sizeof g.uuid);
		know(e, &g, false);
		return;
	}
	case KEVENT_NVRM:
		/* Warnings and worse; the driver's chatter at notice and info is not an event. */
		if (rec->level > 4)
			return;
		break;
	case KEVENT_XID:
	case KEVENT_OFF_BUS:
	case KEVENT_SXID:
		break;
	default:
		return;
	}
	ev = (struct gpu_event){
		.kind = kv.kind, .source = "kernel", .code = kv.code, .wall_ns = kmsg_wall_ns(rec), .level = rec->level,
		.has_seq = !rec->no_seq, .seq = rec->seq, .gpu = { .index = -1 },
		.gpu_instance = kv.gpu_instance, .compute_instance = kv.compute_instance, .pid = kv.pid,
		.fatal = kv.fatal, .text = rec->msg, .text_len = rec->len,
	};
	str_copy(ev.process, kv.process, sizeof ev.process);
	/* An SXid's address is a switch's, not a GPU's. */
	if (kv.kind == KEVENT_SXID)
		str_copy(ev.gpu.pci, kv.pci, sizeof ev.gpu.pci);
	else if (kv.pci[0])
		ev.gpu = gpu_at(e, kv.pci);
	if (kv.kind == KEVENT_XID || kv.kind == KEVENT_OFF_BUS)
		take_kernel_xid(e, &kv, &ev, mono_ns, fn, ctx);
	else
		publish(e, &ev, fn, ctx);
}

const struct gpu_event_count *gpu_events_counts(const struct gpu_events *e, size_t *n)
{
	*n = e->n_counts;
	return e->counts;
}

int gpu_events_last_xid(const struct gpu_events *e, const char *pci)
{
	char want[KEVENT_PCI_LEN];
	const struct gpu_event_count *last = NULL;

	if (kevent_pci_normalize(pci, strlen(pci), want) != 0)
		return 0;
	/* The latest to happen; of two at the same time, the one counted later. */
	for (size_t i = 0; i < e->n_counts; i++) {
		const struct gpu_event_count *c = &e->counts[i];

		if (c->kind == KEVENT_XID && strcmp(c->gpu.pci, want) == 0 &&
		    (!last || c->last_wall_ns > last->last_wall_ns ||
		     (c->last_wall_ns == last->last_wall_ns && c->last_seq > last->last_seq)))
			last = c;
	}
	return last ? last->code : 0;
}

uint64_t gpu_events_unmerged(const struct gpu_events *e)
{
	return e->unmerged;
}
