/*
 * otlp_encode.h - OTLP export requests from records (otlp_record.h), and
 * the collector's replies.
 *
 * Two encodings, as OTLP/HTTP has them: binary protobuf (the default,
 * through protobuf-c on gputel's own proto/otlp.proto) and JSON (the
 * protocol's JSON mapping: lowerCamelCase keys, ids in hex, 64-bit
 * integers as decimal strings, enums as numbers).  One request carries
 * one signal's records under one resource and one instrumentation scope.
 */
#ifndef GPUTEL_OTLP_ENCODE_H
#define GPUTEL_OTLP_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "otlp_record.h"

enum otlp_format { OTLP_PROTOBUF, OTLP_JSON };

struct otlp_scope {
	const char *name;
	const char *version;
};

/* The request's Content-Type. */
const char *otlp_content_type(enum otlp_format fmt);

/*
 * An export request for n records of one signal (logs or traces), under
 * resource (a record of signal OTLP_RESOURCE: its attributes).  Returns a
 * malloc'd body with *len set, or NULL when memory ran out.
 */
char *otlp_encode(enum otlp_signal signal, enum otlp_format fmt, const struct otlp_record *resource,
		  const struct otlp_scope *scope, struct otlp_record *const *recs, size_t n, size_t *len);

/*
 * A 200 reply's partial success: the records the collector rejected (0
 * when none, or the reply could not be read) and its message ("" if none).
 */
int64_t otlp_decode_partial(enum otlp_signal signal, enum otlp_format fmt, const char *body, size_t len,
			    char *msg, size_t msglen);

/* An error reply's message (google.rpc.Status, or JSON {"message": ...}): "" when it has none. */
void otlp_decode_error(enum otlp_format fmt, const char *body, size_t len, char *msg, size_t msglen);

#endif
