/*
 * agent.h - the agent's policy: when telemetry is on, and what it does at
 * each transition.  cmd_agent.c parses options and sets the run up;
 * everything the agent decides per tick is here.
 *
 * On every tick it steps the activity state machine (activity.h) on the
 * busiest watched GPU, and keeps telemetry on while the machine is active
 * or an allocation is live.  The sinks follow run_state: the CSV sink
 * writes while telemetry is on, and keeps a pre-roll of full rows while
 * utilisation is held above start-util (ARMING), so that a period's file
 * begins at the job's first busy tick.
 *
 * Sampling follows the need: full while telemetry is on or held; while
 * idle, utilisation and health only (lite), with one full tick every
 * JN_IDLE_SAMPLE_SECONDS so that every family stays in /metrics.  A lite
 * tick that turns out to need every field (telemetry turns on, or a hold
 * begins) is dropped and sampled again in full, under the same seq.
 *
 * At each transition it runs --on-start / --on-stop (hook.h), publishes
 * activity_started / activity_stopped, and tells systemd (STATUS=); it
 * sends READY=1 after the first tick and WATCHDOG=1 from the ticks, and
 * publishes gpu_up / gpu_down / gpu_stale when a GPU's health changes.
 */
#ifndef GPUTEL_AGENT_H
#define GPUTEL_AGENT_H

/* The autostarted agent's log, in its state directory (--log-to-state-dir). */
#define AGENT_LOG_NAME "agent.log"

#include <stdbool.h>
#include <stdint.h>

#include "activity.h"
#include "hook.h"
#include "pipeline.h"

struct agent_policy {
	struct activity_config act_cfg;
	struct activity act;
	struct hooks hooks;
	bool exit_when_idle;            /* --exit-when-idle: the autostarted local agent */
	bool stop_now;
	int64_t idle_since_ns;
	/* The decision on the tick last stepped (a resample of it comes back with the same seq). */
	uint64_t decided_seq;
	struct activity_sample sample;
	bool want;                      /* telemetry wanted */
	bool turned_on, turned_off;     /* this tick's transition, for after() */
	uint8_t health[GPUTEL_MAX_GPUS];
	unsigned int n_health;
	int64_t last_full_ns;           /* the last tick sampled in full */
	bool ready_sent;
	int64_t watchdog_ns, watchdog_sent_ns;
};

extern const struct policy_ops agent_policy_ops;

/* Starts idle at now_ns, with cfg's thresholds. */
void agent_policy_init(struct agent_policy *a, const struct config *cfg, bool exit_when_idle, int64_t now_ns);

/* Stops the hooks still running (at most ~1 s). */
void agent_policy_stop(struct agent_policy *a);

#endif
