/*
 * http.h - the exporter's HTTP server: GET /metrics, /healthz, /status.
 *
 * libmicrohttpd serves from its own thread.  It is loaded with dlopen()
 * when a server starts, so `gputel collect` and the other modes that serve
 * nothing never map it (it pulls in GnuTLS: megabytes of RSS).
 *
 * The sampling loop publishes one page per tick (the rendered metrics, the
 * /status JSON, the tick's time); requests are answered from the latest
 * page and never wait for a sensor.  Requests are bounded in size and time
 * by the server's options, so a slow or idle client cannot hold others up.
 */
#ifndef GPUTEL_HTTP_H
#define GPUTEL_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct http_server;

struct http_options {
	const char *bind;         /* numeric address; NULL or "" = all IPv4 addresses */
	unsigned int port;        /* 1..65535 */
	int64_t stale_after_ns;   /* /healthz answers 503 once the last page is older */
	const char *library;      /* NULL: libmicrohttpd.so.12 */
};

/* Returns 0, or -1 with err filled (one line naming the problem and the fix). */
int http_start(struct http_server **out, const struct http_options *opt, char *err, size_t errlen);

/*
 * Publishes the page answered from now on.  Copies the texts; never blocks
 * on a request in progress for longer than a memcpy.  Returns 0 or -1 (out
 * of memory: the previous page stays).
 */
int http_publish(struct http_server *s, const char *metrics, size_t metrics_len,
		 const char *status_json, size_t status_len, int64_t tick_mono_ns);

/* Counts of answered requests, for tests and self metrics. */
uint64_t http_requests(const struct http_server *s);

void http_stop(struct http_server *s);

#endif
