/* util.c - see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int64_t mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return timespec_to_ns(&ts);
}

int64_t wall_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return timespec_to_ns(&ts);
}

int64_t timespec_to_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NS_PER_SEC + ts->tv_nsec;
}

size_t str_copy(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);

	if (n > 0) {
		size_t k = len < n - 1 ? len : n - 1;
		memcpy(dst, src, k);
		dst[k] = '\0';
	}
	return len;
}

int str_fmt(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(dst, n, fmt, ap);
	va_end(ap);
	return (r < 0 || (size_t)r >= n) ? -1 : r;
}

int dir_ensure(const char *dir, mode_t mode, const char *what, const char *how, char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	size_t n = str_copy(path, dir, sizeof path);

	if (n == 0 || n >= sizeof path) {
		str_fmt(err, errlen, "%s path is %s; %s", what, n ? "too long" : "empty", how);
		return -ENAMETOOLONG;
	}
	/* Each missing component in turn, as mkdir -p does. */
	for (char *p = path + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, mode) != 0 && errno != EEXIST) {
			int e = errno;

			if (strcmp(path, dir) == 0)
				str_fmt(err, errlen, "cannot create %s %s: %s; create it by hand (install -d %s) or %s",
					what, dir, strerror(e), dir, how);
			else
				str_fmt(err, errlen, "cannot create %s %s: %s at %s; create it by hand (install -d %s) or %s",
					what, dir, strerror(e), path, dir, how);
			return -e;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		str_fmt(err, errlen, "%s %s is not a directory; %s", what, dir, how);
		return -ENOTDIR;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		str_fmt(err, errlen, "%s %s is not writable by this user; fix its owner or mode, or %s", what, dir, how);
		return -EACCES;
	}
	return 0;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

size_t str_distance(const char *a, const char *b)
{
	size_t row[64], nb = strlen(b);

	if (nb >= ARRAY_SIZE(row))
		return (size_t)-1;
	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; a[i - 1]; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t up = row[j];
			size_t best = diag + (lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]));

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[nb];
}

int str_likely_typo(size_t distance, const char *name)
{
	return distance <= 3 && distance * 4 <= strlen(name);
}

void str_rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' ||
			 s[n - 1] == '\r'))
		s[--n] = '\0';
}

int parse_seconds_ns(const char *s, int64_t min_ns, int64_t max_ns, int64_t *out_ns)
{
	static const struct {
		const char *suffix;
		int64_t mul, div;
	} units[] = { { "", 1, 1 }, { "s", 1, 1 }, { "ms", 1, 1000 }, { "m", 60, 1 }, { "h", 3600, 1 } };
	int64_t whole = 0, frac_ns = 0, scale = NS_PER_SEC / 10, ns;
	const char *p = s;

	/* Hand-rolled so that "1e3", "0x10", " 5", "nan" and "-1" are refused. */
	if (!s || !*s)
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (*p - '0');
		if (whole > INT64_MAX / NS_PER_SEC / 10)
			return -1;
	}
	if (p == s && *p != '.')
		return -1;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9') && p - 1 == s)
			return -1;
		for (; *p >= '0' && *p <= '9'; p++) {
			frac_ns += (*p - '0') * scale;
			scale /= 10;
		}
	}
	ns = whole * NS_PER_SEC + frac_ns;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (ns > INT64_MAX / units[i].mul)
			return -1;
		ns = ns * units[i].mul / units[i].div;
		if (ns < min_ns || ns > max_ns)
			return -1;
		*out_ns = ns;
		return 0;
	}
	return -1;
}

int parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

ssize_t file_read_small(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = fd_reread(fd, buf, n);
	close(fd);
	return r;
}

ssize_t fd_reread(int fd, char *buf, size_t n)
{
	ssize_t r;

	if (n == 0)
		return -EINVAL;
	do
		r = pread(fd, buf, n - 1, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		buf[0] = '\0';
		return -errno;
	}
	buf[r] = '\0';
	return r;
}

int fd_read_int64(int fd, int64_t *out)
{
	char buf[32];
	ssize_t r = fd_reread(fd, buf, sizeof buf);

	if (r < 0)
		return (int)r;
	str_rtrim(buf);
	return parse_int64(buf, out) == 0 ? 0 : -EINVAL;
}

void fmt_iso8601_ms(char out[32], const struct timespec *ts)
{
	struct tm tm;
	time_t t = ts->tv_sec;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03uZ", (unsigned)(ts->tv_nsec / 1000000L) % 1000u);
}

void fmt_compact_utc(char out[24], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 24, "%Y%m%dT%H%M%SZ", &tm);
}

bool utf8_valid(const char *s, size_t n, size_t *bad_at)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		unsigned char lo = 0x80, hi = 0xbf;   /* the second byte's range */
		size_t len;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			if (c == 0xe0)
				lo = 0xa0;            /* below: overlong */
			else if (c == 0xed)
				hi = 0x9f;            /* above: a surrogate */
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			if (c == 0xf0)
				lo = 0x90;            /* below: overlong */
			else if (c == 0xf4)
				hi = 0x8f;            /* above: past U+10FFFF */
		} else {
			goto bad;                     /* 0x80..0xc1 (stray or overlong), 0xf5..0xff */
		}
		if (n - i < len || p[i + 1] < lo || p[i + 1] > hi)
			goto bad;
		for (size_t k = 2; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				goto bad;
		i += len;
	}
	return true;
bad:
	if (bad_at)
		*bad_at = i;
	return false;
}

const char *text_problem(const char *s, size_t n, size_t *bad_at)
{
	size_t at = 0;

	if (!utf8_valid(s, n, &at)) {
		if (bad_at)
			*bad_at = at;
		return "invalid UTF-8";
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			if (bad_at)
				*bad_at = i;
			return "control character";
		}
	return NULL;
}

size_t json_mark_nul_escapes(char *text, size_t n)
{
	bool in_string = false;
	size_t found = 0;

	for (size_t i = 0; i < n; i++) {
		if (!in_string) {
			in_string = text[i] == '"';
			continue;
		}
		if (text[i] == '"') {
			in_string = false;
		} else if (text[i] == '\\' && i + 1 < n) {
			/* An escape is two characters ("\\" included), \uXXXX six. */
			if (text[i + 1] == 'u' && n - i >= 6 && memcmp(text + i + 2, "0000", 4) == 0) {
				text[i + 5] = '1';
				found++;
			}
			i++;
		}
	}
	return found;
}

int64_t i64_add_sat(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

int64_t i64_mul_sat(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
	return r;
}

bool url_http_ok(const char *s)
{
	const char *host;

	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return false;
	if (*host == '\0' || strchr("/:?#@", *host))
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

int fsync_parent_dir(const char *path)
{
	char dir[4096];
	char *slash;
	int fd, r = 0;

	if (str_copy(dir, path, sizeof dir) >= sizeof dir)
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash)
		str_copy(dir, ".", sizeof dir);
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		r = -errno;
	close(fd);
	return r;
}
