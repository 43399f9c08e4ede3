/*
 * linebuf.h - reassembles lines from a byte stream read in pieces (a pipe,
 * a FIFO, a file that grows) with no allocation: a line longer than
 * LINEBUF_MAX - 1 bytes is dropped whole, up to and including its newline,
 * and counted in `dropped`.  Used for nvidia-smi's output and for kernel
 * log records read from a file.
 */
#ifndef GPUTEL_LINEBUF_H
#define GPUTEL_LINEBUF_H

#include <stddef.h>

#define LINEBUF_MAX 8192

struct linebuf {
	size_t len;
	int discarding;
	unsigned long dropped;
	char buf[LINEBUF_MAX];
};

typedef void (*linebuf_fn)(char *line, void *ctx);

/* Calls fn for every complete line in data (without its "\n" or "\r\n"), NUL-terminated. */
void linebuf_feed(struct linebuf *lb, const char *data, size_t n, linebuf_fn fn, void *ctx);

/* Forgets a partial line (not the dropped count). */
void linebuf_reset(struct linebuf *lb);

#endif
