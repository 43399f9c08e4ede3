/*
 * fuzz_syslog.c - libFuzzer harness for kern.log's syslog prefix parser
 * (klog_file.c), and the GPU event parser behind it (kevent.c) for the
 * kernel's lines.  The input is one line, not NUL-terminated: it is copied
 * into a buffer of exactly its size, so that ASan sees a read past its end.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kevent.h"
#include "klog_internal.h"

/* 2026-12-06T21:00:00Z: a fixed now, so that a crash replays the same. */
#define NOW_NS (1796590800LL * 1000000000LL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size ? size : 1);
	struct klog_syslog_line s;
	struct kevent ev;

	if (!line)
		return 0;
	memcpy(line, data, size);
	if (klog_parse_syslog(line, size, NOW_NS, &s) == 0) {
		/* The message lies within the line, at its end. */
		if (s.msg < line || s.msg + s.len != line + size)
			abort();
		if (s.kernel)
			kevent_parse(s.msg, s.len, &ev);
	}
	free(line);
	return 0;
}
