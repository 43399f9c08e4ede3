/*
 * fuzz_otlp.c - libFuzzer harness for what the OTLP exporter reads from
 * outside: a collector's replies (partial success and error bodies, in
 * protobuf and JSON), Retry-After values, W3C traceparent values, and the
 * OTEL_* variables' key=value lists (headers, resource attributes).  The
 * first byte picks the parser; the rest is its input, copied into a buffer
 * of exactly its size (NUL-terminated where the parser takes a string).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "otlp_config.h"
#include "otlp_encode.h"
#include "otlp_http.h"
#include "otlp_record.h"
#include "tracectx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[512];
	char *in;
	size_t n;
	uint8_t tid[TRACE_ID_LEN], sid[SPAN_ID_LEN], flags;
	const char *why;

	if (size < 1)
		return 0;
	n = size - 1;
	in = malloc(n + 1);
	if (!in)
		return 0;
	memcpy(in, data + 1, n);
	in[n] = '\0';
	switch (data[0] % 6) {
	case 0:
		if (otlp_decode_partial(OTLP_LOGS, OTLP_PROTOBUF, in, n, msg, sizeof msg) < 0 ||
		    otlp_decode_partial(OTLP_TRACES, OTLP_PROTOBUF, in, n, msg, sizeof msg) < 0)
			abort();
		break;
	case 1:
		if (otlp_decode_partial(OTLP_LOGS, OTLP_JSON, in, n, msg, sizeof msg) < 0 ||
		    otlp_decode_partial(OTLP_TRACES, OTLP_JSON, in, n, msg, sizeof msg) < 0)
			abort();
		break;
	case 2:
		otlp_decode_error(OTLP_PROTOBUF, in, n, msg, sizeof msg);
		otlp_decode_error(OTLP_JSON, in, n, msg, sizeof msg);
		if (strlen(msg) >= sizeof msg)
			abort();
		break;
	case 3:
		if (otlp_retry_after_ms(in, 1800000000) > 86400000)
			abort();
		break;
	case 4:
		if (traceparent_parse(in, tid, sid, &flags, &why) == 0 &&
		    (!trace_id_valid(tid, TRACE_ID_LEN) || !trace_id_valid(sid, SPAN_ID_LEN)))
			abort();
		break;
	default: {
		/* The same text as every list variable at once. */
		static struct config cfg;
		struct otlp_config c;
		char hdr[4200], res[4200];
		char *env[] = { hdr, res, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", NULL };

		config_defaults(&cfg);
		snprintf(hdr, sizeof hdr, "OTEL_EXPORTER_OTLP_HEADERS=%.4096s", in);
		snprintf(res, sizeof res, "OTEL_RESOURCE_ATTRIBUTES=%.4096s", in);
		if (otlp_config_resolve(&c, &cfg, env, "host", msg, sizeof msg) == 1) {
			for (size_t i = 0; c.sig[OTLP_LOGS].headers[i]; i++)
				if (strpbrk(c.sig[OTLP_LOGS].headers[i], "\r\n"))
					abort();    /* a header line must never carry another */
			otlp_config_release(&c);
		}
		break;
	}
	}
	free(in);
	return 0;
}
