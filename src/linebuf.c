/* linebuf.c - see linebuf.h. */
#include "linebuf.h"

#include <string.h>

void linebuf_reset(struct linebuf *lb)
{
	lb->len = 0;
	lb->discarding = 0;
}

void linebuf_feed(struct linebuf *lb, const char *data, size_t n, linebuf_fn fn, void *ctx)
{
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t chunk = nl ? (size_t)(nl - data) : n;

		if (!lb->discarding) {
			if (chunk > LINEBUF_MAX - 1 - lb->len) {
				lb->discarding = 1;
				lb->len = 0;
			} else {
				memcpy(lb->buf + lb->len, data, chunk);
				lb->len += chunk;
			}
		}
		if (!nl)
			return;
		if (lb->discarding) {
			lb->discarding = 0;
			lb->dropped++;
		} else {
			if (lb->len > 0 && lb->buf[lb->len - 1] == '\r')
				lb->len--;
			lb->buf[lb->len] = '\0';
			fn(lb->buf, ctx);
		}
		lb->len = 0;
		data = nl + 1;
		n -= chunk + 1;
	}
}
