/*
 * util.h - small helpers shared by every subsystem: clocks, bounded string
 * copies, number parsing, and reading small sysfs/procfs files.
 */
#ifndef GPUTEL_UTIL_H
#define GPUTEL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NS_PER_SEC 1000000000LL

int64_t mono_now_ns(void);
int64_t wall_now_ns(void);      /* CLOCK_REALTIME */
int64_t timespec_to_ns(const struct timespec *ts);

/* Copies at most n-1 bytes and always terminates; returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t n);

/* snprintf that returns -1 when the result did not fit. */
int str_fmt(char *dst, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Makes dir and its missing parents (mode, as umask allows) and checks
 * that the result is a directory this user can write.  Returns 0, or
 * -errno with err set to one line naming the directory (as `what`, e.g.
 * "out-dir"), the problem and the fix (`how`, e.g. "pass --out-dir DIR").
 */
int dir_ensure(const char *dir, mode_t mode, const char *what, const char *how, char *err, size_t errlen);

/* Levenshtein distance between a and b, case-insensitive; (size_t)-1 when b is over 63 bytes. */
size_t str_distance(const char *a, const char *b);

/* Whether `distance` edits make a likely typo of `name`: few, for its length. */
int str_likely_typo(size_t distance, const char *name);

/* "s" unless n is 1: "%llu tick%s", n, plural_s(n). */
static inline const char *plural_s(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* Trims trailing white space (newlines from sysfs) in place. */
void str_rtrim(char *s);

/*
 * Parses a duration into nanoseconds: a decimal number of seconds ("1",
 * "0.01", "2.5"), or one with a unit: "500ms", "30s", "5m", "1.5h".
 * Returns 0, or -1 when s is not a plain positive decimal with an optional
 * unit, or lies outside [min_ns, max_ns].
 */
int parse_seconds_ns(const char *s, int64_t min_ns, int64_t max_ns, int64_t *out_ns);

/* Parses a whole base-10 integer with nothing after it. Returns 0 or -1. */
int parse_int64(const char *s, int64_t *out);

/*
 * Reads a small file into buf (NUL-terminated, at most n-1 bytes).
 * Returns the byte count or -errno.
 */
ssize_t file_read_small(const char *path, char *buf, size_t n);

/*
 * Re-reads an already open sysfs/procfs file from offset 0 into buf.
 * Returns the byte count or -errno.
 */
ssize_t fd_reread(int fd, char *buf, size_t n);

/* fd_reread() + parse one integer (sysfs attributes). Returns 0 or -errno. */
int fd_read_int64(int fd, int64_t *out);

/* Formats ts as ISO 8601 UTC with milliseconds: 2026-01-02T03:04:05.678Z. */
void fmt_iso8601_ms(char out[32], const struct timespec *ts);

/* Formats ts as 20260102T030405Z (file names). */
void fmt_compact_utc(char out[24], time_t t);

/*
 * Whether the n bytes at s are strict UTF-8 (RFC 3629): no overlong form,
 * no surrogate (U+D800..U+DFFF), nothing above U+10FFFF, no sequence cut
 * short, no stray continuation byte.  *bad_at (may be NULL) gets the
 * offset of the first byte that is wrong.
 */
bool utf8_valid(const char *s, size_t n, size_t *bad_at);

/*
 * Text fit for a label, a log line or a JSON string shown to a person:
 * strict UTF-8 (utf8_valid) with no control character (U+0000..U+001F,
 * U+007F).  Returns NULL, or what is wrong ("invalid UTF-8", "control
 * character") with *bad_at set to its byte offset.
 */
const char *text_problem(const char *s, size_t n, size_t *bad_at);

/*
 * Rewrites every \u0000 escape inside the JSON strings of text (n bytes)
 * as \u0001, in place, and returns how many there were.  A JSON parser
 * that keeps strings NUL-terminated (cJSON) would cut the string at the
 * NUL without a word; as U+0001 it stays a control character that the
 * field's own check refuses, naming the field.
 */
size_t json_mark_nul_escapes(char *text, size_t n);

/* a + b, held at INT64_MAX / INT64_MIN instead of overflowing. */
/* fsync()s the directory that holds path, so that a rename into it is durable.  0 or -errno. */
int fsync_parent_dir(const char *path);

/* An http:// or https:// URL with a host and no blank or control character. */
bool url_http_ok(const char *s);

int64_t i64_add_sat(int64_t a, int64_t b);

/* a * b, held at INT64_MAX / INT64_MIN instead of overflowing. */
int64_t i64_mul_sat(int64_t a, int64_t b);

#endif
