/*
 * otlp_config.h - where and how the agent exports OTLP, from its JN_OTLP_*
 * keys and the standard OTEL_* environment variables.
 *
 *   endpoint     JN_OTLP_ENDPOINT (base URL, /v1/<signal> appended), else
 *                OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT (as is), else
 *                OTEL_EXPORTER_OTLP_ENDPOINT (base).  None: no export.
 *   protocol     JN_OTLP_PROTOCOL unless auto, else OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL,
 *                else http/protobuf (grpc is refused: gputel speaks OTLP/HTTP)
 *   headers, compression (gzip by default), timeout (10 s), certificate,
 *   client key and certificate: OTEL_EXPORTER_OTLP[_<SIGNAL>]_*, the signal's own first
 *   OTEL_SDK_DISABLED=true: no export; OTEL_{LOGS,TRACES}_EXPORTER=none: not that signal
 *   resource     service.name (OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES',
 *                else gputel), service.version, host.name, host.id (the machine
 *                id), justnews.gpu.host_role=node, then OTEL_RESOURCE_ATTRIBUTES
 *                (which wins over what gputel found)
 *
 * A value that cannot work (an endpoint that is not a URL, grpc, a header
 * list that does not parse) is an error naming the variable and the fix:
 * the agent exits 2 rather than run without the export it was asked for.
 */
#ifndef GPUTEL_OTLP_CONFIG_H
#define GPUTEL_OTLP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp_encode.h"
#include "otlp_record.h"

#define OTLP_URL_MAX 4096
#define OTLP_HEADERS_MAX 32
#define OTLP_DEFAULT_TIMEOUT_MS 10000
#define OTLP_BATCH_MAX 512
#define OTLP_BATCH_DELAY_NS (1000 * 1000 * 1000LL)

struct config;

struct otlp_signal_config {
	bool on;
	char url[OTLP_URL_MAX];
	enum otlp_format fmt;
	bool gzip;
	int64_t timeout_ms;
	char ca_file[1024], client_cert[1024], client_key[1024];
	char *headers[OTLP_HEADERS_MAX + 1];   /* "Name: value", NULL-terminated; owned */
};

struct otlp_config {
	struct otlp_signal_config sig[OTLP_SIGNALS];
	struct otlp_record *resource;          /* owned */
	char queue_dir[4096];
	size_t queue_max_bytes;
	int64_t batch_delay_ns;
	size_t batch_max;
	const char *curl_library;              /* NULL: the default (GPUTEL_LIBCURL overrides, for tests) */
};

/*
 * Fills c from cfg and env.  Returns 1 when export is on, 0 when off (no
 * endpoint, or disabled: why says which), or -1 with why set to one line
 * naming the variable and the fix.  env is the environment (environ).
 */
int otlp_config_resolve(struct otlp_config *c, const struct config *cfg, char *const *env,
			const char *hostname, char *why, size_t whylen);
void otlp_config_release(struct otlp_config *c);

/* "logs", "traces". */
const char *otlp_signal_name(enum otlp_signal s);

#endif
