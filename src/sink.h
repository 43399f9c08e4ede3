/*
 * sink.h - where snapshots go.
 *
 * A sink takes every snapshot the sampler publishes and does one job with
 * it: the CSV file (sink_csv.c), the Prometheus rendering served over HTTP
 * (sink_prom.c), allocation accounting behind the control socket
 * (sink_alloc.c).  A run mode is a list of sinks over the same sampler
 * (pipeline.h): `collect` is {csv}, `exporter` is {prom}, `agent` is
 * {alloc, csv, prom} with the activity policy (agent.c) deciding what
 * telemetry is on.  A new sink is one more struct sink_ops and one line in
 * the run mode that wants it; docs/architecture.md walks through it.
 *
 * Sinks share what the run knows beyond a snapshot through struct
 * run_state: the policy sets whether telemetry is on, the sinks record
 * what others need of theirs (the CSV's file and row counts, the live
 * allocations).  Everything runs on the loop's thread: no locks.
 */
#ifndef GPUTEL_SINK_H
#define GPUTEL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outbuf.h"
#include "snapshot.h"

struct alloc;
struct config;
struct control_reply;
struct gpu_event;
struct gpu_events;
struct health_gpu;
struct pipeline;
struct sampler;

#define RUN_PATH_MAX 4096

struct run_state {
	const char *mode;               /* "agent", "exporter" or "collect" */
	const struct config *cfg;       /* the configuration in force; a reload replaces it */
	struct sampler *sampler;        /* fresh samples are asked of it */
	const char *driver_version;     /* "" when unknown */
	char hostname[256];             /* dcgm's Hostname label */
	uint64_t csv_gpus;              /* the GPUs whose rows the CSV gets, bits by index (collect --gpus) */
	/* The policy's (collect and exporter: telemetry always on). */
	bool telemetry;                 /* CSV rows are written while on */
	bool preroll;                   /* utilisation is held: the CSV keeps full rows in memory */
	const char *activity;           /* the activity state's name; NULL without a policy */
	unsigned int periods;           /* active periods so far */
	bool spans_exported;            /* the OTLP sink exports spans (set when it opens, before the others) */
	int64_t period_begun_wall_ns;   /* the current or last period's start (CLOCK_REALTIME) */
	const char *period_reason;      /* ... and why it began: "allocation" or "utilisation" */
	char log_file[RUN_PATH_MAX];    /* where the log goes; "" for standard error */
	/* The sinks'. */
	bool stop;                      /* a sink has no more reason to run (its reader went away) */
	size_t allocations;             /* live allocations (sink_alloc) */
	char csv_path[RUN_PATH_MAX];    /* the current or last period's file, "" before (sink_csv) */
	uint64_t csv_period_rows;       /* ... and the rows written to it */
	uint64_t csv_rows_written;      /* over every file of the run (sink_csv) */
	uint64_t csv_rows_dropped;
	uint64_t csv_period_dropped;    /* rows of the current or last period not written (no file, full disk) */
	const struct gpu_events *gpu_events;  /* the GPU faults so far (sink_events); NULL without */
	const struct health_gpu *health;      /* each GPU's health, n_health of them (sink_health); NULL without */
	size_t n_health;
};

/* An active period that ended: telemetry was on from begun to ended. */
struct activity_period {
	unsigned int number;            /* 1 for the run's first */
	int64_t begun_wall_ns, ended_wall_ns;
	const char *reason;             /* "allocation" or "utilisation" */
	const char *ended_by;           /* "idle" or "agent stopped" */
	const char *csv_path;           /* "" when none */
	uint64_t csv_rows, csv_dropped;
};

struct sink_ops {
	const char *name;
	/*
	 * Opens the sink for the run described by p->st.  Returns 0; 1 when
	 * this run goes without it (it said why); or -1 with err set to one
	 * line naming the problem and the fix (the run mode exits 2 with it).
	 */
	int (*open)(void **self, struct pipeline *p, char *err, size_t errlen);
	/* Every tick's snapshot; a tick resampled in full comes again with the same seq. */
	void (*write)(void *self, const struct snapshot *snap);
	/* Optional: SIGHUP and SIGUSR1 -- logrotate moved the files away. */
	void (*reopen)(void *self);
	/* Optional: SIGHUP, after p->st.cfg was replaced; old is the previous configuration. */
	void (*reload)(void *self, const struct config *old);
	/* Optional: the fresh sample asked of the sampler, or NULL when the driver gave none in time. */
	void (*fresh)(void *self, const struct snapshot *snap);
	/* Optional: its own families, appended to every Prometheus rendering. */
	void (*metrics)(void *self, struct outbuf *o, const struct snapshot *snap);
	/* Optional: an event for /v1/events ({"event": name, "time": ..., fields}). */
	void (*event)(void *self, const char *name, const char *fields_json);
	/* Optional: a GPU fault the events sink published (gpu_events.h). */
	void (*gpu_event)(void *self, const struct gpu_event *ev);
	/* Optional: an allocation that ended (its summary, as the ledger has it). */
	void (*alloc_ended)(void *self, const struct alloc *a);
	/* Optional: an active period that ended. */
	void (*period_ended)(void *self, const struct activity_period *period);
	/*
	 * Optional: a control socket request (control.h) on a path the sink
	 * serves; false when the path is not its own.
	 */
	bool (*request)(void *self, const char *method, const char *path, const char *body, size_t len,
			struct control_reply *r);
	/* Optional: a descriptor for the loop to watch; io() runs when it is readable and after every tick. */
	int (*fd)(void *self);
	void (*io)(void *self);
	/* Closes it; called once, the sinks in the reverse order of opening. */
	void (*close)(void *self);
};

extern const struct sink_ops sink_csv_ops;
extern const struct sink_ops sink_prom_ops;
extern const struct sink_ops sink_alloc_ops;
extern const struct sink_ops sink_events_ops;
extern const struct sink_ops sink_otlp_ops;
extern const struct sink_ops sink_health_ops;

#endif
