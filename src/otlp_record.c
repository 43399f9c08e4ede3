/* otlp_record.c - see otlp_record.h. */
#include "otlp_record.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct otlp_record *otlp_record_new(enum otlp_signal signal)
{
	struct otlp_record *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->signal = signal;
	r->size = sizeof *r;
	return r;
}

void otlp_record_free(struct otlp_record *r)
{
	if (!r)
		return;
	free(r->text);
	free(r);
}

static bool reserve(struct otlp_record *r, size_t more)
{
	size_t cap = r->text_cap ? r->text_cap : 256;
	size_t need = r->text_len + more + (r->text_len == 0);  /* the first string follows a NUL */
	char *p;

	if (need <= r->text_cap)
		return true;
	if (need > OTLP_TEXT_MAX)
		return false;
	while (cap < need)
		cap *= 2;
	if (cap > OTLP_TEXT_MAX)
		cap = OTLP_TEXT_MAX;
	p = realloc(r->text, cap);
	if (!p)
		return false;
	r->size += cap - r->text_cap;
	r->text = p;
	r->text_cap = cap;
	if (r->text_len == 0)
		r->text[r->text_len++] = '\0';  /* offset 0 means "none" */
	return true;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and past U+10FFFF are not UTF-8. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

uint32_t otlp_text(struct otlp_record *r, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t off;

	/* Each bad byte may become 3: reserve the worst case once. */
	if (!reserve(r, 3 * n + 2)) {
		r->oom = true;
		return 0;
	}
	off = r->text_len;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_len(u + i, n - i);

		if (len == 0) {
			memcpy(r->text + r->text_len, "\xef\xbf\xbd", 3);
			r->text_len += 3;
			i++;
		} else {
			if (!(len == 1 && u[i] == 0)) {
				memcpy(r->text + r->text_len, u + i, len);
				r->text_len += len;
			}
			i += len;
		}
	}
	r->text[r->text_len++] = '\0';
	return (uint32_t)off;
}

uint32_t otlp_text_z(struct otlp_record *r, const char *s)
{
	return otlp_text(r, s, strlen(s));
}

static struct otlp_attr *attr_slot(struct otlp_record *r, int owner, const char *key)
{
	struct otlp_attr *a;

	if (r->n_attrs == OTLP_ATTRS_MAX) {
		if (owner == OTLP_OWNER_RECORD)
			r->dropped_attrs++;
		else
			r->event[owner].dropped_attrs++;
		return NULL;
	}
	a = &r->attr[r->n_attrs];
	a->owner = (int16_t)owner;
	a->key = otlp_text_z(r, key);
	if (!a->key)
		return NULL;
	r->n_attrs++;
	return a;
}

void otlp_attr_strn(struct otlp_record *r, int owner, const char *key, const char *value, size_t n)
{
	struct otlp_attr *a;
	uint32_t v;

	if (n == 0)
		return;
	a = attr_slot(r, owner, key);
	if (!a)
		return;
	v = otlp_text(r, value, n);
	if (!v) {
		r->n_attrs--;
		return;
	}
	a->type = OTLP_STR;
	a->v.s = v;
}

void otlp_attr_str(struct otlp_record *r, int owner, const char *key, const char *value)
{
	otlp_attr_strn(r, owner, key, value, strlen(value));
}

void otlp_attr_int(struct otlp_record *r, int owner, const char *key, int64_t value)
{
	struct otlp_attr *a = attr_slot(r, owner, key);

	if (a) {
		a->type = OTLP_INT;
		a->v.i = value;
	}
}

void otlp_attr_double(struct otlp_record *r, int owner, const char *key, double value)
{
	struct otlp_attr *a;

	if (!isfinite(value))
		return;
	a = attr_slot(r, owner, key);
	if (a) {
		a->type = OTLP_DOUBLE;
		a->v.d = value;
	}
}

void otlp_attr_bool(struct otlp_record *r, int owner, const char *key, bool value)
{
	struct otlp_attr *a = attr_slot(r, owner, key);

	if (a) {
		a->type = OTLP_BOOL;
		a->v.b = value;
	}
}

int otlp_event_add(struct otlp_record *r, int64_t time_ns, const char *name)
{
	struct otlp_event *e;

	if (r->n_events == OTLP_EVENTS_MAX) {
		r->dropped_events++;
		return -1;
	}
	e = &r->event[r->n_events];
	e->time_ns = time_ns;
	e->name = otlp_text_z(r, name);
	e->dropped_attrs = 0;
	return (int)r->n_events++;
}

size_t otlp_attrs_of(const struct otlp_record *r, int owner)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_attrs; i++)
		n += r->attr[i].owner == owner;
	return n;
}
