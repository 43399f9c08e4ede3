/*
 * fuzz_state.c - libFuzzer harness: arbitrary bytes as the allocation
 * state file (allocations.json) an agent loads after a restart.  The input
 * is written to a temporary state file and loaded; whatever loads is
 * accounted for a tick (sanitizers catch any overflow the loaded figures
 * could cause), saved, and loaded back, which must then find every entry
 * whole: what the agent writes, it can read.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "host.h"
#include "log.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct snapshot snap;
static struct host_rapl_info zones[2];
static char dir[] = "/tmp/gputel-fuzz-state-XXXXXX";
static char path[64];

/* Two GPUs (one named like the seed's) and two RAPL zones, with figures near their limits. */
static void setup(void)
{
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof path, "%s/allocations.json", dir);
	/* Each damaged entry is logged: keep the fuzzer's output readable. */
	log_set_level(LOG_ERROR);
	snap.n_gpus = 2;
	for (unsigned int i = 0; i < 2; i++) {
		struct gpu_reading *g = &snap.gpu[i];

		g->id.index = i;
		snprintf(g->id.uuid, sizeof g->id.uuid, "GPU-%u", i);
		GPU_SET(g, GPU_F_ENERGY_MJ, INT64_MAX - 1);
		GPU_SET(g, GPU_F_POWER_MW, INT64_MAX);
		GPU_SET(g, GPU_F_UTIL_GPU_PCT, INT64_MAX);
		GPU_SET(g, GPU_F_MEM_USED_BYTES, INT64_MAX);
		GPU_SET(g, GPU_F_TEMP_MC, INT64_MIN + 1);
		GPU_SET(g, GPU_F_CLOCK_EVENT_MASK, 0xff);
		GPU_SET(g, GPU_F_XID_TOTAL, -1);
	}
	snap.gpu[1].st[GPU_F_ENERGY_MJ] = VAL_UNSUPPORTED;   /* GPU 1's power is integrated */
	str_copy(zones[0].name, "package-0", sizeof zones[0].name);
	str_copy(zones[1].name, "dram", sizeof zones[1].name);
	snap.host.n_zones = 2;
	snap.host.zone_info = zones;
	snap.host.zone_energy_uj[0] = UINT64_MAX;
	snap.host.zone_energy_uj[1] = (uint64_t)INT64_MAX + 7;
	snap.host.zone_st[0] = snap.host.zone_st[1] = VAL_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alloc_table t, u;
	char err[512] = "";
	size_t n;
	FILE *f;
	int r;

	if (!path[0])
		setup();
	f = fopen(path, "w");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	alloc_table_init(&t);
	r = alloc_load(&t, path, &snap, err, sizeof err);
	if (r != 0 && (!err[0] || strchr(err, '\n')))
		abort();
	if (r < 0 && t.n != 0)
		abort();
	/* A long stretch (the agent was stopped), then a short one. */
	snap.mono_ns = 1000 * NS_PER_SEC;
	alloc_account(&t, &snap);
	snap.mono_ns += 400LL * 86400 * NS_PER_SEC;
	alloc_account(&t, &snap);
	n = t.n;
	if (alloc_save(&t, path, err, sizeof err) != 0)
		abort();
	alloc_table_init(&u);
	if (alloc_load(&u, path, &snap, err, sizeof err) != 0 || u.n != n)
		abort();
	alloc_table_release(&u);
	alloc_table_release(&t);
	unlink(path);
	return 0;
}
