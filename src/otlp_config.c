/* otlp_config.c - see otlp_config.h. */
#include "otlp_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "config.h"
#include "util.h"

static const char *const signal_names[OTLP_SIGNALS] = { "logs", "traces" };
static const char *const signal_upper[OTLP_SIGNALS] = { "LOGS", "TRACES" };

const char *otlp_signal_name(enum otlp_signal s)
{
	return s < OTLP_SIGNALS ? signal_names[s] : "resource";
}

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* OTEL_EXPORTER_OTLP_<SIGNAL>_<what>, else OTEL_EXPORTER_OTLP_<what>; *name says which was used. */
static const char *signal_env(char *const *env, enum otlp_signal s, const char *what, char *name, size_t n)
{
	const char *v;

	str_fmt(name, n, "OTEL_EXPORTER_OTLP_%s_%s", signal_upper[s], what);
	v = env_get(env, name);
	if (v && *v)
		return v;
	str_fmt(name, n, "OTEL_EXPORTER_OTLP_%s", what);
	v = env_get(env, name);
	return v && *v ? v : NULL;
}

static bool is_true(const char *v)
{
	return v && strcasecmp(v, "true") == 0;
}

static int percent_decode(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (*r == '%') {
			int hi, lo;

			if (!isxdigit((unsigned char)r[1]) || !isxdigit((unsigned char)r[2]))
				return -1;
			hi = isdigit((unsigned char)r[1]) ? r[1] - '0' : (tolower((unsigned char)r[1]) - 'a' + 10);
			lo = isdigit((unsigned char)r[2]) ? r[2] - '0' : (tolower((unsigned char)r[2]) - 'a' + 10);
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/*
 * A "k1=v1,k2=v2" list (W3C baggage form, values percent-encoded): calls
 * fn for each pair.  -1 when an entry has no '=' or an empty key, or a bad
 * escape.
 */
static int parse_pairs(const char *list, int (*fn)(void *ctx, const char *k, const char *v), void *ctx)
{
	char *copy = strdup(list), *save = NULL, *item;
	int rc = 0;

	if (!copy)
		return -1;
	for (item = strtok_r(copy, ",", &save); item && rc == 0; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '='), *k, *v;

		if (!*trim(item))
			continue;
		if (!eq) {
			rc = -1;
			break;
		}
		*eq = '\0';
		k = trim(item);
		v = trim(eq + 1);
		if (!*k || percent_decode(k) != 0 || percent_decode(v) != 0)
			rc = -1;
		else
			rc = fn(ctx, k, v);
	}
	free(copy);
	return rc;
}

struct header_ctx {
	struct otlp_signal_config *sc;
	size_t n;
};

static int add_header(void *ctx, const char *k, const char *v)
{
	struct header_ctx *h = ctx;
	size_t len = strlen(k) + strlen(v) + 3;
	char *line;

	/* A header name is a token; a value has no line break (it would smuggle a header in). */
	for (const char *p = k; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
			return -1;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return -1;
	if (h->n == OTLP_HEADERS_MAX || !(line = malloc(len)))
		return -1;
	snprintf(line, len, "%s: %s", k, v);
	h->sc->headers[h->n++] = line;
	return 0;
}

static int add_resource_attr(void *ctx, const char *k, const char *v)
{
	struct otlp_record *r = ctx;

	/* A later value for the same key replaces the earlier (gputel's own come first). */
	for (size_t i = 0; i < r->n_attrs; i++)
		if (strcmp(otlp_str(r, r->attr[i].key), k) == 0) {
			r->attr[i].v.s = otlp_text_z(r, v);
			r->attr[i].type = OTLP_STR;
			return 0;
		}
	otlp_attr_str(r, OTLP_OWNER_RECORD, k, v);
	return 0;
}

static void machine_id(char *out, size_t n)
{
	char buf[128];

	out[0] = '\0';
	if (file_read_small("/etc/machine-id", buf, sizeof buf) > 0 ||
	    file_read_small("/var/lib/dbus/machine-id", buf, sizeof buf) > 0) {
		buf[strcspn(buf, "\r\n")] = '\0';
		str_copy(out, buf, n);
	}
}

static int resolve_signal(struct otlp_config *c, enum otlp_signal s, const struct config *cfg, char *const *env,
			  char *why, size_t whylen)
{
	struct otlp_signal_config *sc = &c->sig[s];
	char name[96], exporter[32];
	const char *v;
	struct header_ctx hc = { sc, 0 };

	str_fmt(exporter, sizeof exporter, "OTEL_%s_EXPORTER", signal_upper[s]);
	v = env_get(env, exporter);
	if (v && strcmp(v, "none") == 0)
		return 0;
	/* The endpoint. */
	if (cfg->otlp_endpoint[0]) {
		const char *base = cfg->otlp_endpoint;
		size_t len = strlen(base);

		if (str_fmt(sc->url, sizeof sc->url, "%s%sv1/%s", base, len && base[len - 1] == '/' ? "" : "/",
			    signal_names[s]) < 0) {
			str_fmt(why, whylen, "JN_OTLP_ENDPOINT is too long");
			return -1;
		}
	} else {
		str_fmt(name, sizeof name, "OTEL_EXPORTER_OTLP_%s_ENDPOINT", signal_upper[s]);
		v = env_get(env, name);
		if (v && *v) {
			if (!url_http_ok(v) || str_fmt(sc->url, sizeof sc->url, "%s", v) < 0) {
				str_fmt(why, whylen, "%s: '%.200s' is not an http:// or https:// URL; give one such as "
					"http://127.0.0.1:4318/v1/%s", name, v, signal_names[s]);
				return -1;
			}
		} else if ((v = env_get(env, "OTEL_EXPORTER_OTLP_ENDPOINT")) != NULL && *v) {
			size_t len = strlen(v);

			if (!url_http_ok(v) || str_fmt(sc->url, sizeof sc->url, "%s%sv1/%s", v,
						       v[len - 1] == '/' ? "" : "/", signal_names[s]) < 0) {
				str_fmt(why, whylen, "OTEL_EXPORTER_OTLP_ENDPOINT: '%.200s' is not an http:// or https:// "
					"URL; give one such as http://127.0.0.1:4318", v);
				return -1;
			}
		} else {
			return 0;
		}
	}
	/* The encoding. */
	sc->fmt = cfg->otlp_protocol == CONFIG_OTLP_JSON ? OTLP_JSON : OTLP_PROTOBUF;
	if (cfg->otlp_protocol == CONFIG_OTLP_AUTO && (v = signal_env(env, s, "PROTOCOL", name, sizeof name))) {
		if (strcmp(v, "http/json") == 0) {
			sc->fmt = OTLP_JSON;
		} else if (strcmp(v, "http/protobuf") != 0) {
			str_fmt(why, whylen, "%s: '%.40s' is not supported; use http/protobuf or http/json "
				"(gputel speaks OTLP over HTTP, usually port 4318)", name, v);
			return -1;
		}
	}
	sc->gzip = true;
	if ((v = signal_env(env, s, "COMPRESSION", name, sizeof name))) {
		if (strcmp(v, "none") == 0) {
			sc->gzip = false;
		} else if (strcmp(v, "gzip") != 0) {
			str_fmt(why, whylen, "%s: '%.40s' is not supported; use gzip or none", name, v);
			return -1;
		}
	}
	sc->timeout_ms = OTLP_DEFAULT_TIMEOUT_MS;
	if ((v = signal_env(env, s, "TIMEOUT", name, sizeof name))) {
		int64_t ms;

		if (parse_int64(v, &ms) != 0 || ms < 0 || ms > 3600 * 1000) {
			str_fmt(why, whylen, "%s: '%.40s' is not a timeout in milliseconds (0..3600000)", name, v);
			return -1;
		}
		sc->timeout_ms = ms;
	}
	if ((v = signal_env(env, s, "CERTIFICATE", name, sizeof name)))
		str_copy(sc->ca_file, v, sizeof sc->ca_file);
	if ((v = signal_env(env, s, "CLIENT_CERTIFICATE", name, sizeof name)))
		str_copy(sc->client_cert, v, sizeof sc->client_cert);
	if ((v = signal_env(env, s, "CLIENT_KEY", name, sizeof name)))
		str_copy(sc->client_key, v, sizeof sc->client_key);
	if ((v = signal_env(env, s, "HEADERS", name, sizeof name)) && parse_pairs(v, add_header, &hc) != 0) {
		str_fmt(why, whylen, "%s: not a list of name=value pairs separated by commas (values "
			"percent-encoded), or more than %d of them", name, OTLP_HEADERS_MAX);
		return -1;
	}
	sc->on = true;
	return 1;
}

int otlp_config_resolve(struct otlp_config *c, const struct config *cfg, char *const *env,
			const char *hostname, char *why, size_t whylen)
{
	const char *v;
	char id[128];
	int on = 0;

	memset(c, 0, sizeof *c);
	why[0] = '\0';
	c->batch_delay_ns = OTLP_BATCH_DELAY_NS;
	c->batch_max = OTLP_BATCH_MAX;
	c->queue_max_bytes = (size_t)cfg->otlp_queue_mb << 20;
	c->curl_library = env_get(env, "GPUTEL_LIBCURL");
	if (c->curl_library && !*c->curl_library)
		c->curl_library = NULL;         /* set but empty: the default, as if unset */
	if (is_true(env_get(env, "OTEL_SDK_DISABLED"))) {
		str_fmt(why, whylen, "OTEL_SDK_DISABLED=true");
		return 0;
	}
	for (int s = 0; s < OTLP_SIGNALS; s++) {
		int r = resolve_signal(c, (enum otlp_signal)s, cfg, env, why, whylen);

		if (r < 0) {
			otlp_config_release(c);
			return -1;
		}
		on |= r;
	}
	if (!on) {
		str_fmt(why, whylen, "no endpoint: set JN_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT");
		return 0;
	}
	str_fmt(c->queue_dir, sizeof c->queue_dir, "%s/otlp-queue", cfg->state_dir);
	c->resource = otlp_record_new(OTLP_RESOURCE);
	if (!c->resource) {
		str_fmt(why, whylen, "out of memory");
		otlp_config_release(c);
		return -1;
	}
	otlp_attr_str(c->resource, OTLP_OWNER_RECORD, "service.name", "gputel");
	otlp_attr_str(c->resource, OTLP_OWNER_RECORD, "service.version", GPUTEL_VERSION);
	otlp_attr_str(c->resource, OTLP_OWNER_RECORD, "host.name", hostname);
	machine_id(id, sizeof id);
	otlp_attr_str(c->resource, OTLP_OWNER_RECORD, "host.id", id);
	otlp_attr_str(c->resource, OTLP_OWNER_RECORD, "justnews.gpu.host_role", "node");
	if ((v = env_get(env, "OTEL_RESOURCE_ATTRIBUTES")) && *v) {
		struct otlp_record *user = otlp_record_new(OTLP_RESOURCE);

		/* The spec: a list that does not parse is discarded whole. */
		if (!user || parse_pairs(v, add_resource_attr, user) != 0) {
			str_fmt(why, whylen, "OTEL_RESOURCE_ATTRIBUTES does not parse (key=value pairs separated by "
				"commas, ',' and '=' in values percent-encoded): ignored");
		} else {
			for (size_t i = 0; i < user->n_attrs; i++)
				add_resource_attr(c->resource, otlp_str(user, user->attr[i].key),
						  otlp_str(user, user->attr[i].v.s));
		}
		otlp_record_free(user);
	}
	if ((v = env_get(env, "OTEL_SERVICE_NAME")) && *v)
		add_resource_attr(c->resource, "service.name", v);
	return 1;
}

void otlp_config_release(struct otlp_config *c)
{
	for (int s = 0; s < OTLP_SIGNALS; s++)
		for (size_t i = 0; c->sig[s].headers[i]; i++) {
			free(c->sig[s].headers[i]);
			c->sig[s].headers[i] = NULL;
		}
	otlp_record_free(c->resource);
	c->resource = NULL;
}
