/*
 * gpu.c - chooses the GPU backend: NVML first, nvidia-smi when NVML cannot
 * be loaded, none when neither exists (host telemetry still runs).  The
 * reason for the choice is kept so users can see it in `gputel gpus`.
 */
#include "gpu.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static const struct gpu_backend *const backends[] = {
	&gpu_nvml_backend,
	&gpu_smi_backend,
};

const char *nvml_return_name(int ret)
{
	switch (ret) {
	case 0: return "success";
	case 1: return "uninitialized";
	case 2: return "invalid argument";
	case 3: return "not supported";
	case 4: return "no permission";
	case 6: return "not found";
	case 7: return "insufficient size";
	case 9: return "driver not loaded";
	case 10: return "timeout";
	case 12: return "library not found";
	case 13: return "function not found";
	case 14: return "corrupted inforom";
	case 15: return "gpu is lost";
	case 16: return "reset required";
	case 17: return "blocked by the operating system";
	case 18: return "library and kernel module versions differ (reboot after a driver upgrade)";
	case 21: return "no data";
	case 28: return "gpu not found";
	case 999: return "unknown error";
	default: return "error";
	}
}

int gpu_open(struct gpu_set *set, const struct gpu_options *opt)
{
	const char *only = opt->only ? opt->only : getenv("GPUTEL_GPU_BACKEND");
	char why[512];
	size_t used = 0;
	bool tried = false;

	memset(set, 0, sizeof *set);
	if (only && *only && strcmp(only, "nvml") != 0 && strcmp(only, "nvidia-smi") != 0 &&
	    strcmp(only, "none") != 0) {
		str_fmt(set->reason, sizeof set->reason,
			"GPUTEL_GPU_BACKEND='%s' is not a backend; use nvml, nvidia-smi or none",
			only);
		return GPU_OPEN_BAD_CONFIG;
	}
	for (size_t i = 0; i < ARRAY_SIZE(backends); i++) {
		const struct gpu_backend *b = backends[i];
		int r;

		if (only && *only && strcmp(only, b->name) != 0)
			continue;
		tried = true;
		why[0] = '\0';
		r = b->open(&set->state, opt, why, sizeof why);
		if (r == GPU_OPEN_OK) {
			set->backend = b;
			if (used == 0)
				str_fmt(set->reason, sizeof set->reason, "%s loaded (%s)", b->name,
					b->detail(set->state));
			else
				str_fmt(set->reason + used, sizeof set->reason - used,
					"; using %s (%s)", b->name, b->detail(set->state));
			return 0;
		}
		if (r == GPU_OPEN_BAD_CONFIG) {
			str_copy(set->reason, why, sizeof set->reason);
			return GPU_OPEN_BAD_CONFIG;
		}
		/* Keep every refusal: "nvml: ...; nvidia-smi: ..." tells the whole story. */
		int n = str_fmt(set->reason + used, sizeof set->reason - used, "%s%s: %s",
				used ? "; " : "", b->name, why);
		if (n > 0)
			used += (size_t)n;
	}
	if (!tried) {
		str_copy(set->reason, "GPUTEL_GPU_BACKEND=none", sizeof set->reason);
		return 0;
	}
	/* The user named the backend: that it is not there is a mistake to fix, not a fallback. */
	if (only && *only) {
		char why_all[sizeof set->reason];

		str_copy(why_all, set->reason, sizeof why_all);
		str_fmt(set->reason, sizeof set->reason,
			"GPUTEL_GPU_BACKEND=%s, but %s; install that driver or tool, or unset GPUTEL_GPU_BACKEND",
			only, why_all);
		return GPU_OPEN_BAD_CONFIG;
	}
	return 0;
}

void gpu_sample(struct gpu_set *set, struct snapshot *snap)
{
	snap->backend = gpu_backend_name(set);
	if (!set->backend) {
		snap->n_gpus = 0;
		snap->gpu_src.duration_ns = 0;
		snap->gpu_src.ok = 1;
		return;
	}
	set->backend->sample(set->state, snap);
}

void gpu_set_lite(struct gpu_set *set, int lite)
{
	if (set->backend && set->backend->set_lite)
		set->backend->set_lite(set->state, lite);
}

void gpu_set_fresh(struct gpu_set *set, int fresh)
{
	if (set->backend && set->backend->set_fresh)
		set->backend->set_fresh(set->state, fresh);
}

int gpu_persistence(struct gpu_set *set, int i)
{
	if (!set->backend || !set->backend->persistence)
		return GPU_PERSISTENCE_UNKNOWN;
	return set->backend->persistence(set->state, i);
}

const char *gpu_backend_name(const struct gpu_set *set)
{
	return set->backend ? set->backend->name : "none";
}

void gpu_close(struct gpu_set *set)
{
	if (set->backend)
		set->backend->close(set->state);
	set->backend = NULL;
	set->state = NULL;
}
