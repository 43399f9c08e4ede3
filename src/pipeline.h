/*
 * pipeline.h - a run mode's sinks and, for the agent, its policy, fed by
 * the loop (loop.c) with every snapshot.
 *
 *	static struct pipeline p;
 *
 *	pipeline_init(&p, "collect", &cfg, &sampler);
 *	p.st.telemetry = true;
 *	if (pipeline_add(&p, &sink_csv_ops, err, sizeof err) != 0)
 *		... exit 2 with err ...
 *	loop_run(&sampler, sfd, last_tick, &p, &cpu);
 *	pipeline_close(&p);
 *
 * Per snapshot: the policy decides (and may drop a lite snapshot it wants
 * resampled in full), every sink writes it in the order they were added,
 * then the policy acts on the outcome (hooks, events, readiness).
 */
#ifndef GPUTEL_PIPELINE_H
#define GPUTEL_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "sink.h"

#define PIPELINE_SINKS_MAX 8

/* The agent's activity policy (agent.c); a run without one leaves telemetry as it was set. */
struct policy_ops {
	/* Before the sinks.  Returns false to drop snap (it asked for the tick in full). */
	bool (*decide)(void *ctx, struct pipeline *p, const struct snapshot *snap);
	/* After the sinks wrote snap. */
	void (*after)(void *ctx, struct pipeline *p, const struct snapshot *snap);
	/* SIGHUP, after p->st.cfg was replaced. */
	void (*reload)(void *ctx, struct pipeline *p, const struct config *old);
	/* True once the run should end (--exit-when-idle). */
	bool (*done)(void *ctx);
};

struct sink {
	const struct sink_ops *ops;
	void *self;
};

struct pipeline {
	struct run_state st;
	const struct policy_ops *policy;
	void *policy_ctx;
	struct sink sinks[PIPELINE_SINKS_MAX];
	size_t n_sinks;
};

void pipeline_init(struct pipeline *p, const char *mode, const struct config *cfg,
		   struct sampler *sampler);

/*
 * Opens a sink and appends it (or not, when it says this run goes without
 * it).  Returns 0, or -1 with err set (see sink_ops.open).
 */
int pipeline_add(struct pipeline *p, const struct sink_ops *ops, char *err, size_t errlen);

/* A tick's snapshot: policy, sinks, policy. */
void pipeline_tick(struct pipeline *p, const struct snapshot *snap);

/* The fresh sample asked of the sampler (NULL: none could be had). */
void pipeline_fresh(struct pipeline *p, const struct snapshot *snap);

/* SIGHUP, SIGUSR1: files to reopen. */
void pipeline_reopen(struct pipeline *p);

/* SIGHUP: p->st.cfg now points at the new configuration; old is the previous one. */
void pipeline_reload(struct pipeline *p, const struct config *old);

/* Every sink's own families, for the Prometheus rendering. */
void pipeline_metrics(struct pipeline *p, struct outbuf *o, const struct snapshot *snap);

/* Publishes an event to the sinks that carry events (/v1/events). fields_json may be NULL. */
void pipeline_event(struct pipeline *p, const char *name, const char *fields_json);

/* Hands a GPU fault to the sinks that keep them (the allocations' Xid lists). */
void pipeline_gpu_event(struct pipeline *p, const struct gpu_event *ev);

/* Hands an ended allocation's summary to the sinks that export it. */
void pipeline_alloc_ended(struct pipeline *p, const struct alloc *a);

/* The active period in progress ends now (ended_by: "idle", "agent stopped"). */
void pipeline_period_ended(struct pipeline *p, const char *ended_by);
/* A control socket request, to the first sink that serves its path; false when none does. */
bool pipeline_request(struct pipeline *p, const char *method, const char *path, const char *body, size_t len,
		      struct control_reply *r);

/* The sinks' descriptors (up to max), and serving one (fd -1: every sink, after a tick). */
size_t pipeline_fds(const struct pipeline *p, int *fds, size_t max);
void pipeline_io(struct pipeline *p, int fd);

/* True once the policy or a sink (run_state.stop) wants the run to end. */
bool pipeline_done(const struct pipeline *p);

/* Closes every sink, the last added first. */
void pipeline_close(struct pipeline *p);

#endif
