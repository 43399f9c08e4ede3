/* kevent.c - see kevent.h. */
#include "kevent.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* A cursor over the message: every step checks the bytes left, the message is not NUL-terminated. */
struct cur {
	const char *p, *end;
};

static bool eat(struct cur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

static void skip_spaces(struct cur *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

/* A decimal of at most max_digits digits. */
static bool eat_uint(struct cur *c, int max_digits, long long *out)
{
	long long v = 0;
	int n = 0;

	while (c->p < c->end && isdigit((unsigned char)*c->p)) {
		if (++n > max_digits)
			return false;
		v = v * 10 + (*c->p++ - '0');
	}
	*out = v;
	return n > 0;
}

/* Up to (not including) the first of stops, or the end; returns its length. */
static size_t span_until(const struct cur *c, const char *stops)
{
	const char *q = c->p;

	while (q < c->end && !strchr(stops, *q))
		q++;
	return (size_t)(q - c->p);
}

static unsigned long long hex_value(const char *s, size_t n, bool *ok)
{
	unsigned long long v = 0;

	*ok = n > 0 && n <= 8;
	for (size_t i = 0; *ok && i < n; i++) {
		int d = isdigit((unsigned char)s[i]) ? s[i] - '0' :
			isxdigit((unsigned char)s[i]) ? tolower((unsigned char)s[i]) - 'a' + 10 : -1;

		if (d < 0)
			*ok = false;
		else
			v = v * 16 + (unsigned int)d;
	}
	return v;
}

int kevent_pci_normalize(const char *s, size_t len, char out[KEVENT_PCI_LEN])
{
	/* Up to four parts: [domain:]bus:device[.function]. */
	const char *part[3];
	size_t plen[3], n = 0, i = 0, dot;
	unsigned long long dom = 0, bus, dev;
	bool ok;

	dot = len;
	for (size_t k = 0; k < len; k++)
		if (s[k] == '.') {
			dot = k;
			break;
		}
	if (dot < len) {
		/* A function: one hex digit (0-7), nothing after it. */
		if (len - dot != 2 || !isxdigit((unsigned char)s[dot + 1]))
			return -1;
	}
	while (i <= dot) {
		size_t start = i;

		while (i < dot && s[i] != ':')
			i++;
		if (n == 3)
			return -1;
		part[n] = s + start;
		plen[n++] = i - start;
		i++;
	}
	if (n < 2)
		return -1;
	if (n == 3) {
		dom = hex_value(part[0], plen[0], &ok);
		if (!ok)
			return -1;
	}
	bus = hex_value(part[n - 2], plen[n - 2], &ok);
	if (!ok || plen[n - 2] > 2)
		return -1;
	dev = hex_value(part[n - 1], plen[n - 1], &ok);
	if (!ok || plen[n - 1] > 2 || dev > 0x1f)
		return -1;
	snprintf(out, KEVENT_PCI_LEN, "%04llx:%02llx:%02llx", dom, bus, dev);
	return 0;
}

/* "(PCI:dddd:bb:dd[.f][ GPU-I:nn][ GPU-CI:nn])" or the old "(dddd:bb:dd)". */
static bool eat_where(struct cur *c, struct kevent *ev)
{
	size_t n;
	long long v;

	if (!eat(c, "("))
		return false;
	(void)eat(c, "PCI:");
	n = span_until(c, " )");
	if (kevent_pci_normalize(c->p, n, ev->pci) != 0)
		return false;
	c->p += n;
	if (eat(c, " GPU-I:")) {
		if (!eat_uint(c, 4, &v))
			return false;
		ev->gpu_instance = (int)v;
	}
	if (eat(c, " GPU-CI:")) {
		if (!eat_uint(c, 4, &v))
			return false;
		ev->compute_instance = (int)v;
	}
	return eat(c, "):");
}

static void set_detail(struct kevent *ev, const struct cur *c)
{
	size_t n = (size_t)(c->end - c->p);

	/* Trailing spaces (and the newline a file reader may leave) are not the text. */
	while (n > 0 && (c->p[n - 1] == ' ' || c->p[n - 1] == '\n' || c->p[n - 1] == '\r'))
		n--;
	ev->detail = c->p;
	ev->detail_len = n;
}

/* "pid=1896" or "pid='<unknown>'", then "name=python3" or "name=<unknown>", each with its comma: both optional. */
static void eat_process(struct cur *c, struct kevent *ev)
{
	struct cur at;
	size_t n;

	skip_spaces(c);
	at = *c;
	if (eat(&at, "pid=")) {
		struct cur num = at;
		long long pid;

		n = span_until(&at, ",");
		/* A number and nothing else up to the comma; '<unknown>' is no pid. */
		if (eat_uint(&num, 10, &pid) && num.p == at.p + n && pid <= INT32_MAX)
			ev->pid = pid;
		at.p += n;
		(void)eat(&at, ",");
		skip_spaces(&at);
		*c = at;
	}
	at = *c;
	if (eat(&at, "name=")) {
		n = span_until(&at, ",");
		if (!(n == 9 && memcmp(at.p, "<unknown>", 9) == 0)) {
			size_t k = n < KEVENT_NAME_MAX - 1 ? n : KEVENT_NAME_MAX - 1;

			memcpy(ev->process, at.p, k);
			ev->process[k] = '\0';
		}
		at.p += n;
		(void)eat(&at, ",");
		skip_spaces(&at);
		*c = at;
	}
}

static enum kevent_kind parse_xid(struct cur *c, struct kevent *ev)
{
	long long code;

	if (!eat_where(c, ev))
		return KEVENT_NVRM;
	skip_spaces(c);
	if (!eat_uint(c, 5, &code))
		return KEVENT_NVRM;
	ev->code = (int)code;
	if (eat(c, ","))
		eat_process(c, ev);
	set_detail(ev, c);
	return KEVENT_XID;
}

/* "GPU 0000:2b:00.0: GPU has fallen off the bus." */
static enum kevent_kind parse_gpu_line(struct cur *c, struct kevent *ev)
{
	size_t n;

	if (eat(c, "at ")) {
		/* "GPU at PCI:0000:2b:00: GPU-<uuid>" (older: "GPU at 0000:03:00: GPU-..."). */
		(void)eat(c, "PCI:");
		n = span_until(c, " ");
		if (n < 2 || c->p[n - 1] != ':' || kevent_pci_normalize(c->p, n - 1, ev->pci) != 0)
			return KEVENT_NVRM;
		c->p += n;
		skip_spaces(c);
		n = span_until(c, " \r\n");
		if (n < 5 || n >= KEVENT_UUID_MAX || memcmp(c->p, "GPU-", 4) != 0)
			return KEVENT_NVRM;
		for (size_t i = 4; i < n; i++)
			if (!isxdigit((unsigned char)c->p[i]) && c->p[i] != '-')
				return KEVENT_NVRM;
		memcpy(ev->uuid, c->p, n);
		ev->uuid[n] = '\0';
		return KEVENT_GPU_UUID;
	}
	n = span_until(c, " ");
	if (n < 2 || c->p[n - 1] != ':' || kevent_pci_normalize(c->p, n - 1, ev->pci) != 0)
		return KEVENT_NVRM;
	c->p += n;
	skip_spaces(c);
	set_detail(ev, c);
	if (ev->detail_len >= 26 && memcmp(ev->detail, "GPU has fallen off the bus", 26) == 0) {
		ev->code = 79;
		return KEVENT_OFF_BUS;
	}
	return KEVENT_NVRM;
}

/* "nvidia-nvswitch3: SXid (PCI:0000:05:00.0): 12028, Non-fatal, Link 32 ..." */
static enum kevent_kind parse_sxid(struct cur *c, struct kevent *ev)
{
	long long v;

	if (!eat_uint(c, 3, &v) || !eat(c, ": SXid ") || !eat_where(c, ev))
		return KEVENT_NONE;
	skip_spaces(c);
	if (!eat_uint(c, 5, &v))
		return KEVENT_NONE;
	ev->code = (int)v;
	if (!eat(c, ","))
		return KEVENT_SXID_DETAIL;
	skip_spaces(c);
	if (eat(c, "Fatal,"))
		ev->fatal = 1;
	else if (eat(c, "Non-fatal,"))
		ev->fatal = 0;
	skip_spaces(c);
	set_detail(ev, c);
	return ev->fatal < 0 ? KEVENT_SXID_DETAIL : KEVENT_SXID;
}

static void kevent_reset(struct kevent *ev, const char *msg, size_t len)
{
	memset(ev, 0, sizeof *ev);
	ev->code = -1;
	ev->gpu_instance = ev->compute_instance = -1;
	ev->pid = -1;
	ev->fatal = -1;
	ev->detail = msg;
	ev->detail_len = len;
}

enum kevent_kind kevent_parse(const char *msg, size_t len, struct kevent *ev)
{
	struct cur c = { msg, msg + len };
	enum kevent_kind k;

	kevent_reset(ev, msg, 0);
	if (eat(&c, "nvidia-nvswitch"))
		k = parse_sxid(&c, ev);
	else if (!eat(&c, "NVRM: "))
		k = KEVENT_NONE;
	else if (eat(&c, "Xid "))
		k = parse_xid(&c, ev);
	else if (eat(&c, "GPU "))
		k = parse_gpu_line(&c, ev);
	else
		k = KEVENT_NVRM;
	/* A line that is not an event leaves no half-filled fields: its detail is all of it. */
	if (k == KEVENT_NVRM || k == KEVENT_NONE)
		kevent_reset(ev, msg, len);
	ev->kind = k;
	return k;
}
