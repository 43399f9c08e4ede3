/*
 * fuzz_scenario.c - libFuzzer harness over the simulator's scenario parser
 * (sim/scenario.c).  Any text must either parse, and then evaluate without
 * tripping a sanitizer and with a monotonic energy counter, or fail with a
 * one-line "<name>:<line>: <problem>; <fix>" message.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Isrc -D_GNU_SOURCE \
 *       tests/fuzz/fuzz_scenario.c sim/scenario.c -o /tmp/fz && /tmp/fz
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const char *err)
{
	/* One line, naming the text, with a fix after the ';'. */
	if (strncmp(err, "fuzz.scn:", 9) != 0 || strchr(err, '\n') || !strchr(err, ';'))
		abort();
}

static void exercise(const struct scenario *s)
{
	static const double times[] = { -1, 0, 0.5, 1, 4.999, 5, 10, 59.9, 60, 61, 3600.25, 1e7 };
	int gpus = scn_gpus(s);
	double loop = scn_loop(s);

	if (gpus < 1 || gpus > SCN_MAX_GPUS)
		abort();
	for (int g = 0; g < gpus; g++) {
		double prev = -1;

		for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
			double t = times[i], e;

			for (int v = 0; v < SCN_VAR_COUNT; v++)
				(void)scn_value(s, g, (enum scn_var)v, t);
			for (int f = 0; f < SCN_F_COUNT; f++)
				(void)scn_status(s, g, (enum scn_field)f, t);
			e = scn_energy_mj(s, g, t);
			/* Energy never runs backwards (allow float noise at loop seams). */
			if (prev >= 0 && e < prev - 1e-6 * (prev > 1 ? prev : 1))
				abort();
			prev = e;
		}
		{
			double when = -1, last = -2;
			unsigned xid;
			int n = 0;

			/* A delivery cursor must always move forward and finish. */
			while (n < 200 && scn_next_xid(s, g, when, loop > 0 ? loop * 3 : 1e9, &when, &xid)) {
				if (!(when > last) || xid == 0)
					abort();
				last = when;
				n++;
			}
		}
	}
	(void)scn_driver_major(s);
	if (strlen(scn_gpu_name(s)) >= SCN_NAME_MAX || strlen(scn_driver(s)) >= SCN_DRIVER_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[SCN_ERR_MAX];
	struct scenario *s = NULL;
	/* Vary the GPU override with the input so `all` expansion is covered too. */
	int override = size ? data[0] % 5 : 0;

	if (override == 4)
		override = SCN_MAX_GPUS;
	if (scn_parse((const char *)data, size, "fuzz.scn", override, &s, err, sizeof(err)) == 0) {
		if (!s)
			abort();
		exercise(s);
		scn_free(s);
	} else {
		if (s)
			abort();
		check_error(err);
	}
	return 0;
}
