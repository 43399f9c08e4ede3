/* outbuf.c - see outbuf.h. */
#include "outbuf.h"

size_t fmt_u64(char *buf, uint64_t v)
{
	char tmp[24];
	size_t n = 0, k = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		buf[k++] = tmp[--n];
	return k;
}

size_t fmt_scaled(char *buf, size_t cap, int64_t v, int64_t div, int decimals)
{
	static const uint64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
	char tmp[48];
	size_t n = 0;
	bool neg = v < 0;
	uint64_t mag = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t p = pow10[decimals], d = (uint64_t)div;
	uint64_t q;

	/*
	 * Round half away from zero: (|v| * 10^d + div/2) / div.  128-bit
	 * arithmetic only where 64 bits could overflow: its division is a
	 * library call, and this runs for every cell of every row.
	 */
	if (mag <= (UINT64_MAX - d / 2) / p)
		q = (mag * p + d / 2) / d;
	else
		q = (uint64_t)((__extension__(unsigned __int128)mag * p + d / 2) / d);
	if (neg && q != 0)
		tmp[n++] = '-';
	n += fmt_u64(tmp + n, q / p);
	if (decimals > 0) {
		uint64_t frac = q % p;

		tmp[n++] = '.';
		for (int k = decimals - 1; k >= 0; k--) {
			tmp[n + (size_t)k] = (char)('0' + frac % 10);
			frac /= 10;
		}
		n += (size_t)decimals;
	}
	if (n >= cap)
		return 0;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	return n;
}

void ob_put_u64(struct outbuf *o, uint64_t v)
{
	char tmp[24];

	ob_put(o, tmp, fmt_u64(tmp, v));
}

void ob_put_i64(struct outbuf *o, int64_t v)
{
	if (v < 0) {
		ob_put(o, "-", 1);
		ob_put_u64(o, (uint64_t)0 - (uint64_t)v);
	} else {
		ob_put_u64(o, (uint64_t)v);
	}
}

void ob_put_json_str(struct outbuf *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	ob_put(o, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			char esc[2] = { '\\', (char)ch };

			ob_put(o, esc, 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			char esc[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };

			ob_put(o, esc, 6);
		} else {
			ob_put(o, s, 1);
		}
	}
	ob_put(o, "\"", 1);
}

void ob_put_scaled(struct outbuf *o, int64_t v, int64_t div, int decimals)
{
	char tmp[48];

	ob_put(o, tmp, fmt_scaled(tmp, sizeof tmp, v, div, decimals));
}
