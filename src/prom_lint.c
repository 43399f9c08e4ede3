/*
 * prom_lint.c - the Prometheus text format (0.0.4), line by line: comments
 * (# HELP, # TYPE with a known type), and samples: a name, an optional
 * label set with quoted, escaped values, a value (a float, NaN or +-Inf)
 * and an optional timestamp.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "prom_lint.h"
#include "util.h"

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names: the same without ':'. */
static bool label_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool label_char(char c) { return label_start(c) || (c >= '0' && c <= '9'); }
static bool name_start(char c) { return label_start(c) || c == ':'; }
static bool name_char(char c) { return label_char(c) || c == ':'; }

/*
 * Checks one line of the Prometheus text format (0.0.4).  Returns NULL when
 * it is valid, else what is wrong.  Counts samples in *samples.
 */
static const char *check_line(const char *l, size_t n, unsigned int *samples)
{
	size_t i = 0;
	char val[64];
	char *end;

	if (n == 0)
		return NULL;
	if (l[0] == '#') {
		if (n > 7 && !strncmp(l, "# TYPE ", 7)) {
			const char *t = memchr(l + 7, ' ', n - 7);
			static const char *const types[] = { "counter", "gauge", "histogram", "summary", "untyped" };

			if (!t)
				return "a # TYPE line without a type";
			t++;
			for (size_t k = 0; k < ARRAY_SIZE(types); k++)
				if ((size_t)(l + n - t) == strlen(types[k]) && !strncmp(t, types[k], strlen(types[k])))
					return NULL;
			return "an unknown metric type";
		}
		return NULL;
	}
	if (!name_start(l[0]))
		return "a sample whose name does not start with a letter, _ or :";
	while (i < n && name_char(l[i]))
		i++;
	if (i < n && l[i] == '{') {
		i++;
		while (i < n && l[i] != '}') {
			if (!label_start(l[i]))
				return "a bad label name";
			while (i < n && label_char(l[i]))
				i++;
			if (i + 1 >= n || l[i] != '=' || l[i + 1] != '"')
				return "a label without =\"value\"";
			for (i += 2; i < n && l[i] != '"'; i++) {
				if (l[i] == '\\') {
					if (i + 1 >= n || (l[i + 1] != '\\' && l[i + 1] != '"' && l[i + 1] != 'n'))
						return "a bad escape in a label value";
					i++;
				}
			}
			if (i >= n)
				return "an unterminated label value";
			i++;
			if (i < n && l[i] == ',')
				i++;
			else if (i < n && l[i] != '}')
				return "a label value not followed by , or }";
		}
		if (i >= n)
			return "an unterminated label set";
		i++;
	}
	if (i >= n || l[i] != ' ')
		return "no space before the value";
	i++;
	if (n - i == 0 || n - i >= sizeof val)
		return "a missing or overlong value";
	memcpy(val, l + i, n - i);
	val[n - i] = '\0';
	val[strcspn(val, " ")] = '\0';     /* an optional timestamp follows */
	if (!strcmp(val, "NaN") || !strcmp(val, "+Inf") || !strcmp(val, "-Inf")) {
		(*samples)++;
		return NULL;
	}
	errno = 0;
	(void)strtod(val, &end);
	if (*end || end == val || errno == ERANGE)
		return "a value that is not a number";
	(*samples)++;
	return NULL;
}

const char *prom_text_check(const char *text, size_t len, unsigned int *samples, unsigned int *bad_line)
{
	size_t at = 0;
	unsigned int lineno = 0;

	*samples = 0;
	*bad_line = 0;
	while (at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
		const char *bad;

		lineno++;
		bad = check_line(text + at, n, samples);
		if (bad) {
			*bad_line = lineno;
			return bad;
		}
		at += n + 1;
	}
	return NULL;
}
