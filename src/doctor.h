/*
 * doctor.h - what the checks of `gputel doctor` share: the verdicts, the
 * report lines, running a command and fetching a page with bounded waits.
 * cmd_doctor.c holds the report and the checks of gputel's own
 * installation; doctor_otel.c those of the OpenTelemetry Collectors next
 * to it (docs/otel-collectors.md).
 */
#ifndef GPUTEL_DOCTOR_H
#define GPUTEL_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct config;
struct doctor;
struct check;

enum verdict { PASS, WARN, FAIL };

/* Adds one line (name, verdict, message) to the report; the returned line takes a fix. */
struct check *doctor_report(struct doctor *d, const char *name, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void doctor_set_fix(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs argv (stdout's first line kept in out, stderr dropped, 5 s at most); the exit status or -1. */
int doctor_run_capture(char *const argv[], char *out, size_t n);

/*
 * GET http://addr:port/path (addr a numeric IPv4 or IPv6 address), every
 * step bounded (3 s).  Returns the HTTP status with *reply (malloc'd, the
 * whole reply, headers included) and *body (into it) set, or -1 with
 * errno set and nothing to free.
 */
int doctor_http_get(const char *addr, int port, const char *path, char **reply, const char **body);

/* Where `gputel doctor` looks for the collectors; NULL: the installed places. */
struct doctor_otel_options {
	const char *etc_dir;        /* --otel-dir: their configurations and env files */
	const char *unit_dir;       /* --unit-dir: the one directory to find their units in */
	const char *otelcol;        /* --otelcol: the collector binary to validate with */
	bool always;                /* --otel: run even when nothing is installed (and say so) */
};

/*
 * The collectors' checks: units, configurations, self-metrics, the flow
 * of records, their exporters, and where gputel (cfg) sends OTLP.  Without
 * `always`, nothing is reported on a host with neither collector installed.
 */
void doctor_otel(struct doctor *d, const struct config *cfg, const char *settings_path,
		 const struct doctor_otel_options *o);

#endif
