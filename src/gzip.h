/*
 * gzip.h - gzip compression through zlib, loaded on first use: the
 * exporter's /metrics for a client that asks for it, the OTLP exporter's
 * request bodies.  A run that never compresses never maps zlib.
 */
#ifndef GPUTEL_GZIP_H
#define GPUTEL_GZIP_H

#include <stdbool.h>
#include <stddef.h>

/*
 * in (n bytes) gzipped into a malloc'd *out of *out_len bytes.  Returns
 * false when zlib cannot be loaded or memory ran out (*out NULL).
 * Thread-safe.
 */
bool gzip_buf(const char *in, size_t n, char **out, size_t *out_len);

#endif
