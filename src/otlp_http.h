/*
 * otlp_http.h - one OTLP/HTTP POST at a time, through libcurl loaded with
 * dlopen by the run that exports (a run without OTLP never maps it).
 *
 * Used by the exporter's thread only.  The connection is kept between
 * requests (keep-alive); a request can be cut short by a flag the loop's
 * thread sets (the agent is stopping).
 */
#ifndef GPUTEL_OTLP_HTTP_H
#define GPUTEL_OTLP_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * libcurl built on GnuTLS first: the exporter's libmicrohttpd maps GnuTLS
 * already, where the OpenSSL build would add about 4 MiB of libraries to
 * the agent (docs/benchmarks.md).  Either serves.
 */
#define OTLP_HTTP_LIBRARY "libcurl-gnutls.so.4"
#define OTLP_HTTP_LIBRARY_ALT "libcurl.so.4"
#define OTLP_HTTP_REPLY_MAX (64 * 1024)

struct otlp_http_opts {
	int64_t timeout_ms;             /* the whole request; 0: no limit */
	const char *ca_file;            /* "": the system's */
	const char *client_cert;        /* "": none */
	const char *client_key;
	const char *const *headers;     /* "Name: value" lines, NULL-terminated; may be NULL */
	const atomic_bool *abort;       /* set: give up the request in flight */
};

struct otlp_http_reply {
	long status;                    /* 0: no HTTP answer (error says why) */
	int64_t retry_after_ms;         /* Retry-After, -1 when none or unreadable */
	char body[OTLP_HTTP_REPLY_MAX]; /* the first OTLP_HTTP_REPLY_MAX bytes */
	size_t body_len;
	char error[256];                /* when status is 0 */
};

struct otlp_http;

/*
 * The libcurl otlp_http_new would load (path NULL: OTLP_HTTP_LIBRARY, else
 * OTLP_HTTP_LIBRARY_ALT), found and checked as a whole shared library
 * without mapping it.  Returns 0 with found set (what to give
 * otlp_http_new), or -1 with err set to one line naming the library and
 * the package.  So a run can refuse to start without libcurl and still map
 * it only once it has something to send.
 */
int otlp_http_find(const char *path, char *found, size_t foundlen, char *err, size_t errlen);

/*
 * Loads libcurl (path NULL: OTLP_HTTP_LIBRARY, else OTLP_HTTP_LIBRARY_ALT) and makes a client.  NULL
 * with err set to one line naming the library and the package when it
 * cannot be loaded.
 */
struct otlp_http *otlp_http_new(const char *path, char *err, size_t errlen);
void otlp_http_free(struct otlp_http *h);

/*
 * POSTs body to url.  Returns 0 with reply filled (any HTTP status), or -1
 * with reply->error set when no answer came (connection refused, timeout,
 * TLS, aborted).
 */
int otlp_http_post(struct otlp_http *h, const char *url, const char *content_type, bool gzipped,
		   const char *body, size_t len, const struct otlp_http_opts *opts,
		   struct otlp_http_reply *reply);

/* A Retry-After value (seconds, or an HTTP-date) in ms from now; -1 when unreadable. */
int64_t otlp_retry_after_ms(const char *value, int64_t now_wall_s);

#endif
