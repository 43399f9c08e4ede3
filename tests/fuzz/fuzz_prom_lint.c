/*
 * fuzz_prom_lint.c - libFuzzer harness: arbitrary bytes (whatever answers
 * on the exporter port) through the Prometheus text format checker.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prom_lint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so a read past the end is caught by ASan. */
	char *text = malloc(size ? size : 1);
	unsigned int samples, line;
	const char *why;

	if (!text)
		return 0;
	memcpy(text, data, size);
	why = prom_text_check(text, size, &samples, &line);
	if (why && line == 0)
		abort();        /* a bad text always names its line */
	free(text);
	return 0;
}
