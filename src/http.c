/* http.c - see http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#include "fdlimit.h"
#include "gzip.h"
#include "log.h"
#include "mhd.h"
#include "util.h"

/*
 * Connections are capped below the descriptor limit (fdlimit.h): at most
 * half of what the reserve leaves, so that a crowd of idle clients cannot
 * take the descriptors the agent needs for its own files; and at most
 * PER_CLIENT_MAX from one address, so that one client holding many slow
 * connections cannot keep Prometheus out.  An idle connection is closed
 * after CONNECTION_TIMEOUT_S.
 */
#define CONNECTION_LIMIT 4096
#define CONNECTION_SHARE_PCT 50
#define PER_CLIENT_MAX 32
#define CONNECTION_TIMEOUT_S 10
#define CONNECTION_MEMORY (32 * 1024)   /* bounds a request's headers */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* One tick's answers; shared by the requests in flight, freed by the last. */
struct page {
	unsigned int refs;           /* under http_server.mu */
	char *metrics;
	size_t metrics_len;
	char *status;
	size_t status_len;
	int64_t tick_ns;
	pthread_mutex_t gz_mu;       /* the gzip copy is made once, on demand */
	bool gz_tried;
	char *gz;
	size_t gz_len;
};

struct http_server {
	struct MHD_Daemon *daemon;
	bool loaded;                 /* holds a mhd_load() */
	int listen_fd;
	int64_t stale_after_ns;
	pthread_mutex_t mu;
	struct page *page;           /* under mu */
	uint64_t requests;           /* under mu */
};

static void page_free(struct page *p)
{
	if (!p)
		return;
	free(p->metrics);
	free(p->status);
	free(p->gz);
	pthread_mutex_destroy(&p->gz_mu);
	free(p);
}

static struct page *page_get(struct http_server *s)
{
	struct page *p;

	pthread_mutex_lock(&s->mu);
	p = s->page;
	if (p)
		p->refs++;
	s->requests++;
	pthread_mutex_unlock(&s->mu);
	return p;
}

static void page_put(struct http_server *s, struct page *p)
{
	bool last;

	if (!p)
		return;
	pthread_mutex_lock(&s->mu);
	last = --p->refs == 0;
	pthread_mutex_unlock(&s->mu);
	if (last)
		page_free(p);
}

/* The page's metrics gzipped, made by the first request that wants them. */
static bool page_gzip(struct page *p, const char **out, size_t *len)
{
	pthread_mutex_lock(&p->gz_mu);
	if (!p->gz_tried) {
		p->gz_tried = true;
		if (!gzip_buf(p->metrics, p->metrics_len, &p->gz, &p->gz_len))
			p->gz = NULL;
	}
	pthread_mutex_unlock(&p->gz_mu);
	*out = p->gz;
	*len = p->gz_len;
	return p->gz != NULL;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *type,
			     const char *body, size_t len, const char *encoding)
{
	struct MHD_Response *r = mhd.response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	mhd.add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (encoding)
		mhd.add_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, encoding);
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		mhd.add_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = mhd.queue_response(c, code, r);
	mhd.destroy_response(r);
	return ret;
}

static bool wants_gzip(struct MHD_Connection *c)
{
	const char *ae = mhd.lookup_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);

	return ae && strstr(ae, "gzip");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **req)
{
	static const char not_found[] = "not found: try /metrics, /healthz or /status\n";
	static const char no_method[] = "method not allowed: use GET\n";
	static const char starting[] = "no sample yet\n";
	struct http_server *s = cls;
	struct page *p;
	enum MHD_Result ret;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)req;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", no_method,
			     sizeof no_method - 1, NULL);
	if (strcmp(url, "/metrics") != 0 && strcmp(url, "/healthz") != 0 &&
	    strcmp(url, "/status") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, sizeof not_found - 1,
			     NULL);
	p = page_get(s);
	if (!p) {
		ret = reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", starting,
			    sizeof starting - 1, NULL);
	} else if (strcmp(url, "/metrics") == 0) {
		const char *gz;
		size_t gz_len;

		if (wants_gzip(c) && page_gzip(p, &gz, &gz_len))
			ret = reply(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, gz, gz_len, "gzip");
		else
			ret = reply(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, p->metrics,
				    p->metrics_len, NULL);
	} else if (strcmp(url, "/status") == 0) {
		ret = reply(c, MHD_HTTP_OK, "application/json", p->status, p->status_len, NULL);
	} else {
		bool fresh = mono_now_ns() - p->tick_ns <= s->stale_after_ns;

		ret = fresh ? reply(c, MHD_HTTP_OK, "text/plain", "ok\n", 3, NULL)
			    : reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
				    "stale: no tick lately\n", 22, NULL);
	}
	page_put(s, p);
	return ret;
}

/* Binds the listening socket ourselves, so a refusal can say why. */
static int listen_on(const struct http_options *opt, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *bind_addr = opt->bind && *opt->bind ? opt->bind : "0.0.0.0";
	int fd, one = 1;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, bind_addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)opt->port);
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, bind_addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)opt->port);
		len = sizeof(struct sockaddr_in6);
	} else {
		str_fmt(err, errlen, "bind address '%s' is not a numeric IPv4 or IPv6 address; use e.g. 0.0.0.0 or 127.0.0.1",
			bind_addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		str_fmt(err, errlen, "cannot create a socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
		int e = errno;

		str_fmt(err, errlen, "cannot listen on %s port %u: %s; %s", bind_addr, opt->port,
			strerror(e),
			e == EADDRINUSE ? "another process holds the port: stop it or pick another --port"
					: "check the address and port");
		close(fd);
		return -1;
	}
	return fd;
}

/* Caps below the usual ones are worth a line, once: with JN_EXPORTER_MODE=active the server starts every period. */
static void say_caps_once(unsigned int limit, unsigned int per_client)
{
	static bool said;

	if (said)
		return;
	said = true;
	log_info("http: the open files limit is %lu: at most %u connections at once, %u per client address; raise LimitNOFILE for more",
		 fdlimit_soft(), limit, per_client);
}

int http_start(struct http_server **out, const struct http_options *opt, char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof *s);
	unsigned int limit = fdlimit_connections(CONNECTION_SHARE_PCT, CONNECTION_LIMIT);
	unsigned int per_client = limit / 4 < PER_CLIENT_MAX ? limit / 4 : PER_CLIENT_MAX;

	if (!s) {
		str_copy(err, "out of memory", errlen);
		return -1;
	}
	s->listen_fd = -1;
	s->stale_after_ns = opt->stale_after_ns;
	pthread_mutex_init(&s->mu, NULL);
	if (mhd_load(opt->library, err, errlen) != 0)
		goto fail;
	s->loaded = true;
	s->listen_fd = listen_on(opt, err, errlen);
	if (s->listen_fd < 0)
		goto fail;
	if (limit < CONNECTION_LIMIT)
		say_caps_once(limit, per_client);
	s->daemon = mhd.start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)opt->port, NULL, NULL,
		handle, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd, MHD_OPTION_CONNECTION_LIMIT,
		limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_client,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_END);
	if (!s->daemon) {
		str_copy(err, "libmicrohttpd could not start its server thread", errlen);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->loaded)
		mhd_unload();
	pthread_mutex_destroy(&s->mu);
	free(s);
	return -1;
}

int http_publish(struct http_server *s, const char *metrics, size_t metrics_len,
		 const char *status_json, size_t status_len, int64_t tick_mono_ns)
{
	struct page *p = calloc(1, sizeof *p), *old;
	bool last;

	if (!p)
		return -1;
	p->metrics = malloc(metrics_len ? metrics_len : 1);
	p->status = malloc(status_len ? status_len : 1);
	if (!p->metrics || !p->status) {
		free(p->metrics);
		free(p->status);
		free(p);
		return -1;
	}
	memcpy(p->metrics, metrics, metrics_len);
	memcpy(p->status, status_json, status_len);
	p->metrics_len = metrics_len;
	p->status_len = status_len;
	p->tick_ns = tick_mono_ns;
	p->refs = 1;
	pthread_mutex_init(&p->gz_mu, NULL);
	pthread_mutex_lock(&s->mu);
	old = s->page;
	s->page = p;
	last = old && --old->refs == 0;
	pthread_mutex_unlock(&s->mu);
	if (last)
		page_free(old);
	return 0;
}

uint64_t http_requests(const struct http_server *s)
{
	uint64_t n;

	pthread_mutex_lock((pthread_mutex_t *)&s->mu);
	n = s->requests;
	pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
	return n;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	if (s->daemon)
		mhd.stop_daemon(s->daemon);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	page_free(s->page);
	mhd_unload();
	pthread_mutex_destroy(&s->mu);
	free(s);
}
