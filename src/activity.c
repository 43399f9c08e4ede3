/* activity.c - see activity.h. */
#include "activity.h"

void activity_init(struct activity *a, int64_t now_ns)
{
	a->state = ACT_IDLE;
	a->since_ns = now_ns;
	a->changed_ns = now_ns;
}

bool activity_is_active(const struct activity *a)
{
	return a->state == ACT_ACTIVE || a->state == ACT_DISARMING;
}

const char *activity_state_name(enum activity_state s)
{
	switch (s) {
	case ACT_IDLE: return "idle";
	case ACT_ARMING: return "arming";
	case ACT_ACTIVE: return "active";
	case ACT_DISARMING: return "disarming";
	}
	return "unknown";
}

/* Moves to `to` at now; returns the event that stands for it. */
static enum activity_event settle(struct activity *a, enum activity_state to, int64_t now_ns)
{
	a->state = to;
	a->since_ns = now_ns;
	a->changed_ns = now_ns;
	return to == ACT_ACTIVE ? ACT_EV_START : ACT_EV_STOP;
}

/* In a pending state since since_ns: has the condition held long enough? */
static enum activity_event held(struct activity *a, enum activity_state to, int64_t need_ns,
				int64_t now_ns)
{
	return now_ns - a->since_ns >= need_ns ? settle(a, to, now_ns) : ACT_EV_NONE;
}

enum activity_event activity_step(struct activity *a, const struct activity_config *c,
				  struct activity_sample s, int64_t now_ns)
{
	bool busy = s.known && s.util_cpct >= c->start_util_cpct;
	bool quiet = s.known && s.util_cpct <= c->stop_util_cpct;

	switch (a->state) {
	case ACT_IDLE:
		if (!busy)
			return ACT_EV_NONE;
		a->state = ACT_ARMING;
		a->since_ns = now_ns;
		return held(a, ACT_ACTIVE, c->start_ns, now_ns);
	case ACT_ARMING:
		if (!busy) {
			/* The run of busy samples broke (or went unknown): not proven. */
			a->state = ACT_IDLE;
			return ACT_EV_NONE;
		}
		return held(a, ACT_ACTIVE, c->start_ns, now_ns);
	case ACT_ACTIVE:
		if (!quiet)
			return ACT_EV_NONE;
		a->state = ACT_DISARMING;
		a->since_ns = now_ns;
		return held(a, ACT_IDLE, c->stop_ns, now_ns);
	case ACT_DISARMING:
		if (!quiet) {
			a->state = ACT_ACTIVE;
			return ACT_EV_NONE;
		}
		return held(a, ACT_IDLE, c->stop_ns, now_ns);
	}
	return ACT_EV_NONE;
}

struct activity_sample activity_sample_of(const struct snapshot *snap, uint64_t watch_mask)
{
	struct activity_sample s = { false, 0 };

	for (unsigned int i = 0; i < snap->n_gpus && i < 64; i++) {
		const struct gpu_reading *g = &snap->gpu[i];

		if (!(watch_mask & (1ULL << i)) || g->health != GPU_HEALTH_UP ||
		    g->st[GPU_F_UTIL_GPU_PCT] != VAL_OK)
			continue;
		if (!s.known || g->val[GPU_F_UTIL_GPU_PCT] * 100 > s.util_cpct)
			s.util_cpct = g->val[GPU_F_UTIL_GPU_PCT] * 100;
		s.known = true;
	}
	return s;
}
