/*
 * fuzz_kevent.c - libFuzzer harness for the kernel log record parser
 * (kmsg.c), the GPU event parser (kevent.c) and the Xid catalog.  The
 * input is one record line, or one message when it is not a record.  It
 * is not NUL-terminated: it is copied into a buffer of exactly its size,
 * so that ASan sees a read past its end.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kevent.h"
#include "kmsg.h"
#include "xid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size ? size : 1);
	const char *msg;
	size_t len;
	struct kmsg_record rec;
	struct kevent ev;
	enum kevent_kind k;

	if (!line)
		return 0;
	memcpy(line, data, size);
	msg = line;
	len = size;
	if (kmsg_parse_record(line, size, &rec) == 0) {
		if (rec.msg < line || rec.msg + rec.len != line + size || rec.level > 7 || rec.mono_us < 0)
			abort();
		msg = rec.msg;
		len = rec.len;
	}
	k = kevent_parse(msg, len, &ev);
	/* The detail lies within the message. */
	if (ev.detail < msg || ev.detail + ev.detail_len > msg + len)
		abort();
	if (strlen(ev.process) >= KEVENT_NAME_MAX || strlen(ev.uuid) >= KEVENT_UUID_MAX)
		abort();
	switch (k) {
	case KEVENT_XID:
	case KEVENT_SXID:
	case KEVENT_SXID_DETAIL:
	case KEVENT_OFF_BUS:
		/* An event has a code and a bus address in the compared form. */
		if (ev.code < 0 || ev.code > 99999 || strlen(ev.pci) < 10 || ev.pci[strlen(ev.pci) - 3] != ':')
			abort();
		if (!xid_lookup(ev.code)->name)
			abort();
		break;
	case KEVENT_GPU_UUID:
		if (strncmp(ev.uuid, "GPU-", 4) != 0 || !ev.pci[0])
			abort();
		break;
	default:
		if (ev.code != -1 || ev.pci[0] || ev.pid != -1)
			abort();
		break;
	}
	free(line);
	return 0;
}
