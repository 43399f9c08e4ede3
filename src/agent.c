/* agent.c - see agent.h. */
#include "agent.h"

#include <string.h>

#include "config.h"
#include "log.h"
#include "sampler.h"
#include "sdnotify.h"
#include "util.h"

static void apply_config(struct agent_policy *a, const struct config *cfg)
{
	a->act_cfg = (struct activity_config){
		(int64_t)(cfg->start_util_pct * 100 + 0.5), cfg->start_ns,
		(int64_t)(cfg->stop_util_pct * 100 + 0.5), cfg->stop_ns,
	};
	log_set_level(cfg->log_level);
}

void agent_policy_init(struct agent_policy *a, const struct config *cfg, bool exit_when_idle, int64_t now_ns)
{
	memset(a, 0, sizeof *a);
	apply_config(a, cfg);
	activity_init(&a->act, now_ns);
	a->exit_when_idle = exit_when_idle;
	a->watchdog_ns = sdnotify_watchdog_ns();
}

void agent_policy_stop(struct agent_policy *a)
{
	hook_stop_all(&a->hooks);
}

/* The watched GPUs as snapshot slots (JN_GPUS names NVML indexes). */
static uint64_t watch_slots(const struct config *cfg, const struct snapshot *snap)
{
	uint64_t m = 0;

	if (cfg->gpus.all)
		return ~0ULL;
	for (unsigned int i = 0; i < snap->n_gpus && i < 64; i++)
		if (snap->gpu[i].id.index < 64 && (cfg->gpus.mask >> snap->gpu[i].id.index) & 1)
			m |= 1ULL << i;
	return m;
}

/* gpu_up, gpu_down and gpu_stale events when a GPU's health changes. */
static void gpu_events(struct agent_policy *a, struct pipeline *p, const struct snapshot *snap)
{
	static const char *const names[] = {
		[GPU_HEALTH_UP] = "gpu_up", [GPU_HEALTH_DOWN] = "gpu_down", [GPU_HEALTH_STALE] = "gpu_stale",
	};

	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		uint8_t h = (uint8_t)snap->gpu[i].health;
		char fields[256];

		if (i < a->n_health && a->health[i] != h && h < ARRAY_SIZE(names)) {
			str_fmt(fields, sizeof fields, "\"gpu\": %u, \"uuid\": \"%s\"", snap->gpu[i].id.index,
				snap->gpu[i].id.uuid);
			pipeline_event(p, names[h], fields);
		}
		a->health[i] = h;
	}
	a->n_health = snap->n_gpus;
}

/* Steps the activity machine on a tick not seen before; false when the tick must come again in full. */
static bool step(struct agent_policy *a, struct pipeline *p, const struct snapshot *snap)
{
	struct run_state *st = &p->st;
	enum activity_event ev;

	a->decided_seq = snap->seq;
	a->sample = activity_sample_of(snap, watch_slots(st->cfg, snap));
	ev = activity_step(&a->act, &a->act_cfg, a->sample, snap->mono_ns);
	gpu_events(a, p, snap);
	if (ev == ACT_EV_START && st->telemetry)
		log_info("agent: gpu activity while allocations keep telemetry on");
	a->want = activity_is_active(&a->act) || st->allocations > 0;
	st->activity = activity_state_name(a->act.state);
	/* Rows are wanted from this tick on, and it has only utilisation: sample it in full. */
	return !(snap->lite && (a->want || a->act.state == ACT_ARMING) && sampler_resample(st->sampler));
}

static bool agent_decide(void *ctx, struct pipeline *p, const struct snapshot *snap)
{
	struct agent_policy *a = ctx;
	struct run_state *st = &p->st;

	if (snap->seq != a->decided_seq && !step(a, p, snap))
		return false;
	a->turned_on = a->want && !st->telemetry;
	a->turned_off = !a->want && st->telemetry;
	if (a->turned_on)
		st->periods++;
	st->telemetry = a->want;
	st->preroll = !a->want && a->act.state == ACT_ARMING;
	return true;
}

static void run_hook(struct agent_policy *a, const char *cmd, const char *event,
		     const struct run_state *st, const struct snapshot *snap)
{
	char ts[32];
	struct hook_event ev = { .event = event, .time_iso = ts, .util_cpct = a->sample.util_cpct, .csv = st->csv_path };

	if (!*cmd)
		return;
	fmt_iso8601_ms(ts, &snap->wall);
	hook_start(&a->hooks, cmd, &ev);
}

static void announce_on(struct agent_policy *a, struct pipeline *p, const struct snapshot *snap)
{
	const struct run_state *st = &p->st;
	const struct config *cfg = st->cfg;
	bool by_alloc = !activity_is_active(&a->act);
	const char *csv = st->csv_path[0] ? st->csv_path : NULL;

	if (by_alloc)
		log_info("agent: %zu allocation%s live; telemetry on, %s%s", st->allocations,
			 st->allocations == 1 ? "" : "s", csv ? "writing " : "no CSV", csv ? csv : "");
	else
		log_info("agent: gpu activity: utilisation %lld%% >= %.4g%% for %.4gs; telemetry on, %s%s",
			 (long long)(a->sample.util_cpct / 100), cfg->start_util_pct,
			 (double)cfg->start_ns / NS_PER_SEC, csv ? "writing " : "no CSV", csv ? csv : "");
	p->st.period_begun_wall_ns = timespec_to_ns(&snap->wall);
	p->st.period_reason = by_alloc ? "allocation" : "utilisation";
	run_hook(a, cfg->on_start, "start", st, snap);
	pipeline_event(p, "activity_started", by_alloc ? "\"reason\": \"allocation\"" : "\"reason\": \"utilisation\"");
	sdnotify("STATUS=telemetry on");
}

static void announce_off(struct agent_policy *a, struct pipeline *p, const struct snapshot *snap)
{
	const struct run_state *st = &p->st;

	/* Rows the period could not write (a full disk, no file) are said here, where the operator looks. */
	if (st->csv_path[0] && st->csv_period_dropped)
		log_warn("agent: gpu idle (utilisation %lld%%, no allocation); telemetry off, %llu rows in %s, %llu dropped",
			 (long long)(a->sample.util_cpct / 100), (unsigned long long)st->csv_period_rows, st->csv_path,
			 (unsigned long long)st->csv_period_dropped);
	else if (st->csv_path[0])
		log_info("agent: gpu idle (utilisation %lld%%, no allocation); telemetry off, %llu rows in %s",
			 (long long)(a->sample.util_cpct / 100), (unsigned long long)st->csv_period_rows, st->csv_path);
	else if (st->csv_period_dropped)
		log_warn("agent: gpu idle: telemetry off, no CSV file: %llu rows dropped",
			 (unsigned long long)st->csv_period_dropped);
	else
		log_info("agent: gpu idle: telemetry off");
	/* The stop hook still sees the period's CSV file name. */
	run_hook(a, st->cfg->on_stop, "stop", st, snap);
	pipeline_event(p, "activity_stopped", NULL);
	pipeline_period_ended(p, "idle");
	sdnotify("STATUS=telemetry off");
}

static void agent_after(void *ctx, struct pipeline *p, const struct snapshot *snap)
{
	struct agent_policy *a = ctx;
	const struct run_state *st = &p->st;
	const struct config *cfg = st->cfg;
	bool idle_full_due;

	if (a->turned_on)
		announce_on(a, p, snap);
	if (a->turned_off)
		announce_off(a, p, snap);
	a->turned_on = a->turned_off = false;
	/* The autostarted local agent leaves once nothing has needed it for stop-seconds. */
	if (a->want || !a->idle_since_ns)
		a->idle_since_ns = snap->mono_ns;
	if (a->exit_when_idle && !a->want && snap->mono_ns - a->idle_since_ns >= cfg->stop_ns && !a->stop_now) {
		log_info("agent: no allocation and no activity for %.4gs; exiting (--exit-when-idle)",
			 (double)cfg->stop_ns / NS_PER_SEC);
		a->stop_now = true;
	}
	hook_reap(&a->hooks, snap->mono_ns);
	/* The next tick: in full while rows are wanted, and every JN_IDLE_SAMPLE_SECONDS. */
	if (!snap->lite)
		a->last_full_ns = snap->mono_ns;
	idle_full_due = cfg->idle_sample_ns > 0 &&
			snap->mono_ns + cfg->poll_interval_ns - a->last_full_ns >= cfg->idle_sample_ns;
	sampler_set_lite(st->sampler, !(st->telemetry || st->preroll || idle_full_due));
	/* Ready once the listeners are bound (before the loop) and a sample taken. */
	if (!a->ready_sent) {
		sdnotify("READY=1\nSTATUS=watching GPU activity");
		a->ready_sent = true;
	}
	if (a->watchdog_ns && snap->mono_ns - a->watchdog_sent_ns >= a->watchdog_ns / 2) {
		sdnotify("WATCHDOG=1");
		a->watchdog_sent_ns = snap->mono_ns;
	}
}

static void agent_reload(void *ctx, struct pipeline *p, const struct config *old)
{
	struct agent_policy *a = ctx;
	const struct config *cfg = p->st.cfg;

	apply_config(a, cfg);
	if (cfg->poll_interval_ns != old->poll_interval_ns)
		sampler_set_interval(p->st.sampler, cfg->poll_interval_ns);
}

static bool agent_done(void *ctx)
{
	return ((struct agent_policy *)ctx)->stop_now;
}

const struct policy_ops agent_policy_ops = {
	.decide = agent_decide,
	.after = agent_after,
	.reload = agent_reload,
	.done = agent_done,
};
