/* otlp_http.c - see otlp_http.h. */
#include "otlp_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands.h"
#include "libcheck.h"
#include "util.h"

/* The libcurl calls used, by their documented prototypes. */
struct curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *c);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

struct otlp_http {
	void *lib;
	struct curl_api api;
	CURL *curl;
};

static const struct {
	const char *name;
	size_t offset;
} syms[] = {
#define SYM(field, name) { name, offsetof(struct curl_api, field) }
	SYM(global_init, "curl_global_init"),
	SYM(easy_init, "curl_easy_init"),
	SYM(easy_setopt, "curl_easy_setopt"),
	SYM(easy_perform, "curl_easy_perform"),
	SYM(easy_getinfo, "curl_easy_getinfo"),
	SYM(easy_cleanup, "curl_easy_cleanup"),
	SYM(easy_strerror, "curl_easy_strerror"),
	SYM(slist_append, "curl_slist_append"),
	SYM(slist_free_all, "curl_slist_free_all"),
#undef SYM
};

/* curl_global_init is not thread-safe: once per process. */
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static bool global_done;

int otlp_http_find(const char *path, char *found, size_t foundlen, char *err, size_t errlen)
{
	const char *names[] = { OTLP_HTTP_LIBRARY, OTLP_HTTP_LIBRARY_ALT };
	char why[256];

	if (path) {
		/* A path as given; a bare name the way the loader would look for it. */
		if (strchr(path, '/'))
			str_copy(found, path, foundlen);
		else if (libcheck_find(path, found, foundlen) != 0)
			goto missing;
	} else if (libcheck_find(names[0], found, foundlen) != 0 && libcheck_find(names[1], found, foundlen) != 0) {
		path = names[0];
		goto missing;
	}
	if (libcheck_file(found, why, sizeof why) != 0) {
		str_fmt(err, errlen, "cannot load %s (%s); install the libcurl3-gnutls or libcurl4 package, or turn OTLP "
			"export off", found, why);
		return -1;
	}
	return 0;
missing:
	str_fmt(err, errlen, "cannot load %s (no such library); install the libcurl3-gnutls or libcurl4 package, or "
		"turn OTLP export off", path);
	return -1;
}

struct otlp_http *otlp_http_new(const char *path, char *err, size_t errlen)
{
	struct otlp_http *h = calloc(1, sizeof *h);
	CURLcode rc;

	if (!h) {
		str_fmt(err, errlen, "out of memory");
		return NULL;
	}
	if (path) {
		h->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	} else {
		path = OTLP_HTTP_LIBRARY;
		h->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h->lib) {
			path = OTLP_HTTP_LIBRARY_ALT;
			h->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		}
	}
	if (!h->lib) {
		str_fmt(err, errlen, "cannot load %s (%s); install the libcurl3-gnutls or libcurl4 package, or turn "
			"OTLP export off", path, dlerror());
		free(h);
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(syms); i++) {
		void *p = dlsym(h->lib, syms[i].name);

		if (!p) {
			str_fmt(err, errlen, "%s has no %s: not a libcurl; install the libcurl3-gnutls package", path,
				syms[i].name);
			dlclose(h->lib);
			free(h);
			return NULL;
		}
		memcpy((char *)&h->api + syms[i].offset, &p, sizeof p);
	}
	pthread_mutex_lock(&init_mu);
	rc = global_done ? CURLE_OK : h->api.global_init(CURL_GLOBAL_DEFAULT);
	global_done = rc == CURLE_OK;
	pthread_mutex_unlock(&init_mu);
	h->curl = rc == CURLE_OK ? h->api.easy_init() : NULL;
	if (!h->curl) {
		str_fmt(err, errlen, "%s could not start (%s)", path,
			rc == CURLE_OK ? "curl_easy_init failed" : h->api.easy_strerror(rc));
		dlclose(h->lib);
		free(h);
		return NULL;
	}
	return h;
}

void otlp_http_free(struct otlp_http *h)
{
	if (!h)
		return;
	h->api.easy_cleanup(h->curl);
	/* libcurl stays mapped: its TLS library keeps state that unloading would pull from under it. */
	free(h);
}

int64_t otlp_retry_after_ms(const char *value, int64_t now_wall_s)
{
	struct tm tm;
	const char *end;
	char *num_end;
	long long s;

	while (*value == ' ' || *value == '\t')
		value++;
	if (isdigit((unsigned char)*value)) {
		s = strtoll(value, &num_end, 10);
		while (*num_end == ' ' || *num_end == '\t' || *num_end == '\r' || *num_end == '\n')
			num_end++;
		if (*num_end || s < 0)
			return -1;
		return s > 86400 ? 86400000 : s * 1000;
	}
	/* An HTTP-date: "Sun, 06 Nov 1994 08:49:37 GMT". */
	memset(&tm, 0, sizeof tm);
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end)
		return -1;
	s = (long long)timegm(&tm) - now_wall_s;
	if (s < 0)
		return 0;
	return s > 86400 ? 86400000 : s * 1000;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct otlp_http_reply *r = ctx;
	size_t len = size * n, room = sizeof r->body - r->body_len;

	memcpy(r->body + r->body_len, p, len < room ? len : room);
	r->body_len += len < room ? len : room;
	return len;     /* the rest is read and dropped: the reply's first bytes say enough */
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct otlp_http_reply *r = ctx;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof name - 1 && len < 256 && strncasecmp(p, name, sizeof name - 1) == 0) {
		char v[256];

		memcpy(v, p + sizeof name - 1, len - (sizeof name - 1));
		v[len - (sizeof name - 1)] = '\0';
		r->retry_after_ms = otlp_retry_after_ms(v, (int64_t)time(NULL));
	}
	return len;
}

static int on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	const atomic_bool *abort_flag = ctx;

	(void)a, (void)b, (void)c, (void)d;
	return abort_flag && atomic_load(abort_flag) ? 1 : 0;
}

int otlp_http_post(struct otlp_http *h, const char *url, const char *content_type, bool gzipped,
		   const char *body, size_t len, const struct otlp_http_opts *opts,
		   struct otlp_http_reply *reply)
{
	const struct curl_api *c = &h->api;
	struct curl_slist *hdrs = NULL;
	char line[128];
	CURLcode rc;
	int ret = 0;

	reply->status = 0;
	reply->retry_after_ms = -1;
	reply->body_len = 0;
	reply->error[0] = '\0';
	str_fmt(line, sizeof line, "Content-Type: %s", content_type);
	hdrs = c->slist_append(hdrs, line);
	if (gzipped)
		hdrs = c->slist_append(hdrs, "Content-Encoding: gzip");
	/* No "Expect: 100-continue" round trip before a large body. */
	hdrs = c->slist_append(hdrs, "Expect:");
	for (size_t i = 0; opts->headers && opts->headers[i]; i++)
		hdrs = c->slist_append(hdrs, opts->headers[i]);
	c->easy_setopt(h->curl, CURLOPT_URL, url);
	c->easy_setopt(h->curl, CURLOPT_POST, 1L);
	c->easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
	c->easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	c->easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
	c->easy_setopt(h->curl, CURLOPT_USERAGENT, "OTel-OTLP-Exporter-gputel/" GPUTEL_VERSION);
	/* Threads: no signals from name resolution. */
	c->easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	c->easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	c->easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
	c->easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)opts->timeout_ms);
	c->easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS,
		       (long)(opts->timeout_ms && opts->timeout_ms < 10000 ? opts->timeout_ms : 10000));
	c->easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	c->easy_setopt(h->curl, CURLOPT_WRITEDATA, reply);
	c->easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	c->easy_setopt(h->curl, CURLOPT_HEADERDATA, reply);
	c->easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
	c->easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	c->easy_setopt(h->curl, CURLOPT_XFERINFODATA, (void *)opts->abort);
	c->easy_setopt(h->curl, CURLOPT_CAINFO, opts->ca_file && *opts->ca_file ? opts->ca_file : NULL);
	c->easy_setopt(h->curl, CURLOPT_SSLCERT, opts->client_cert && *opts->client_cert ? opts->client_cert : NULL);
	c->easy_setopt(h->curl, CURLOPT_SSLKEY, opts->client_key && *opts->client_key ? opts->client_key : NULL);
	rc = c->easy_perform(h->curl);
	if (rc == CURLE_OK) {
		c->easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &reply->status);
	} else {
		str_copy(reply->error, rc == CURLE_ABORTED_BY_CALLBACK ? "stopped" : c->easy_strerror(rc),
			 sizeof reply->error);
		ret = -1;
	}
	c->slist_free_all(hdrs);
	return ret;
}
