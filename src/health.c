/* health.c - see health.h.  The rules: judge() and health_of_xid(); docs/events.md has them as a table. */
#include "health.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

static const char *const state_names[HEALTH_STATES] = { "healthy", "degraded", "unhealthy" };

const char *health_state_name(enum health_state s)
{
	return (unsigned int)s < HEALTH_STATES ? state_names[s] : "unhealthy";
}

int health_state_parse(const char *name)
{
	for (int i = 0; i < HEALTH_STATES; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

void health_init(struct health *h)
{
	memset(h, 0, sizeof *h);
	h->state = HEALTH_HEALTHY;
	h->xid_state = HEALTH_HEALTHY;
	h->xid_code = -1;
	h->ecc_uncorrected = -1;
}

/* The catalog's action asks to take the GPU out of service, not just to restart a program. */
static bool asks_reset(const char *action)
{
	return strstr(action, "reset") || strstr(action, "reboot");
}

/*
 * Fatal: unhealthy.  Error: unhealthy when the action is a reset or a
 * reboot (every error in the catalog today), degraded otherwise.  Warn:
 * degraded, unless the catalog marks the code as usually the
 * application's fault (13, 31, 43, 45, 68): a crashing program must not
 * mark the GPU it ran on.  An unknown code is a warn that is not the
 * application's: degraded, so that someone looks it up.  Info: nothing.
 */
enum health_state health_of_xid(const struct xid_info *x)
{
	switch (x->severity) {
	case XID_SEV_FATAL:
		return HEALTH_UNHEALTHY;
	case XID_SEV_ERROR:
		return asks_reset(x->action) ? HEALTH_UNHEALTHY : HEALTH_DEGRADED;
	case XID_SEV_WARN:
		return x->app ? HEALTH_HEALTHY : HEALTH_DEGRADED;
	case XID_SEV_INFO:
	default:
		return HEALTH_HEALTHY;
	}
}

/* A reset (or a clear): the Xids before it are forgotten. */
static void forget_xids(struct health *h)
{
	h->xid_state = HEALTH_HEALTHY;
	h->xid_code = -1;
	h->xid_wall_ns = 0;
}

static void take_reading(struct health *h, const struct gpu_reading *r)
{
	switch (r->health) {
	case GPU_HEALTH_UP:
		/*
		 * Lost or gone, and answering again: the GPU was reset (or the
		 * node re-enumerated it).  A reset applies pending remaps and
		 * zeroes the volatile ECC counts: the next full reading says
		 * what is still there.
		 */
		if (h->lost) {
			forget_xids(h);
			h->remap_pending = h->remap_failure = false;
			h->ecc_uncorrected = -1;
		}
		h->lost = false;
		h->seen = HEALTH_SEEN_UP;
		break;
	case GPU_HEALTH_DOWN:
		h->seen = HEALTH_SEEN_LOST;
		h->lost = true;
		break;
	default:
		/* A hung driver says nothing of the GPU itself: not a loss, and its end is not a reset. */
		h->seen = HEALTH_SEEN_STALE;
		break;
	}
	/* Only what was read: a lite tick or a failed read keeps what the last full reading showed. */
	if (r->st[GPU_F_REMAP_PENDING] == VAL_OK)
		h->remap_pending = r->val[GPU_F_REMAP_PENDING] != 0;
	if (r->st[GPU_F_REMAP_FAILURE] == VAL_OK)
		h->remap_failure = r->val[GPU_F_REMAP_FAILURE] != 0;
	if (r->st[GPU_F_ECC_UNCORR_VOLATILE] == VAL_OK)
		h->ecc_uncorrected = r->val[GPU_F_ECC_UNCORR_VOLATILE];
}

/*
 * The worst Xid lasts: the worse effect, then the worse severity (a fatal
 * 79 over the error that may have led to it); of equally bad ones, the
 * first: it is the cause, the others its echoes.
 */
static void take_xid(struct health *h, const struct health_xid *x)
{
	const struct xid_info *info = xid_lookup(x->code);
	enum health_state s = health_of_xid(info);

	if (s > h->xid_state ||
	    (s == h->xid_state && s > HEALTH_HEALTHY && info->severity > xid_lookup(h->xid_code)->severity)) {
		h->xid_state = s;
		h->xid_code = x->code;
		h->xid_wall_ns = x->wall_ns;
	}
}

static void fmt_utc_seconds(char out[32], int64_t wall_ns)
{
	time_t t = (time_t)(wall_ns / NS_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		str_copy(out, "an unknown time", 32);
}

/*
 * The state and its reason: the worst condition, and of equally bad
 * ones the first in this order: the GPU not answering, the Xid, then
 * what its memory reports.
 */
static void judge(struct health *h)
{
	enum health_state best = HEALTH_HEALTHY;
	char reason[HEALTH_REASON_MAX] = "";

#define CONSIDER(state, ...)                                          \
	do {                                                          \
		if ((state) > best) {                                 \
			best = (state);                               \
			str_fmt(reason, sizeof reason, __VA_ARGS__); \
		}                                                     \
	} while (0)

	if (h->seen == HEALTH_SEEN_LOST)
		CONSIDER(HEALTH_UNHEALTHY, "GPU lost: it does not answer the driver (fallen off the bus, or every "
			 "query fails); action: reset the GPU (nvidia-smi -r) or reboot the node");
	else if (h->seen == HEALTH_SEEN_GONE)
		CONSIDER(HEALTH_UNHEALTHY, "GPU gone: the driver no longer lists it; action: look for Xid errors "
			 "(dmesg), then reset the GPU or reboot the node");
	else if (h->seen == HEALTH_SEEN_STALE)
		CONSIDER(HEALTH_UNHEALTHY, "GPU not answering: the driver did not answer within the tick's budget "
			 "(a hung call); action: look for Xid errors (dmesg); a GSP timeout needs a reset");
	if (h->xid_state > HEALTH_HEALTHY) {
		const struct xid_info *x = xid_lookup(h->xid_code);
		char at[32];

		fmt_utc_seconds(at, h->xid_wall_ns);
		CONSIDER(h->xid_state, "Xid %d (%s) at %s; action: %s", h->xid_code, x->meaning, at, x->action);
	}
	if (h->remap_failure)
		CONSIDER(HEALTH_UNHEALTHY, "row remap failed: a memory row could not be remapped; action: drain the "
			 "GPU and reset it, and replace it if the failure stays");
	if (h->remap_pending)
		CONSIDER(HEALTH_DEGRADED, "row remap pending: a memory row waits for a GPU reset to be remapped; "
			 "action: reset the GPU when it is idle");
	if (h->ecc_uncorrected > 0)
		CONSIDER(HEALTH_DEGRADED, "%lld uncorrectable ECC error%s since the driver loaded; action: drain the "
			 "GPU and reset it when it is idle", (long long)h->ecc_uncorrected,
			 plural_s((uint64_t)h->ecc_uncorrected));
#undef CONSIDER
	h->state = best;
	str_copy(h->reason, reason, sizeof h->reason);
}

void health_eval(const struct health *prev, const struct health_input *in, struct health *out)
{
	struct health h = *prev;

	if (in->reading) {
		take_reading(&h, in->reading);
	} else if (in->gone) {
		h.seen = HEALTH_SEEN_GONE;
		h.lost = true;
	}
	for (unsigned int i = 0; i < in->n_xids; i++)
		take_xid(&h, &in->xids[i]);
	if (in->clear)
		forget_xids(&h);
	judge(&h);
	if (h.state != prev->state || prev->since_ns == 0)
		h.since_ns = in->now_ns;
	*out = h;
}

void health_json(struct outbuf *o, const struct gpu_ident *id, const struct health *h, const char *more)
{
	struct timespec since = { (time_t)(h->since_ns / NS_PER_SEC), (long)(h->since_ns % NS_PER_SEC) };
	char ts[32];

	ob_puts(o, "{\"gpu\": ");
	ob_put_u64(o, id->index);
	ob_puts(o, ", \"uuid\": ");
	ob_put_json_str(o, id->uuid);
	ob_puts(o, ", \"pci_bus_id\": ");
	ob_put_json_str(o, id->pci_bus_id);
	ob_puts(o, ", \"name\": ");
	ob_put_json_str(o, id->name);
	ob_puts(o, ", \"state\": ");
	ob_put_json_str(o, health_state_name(h->state));
	ob_puts(o, ", \"reason\": ");
	if (h->reason[0])
		ob_put_json_str(o, h->reason);
	else
		ob_puts(o, "null");
	ob_puts(o, ", \"since\": ");
	if (h->since_ns > 0) {
		fmt_iso8601_ms(ts, &since);
		ob_put_json_str(o, ts);
	} else {
		ob_puts(o, "null");
	}
	if (more) {
		ob_puts(o, ", ");
		ob_puts(o, more);
	}
	ob_put(o, "}", 1);
}
