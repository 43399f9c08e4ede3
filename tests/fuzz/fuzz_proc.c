/*
 * fuzz_proc.c - libFuzzer harness for the /proc/stat and /proc/meminfo
 * parsers.  The kernel hands them NUL-terminated text, so the input is
 * copied into a terminated buffer first; embedded NULs just end it early.
 *
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_proc.c src/host_proc.c src/util.c src/log.c -o fuzz_proc
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cpu_times zero;
	struct cpu_times cur;
	struct meminfo mi;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (proc_stat_parse(text, &cur) == 0) {
		/* Forwards from zero and backwards to it: the share stays a share. */
		int64_t up = cpu_util_cpct(&zero, &cur);
		int64_t down = cpu_util_cpct(&cur, &zero);

		if (up < -1 || up > 10000 || down != -1)
			abort();
	}
	if (proc_meminfo_parse(text, &mi) == 0 && mi.total_bytes % 1024 != 0)
		abort();

	free(text);
	return 0;
}
