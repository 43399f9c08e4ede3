/*
 * kevent.h - GPU events in kernel log messages: the NVIDIA driver's Xid
 * lines (every variant its versions print), NVSwitch SXid lines, "GPU has
 * fallen off the bus", the "GPU at PCI:...: GPU-<uuid>" line that maps a
 * bus address to a GPU, and any other NVRM line.  Parsing only: where the
 * messages come from is kmsg.h, what they mean is xid.h.
 *
 * The input is one message as the kernel printed it, without the kmsg
 * header or the syslog prefix ("NVRM: Xid (PCI:0000:2b:00): 79, ..." or
 * "nvidia-nvswitch0: SXid (PCI:0000:05:00.0): 12028, Non-fatal, ...").
 */
#ifndef GPUTEL_KEVENT_H
#define GPUTEL_KEVENT_H

#include <stddef.h>
#include <stdint.h>

enum kevent_kind {
	KEVENT_NONE,        /* not from the NVIDIA driver */
	KEVENT_XID,         /* NVRM: Xid (...): CODE, ... */
	KEVENT_OFF_BUS,     /* NVRM: GPU dddd:bb:dd.f: GPU has fallen off the bus (Xid 79 without an Xid line) */
	KEVENT_SXID,        /* nvidia-nvswitchN: SXid (...): CODE, Fatal|Non-fatal, ... */
	KEVENT_SXID_DETAIL, /* the lines an SXid prints after its first (Severity, Data): not an event */
	KEVENT_GPU_UUID,    /* NVRM: GPU at PCI:dddd:bb:dd: GPU-<uuid> */
	KEVENT_NVRM,        /* any other NVRM: line */
};

/* "dddd:bb:dd", lower case: the form every bus id is compared in. */
#define KEVENT_PCI_LEN 16
#define KEVENT_NAME_MAX 64
#define KEVENT_UUID_MAX 96

struct kevent {
	enum kevent_kind kind;
	int code;                       /* Xid or SXid code; 79 for KEVENT_OFF_BUS; -1 none */
	char pci[KEVENT_PCI_LEN];       /* "" when the line names no bus address */
	int gpu_instance;               /* MIG GPU-I, -1 none */
	int compute_instance;           /* MIG GPU-CI, -1 none */
	int64_t pid;                    /* -1 none or '<unknown>' */
	char process[KEVENT_NAME_MAX];  /* name=..., "" none or <unknown> */
	char uuid[KEVENT_UUID_MAX];     /* KEVENT_GPU_UUID only */
	int fatal;                      /* SXid: 1 Fatal, 0 Non-fatal; -1 otherwise */
	const char *detail;             /* the text after the code and pid/name (points into the message) */
	size_t detail_len;
};

/*
 * Parses one kernel message of len bytes (not NUL-terminated; no newline).
 * Fills ev and returns its kind; KEVENT_NONE for a message that is not the
 * driver's, or that is cut or malformed where a field must be.
 */
enum kevent_kind kevent_parse(const char *msg, size_t len, struct kevent *ev);

/*
 * Writes the bus address in s (len bytes) in the compared form, for any
 * of "0000:2b:00", "00000000:2B:00.0", "0000:2b:00.0", "2b:00.0": domain
 * as 4 hex digits (more when it needs them), bus and device as 2, lower
 * case, no function.  Returns 0, or -1 when s is not a bus address.
 */
int kevent_pci_normalize(const char *s, size_t len, char out[KEVENT_PCI_LEN]);

#endif
