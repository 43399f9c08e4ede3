/*
 * xid.h - what an Xid code means: a catalog of the codes a GPU node sees
 * most, with the driver's mnemonic, a severity and the recommended action,
 * after NVIDIA's published Xid catalog.  A code not in it is "unknown",
 * never dropped.
 */
#ifndef GPUTEL_XID_H
#define GPUTEL_XID_H

#include <stdbool.h>

enum xid_severity {
	XID_SEV_INFO,      /* informational: nothing to do */
	XID_SEV_WARN,      /* the application or a recoverable error: the GPU stays healthy */
	XID_SEV_ERROR,     /* the GPU needs attention (a reset, a drain) */
	XID_SEV_FATAL,     /* the GPU or the node is out of service */
};

struct xid_info {
	int code;
	const char *name;        /* the driver's mnemonic, "unknown" for a code not in the catalog */
	const char *meaning;     /* one phrase */
	const char *action;      /* what the operator does */
	enum xid_severity severity;
	bool app;                /* usually the application's fault: does not make the GPU unhealthy */
};

/* The catalog's entry for code, or a shared "unknown" entry (code -1, severity WARN). */
const struct xid_info *xid_lookup(int code);

/* "info", "warn", "error", "fatal". */
const char *xid_severity_name(enum xid_severity s);

/* Every entry, in code order, for the docs and the drift test. */
const struct xid_info *xid_catalog(unsigned int *n);

#endif
