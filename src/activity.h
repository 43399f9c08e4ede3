/*
 * activity.h - the activity state machine of `gputel agent`: when to
 * switch telemetry on and off.
 *
 * Hysteresis in time, not in poll counts: the machine turns active once
 * utilisation has stayed at or above start_util for start_ns, and idle
 * once it has stayed at or below stop_util for stop_ns.  Between the two
 * thresholds nothing changes, so a load hovering near one of them cannot
 * make telemetry flap.
 *
 * activity_step() is a pure function of (state, sample, time, config):
 * no I/O, no clock of its own, so it is tested as a table with a virtual
 * clock.  The config is passed on every step, so new thresholds (SIGHUP)
 * apply from the next sample without losing the state.
 *
 * A condition is "held for N seconds" when every sample since the first
 * one that met it met it too and that first sample is N seconds old.  With
 * a 2 s poll and start_seconds 5, samples at 0, 2, 4, 6 turn the machine
 * active at 6: the earliest sample that proves the 5 s.
 */
#ifndef GPUTEL_ACTIVITY_H
#define GPUTEL_ACTIVITY_H

#include <stdbool.h>
#include <stdint.h>

#include "snapshot.h"

enum activity_state {
	ACT_IDLE = 0,
	ACT_ARMING,      /* idle, utilisation at or above start since since_ns */
	ACT_ACTIVE,
	ACT_DISARMING,   /* active, utilisation at or below stop since since_ns */
};

enum activity_event {
	ACT_EV_NONE = 0,
	ACT_EV_START,    /* idle -> active: start telemetry */
	ACT_EV_STOP,     /* active -> idle: stop telemetry */
};

struct activity_config {
	int64_t start_util_cpct;  /* hundredths of a percent, e.g. 2000 = 20 % */
	int64_t start_ns;
	int64_t stop_util_cpct;
	int64_t stop_ns;
};

struct activity {
	enum activity_state state;
	int64_t since_ns;         /* ARMING/DISARMING: first sample that met the condition */
	int64_t changed_ns;       /* when the machine last turned active or idle */
};

/* Busy-ness of one sample, as the caller measured it. */
struct activity_sample {
	bool known;               /* false: no GPU gave a utilisation this tick */
	int64_t util_cpct;        /* the busiest watched GPU, hundredths of a percent */
};

/* Starts idle at now_ns. */
void activity_init(struct activity *a, int64_t now_ns);

/*
 * Feeds one sample taken at now_ns (monotonic, never decreasing) and
 * returns the transition it caused, if any.  An unknown sample neither
 * proves busy nor idle: it ends an ARMING or DISARMING run, and the
 * machine stays in its settled state.
 */
enum activity_event activity_step(struct activity *a, const struct activity_config *c,
				  struct activity_sample s, int64_t now_ns);

/* True while telemetry should run (ACTIVE or DISARMING). */
bool activity_is_active(const struct activity *a);

const char *activity_state_name(enum activity_state s);

/*
 * The sample the machine decides on: the busiest of the watched GPUs that
 * are up and report a utilisation.  watch_mask selects GPUs by slot
 * (bit i = snap->gpu[i]); ~0 watches all.  A lost GPU is neither busy nor
 * idle: it is left out, and with no GPU left the sample is unknown.
 */
struct activity_sample activity_sample_of(const struct snapshot *snap, uint64_t watch_mask);

#endif
