/*
 * hook.h - the agent's --on-start / --on-stop / --on-xid commands.
 *
 * A command line is split into words (spaces; single and double quotes
 * group) and run directly (child.h), without a shell, so no value from the
 * configuration is ever interpreted by one.  The event is in the child's
 * environment (GPUTEL_EVENT, GPUTEL_EVENT_TIME, GPUTEL_UTIL_PERCENT,
 * GPUTEL_CSV).  Running a hook never blocks sampling: it is spawned and
 * reaped later; one that outlives HOOK_TIMEOUT_NS gets SIGTERM, then
 * SIGKILL.
 */
#ifndef GPUTEL_HOOK_H
#define GPUTEL_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "child.h"

#define HOOK_TIMEOUT_NS (30 * 1000000000LL)
#define HOOK_MAX_RUNNING 4
#define HOOK_MAX_ARGS 32

#define HOOK_MAX_EXTRA_ENV 16

struct hook_event {
	const char *event;        /* "start", "stop" or "xid" */
	const char *time_iso;     /* ISO 8601 UTC */
	int64_t util_cpct;        /* the utilisation that decided it; < 0: none (GPUTEL_UTIL_PERCENT empty) */
	const char *csv;          /* the CSV file of the period, "" if none */
	char *const *extra_env;   /* more "NAME=value" for the child, NULL-terminated; may be NULL */
};

struct hooks {
	struct {
		struct child c;       /* c.pid 0: free slot */
		int64_t started_ns;
		int signalled;        /* 0, SIGTERM or SIGKILL sent */
		char name[64];
	} run[HOOK_MAX_RUNNING];
};

/*
 * Splits cmdline into argv (pointers into buf).  Returns the word count, or
 * -1 for an unterminated quote or too many words.
 */
int hook_split(const char *cmdline, char *buf, size_t bufsz, char **argv, int max);

/* Starts cmdline for ev; returns 0, or -1 (logged) when it could not start. */
int hook_start(struct hooks *h, const char *cmdline, const struct hook_event *ev);

/* Whether another hook may start now (at most HOOK_MAX_RUNNING at once). */
bool hook_slot_free(const struct hooks *h);

/* Reaps finished hooks and stops overdue ones; call every tick. */
void hook_reap(struct hooks *h, int64_t now_ns);

/* Stops and reaps every running hook (waits at most ~1 s). */
void hook_stop_all(struct hooks *h);

#endif
