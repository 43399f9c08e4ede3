/*
 * gpu.h - the GPU backend interface.
 *
 * A backend is a const table of functions (gpu_nvml_backend: NVML through
 * dlopen; gpu_smi_backend: one long-lived `nvidia-smi --query-gpu -lms`
 * child).  gpu_open() picks one in a fixed order -- NVML first, nvidia-smi
 * when NVML cannot be loaded -- and remembers why, so `gputel gpus` and the
 * logs can say which backend runs and for what reason.
 *
 * A backend's sample() fills snap->gpu[0..n_gpus) with one reading per GPU
 * it has ever seen (a lost GPU stays listed, marked GPU_HEALTH_DOWN), never
 * blocks past a bounded timeout, and never allocates.
 */
#ifndef GPUTEL_GPU_H
#define GPUTEL_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

struct gpu_options {
	int64_t interval_ns;      /* sampling period (nvidia-smi -lms follows it) */
	const char *nvml_library; /* NULL: $GPUTEL_NVML_LIBRARY, else libnvidia-ml.so.1 */
	const char *smi_path;     /* NULL: $GPUTEL_NVIDIA_SMI, else nvidia-smi on PATH */
	const char *only;         /* NULL: $GPUTEL_GPU_BACKEND ("nvml", "nvidia-smi", "none") */
};

/* Return codes of open(): */
#define GPU_OPEN_OK 0
#define GPU_OPEN_UNAVAILABLE (-1) /* not here; try the next backend */
#define GPU_OPEN_BAD_CONFIG (-2)  /* the user named something that is wrong: exit 2 */
#define GPU_OPEN_STOPPED (-3)     /* SIGTERM or SIGINT came while the driver was starting (gpu_worker_open) */

struct gpu_backend {
	const char *name;
	/*
	 * Loads and initialises the backend; on failure fills why[] with one
	 * lowercase line naming the problem (and, for BAD_CONFIG, the fix).
	 */
	int (*open)(void **state, const struct gpu_options *opt, char *why, size_t whylen);
	void (*sample)(void *state, struct snapshot *snap);
	/* Driver version string, "" when unknown. */
	const char *(*driver_version)(void *state);
	/* One-line description of what was loaded (library path, binary). */
	const char *(*detail)(void *state);
	void (*close)(void *state);
	/*
	 * Optional: lite sampling reads only what the activity decision needs
	 * (utilisation and health); the other fields are VAL_ABSENT.
	 */
	void (*set_lite)(void *state, int lite);
	/*
	 * Optional: while on, values a backend repeats between slow reads (the
	 * energy counter on some drivers) are read afresh.  For measurements
	 * that must be exact at an instant (an allocation's begin and end).
	 */
	void (*set_fresh)(void *state, int fresh);
	/*
	 * Optional: persistence mode of GPU i (the index in the snapshot):
	 * 1 enabled, 0 disabled, GPU_PERSISTENCE_UNKNOWN when it cannot be read.
	 * For `gputel doctor`; not part of sampling.
	 */
	int (*persistence)(void *state, int i);
};

#define GPU_PERSISTENCE_UNKNOWN (-1)

extern const struct gpu_backend gpu_nvml_backend;
extern const struct gpu_backend gpu_smi_backend;

struct gpu_set {
	const struct gpu_backend *backend; /* NULL: no GPU backend ("none") */
	void *state;
	char reason[768];                  /* why this backend (or none) was chosen */
};

/*
 * Chooses and opens a backend.  Returns 0 (possibly with no backend: then
 * set->reason says why), or GPU_OPEN_BAD_CONFIG with the message in
 * set->reason.
 */
int gpu_open(struct gpu_set *set, const struct gpu_options *opt);
void gpu_sample(struct gpu_set *set, struct snapshot *snap);
/* Lite sampling on or off, where the backend offers it (see set_lite). */
void gpu_set_lite(struct gpu_set *set, int lite);

/* Fresh reads on or off, where the backend offers it (see set_fresh). */
void gpu_set_fresh(struct gpu_set *set, int fresh);
/* Persistence mode of GPU i: 1, 0 or GPU_PERSISTENCE_UNKNOWN (see persistence). */
int gpu_persistence(struct gpu_set *set, int i);
const char *gpu_backend_name(const struct gpu_set *set);
void gpu_close(struct gpu_set *set);

/* NVML's text for a return code, for messages (works without the library). */
const char *nvml_return_name(int ret);

#endif
