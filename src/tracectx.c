/* tracectx.c - see tracectx.h. */
#include "tracectx.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(uint8_t *id, size_t len, const char *s, size_t n)
{
	if (n != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void hex_encode(char *out, const uint8_t *id, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[2 * len] = '\0';
}

bool trace_id_valid(const uint8_t *id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (id[i])
			return true;
	return false;
}

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int traceparent_parse(const char *s, uint8_t trace_id[TRACE_ID_LEN], uint8_t span_id[SPAN_ID_LEN],
		      uint8_t *flags, const char **why)
{
	size_t n = strlen(s);
	uint8_t version;

	/* The spec asks for lower-case hex: an upper-case one is a sender's bug worth naming. */
	if (n < TRACEPARENT_LEN || s[2] != '-' || s[35] != '-' || s[52] != '-' ||
	    !lower_hex(s, 2) || !lower_hex(s + 3, 32) || !lower_hex(s + 36, 16) || !lower_hex(s + 53, 2)) {
		*why = "not a traceparent: expected 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lower case";
		return -1;
	}
	hex_decode(&version, 1, s, 2);
	if (version == 0xff) {
		*why = "traceparent version ff is invalid";
		return -1;
	}
	if (n != TRACEPARENT_LEN && (version == 0 || s[TRACEPARENT_LEN] != '-')) {
		*why = "traceparent version 00 is exactly 55 characters";
		return -1;
	}
	hex_decode(trace_id, TRACE_ID_LEN, s + 3, 32);
	hex_decode(span_id, SPAN_ID_LEN, s + 36, 16);
	hex_decode(flags, 1, s + 53, 2);
	if (!trace_id_valid(trace_id, TRACE_ID_LEN) || !trace_id_valid(span_id, SPAN_ID_LEN)) {
		*why = "traceparent: an all-zero trace id or parent id is invalid";
		return -1;
	}
	return 0;
}

void traceparent_format(char out[TRACEPARENT_LEN + 1], const struct trace_ctx *ctx)
{
	memcpy(out, "00-", 3);
	hex_encode(out + 3, ctx->trace_id, TRACE_ID_LEN);
	out[35] = '-';
	hex_encode(out + 36, ctx->span_id, SPAN_ID_LEN);
	out[52] = '-';
	hex_encode(out + 53, &ctx->flags, 1);
}

/*
 * Random bytes, never all zero.  getrandom does not block once the pool is
 * initialised (long before a GPU job runs); should it fail, the clock and
 * pid stir a fallback that is unique enough for ids.
 */
static void random_id(uint8_t *id, size_t len)
{
	for (int tries = 0; tries < 4; tries++) {
		ssize_t got = getrandom(id, len, GRND_NONBLOCK);

		if (got == (ssize_t)len && trace_id_valid(id, len))
			return;
	}
	{
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 48) ^ 0x9e3779b97f4a7c15ULL;
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			id[i] = (uint8_t)x;
		}
		id[0] |= 1;
	}
}

void trace_ctx_new(struct trace_ctx *ctx, bool have_parent, const uint8_t trace_id[TRACE_ID_LEN],
		   const uint8_t parent_id[SPAN_ID_LEN], uint8_t flags)
{
	memset(ctx, 0, sizeof *ctx);
	if (have_parent) {
		memcpy(ctx->trace_id, trace_id, TRACE_ID_LEN);
		memcpy(ctx->parent_id, parent_id, SPAN_ID_LEN);
		ctx->flags = flags;
	} else {
		random_id(ctx->trace_id, TRACE_ID_LEN);
		ctx->flags = TRACE_FLAG_SAMPLED;
	}
	random_id(ctx->span_id, SPAN_ID_LEN);
}
