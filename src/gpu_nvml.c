/*
 * gpu_nvml.c - the NVML backend: libnvidia-ml.so.1 loaded with dlopen().
 *
 * No NVIDIA header or library is needed to build: the few types used are
 * declared in nvml_abi.h and every function is looked up by name, newest
 * versioned symbol first.  Init/shutdown and symbol lookup happen once;
 * device handles are cached, so a tick is only the per-field queries.
 *
 * Failure handling, which is the point of this file:
 *   - a symbol that is absent (older driver) or answers FUNCTION_NOT_FOUND
 *     makes its field "unsupported", never 0;
 *   - a GPU that answers GPU_IS_LOST, or fails every query for a few ticks
 *     in a row, is marked down; the others keep being sampled, and the
 *     down GPU is looked for again with exponential backoff;
 *   - when the driver itself goes away (UNINITIALIZED, DRIVER_NOT_LOADED,
 *     version mismatch on every GPU) NVML is shut down and re-initialised,
 *     again with backoff.  Sampling never stops.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu.h"
#include "libcheck.h"
#include "log.h"
#include "nvml_abi.h"
#include "util.h"

#define NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"
#define FAIL_STREAK_DOWN 3          /* ticks of all-error before a GPU counts as down */
#define BACKOFF_MIN_NS (1 * NS_PER_SEC)
#define BACKOFF_MAX_NS (60 * NS_PER_SEC)
/* A field the GPU said it does not support is asked again after this long. */
#define UNSUPPORTED_RECHECK_NS (60 * NS_PER_SEC)
/*
 * The energy counter is an RPC to the GPU's firmware on some GPUs (about
 * 3 ms of CPU per read on an H100 with R580, against ~1 µs for power):
 * when a read takes longer than ENERGY_SLOW_NS it is read every
 * ENERGY_SLOW_PERIOD_NS and its last value is held in between.
 */
#define ENERGY_SLOW_NS (1000 * 1000)
#define ENERGY_SLOW_PERIOD_NS (10 * NS_PER_SEC)

typedef unsigned long long ull;

/* Every function pointer the backend may use; NULL when the driver lacks it. */
struct nvml_api {
	/* required */
	nvmlReturn_t (*init)(void);
	nvmlReturn_t (*shutdown)(void);
	const char *(*error_string)(nvmlReturn_t);
	nvmlReturn_t (*get_count)(unsigned int *);
	nvmlReturn_t (*get_handle_by_index)(unsigned int, nvmlDevice_t *);
	/* optional */
	nvmlReturn_t (*driver_version)(char *, unsigned int);
	nvmlReturn_t (*get_name)(nvmlDevice_t, char *, unsigned int);
	nvmlReturn_t (*get_uuid)(nvmlDevice_t, char *, unsigned int);
	nvmlReturn_t (*get_pci_v3)(nvmlDevice_t, nvmlPciInfo_t *);
	nvmlReturn_t (*get_pci_legacy)(nvmlDevice_t, void *);
	nvmlReturn_t (*get_utilization)(nvmlDevice_t, nvmlUtilization_t *);
	nvmlReturn_t (*get_memory_v2)(nvmlDevice_t, nvmlMemory_v2_t *);
	nvmlReturn_t (*get_memory)(nvmlDevice_t, nvmlMemory_t *);
	nvmlReturn_t (*get_temperature_v)(nvmlDevice_t, nvmlTemperature_v1_t *);
	nvmlReturn_t (*get_temperature)(nvmlDevice_t, int, unsigned int *);
	nvmlReturn_t (*get_power_usage)(nvmlDevice_t, unsigned int *);
	nvmlReturn_t (*get_power_limit)(nvmlDevice_t, unsigned int *);
	nvmlReturn_t (*get_energy)(nvmlDevice_t, ull *);
	nvmlReturn_t (*get_clock)(nvmlDevice_t, int, unsigned int *);
	nvmlReturn_t (*get_fan)(nvmlDevice_t, unsigned int *);
	nvmlReturn_t (*get_pstate)(nvmlDevice_t, int *);
	nvmlReturn_t (*get_clock_events)(nvmlDevice_t, ull *);
	nvmlReturn_t (*get_encoder)(nvmlDevice_t, unsigned int *, unsigned int *);
	nvmlReturn_t (*get_decoder)(nvmlDevice_t, unsigned int *, unsigned int *);
	nvmlReturn_t (*get_ecc)(nvmlDevice_t, int, int, ull *);
	nvmlReturn_t (*get_remapped)(nvmlDevice_t, unsigned int *, unsigned int *,
				     unsigned int *, unsigned int *);
	nvmlReturn_t (*get_persistence)(nvmlDevice_t, unsigned int *);
	/* Xid errors arrive as events. */
	nvmlReturn_t (*event_set_create)(nvmlEventSet_t *);
	nvmlReturn_t (*register_events)(nvmlDevice_t, ull, nvmlEventSet_t);
	nvmlReturn_t (*event_wait)(nvmlEventSet_t, nvmlEventData_t *, unsigned int);
	nvmlReturn_t (*event_set_free)(nvmlEventSet_t);
};

/* Lookup table: names newest first; the first one the library exports wins. */
static const struct nvml_symbol {
	size_t offset;
	bool required;
	const char *names[3];
} nvml_symbols[] = {
#define SYM(field, req, ...) { offsetof(struct nvml_api, field), req, { __VA_ARGS__ } }
	SYM(init, true, "nvmlInit_v2", "nvmlInit"),
	SYM(shutdown, true, "nvmlShutdown"),
	SYM(error_string, true, "nvmlErrorString"),
	SYM(get_count, true, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"),
	SYM(get_handle_by_index, true, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"),
	SYM(driver_version, false, "nvmlSystemGetDriverVersion"),
	SYM(get_name, false, "nvmlDeviceGetName"),
	SYM(get_uuid, false, "nvmlDeviceGetUUID"),
	SYM(get_pci_v3, false, "nvmlDeviceGetPciInfo_v3"),
	SYM(get_pci_legacy, false, "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo"),
	SYM(get_utilization, false, "nvmlDeviceGetUtilizationRates"),
	SYM(get_memory_v2, false, "nvmlDeviceGetMemoryInfo_v2"),
	SYM(get_memory, false, "nvmlDeviceGetMemoryInfo"),
	SYM(get_temperature_v, false, "nvmlDeviceGetTemperatureV"),
	SYM(get_temperature, false, "nvmlDeviceGetTemperature"),
	SYM(get_power_usage, false, "nvmlDeviceGetPowerUsage"),
	SYM(get_power_limit, false, "nvmlDeviceGetEnforcedPowerLimit"),
	SYM(get_energy, false, "nvmlDeviceGetTotalEnergyConsumption"),
	SYM(get_clock, false, "nvmlDeviceGetClockInfo"),
	SYM(get_fan, false, "nvmlDeviceGetFanSpeed"),
	SYM(get_pstate, false, "nvmlDeviceGetPerformanceState"),
	SYM(get_clock_events, false, "nvmlDeviceGetCurrentClocksEventReasons",
	    "nvmlDeviceGetCurrentClocksThrottleReasons"),
	SYM(get_encoder, false, "nvmlDeviceGetEncoderUtilization"),
	SYM(get_decoder, false, "nvmlDeviceGetDecoderUtilization"),
	SYM(get_ecc, false, "nvmlDeviceGetTotalEccErrors"),
	SYM(get_remapped, false, "nvmlDeviceGetRemappedRows"),
	SYM(get_persistence, false, "nvmlDeviceGetPersistenceMode"),
	SYM(event_set_create, false, "nvmlEventSetCreate"),
	SYM(register_events, false, "nvmlDeviceRegisterEvents"),
	SYM(event_wait, false, "nvmlEventSetWait_v2"),
	SYM(event_set_free, false, "nvmlEventSetFree"),
#undef SYM
};

struct nvml_gpu {
	nvmlDevice_t dev;
	struct gpu_ident id;
	int health;               /* enum gpu_health */
	int fail_streak;          /* consecutive ticks with every query failing */
	int64_t retry_at_ns;      /* when down: next re-acquire attempt */
	int64_t backoff_ns;
	bool said_down;
	/* Per field: do not query before this time; until then report held_*. */
	int64_t next_read_ns[GPU_F__COUNT];
	int64_t held_val[GPU_F__COUNT];
	uint8_t held_st[GPU_F__COUNT];
	bool energy_slow;
	bool xid_registered;      /* its Xid events come to the event set */
	uint64_t xids;            /* Xid events seen since gputel started */
	unsigned int n_xid_codes; /* ... and per code (snapshot.h) */
	struct gpu_xid_count xid_codes[GPU_XID_CODES_MAX];
};

struct nvml {
	void *lib;
	char path[4096];          /* what was dlopen()ed: the file checked */
	char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
	char detail[384];
	struct nvml_api api;
	bool initialised;
	bool lite;                /* only utilisation, for the agent while idle */
	bool fresh;               /* read slow fields now, not their held values */
	/* Driver-level trouble: re-initialise the whole library with backoff. */
	bool driver_down;
	int64_t driver_retry_at_ns;
	int64_t driver_backoff_ns;
	unsigned int n_gpus;
	struct nvml_gpu gpu[GPUTEL_MAX_GPUS];
	nvmlEventSet_t events;    /* NULL until created; recreated after a re-init */
};

static const char *nvml_err(const struct nvml *n, nvmlReturn_t r)
{
	const char *s = n->api.error_string ? n->api.error_string(r) : NULL;

	return s && *s ? s : nvml_return_name(r);
}

static void resolve_symbols(struct nvml *n)
{
	for (size_t i = 0; i < ARRAY_SIZE(nvml_symbols); i++) {
		const struct nvml_symbol *s = &nvml_symbols[i];
		void *p = NULL;

		for (size_t k = 0; k < ARRAY_SIZE(s->names) && s->names[k] && !p; k++)
			p = dlsym(n->lib, s->names[k]);
		memcpy((char *)&n->api + s->offset, &p, sizeof p);
	}
}

static const char *missing_required(const struct nvml *n)
{
	for (size_t i = 0; i < ARRAY_SIZE(nvml_symbols); i++) {
		void *p;

		memcpy(&p, (const char *)&n->api + nvml_symbols[i].offset, sizeof p);
		if (nvml_symbols[i].required && !p)
			return nvml_symbols[i].names[0];
	}
	return NULL;
}

/*
 * Reads the identity of the device at index i into g.  Returns false when
 * the UUID could not be read (then "index-N" stands in for it).
 */
static bool read_identity(struct nvml *n, struct nvml_gpu *g, unsigned int i)
{
	const struct nvml_api *a = &n->api;
	bool have_uuid = true;

	memset(&g->id, 0, sizeof g->id);
	g->id.index = i;
	if (!a->get_uuid || a->get_uuid(g->dev, g->id.uuid, sizeof g->id.uuid) != NVML_SUCCESS) {
		str_fmt(g->id.uuid, sizeof g->id.uuid, "index-%u", i);
		have_uuid = false;
	}
	if (!a->get_name || a->get_name(g->dev, g->id.name, sizeof g->id.name) != NVML_SUCCESS)
		g->id.name[0] = '\0';
	if (a->get_pci_v3) {
		nvmlPciInfo_t pci;

		if (a->get_pci_v3(g->dev, &pci) == NVML_SUCCESS) {
			pci.busId[sizeof pci.busId - 1] = '\0';
			str_copy(g->id.pci_bus_id, pci.busId, sizeof g->id.pci_bus_id);
		}
	} else if (a->get_pci_legacy) {
		/* The pre-410 layout: char busId[16] first, then 9 uints (52 bytes). */
		char legacy[64];

		if (a->get_pci_legacy(g->dev, legacy) == NVML_SUCCESS) {
			legacy[15] = '\0';
			str_copy(g->id.pci_bus_id, legacy, sizeof g->id.pci_bus_id);
		}
	}
	return have_uuid;
}

/*
 * Enumerates devices.  On a re-scan, a GPU already known keeps its slot
 * (matched by UUID, since NVML indices are not stable); new ones are added.
 * Returns the number of devices NVML reports, or -1 with why filled.
 */
static int enumerate(struct nvml *n, bool rescan, char *why, size_t whylen)
{
	unsigned int count = 0;
	nvmlReturn_t r = n->api.get_count(&count);

	if (r != NVML_SUCCESS) {
		str_fmt(why, whylen, "nvmlDeviceGetCount failed: %s", nvml_err(n, r));
		return -1;
	}
	if (count > GPUTEL_MAX_GPUS) {
		log_warn("nvml: %u gpus found, sampling the first %d", count, GPUTEL_MAX_GPUS);
		count = GPUTEL_MAX_GPUS;
	}
	for (unsigned int i = 0; i < count; i++) {
		struct nvml_gpu probe = { 0 };
		unsigned int slot;

		r = n->api.get_handle_by_index(i, &probe.dev);
		if (r == NVML_ERROR_NO_PERMISSION) {
			log_warn("nvml: no permission to open gpu %u; skipping it (check the /dev/nvidia%u permissions)", i, i);
			continue;
		}
		if (r != NVML_SUCCESS) {
			if (!rescan)
				log_warn("nvml: gpu %u: cannot get a handle: %s", i, nvml_err(n, r));
			continue;
		}
		/* On a re-scan a GPU that cannot even say its UUID (still lost)
		 * must not come back as a new GPU: leave it for the next try. */
		if (!read_identity(n, &probe, i) && rescan)
			continue;
		for (slot = 0; slot < n->n_gpus; slot++)
			if (strcmp(n->gpu[slot].id.uuid, probe.id.uuid) == 0)
				break;
		if (slot == n->n_gpus) {
			if (n->n_gpus == GPUTEL_MAX_GPUS)
				continue;
			n->n_gpus++;
			n->gpu[slot] = probe;
			n->gpu[slot].backoff_ns = BACKOFF_MIN_NS;
			if (rescan)
				log_info("nvml: gpu %u (%s) appeared", i, probe.id.uuid);
		} else {
			/* Known GPU: refresh the handle, keep its health for the caller to judge. */
			if (n->gpu[slot].dev != probe.dev)
				n->gpu[slot].xid_registered = false;
			n->gpu[slot].dev = probe.dev;
			n->gpu[slot].id.index = i;
		}
	}
	return (int)count;
}

/*
 * Asks for every GPU's Xid events, once per handle.  Xids are what the
 * driver logs for GPU faults; drivers or GPUs that cannot deliver them
 * (NOT_SUPPORTED) simply report no Xid count.
 */
static void register_xids(struct nvml *n)
{
	const struct nvml_api *a = &n->api;

	if (!a->event_set_create || !a->register_events || !a->event_wait)
		return;
	if (!n->events && a->event_set_create(&n->events) != NVML_SUCCESS) {
		n->events = NULL;
		return;
	}
	for (unsigned int i = 0; i < n->n_gpus; i++) {
		struct nvml_gpu *g = &n->gpu[i];

		if (!g->xid_registered &&
		    a->register_events(g->dev, nvmlEventTypeXidCriticalError, n->events) == NVML_SUCCESS)
			g->xid_registered = true;
	}
}

static void free_events(struct nvml *n)
{
	if (n->events && n->api.event_set_free)
		n->api.event_set_free(n->events);
	n->events = NULL;
	for (unsigned int i = 0; i < n->n_gpus; i++)
		n->gpu[i].xid_registered = false;
}

/* One more event of code for g's per-code counts; a code past the table's room goes to "other". */
static void count_xid_code(struct nvml_gpu *g, unsigned long long data)
{
	int32_t code = data <= 99999 ? (int32_t)data : GPU_XID_CODE_OTHER;
	unsigned int i;

	for (i = 0; i < g->n_xid_codes; i++)
		if (g->xid_codes[i].code == code)
			break;
	if (i == g->n_xid_codes) {
		if (g->n_xid_codes == GPU_XID_CODES_MAX - 1 && code != GPU_XID_CODE_OTHER)
			code = GPU_XID_CODE_OTHER;
		for (i = 0; i < g->n_xid_codes; i++)
			if (g->xid_codes[i].code == code)
				break;
		if (i == g->n_xid_codes)
			g->xid_codes[g->n_xid_codes++] = (struct gpu_xid_count){ code, 0 };
	}
	g->xid_codes[i].count++;
}

/* Takes the Xid events waiting now, without blocking. */
static void drain_xids(struct nvml *n)
{
	nvmlEventData_t ev;

	if (!n->events)
		return;
	/* Bounded: a storm of events must not hold the tick up. */
	for (int k = 0; k < 256; k++) {
		memset(&ev, 0, sizeof ev);
		if (n->api.event_wait(n->events, &ev, 0) != NVML_SUCCESS)
			return;
		if (!(ev.eventType & nvmlEventTypeXidCriticalError))
			continue;
		for (unsigned int i = 0; i < n->n_gpus; i++) {
			struct nvml_gpu *g = &n->gpu[i];

			if (g->dev != ev.device)
				continue;
			/* Logged, with what the code means, by the modes that run sink_events.c. */
			g->xids++;
			count_xid_code(g, ev.eventData);
			break;
		}
	}
}

/*
 * Finds and checks the library before dlopen() maps it (libcheck.h): a
 * FIFO would block dlopen for good, a truncated file would kill gputel
 * with SIGBUS.  Fills path with what to dlopen: the file checked, so that
 * it is the one loaded.  Returns GPU_OPEN_OK, or the code to return with
 * why filled.
 */
static int check_library(const char *lib, bool explicit, char *path, size_t pathlen, char *why,
			 size_t whylen)
{
	char what[160];
	int r;

	if (strchr(lib, '/')) {
		if (str_copy(path, lib, pathlen) >= pathlen) {
			str_fmt(why, whylen, "the NVML library path is over %zu bytes; use a shorter one", pathlen - 1);
			return explicit ? GPU_OPEN_BAD_CONFIG : GPU_OPEN_UNAVAILABLE;
		}
	} else if (libcheck_find(lib, path, pathlen) != 0) {
		/* Not where we look: dlopen may still know better, and says so when not. */
		str_copy(path, lib, pathlen);
		return GPU_OPEN_OK;
	}
	r = libcheck_file(path, what, sizeof what);
	if (r == 0)
		return GPU_OPEN_OK;
	if (!explicit) {
		/* A broken driver install: say so, and let nvidia-smi stand in. */
		if (r == LIBCHECK_NOT_FILE)
			str_fmt(why, whylen, "%s is %s, not a regular file", path, what);
		else if (r == LIBCHECK_INCOMPLETE)
			str_fmt(why, whylen, "%s is not a complete shared library (%s)", path, what);
		else
			str_fmt(why, whylen, "%s cannot be read (%s)", path, what);
		return GPU_OPEN_UNAVAILABLE;
	}
	if (r == LIBCHECK_NOT_FILE)
		str_fmt(why, whylen,
			"GPUTEL_NVML_LIBRARY=%s is %s, not a regular file; point it at libnvidia-ml.so.1 or unset it",
			path, what);
	else if (r == LIBCHECK_INCOMPLETE)
		str_fmt(why, whylen,
			"GPUTEL_NVML_LIBRARY %s is not a complete shared library (%s); point it at libnvidia-ml.so.1 or unset it",
			path, what);
	else
		str_fmt(why, whylen,
			"GPUTEL_NVML_LIBRARY=%s does not exist or is not readable (%s); point it at libnvidia-ml.so.1 or unset it",
			path, what);
	return GPU_OPEN_BAD_CONFIG;
}

static int nvml_open(void **state, const struct gpu_options *opt, char *why, size_t whylen)
{
	const char *env = getenv("GPUTEL_NVML_LIBRARY");
	const char *lib = opt->nvml_library ? opt->nvml_library : (env && *env ? env : NULL);
	bool explicit = lib != NULL;
	struct nvml *n;
	const char *missing;
	nvmlReturn_t r;
	int bad = explicit ? GPU_OPEN_BAD_CONFIG : GPU_OPEN_UNAVAILABLE;
	int checked;

	if (!lib)
		lib = NVML_DEFAULT_LIBRARY;
	if (explicit && strchr(lib, '/') && access(lib, R_OK) != 0) {
		str_fmt(why, whylen,
			"GPUTEL_NVML_LIBRARY=%s does not exist or is not readable; point it at libnvidia-ml.so.1 or unset it",
			lib);
		return GPU_OPEN_BAD_CONFIG;
	}
	n = calloc(1, sizeof *n);
	if (!n) {
		str_copy(why, "out of memory", whylen);
		return GPU_OPEN_UNAVAILABLE;
	}
	checked = check_library(lib, explicit, n->path, sizeof n->path, why, whylen);
	if (checked != GPU_OPEN_OK) {
		free(n);
		return checked;
	}
	n->lib = dlopen(n->path, RTLD_NOW | RTLD_LOCAL);
	if (!n->lib) {
		const char *e = dlerror();

		if (explicit)
			str_fmt(why, whylen, "cannot load GPUTEL_NVML_LIBRARY=%s (%s); point it at libnvidia-ml.so.1 or unset it",
				lib, e ? e : "dlopen failed");
		else
			str_fmt(why, whylen, "%s not found (no NVIDIA driver installed?)", lib);
		free(n);
		return bad;
	}
	resolve_symbols(n);
	missing = missing_required(n);
	if (missing) {
		str_fmt(why, whylen, "%s is not an NVML library (it lacks %s)%s", lib, missing,
			explicit ? "; point GPUTEL_NVML_LIBRARY at libnvidia-ml.so.1 or unset it" : "");
		dlclose(n->lib);
		free(n);
		return bad;
	}
	r = n->api.init();
	if (r != NVML_SUCCESS) {
		str_fmt(why, whylen, "nvmlInit failed in %s: %s", lib, nvml_err(n, r));
		dlclose(n->lib);
		free(n);
		return bad;
	}
	n->initialised = true;
	if (!n->api.driver_version ||
	    n->api.driver_version(n->driver, sizeof n->driver) != NVML_SUCCESS)
		n->driver[0] = '\0';
	if (enumerate(n, false, why, whylen) < 0) {
		n->api.shutdown();
		dlclose(n->lib);
		free(n);
		return bad;
	}
	register_xids(n);
	str_fmt(n->detail, sizeof n->detail, "%s, driver %s, %u gpu%s", n->path,
		n->driver[0] ? n->driver : "unknown", n->n_gpus, n->n_gpus == 1 ? "" : "s");
	*state = n;
	return GPU_OPEN_OK;
}

/* Folds an NVML return code into a field state; remembers a lost GPU. */
struct tick {
	int errors;       /* queries that failed with a real error */
	int answered;     /* queries that succeeded or said "not supported" */
	bool lost;
	bool driver_gone; /* the library says it is not initialised / no driver */
};

static int classify(struct tick *t, nvmlReturn_t r)
{
	switch (r) {
	case NVML_SUCCESS:
		t->answered++;
		return VAL_OK;
	case NVML_ERROR_NOT_SUPPORTED:
	case NVML_ERROR_FUNCTION_NOT_FOUND:
		t->answered++;
		return VAL_UNSUPPORTED;
	case NVML_ERROR_GPU_IS_LOST:
		t->lost = true;
		break;
	case NVML_ERROR_UNINITIALIZED:
	case NVML_ERROR_DRIVER_NOT_LOADED:
	case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
		t->driver_gone = true;
		break;
	default:
		break;
	}
	t->errors++;
	return VAL_ERROR;
}

/*
 * Records one query's result into field f of out.  Skipped once the GPU is
 * lost, and while the field is resting (unsupported lately, or a slow
 * counter between reads): then its last answer is repeated.
 */
#define QUERY(f, fn, args, value)                                     \
	do {                                                          \
		int st_ = VAL_UNSUPPORTED;                            \
		if (t.lost)                                           \
			break;                                        \
		if (now < g->next_read_ns[f]) {                       \
			out->st[f] = g->held_st[f];                   \
			out->val[f] = g->held_val[f];                 \
			break;                                        \
		}                                                     \
		if (a->fn)                                            \
			st_ = classify(&t, a->fn args);               \
		out->st[f] = (uint8_t)st_;                            \
		if (st_ == VAL_OK)                                    \
			out->val[f] = (int64_t)(value);               \
		rest_if_unsupported(g, f, out, now);                  \
	} while (0)

static void rest_if_unsupported(struct nvml_gpu *g, int f, const struct gpu_reading *out,
				int64_t now)
{
	if (out->st[f] != VAL_UNSUPPORTED)
		return;
	g->next_read_ns[f] = now + UNSUPPORTED_RECHECK_NS;
	g->held_st[f] = VAL_UNSUPPORTED;
}

/* Reads the energy counter, every tick or, where that is costly, every 10 s. */
static void query_energy(const struct nvml_api *a, struct nvml_gpu *g, struct gpu_reading *out,
			 struct tick *tp, int64_t now, bool fresh)
{
	const int f = GPU_F_ENERGY_MJ;
	ull mj = 0;
	int64_t took;
	int st;

	if (tp->lost)
		return;
	/* Held between slow reads; a fresh sample reads it anyway unless it is unsupported. */
	if (now < g->next_read_ns[f] && !(fresh && g->energy_slow)) {
		out->st[f] = g->held_st[f];
		out->val[f] = g->held_val[f];
		return;
	}
	if (!a->get_energy) {
		out->st[f] = VAL_UNSUPPORTED;
		return;
	}
	took = mono_now_ns();
	st = classify(tp, a->get_energy(g->dev, &mj));
	took = mono_now_ns() - took;
	out->st[f] = (uint8_t)st;
	out->val[f] = (int64_t)mj;
	rest_if_unsupported(g, f, out, now);
	if (st != VAL_OK)
		return;
	if (took > ENERGY_SLOW_NS && !g->energy_slow) {
		g->energy_slow = true;
		log_info("nvml: gpu %u: reading the energy counter takes %.1f ms on this driver; reading it every %llds and repeating the last value in between",
			 g->id.index, (double)took / 1e6, (long long)(ENERGY_SLOW_PERIOD_NS / NS_PER_SEC));
	}
	if (g->energy_slow) {
		g->next_read_ns[f] = now + ENERGY_SLOW_PERIOD_NS;
		g->held_st[f] = VAL_OK;
		g->held_val[f] = (int64_t)mj;
	}
}

static void sample_gpu(struct nvml *n, struct nvml_gpu *g, struct gpu_reading *out,
		       struct tick *tp, int64_t now)
{
	const struct nvml_api *a = &n->api;
	nvmlDevice_t d = g->dev;
	struct tick t = { 0 };
	nvmlUtilization_t util = { 0 };
	nvmlMemory_v2_t m2 = { .version = nvmlMemory_v2 };
	nvmlMemory_t m1 = { 0 };
	nvmlTemperature_v1_t tv = { .version = nvmlTemperature_v1,
				    .sensorType = NVML_TEMPERATURE_GPU };
	unsigned int u = 0, u2, corr = 0, unc = 0, pend = 0, fail = 0;
	int pstate = 0;
	ull ull_v = 0;
	nvmlReturn_t r;

	QUERY(GPU_F_UTIL_GPU_PCT, get_utilization, (d, &util), util.gpu);
	out->st[GPU_F_UTIL_MEM_PCT] = out->st[GPU_F_UTIL_GPU_PCT];
	out->val[GPU_F_UTIL_MEM_PCT] = util.memory;
	if (n->lite) {
		/* The activity decision needs nothing more; the rest stays absent. */
		*tp = t;
		return;
	}

	/*
	 * Memory: v2 reports reserved memory apart from used, as nvidia-smi
	 * does; older drivers only have v1.  Only the final answer counts.
	 */
	if (!t.lost) {
		r = NVML_ERROR_FUNCTION_NOT_FOUND;
		if (a->get_memory_v2) {
			r = a->get_memory_v2(d, &m2);
			m1.used = m2.used;
			m1.total = m2.total;
		}
		if (r != NVML_SUCCESS && r != NVML_ERROR_GPU_IS_LOST && a->get_memory)
			r = a->get_memory(d, &m1);
		out->st[GPU_F_MEM_USED_BYTES] = (uint8_t)classify(&t, r);
		out->st[GPU_F_MEM_TOTAL_BYTES] = out->st[GPU_F_MEM_USED_BYTES];
		out->val[GPU_F_MEM_USED_BYTES] = (int64_t)m1.used;
		out->val[GPU_F_MEM_TOTAL_BYTES] = (int64_t)m1.total;
	}

	/* Temperature: the V call (565+) first, the deprecated one otherwise. */
	if (!t.lost) {
		r = NVML_ERROR_FUNCTION_NOT_FOUND;
		if (a->get_temperature_v)
			r = a->get_temperature_v(d, &tv);
		if (r != NVML_SUCCESS && r != NVML_ERROR_GPU_IS_LOST && a->get_temperature) {
			r = a->get_temperature(d, NVML_TEMPERATURE_GPU, &u);
			tv.temperature = (int)u;
		}
		out->st[GPU_F_TEMP_MC] = (uint8_t)classify(&t, r);
		out->val[GPU_F_TEMP_MC] = (int64_t)tv.temperature * 1000;
	}

	QUERY(GPU_F_POWER_MW, get_power_usage, (d, &u), u);
	QUERY(GPU_F_POWER_LIMIT_MW, get_power_limit, (d, &u), u);
	query_energy(a, g, out, &t, now, n->fresh);
	QUERY(GPU_F_CLOCK_SM_MHZ, get_clock, (d, NVML_CLOCK_SM, &u), u);
	QUERY(GPU_F_CLOCK_MEM_MHZ, get_clock, (d, NVML_CLOCK_MEM, &u), u);
	QUERY(GPU_F_FAN_PCT, get_fan, (d, &u), u);
	QUERY(GPU_F_PSTATE, get_pstate, (d, &pstate), pstate);
	if (out->st[GPU_F_PSTATE] == VAL_OK && pstate == NVML_PSTATE_UNKNOWN)
		out->st[GPU_F_PSTATE] = VAL_UNSUPPORTED;
	QUERY(GPU_F_CLOCK_EVENT_MASK, get_clock_events, (d, &ull_v), ull_v);
	QUERY(GPU_F_ENC_UTIL_PCT, get_encoder, (d, &u, &u2), u);
	QUERY(GPU_F_DEC_UTIL_PCT, get_decoder, (d, &u, &u2), u);
	QUERY(GPU_F_ECC_CORR_VOLATILE, get_ecc,
	      (d, NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC, &ull_v), ull_v);
	QUERY(GPU_F_ECC_UNCORR_VOLATILE, get_ecc,
	      (d, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, &ull_v), ull_v);
	QUERY(GPU_F_REMAP_CORR_ROWS, get_remapped, (d, &corr, &unc, &pend, &fail), corr);
	for (int f = GPU_F_REMAP_UNCORR_ROWS; f <= GPU_F_REMAP_FAILURE; f++)
		out->st[f] = out->st[GPU_F_REMAP_CORR_ROWS];
	out->val[GPU_F_REMAP_UNCORR_ROWS] = unc;
	out->val[GPU_F_REMAP_PENDING] = pend;
	out->val[GPU_F_REMAP_FAILURE] = fail;
	*tp = t;
}
#undef QUERY

static void mark_down(struct nvml_gpu *g, int64_t now, const char *why)
{
	if (g->health != GPU_HEALTH_DOWN) {
		g->health = GPU_HEALTH_DOWN;
		g->backoff_ns = BACKOFF_MIN_NS;
		log_warn("nvml: gpu %u (%s) is down: %s; other gpus keep being sampled, retrying with backoff",
			 g->id.index, g->id.uuid, why);
	}
	g->retry_at_ns = now + g->backoff_ns;
}

static void bump_backoff(int64_t *backoff_ns)
{
	*backoff_ns = *backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : *backoff_ns * 2;
}

/* Shuts NVML down and brings it up again; keeps GPU slots by UUID. */
static void reinit_driver(struct nvml *n, int64_t now)
{
	char why[256];
	nvmlReturn_t r;

	/* The event set belongs to the library instance that is going away. */
	free_events(n);
	if (n->initialised)
		n->api.shutdown();
	n->initialised = false;
	r = n->api.init();
	if (r != NVML_SUCCESS) {
		bump_backoff(&n->driver_backoff_ns);
		n->driver_retry_at_ns = now + n->driver_backoff_ns;
		log_debug("nvml: re-initialise failed: %s; next try in %llds", nvml_err(n, r),
			  (long long)(n->driver_backoff_ns / NS_PER_SEC));
		return;
	}
	n->initialised = true;
	if (enumerate(n, true, why, sizeof why) < 0) {
		bump_backoff(&n->driver_backoff_ns);
		n->driver_retry_at_ns = now + n->driver_backoff_ns;
		return;
	}
	n->driver_down = false;
	log_info("nvml: driver re-initialised; %u gpu%s known", n->n_gpus, plural_s(n->n_gpus));
	for (unsigned int i = 0; i < n->n_gpus; i++) {
		/* Let every GPU prove itself on this tick. */
		n->gpu[i].retry_at_ns = now;
	}
}

static void nvml_sample(void *state, struct snapshot *snap)
{
	struct nvml *n = state;
	int64_t start = mono_now_ns();
	bool all_ok = true;
	unsigned int gone = 0, tried = 0;

	if (n->driver_down && start >= n->driver_retry_at_ns)
		reinit_driver(n, start);
	if (!n->driver_down) {
		register_xids(n);
		drain_xids(n);
	}

	for (unsigned int i = 0; i < n->n_gpus; i++) {
		struct nvml_gpu *g = &n->gpu[i];
		struct gpu_reading *out = &snap->gpu[i];
		struct tick t = { 0 };

		out->id = g->id;
		memset(out->st, VAL_ABSENT, sizeof out->st);
		/* Running counts: a GPU that is down keeps the ones it had. */
		out->n_xid_codes = g->n_xid_codes;
		memcpy(out->xid_codes, g->xid_codes, g->n_xid_codes * sizeof g->xid_codes[0]);
		if (n->driver_down || (g->health == GPU_HEALTH_DOWN && start < g->retry_at_ns)) {
			out->health = GPU_HEALTH_DOWN;
			all_ok = false;
			continue;
		}
		if (g->health == GPU_HEALTH_DOWN) {
			/* Re-acquire: the handle may have changed if the GPU was reset. */
			char why[128];

			enumerate(n, true, why, sizeof why);
			out->id = g->id;
		}
		tried++;
		sample_gpu(n, g, out, &t, start);
		if (g->xid_registered)
			GPU_SET(out, GPU_F_XID_TOTAL, (int64_t)g->xids);
		if (t.driver_gone)
			gone++;
		if (t.lost) {
			memset(out->st, VAL_ERROR, sizeof out->st);
			mark_down(g, start, "gpu is lost (fallen off the bus or needs a reset)");
			bump_backoff(&g->backoff_ns);
		} else if (t.answered == 0 && t.errors > 0) {
			if (++g->fail_streak >= FAIL_STREAK_DOWN) {
				mark_down(g, start, "every query fails");
				bump_backoff(&g->backoff_ns);
			}
		} else {
			g->fail_streak = 0;
			if (g->health == GPU_HEALTH_DOWN) {
				log_info("nvml: gpu %u (%s) is back", g->id.index, g->id.uuid);
				/* A reset GPU may answer differently: ask everything again. */
				memset(g->next_read_ns, 0, sizeof g->next_read_ns);
			}
			g->health = GPU_HEALTH_UP;
			g->backoff_ns = BACKOFF_MIN_NS;
		}
		out->health = g->health;
		if (t.errors > 0 || g->health != GPU_HEALTH_UP)
			all_ok = false;
	}
	if (!n->driver_down && tried > 0 && gone == tried) {
		n->driver_down = true;
		n->driver_backoff_ns = BACKOFF_MIN_NS;
		n->driver_retry_at_ns = start + n->driver_backoff_ns;
		log_warn("nvml: the driver stopped answering; re-initialising with backoff");
	}
	snap->n_gpus = n->n_gpus;
	snap->gpu_src.ok = all_ok;
	snap->gpu_src.duration_ns = mono_now_ns() - start;
}

static void nvml_set_lite(void *state, int lite)
{
	((struct nvml *)state)->lite = lite != 0;
}

static void nvml_set_fresh(void *state, int fresh)
{
	((struct nvml *)state)->fresh = fresh != 0;
}

static int nvml_persistence(void *state, int i)
{
	struct nvml *n = state;
	unsigned int mode = 0;

	if (i < 0 || (unsigned int)i >= n->n_gpus || !n->api.get_persistence ||
	    n->gpu[i].health == GPU_HEALTH_DOWN || n->api.get_persistence(n->gpu[i].dev, &mode) != NVML_SUCCESS)
		return GPU_PERSISTENCE_UNKNOWN;
	return mode != 0;
}

static const char *nvml_driver_version(void *state)
{
	return ((struct nvml *)state)->driver;
}

static const char *nvml_detail(void *state)
{
	return ((struct nvml *)state)->detail;
}

static void nvml_close(void *state)
{
	struct nvml *n = state;

	if (!n)
		return;
	free_events(n);
	if (n->initialised)
		n->api.shutdown();
	dlclose(n->lib);
	free(n);
}

const struct gpu_backend gpu_nvml_backend = {
	.name = "nvml",
	.open = nvml_open,
	.sample = nvml_sample,
	.driver_version = nvml_driver_version,
	.detail = nvml_detail,
	.close = nvml_close,
	.set_lite = nvml_set_lite,
	.set_fresh = nvml_set_fresh,
	.persistence = nvml_persistence,
};
