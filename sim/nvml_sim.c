/*
 * nvml_sim.c - a simulated NVIDIA driver: libnvidia-ml-sim.so exports the
 * NVML entry points gputel's NVML backend dlopen()s and answers them from a
 * scenario timeline (sim/scenario.h, docs/simulator.md).
 *
 * Built with -fvisibility=hidden, so only what is marked SIM_EXPORT is
 * visible; the R418 variant narrows that further with sim/r418.map.
 *
 * Concurrency: gputel samples from one thread while another blocks in
 * nvmlEventSetWait, so every call holds a read lock on the scenario for its
 * duration and nvmlShutdown frees the scenario under the write lock.  The
 * lock is dropped while sleeping (latency_ms, event polling) so that a
 * shutdown is never held up by a slow simulated GPU.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvml_abi.h"
#include "scenario.h"

#define SIM_EXPORT __attribute__((visibility("default")))

/* Not in nvml_abi.h because gputel itself never needs them. */
#define SIM_ERROR_ALREADY_INITIALIZED 5
#define SIM_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define SIM_EVENT_SBE 0x1ULL
#define SIM_EVENT_DBE 0x2ULL
#define SIM_EVENTS_SUPPORTED (nvmlEventTypeXidCriticalError | SIM_EVENT_SBE | SIM_EVENT_DBE)
#define SIM_CLOCK_VIDEO 3
#define SIM_AGGREGATE_ECC 1
#define SIM_SAMPLING_US 167000u
#define SIM_PCI_DEVICE_ID 0x233010DEu /* H100 SXM5 */
#define SIM_PCI_SUBSYS_ID 0x16C110DEu
#define SIM_EVENT_POLL_NS 5000000LL
#define SIM_INSTANCE_NONE 0xFFFFFFFFu
#define SIM_SET_MAGIC 0x6576736eu

/* nvmlPciInfo_t as nvmlDeviceGetPciInfo and _v2 fill it: 52 bytes. */
typedef struct {
	char busId[16];
	unsigned int domain;
	unsigned int bus;
	unsigned int device;
	unsigned int pciDeviceId;
	unsigned int pciSubSystemId;
	unsigned int reserved0;
	unsigned int reserved1;
	unsigned int reserved2;
	unsigned int reserved3;
} sim_pci_info_v2_t;

/* nvmlEventData_t before the MIG instance ids: 24 bytes. */
typedef struct {
	nvmlDevice_t device;
	unsigned long long eventType;
	unsigned long long eventData;
} sim_event_data_v1_t;

_Static_assert(sizeof(sim_pci_info_v2_t) == 52, "old nvmlPciInfo_t is 52 bytes");
_Static_assert(sizeof(nvmlPciInfo_t) == 68, "nvmlPciInfo_v3 is 68 bytes");
_Static_assert(sizeof(sim_event_data_v1_t) == 24, "old nvmlEventData_t is 24 bytes");
_Static_assert(sizeof(nvmlEventData_t) == 32, "nvmlEventData_t is 32 bytes");

struct nvmlDevice_st {
	int index;
};

struct nvmlEventSet_st {
	unsigned magic;
	pthread_mutex_t mu;
	unsigned long long types[SCN_MAX_GPUS];
	/* Timeline second of the last Xid handed out (or of registration). */
	double cursor[SCN_MAX_GPUS];
};

/* ---- exported prototypes (the library's whole ABI) --------------------- */

SIM_EXPORT nvmlReturn_t nvmlInit_v2(void);
SIM_EXPORT nvmlReturn_t nvmlInit(void);
SIM_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags);
SIM_EXPORT nvmlReturn_t nvmlShutdown(void);
SIM_EXPORT const char *nvmlErrorString(nvmlReturn_t result);
SIM_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
SIM_EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *count);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, sim_pci_info_v2_t *pci);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, sim_pci_info_v2_t *pci);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minor);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, unsigned int *mode);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *u);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *m);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *m);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_v1_t *temp);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *mw);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *mw);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
							     unsigned long long *mj);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *mhz);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *speed);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t device, int *pstate);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device,
								unsigned long long *reasons);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device,
								   unsigned long long *reasons);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t device, unsigned int *util,
							 unsigned int *period_us);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t device, unsigned int *util,
							 unsigned int *period_us);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int error_type,
						     int counter_type, unsigned long long *count);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *corr,
						   unsigned int *unc, unsigned int *pending,
						   unsigned int *failure);
SIM_EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set);
SIM_EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device,
							  unsigned long long *types);
SIM_EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types,
						  nvmlEventSet_t set);
SIM_EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
					     unsigned int timeoutms);
SIM_EXPORT nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, sim_event_data_v1_t *data,
					  unsigned int timeoutms);
SIM_EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set);

/* ---- state -------------------------------------------------------------- */

static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_refs; /* g_init_mu */

/* Everything below is written under g_rw's write lock, read under its read lock. */
static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
static struct scenario *g_scn; /* NULL: not initialized */
static int g_gpus;
static bool g_has_epoch;
static double g_epoch;
static struct timespec g_t0;
static unsigned g_gen; /* g_init_mu: bumped by every load of a scenario */
static bool g_t0_set;
static struct nvmlDevice_st g_dev[SCN_MAX_GPUS];
static char g_uuid[SCN_MAX_GPUS][SCN_UUID_MAX];
static char g_bus_id[SCN_MAX_GPUS][SCN_BUSID_MAX];
static char g_bus_legacy[SCN_MAX_GPUS][SCN_BUSID_MAX];

/* Highest energy reading handed out, so rounding can never make it go back. */
static _Atomic unsigned long long g_energy_last[SCN_MAX_GPUS];

/* Why the last nvmlInit failed; what nvmlErrorString(NVML_ERROR_UNKNOWN) says. */
static char g_init_err[SCN_ERR_MAX];

/* ---- helpers ------------------------------------------------------------ */

/* Seconds on the scenario timeline; callers hold the read lock. */
static double sim_now(void)
{
	struct timespec ts;
	double t;

	if (g_has_epoch) {
		clock_gettime(CLOCK_REALTIME, &ts);
		t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - g_epoch;
	} else {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = (double)(ts.tv_sec - g_t0.tv_sec) + (double)(ts.tv_nsec - g_t0.tv_nsec) * 1e-9;
	}
	return t > 0 ? t : 0;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts;

	if (ns <= 0)
		return;
	ts.tv_sec = (time_t)(ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

struct call {
	const struct scenario *s;
	int gpu;
	double t;
	bool locked;
};

static nvmlReturn_t enter(struct call *c, enum scn_fn fn)
{
	pthread_rwlock_rdlock(&g_rw);
	c->locked = true;
	c->s = g_scn;
	if (!c->s)
		return NVML_ERROR_UNINITIALIZED;
	if (scn_missing(c->s, fn))
		return NVML_ERROR_FUNCTION_NOT_FOUND;
	return NVML_SUCCESS;
}

static nvmlReturn_t leave(struct call *c, nvmlReturn_t rc)
{
	if (c->locked)
		pthread_rwlock_unlock(&g_rw);
	c->locked = false;
	return rc;
}

static int dev_index(nvmlDevice_t d)
{
	uintptr_t p = (uintptr_t)d, b = (uintptr_t)&g_dev[0];
	uintptr_t off;

	if (p < b)
		return -1;
	off = p - b;
	if (off % sizeof(g_dev[0]) != 0 || off / sizeof(g_dev[0]) >= (uintptr_t)g_gpus)
		return -1;
	return (int)(off / sizeof(g_dev[0]));
}

/*
 * The per-call gate (latency, lost, unsupported=, error=) only changes at
 * keyframes, yet every one of the ~20 queries a GPU gets per tick would
 * evaluate four timelines for it: then the simulator, not gputel, would be
 * the cost the benchmarks measure.  Each thread keeps a GPU's gate for
 * 1 ms of scenario time.
 */
struct gate {
	unsigned gen; /* g_gen it was computed under; 0: never */
	double t;
	double latency_ms;
	bool lost;
	uint64_t unsupported, error;
};
static __thread struct gate t_gate[SCN_MAX_GPUS];

static const struct gate *gate_at(const struct call *c)
{
	struct gate *g = &t_gate[c->gpu];

	if (g->gen != g_gen || c->t < g->t || c->t - g->t >= 0.001) {
		g->gen = g_gen;
		g->t = c->t;
		g->latency_ms = scn_value(c->s, c->gpu, SCN_LATENCY_MS, c->t);
		g->lost = scn_lost(c->s, c->gpu, c->t);
		g->unsupported = (uint64_t)scn_value(c->s, c->gpu, SCN_UNSUPPORTED, c->t);
		g->error = (uint64_t)scn_value(c->s, c->gpu, SCN_ERROR, c->t);
	}
	return g;
}

/*
 * The shared front half of every device query, in NVML's order: library
 * state, the handle and output pointer, the simulated latency, a lost GPU,
 * then the scenario's unsupported=/error= for field (or none when < 0).
 * On NVML_SUCCESS the read lock is held; leave() always releases it.
 */
static nvmlReturn_t dev_enter(struct call *c, enum scn_fn fn, nvmlDevice_t d, const void *arg,
			      int field)
{
	nvmlReturn_t rc = enter(c, fn);
	const struct gate *gate;
	double ms;

	if (rc != NVML_SUCCESS)
		return rc;
	c->gpu = dev_index(d);
	if (c->gpu < 0 || !arg)
		return NVML_ERROR_INVALID_ARGUMENT;
	c->t = sim_now();
	gate = gate_at(c);
	ms = gate->latency_ms;
	if (ms > 0) {
		leave(c, NVML_SUCCESS);
		sleep_ns((int64_t)(ms * 1e6));
		rc = enter(c, fn);
		if (rc != NVML_SUCCESS)
			return rc;
		if (c->gpu >= g_gpus)
			return NVML_ERROR_INVALID_ARGUMENT;
		c->t = sim_now();
		gate = gate_at(c);
	}
	if (gate->lost)
		return NVML_ERROR_GPU_IS_LOST;
	if (field >= (int)SCN_F_COUNT)
		return NVML_ERROR_NOT_SUPPORTED;
	if (field >= 0) {
		if (gate->unsupported & (1ULL << field))
			return NVML_ERROR_NOT_SUPPORTED;
		if (gate->error & (1ULL << field))
			return NVML_ERROR_UNKNOWN;
	}
	return NVML_SUCCESS;
}

static double val(const struct call *c, enum scn_var v)
{
	return scn_value(c->s, c->gpu, v, c->t);
}

/* Percentages, clocks, watts: nearest whole number. */
static unsigned uval(const struct call *c, enum scn_var v)
{
	double x = val(c, v);

	if (!(x > 0))
		return 0;
	if (x >= 4294967295.0)
		return 4294967295u;
	return (unsigned)llround(x);
}

/* Counters (a ramp reaches each count only when it gets there): round down. */
static unsigned long long count_val(const struct call *c, enum scn_var v)
{
	double x = val(c, v);

	return x > 0 ? (unsigned long long)floor(x) : 0;
}

static unsigned milli(double x)
{
	x *= 1000.0;
	if (!(x > 0))
		return 0;
	if (x >= 4294967295.0)
		return 4294967295u;
	return (unsigned)llround(x);
}

static nvmlReturn_t put_str(char *dst, unsigned length, const char *src)
{
	size_t n = strlen(src);

	if ((size_t)length < n + 1)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(dst, src, n + 1);
	return NVML_SUCCESS;
}

/* ---- init / shutdown ---------------------------------------------------- */

static nvmlReturn_t sim_init(enum scn_fn fn)
{
	struct scenario *s = NULL;
	bool has_epoch;
	double epoch;
	char err[SCN_ERR_MAX];

	pthread_mutex_lock(&g_init_mu);
	if (g_refs > 0) {
		g_refs++;
		pthread_mutex_unlock(&g_init_mu);
		return NVML_SUCCESS;
	}
	if (scn_load_env(&s, &has_epoch, &epoch, err, sizeof(err)) < 0) {
		memcpy(g_init_err, err, sizeof(g_init_err));
		g_init_err[sizeof(g_init_err) - 1] = '\0';
		pthread_mutex_unlock(&g_init_mu);
		return NVML_ERROR_UNKNOWN;
	}
	if (scn_missing(s, fn)) {
		scn_free(s);
		pthread_mutex_unlock(&g_init_mu);
		return NVML_ERROR_FUNCTION_NOT_FOUND;
	}

	pthread_rwlock_wrlock(&g_rw);
	g_scn = s;
	g_gen++;
	g_gpus = scn_gpus(s);
	g_has_epoch = has_epoch;
	g_epoch = epoch;
	/* t=0 is the first init of the process, kept across shutdown/init. */
	if (!g_t0_set) {
		clock_gettime(CLOCK_MONOTONIC, &g_t0);
		g_t0_set = true;
	}
	for (int i = 0; i < SCN_MAX_GPUS; i++) {
		g_dev[i].index = i;
		scn_gpu_uuid(i, g_uuid[i], sizeof(g_uuid[i]));
		scn_gpu_bus_id(i, g_bus_id[i], sizeof(g_bus_id[i]));
		scn_gpu_bus_id_legacy(i, g_bus_legacy[i], sizeof(g_bus_legacy[i]));
		atomic_store(&g_energy_last[i], 0);
	}
	pthread_rwlock_unlock(&g_rw);

	g_init_err[0] = '\0';
	g_refs = 1;
	pthread_mutex_unlock(&g_init_mu);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void)
{
	return sim_init(SCN_FN_nvmlInit_v2);
}

nvmlReturn_t nvmlInit(void)
{
	return sim_init(SCN_FN_nvmlInit);
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
	(void)flags; /* NO_GPUS / NO_ATTACH change nothing for simulated GPUs */
	return sim_init(SCN_FN_nvmlInitWithFlags);
}

nvmlReturn_t nvmlShutdown(void)
{
	struct scenario *old = NULL;

	pthread_mutex_lock(&g_init_mu);
	if (g_refs == 0) {
		pthread_mutex_unlock(&g_init_mu);
		return NVML_ERROR_UNINITIALIZED;
	}
	if (--g_refs == 0) {
		pthread_rwlock_wrlock(&g_rw);
		old = g_scn;
		g_scn = NULL;
		g_gpus = 0;
		pthread_rwlock_unlock(&g_rw);
	}
	pthread_mutex_unlock(&g_init_mu);
	scn_free(old);
	return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
	switch (result) {
	case NVML_SUCCESS:
		return "Success";
	case NVML_ERROR_UNINITIALIZED:
		return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT:
		return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED:
		return "Not Supported";
	case NVML_ERROR_NO_PERMISSION:
		return "Insufficient Permissions";
	case SIM_ERROR_ALREADY_INITIALIZED:
		return "Already Initialized";
	case NVML_ERROR_NOT_FOUND:
		return "Not Found";
	case NVML_ERROR_INSUFFICIENT_SIZE:
		return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED:
		return "Driver Not Loaded";
	case NVML_ERROR_TIMEOUT:
		return "Timeout";
	case NVML_ERROR_LIBRARY_NOT_FOUND:
		return "NVML Shared Library Not Found";
	case NVML_ERROR_FUNCTION_NOT_FOUND:
		return "Function Not Found";
	case NVML_ERROR_GPU_IS_LOST:
		return "GPU is lost";
	case NVML_ERROR_RESET_REQUIRED:
		return "GPU requires restart";
	case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
		return "RM has detected an NVML/RM version mismatch";
	case NVML_ERROR_NO_DATA:
		return "No data";
	case SIM_ERROR_ARGUMENT_VERSION_MISMATCH:
		return "Argument version mismatch";
	case NVML_ERROR_GPU_NOT_FOUND:
		return "GPU not found";
	case NVML_ERROR_UNKNOWN:
		/* gputel shows this to the user when init fails on a bad scenario. */
		return g_init_err[0] ? g_init_err : "Unknown Error";
	default:
		return "Unknown Error";
	}
}

/* ---- system ------------------------------------------------------------- */

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
	struct call c = { 0 };
	nvmlReturn_t rc = enter(&c, SCN_FN_nvmlSystemGetDriverVersion);

	if (rc == NVML_SUCCESS)
		rc = version ? put_str(version, length, scn_driver(c.s)) : NVML_ERROR_INVALID_ARGUMENT;
	return leave(&c, rc);
}

nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
	struct call c = { 0 };
	nvmlReturn_t rc = enter(&c, SCN_FN_nvmlSystemGetNVMLVersion);
	char buf[SCN_DRIVER_MAX + 8];

	if (rc == NVML_SUCCESS && !version)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS) {
		int major = scn_driver_major(c.s);
		/* NVML's own major tracks the CUDA generation of the driver branch. */
		int nvml = major >= 525 ? 12 : major >= 450 ? 11 : 10;
		size_t dl = strlen(scn_driver(c.s));

		buf[0] = (char)('0' + nvml / 10);
		buf[1] = (char)('0' + nvml % 10);
		buf[2] = '.';
		memcpy(buf + 3, scn_driver(c.s), dl + 1);
		rc = put_str(version, length, buf);
	}
	return leave(&c, rc);
}

static nvmlReturn_t get_count(unsigned int *count, enum scn_fn fn)
{
	struct call c = { 0 };
	nvmlReturn_t rc = enter(&c, fn);

	if (rc == NVML_SUCCESS) {
		if (count)
			*count = (unsigned)g_gpus;
		else
			rc = NVML_ERROR_INVALID_ARGUMENT;
	}
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
	return get_count(count, SCN_FN_nvmlDeviceGetCount_v2);
}

nvmlReturn_t nvmlDeviceGetCount(unsigned int *count)
{
	return get_count(count, SCN_FN_nvmlDeviceGetCount);
}

/* A lost GPU still has a handle: only queries through it fail. */
static nvmlReturn_t get_handle(unsigned int index, nvmlDevice_t *device, enum scn_fn fn)
{
	struct call c = { 0 };
	nvmlReturn_t rc = enter(&c, fn);

	if (rc == NVML_SUCCESS) {
		if (!device || index >= (unsigned)g_gpus)
			rc = NVML_ERROR_INVALID_ARGUMENT;
		else
			*device = &g_dev[index];
	}
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	return get_handle(index, device, SCN_FN_nvmlDeviceGetHandleByIndex_v2);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
	return get_handle(index, device, SCN_FN_nvmlDeviceGetHandleByIndex);
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
	struct call c = { 0 };
	nvmlReturn_t rc = enter(&c, SCN_FN_nvmlDeviceGetHandleByUUID);

	if (rc == NVML_SUCCESS) {
		if (!uuid || !device) {
			rc = NVML_ERROR_INVALID_ARGUMENT;
		} else {
			rc = NVML_ERROR_NOT_FOUND;
			for (int i = 0; i < g_gpus; i++) {
				if (strcmp(uuid, g_uuid[i]) == 0) {
					*device = &g_dev[i];
					rc = NVML_SUCCESS;
					break;
				}
			}
		}
	}
	return leave(&c, rc);
}

/* ---- identity ----------------------------------------------------------- */

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetName, device, name, -1);

	if (rc == NVML_SUCCESS)
		rc = put_str(name, length, scn_gpu_name(c.s));
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetUUID, device, uuid, -1);

	if (rc == NVML_SUCCESS)
		rc = put_str(uuid, length, g_uuid[c.gpu]);
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetPciInfo_v3, device, pci, -1);

	if (rc == NVML_SUCCESS) {
		memset(pci, 0, sizeof(*pci));
		memcpy(pci->busIdLegacy, g_bus_legacy[c.gpu], sizeof(pci->busIdLegacy));
		pci->busIdLegacy[sizeof(pci->busIdLegacy) - 1] = '\0';
		memcpy(pci->busId, g_bus_id[c.gpu], sizeof(pci->busId));
		pci->busId[sizeof(pci->busId) - 1] = '\0';
		pci->domain = scn_gpu_pci_domain(c.gpu);
		pci->bus = scn_gpu_pci_bus(c.gpu);
		pci->device = 0;
		pci->pciDeviceId = SIM_PCI_DEVICE_ID;
		pci->pciSubSystemId = SIM_PCI_SUBSYS_ID;
	}
	return leave(&c, rc);
}

static nvmlReturn_t pci_v2(nvmlDevice_t device, sim_pci_info_v2_t *pci, enum scn_fn fn)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, fn, device, pci, -1);

	if (rc == NVML_SUCCESS) {
		memset(pci, 0, sizeof(*pci));
		/* The old 16-byte busId only ever held the legacy 4-digit-domain form. */
		memcpy(pci->busId, g_bus_legacy[c.gpu], sizeof(pci->busId));
		pci->busId[sizeof(pci->busId) - 1] = '\0';
		pci->domain = scn_gpu_pci_domain(c.gpu);
		pci->bus = scn_gpu_pci_bus(c.gpu);
		pci->device = 0;
		pci->pciDeviceId = SIM_PCI_DEVICE_ID;
		pci->pciSubSystemId = SIM_PCI_SUBSYS_ID;
	}
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, sim_pci_info_v2_t *pci)
{
	return pci_v2(device, pci, SCN_FN_nvmlDeviceGetPciInfo_v2);
}

nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, sim_pci_info_v2_t *pci)
{
	return pci_v2(device, pci, SCN_FN_nvmlDeviceGetPciInfo);
}

nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minor)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetMinorNumber, device, minor, -1);

	if (rc == NVML_SUCCESS)
		*minor = (unsigned)c.gpu;
	return leave(&c, rc);
}

/* Enabled (1), as on a node running nvidia-persistenced, unless
 * GPUTEL_SIM_PERSISTENCE=0. */
nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, unsigned int *mode)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetPersistenceMode, device, mode, -1);
	const char *v = getenv("GPUTEL_SIM_PERSISTENCE");

	if (rc == NVML_SUCCESS)
		*mode = (v && !strcmp(v, "0")) ? 0u : 1u;
	return leave(&c, rc);
}

/* ---- telemetry ---------------------------------------------------------- */

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *u)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetUtilizationRates, device, u, SCN_F_UTIL);

	/* One call returns both: either half being unavailable fails the call. */
	if (rc == NVML_SUCCESS) {
		switch (scn_status(c.s, c.gpu, SCN_F_MEM_UTIL, c.t)) {
		case SCN_ST_UNSUPPORTED:
			rc = NVML_ERROR_NOT_SUPPORTED;
			break;
		case SCN_ST_ERROR:
			rc = NVML_ERROR_UNKNOWN;
			break;
		case SCN_ST_LOST:
			rc = NVML_ERROR_GPU_IS_LOST;
			break;
		case SCN_OK:
			u->gpu = uval(&c, SCN_UTIL);
			u->memory = uval(&c, SCN_MEM_UTIL);
			break;
		}
	}
	return leave(&c, rc);
}

static void memory_bytes(const struct call *c, unsigned long long *total, unsigned long long *used)
{
	double t = val(c, SCN_MEM_TOTAL_MIB), u = val(c, SCN_MEM_USED_MIB);

	if (!(t > 0))
		t = 0;
	if (!(u > 0))
		u = 0;
	if (u > t)
		u = t;
	*total = (unsigned long long)llround(t) * 1048576ULL;
	*used = (unsigned long long)llround(u) * 1048576ULL;
	if (*used > *total)
		*used = *total;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *m)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetMemoryInfo, device, m, SCN_F_MEMORY);

	if (rc == NVML_SUCCESS) {
		memory_bytes(&c, &m->total, &m->used);
		m->free = m->total - m->used;
	}
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *m)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetMemoryInfo_v2, device, m, SCN_F_MEMORY);

	if (rc == NVML_SUCCESS && m->version != nvmlMemory_v2)
		rc = SIM_ERROR_ARGUMENT_VERSION_MISMATCH;
	if (rc == NVML_SUCCESS) {
		/* No reserved memory, so v1 and v2 agree on "used". */
		memory_bytes(&c, &m->total, &m->used);
		m->reserved = 0;
		m->free = m->total - m->used;
	}
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetTemperature, device,
				    sensor == NVML_TEMPERATURE_GPU ? (void *)temp : NULL, SCN_F_TEMP);

	if (rc == NVML_SUCCESS)
		*temp = uval(&c, SCN_TEMP_C);
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_v1_t *temp)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetTemperatureV, device, temp, SCN_F_TEMP);

	if (rc == NVML_SUCCESS && temp->version != nvmlTemperature_v1)
		rc = SIM_ERROR_ARGUMENT_VERSION_MISMATCH;
	else if (rc == NVML_SUCCESS && temp->sensorType != NVML_TEMPERATURE_GPU)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS)
		temp->temperature = (int)uval(&c, SCN_TEMP_C);
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *mw)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetPowerUsage, device, mw, SCN_F_POWER);

	if (rc == NVML_SUCCESS)
		*mw = milli(val(&c, SCN_POWER_W));
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *mw)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetEnforcedPowerLimit, device, mw,
				    SCN_F_POWER_LIMIT);

	if (rc == NVML_SUCCESS)
		*mw = milli(val(&c, SCN_POWER_LIMIT_W));
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *mj)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetTotalEnergyConsumption, device, mj,
				    SCN_F_ENERGY);

	if (rc == NVML_SUCCESS) {
		unsigned long long e = (unsigned long long)floor(scn_energy_mj(c.s, c.gpu, c.t));
		unsigned long long prev = atomic_load(&g_energy_last[c.gpu]);

		while (e > prev && !atomic_compare_exchange_weak(&g_energy_last[c.gpu], &prev, e))
			;
		*mj = e > prev ? e : prev;
	}
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *mhz)
{
	struct call c = { 0 };
	bool valid = type >= NVML_CLOCK_GRAPHICS && type <= SIM_CLOCK_VIDEO;
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetClockInfo, device, valid ? (void *)mhz : NULL,
				    type == NVML_CLOCK_MEM ? SCN_F_MEM_CLOCK : SCN_F_SM_CLOCK);

	if (rc == NVML_SUCCESS) {
		if (type == NVML_CLOCK_MEM)
			*mhz = uval(&c, SCN_MEM_MHZ);
		else if (type == SIM_CLOCK_VIDEO) /* video runs a little below SM on Hopper */
			*mhz = (unsigned)llround(uval(&c, SCN_SM_MHZ) * 0.87);
		else
			*mhz = uval(&c, SCN_SM_MHZ);
	}
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *speed)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetFanSpeed, device, speed, SCN_F_FAN);

	if (rc == NVML_SUCCESS)
		*speed = uval(&c, SCN_FAN);
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t device, int *pstate)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetPerformanceState, device, pstate,
				    SCN_F_PSTATE);

	if (rc == NVML_SUCCESS)
		*pstate = (int)uval(&c, SCN_PSTATE);
	return leave(&c, rc);
}

static nvmlReturn_t clock_reasons(nvmlDevice_t device, unsigned long long *reasons, enum scn_fn fn)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, fn, device, reasons, SCN_F_CLOCK_EVENTS);

	if (rc == NVML_SUCCESS)
		*reasons = count_val(&c, SCN_CLOCK_EVENTS);
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long *reasons)
{
	return clock_reasons(device, reasons, SCN_FN_nvmlDeviceGetCurrentClocksEventReasons);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device,
						       unsigned long long *reasons)
{
	return clock_reasons(device, reasons, SCN_FN_nvmlDeviceGetCurrentClocksThrottleReasons);
}

static nvmlReturn_t codec_util(nvmlDevice_t device, unsigned int *util, unsigned int *period_us,
			       enum scn_fn fn, int field, enum scn_var var)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, fn, device, util && period_us ? (void *)util : NULL, field);

	if (rc == NVML_SUCCESS) {
		*util = uval(&c, var);
		*period_us = SIM_SAMPLING_US;
	}
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t device, unsigned int *util,
					     unsigned int *period_us)
{
	return codec_util(device, util, period_us, SCN_FN_nvmlDeviceGetEncoderUtilization, SCN_F_ENC,
			  SCN_ENC_UTIL);
}

nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t device, unsigned int *util,
					     unsigned int *period_us)
{
	return codec_util(device, util, period_us, SCN_FN_nvmlDeviceGetDecoderUtilization, SCN_F_DEC,
			  SCN_DEC_UTIL);
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int error_type, int counter_type,
					 unsigned long long *count)
{
	struct call c = { 0 };
	bool valid = (error_type == NVML_MEMORY_ERROR_TYPE_CORRECTED ||
		      error_type == NVML_MEMORY_ERROR_TYPE_UNCORRECTED) &&
		     (counter_type == NVML_VOLATILE_ECC || counter_type == SIM_AGGREGATE_ECC);
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetTotalEccErrors, device,
				    valid ? (void *)count : NULL, SCN_F_ECC);

	/* Volatile and aggregate agree: the simulated driver was never reloaded. */
	if (rc == NVML_SUCCESS)
		*count = count_val(&c, error_type == NVML_MEMORY_ERROR_TYPE_CORRECTED ? SCN_ECC_CORR
										      : SCN_ECC_UNCORR);
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *corr, unsigned int *unc,
				       unsigned int *pending, unsigned int *failure)
{
	struct call c = { 0 };
	bool valid = corr && unc && pending && failure;
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetRemappedRows, device,
				    valid ? (void *)corr : NULL, SCN_F_REMAP);

	if (rc == NVML_SUCCESS) {
		unsigned long long a = count_val(&c, SCN_REMAP_CORR), b = count_val(&c, SCN_REMAP_UNCORR);

		*corr = a > 0xffffffffULL ? 0xffffffffu : (unsigned)a;
		*unc = b > 0xffffffffULL ? 0xffffffffu : (unsigned)b;
		*pending = val(&c, SCN_REMAP_PENDING) != 0;
		*failure = val(&c, SCN_REMAP_FAILURE) != 0;
	}
	return leave(&c, rc);
}

/* ---- events ------------------------------------------------------------- */

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
	struct call c = { 0 };
	nvmlReturn_t rc = enter(&c, SCN_FN_nvmlEventSetCreate);

	if (rc == NVML_SUCCESS && !set)
		rc = NVML_ERROR_INVALID_ARGUMENT;
	if (rc == NVML_SUCCESS) {
		struct nvmlEventSet_st *s = calloc(1, sizeof(*s));

		if (!s) {
			rc = NVML_ERROR_UNKNOWN;
		} else {
			pthread_mutex_init(&s->mu, NULL);
			s->magic = SIM_SET_MAGIC;
			*set = s;
		}
	}
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *types)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceGetSupportedEventTypes, device, types, -1);

	if (rc == NVML_SUCCESS) {
		*types = nvmlEventTypeXidCriticalError;
		if (scn_status(c.s, c.gpu, SCN_F_ECC, c.t) == SCN_OK)
			*types |= SIM_EVENT_SBE | SIM_EVENT_DBE;
	}
	return leave(&c, rc);
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types,
				      nvmlEventSet_t set)
{
	struct call c = { 0 };
	nvmlReturn_t rc = dev_enter(&c, SCN_FN_nvmlDeviceRegisterEvents, device,
				    set && set->magic == SIM_SET_MAGIC ? (void *)set : NULL, -1);

	if (rc == NVML_SUCCESS && (types & ~SIM_EVENTS_SUPPORTED))
		rc = NVML_ERROR_NOT_SUPPORTED;
	if (rc == NVML_SUCCESS) {
		pthread_mutex_lock(&set->mu);
		/* Like the driver, only what happens after registering is reported. */
		if ((types & nvmlEventTypeXidCriticalError) &&
		    !(set->types[c.gpu] & nvmlEventTypeXidCriticalError))
			set->cursor[c.gpu] = c.t;
		set->types[c.gpu] |= types;
		pthread_mutex_unlock(&set->mu);
	}
	return leave(&c, rc);
}

/*
 * Polls the timeline in short sleeps until an Xid is due on a registered
 * GPU or timeoutms passes.  The earliest due event across GPUs goes first.
 */
static nvmlReturn_t event_wait(nvmlEventSet_t set, nvmlDevice_t *dev, unsigned long long *type,
			       unsigned long long *data, unsigned timeoutms, enum scn_fn fn)
{
	int64_t deadline = mono_ns() + (int64_t)timeoutms * 1000000LL;

	for (;;) {
		struct call c = { 0 };
		nvmlReturn_t rc = enter(&c, fn);
		int best = -1;
		double best_t = 0;
		unsigned best_xid = 0;
		int64_t left;

		if (rc != NVML_SUCCESS)
			return leave(&c, rc);
		if (!set || set->magic != SIM_SET_MAGIC || !dev)
			return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
		c.t = sim_now();
		pthread_mutex_lock(&set->mu);
		for (int g = 0; g < g_gpus; g++) {
			double w;
			unsigned x;

			if (!(set->types[g] & nvmlEventTypeXidCriticalError))
				continue;
			if (scn_next_xid(c.s, g, set->cursor[g], c.t, &w, &x) &&
			    (best < 0 || w < best_t)) {
				best = g;
				best_t = w;
				best_xid = x;
			}
		}
		if (best >= 0) {
			set->cursor[best] = best_t;
			*dev = &g_dev[best];
			*type = nvmlEventTypeXidCriticalError;
			*data = best_xid;
		}
		pthread_mutex_unlock(&set->mu);
		leave(&c, NVML_SUCCESS);
		if (best >= 0)
			return NVML_SUCCESS;
		left = deadline - mono_ns();
		if (left <= 0)
			return NVML_ERROR_TIMEOUT;
		sleep_ns(left < SIM_EVENT_POLL_NS ? left : SIM_EVENT_POLL_NS);
	}
}

nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
	nvmlDevice_t dev = NULL;
	unsigned long long type = 0, d = 0;
	nvmlReturn_t rc;

	if (!data) {
		struct call c = { 0 };
		rc = enter(&c, SCN_FN_nvmlEventSetWait_v2);
		return leave(&c, rc == NVML_SUCCESS ? NVML_ERROR_INVALID_ARGUMENT : rc);
	}
	rc = event_wait(set, &dev, &type, &d, timeoutms, SCN_FN_nvmlEventSetWait_v2);
	if (rc == NVML_SUCCESS) {
		data->device = dev;
		data->eventType = type;
		data->eventData = d;
		data->gpuInstanceId = SIM_INSTANCE_NONE;
		data->computeInstanceId = SIM_INSTANCE_NONE;
	}
	return rc;
}

nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, sim_event_data_v1_t *data, unsigned int timeoutms)
{
	nvmlDevice_t dev = NULL;
	unsigned long long type = 0, d = 0;
	nvmlReturn_t rc;

	if (!data) {
		struct call c = { 0 };
		rc = enter(&c, SCN_FN_nvmlEventSetWait);
		return leave(&c, rc == NVML_SUCCESS ? NVML_ERROR_INVALID_ARGUMENT : rc);
	}
	rc = event_wait(set, &dev, &type, &d, timeoutms, SCN_FN_nvmlEventSetWait);
	if (rc == NVML_SUCCESS) {
		data->device = dev;
		data->eventType = type;
		data->eventData = d;
	}
	return rc;
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
	struct call c = { 0 };
	nvmlReturn_t rc = enter(&c, SCN_FN_nvmlEventSetFree);

	if (rc == NVML_ERROR_FUNCTION_NOT_FOUND)
		return leave(&c, rc);
	if (!set || set->magic != SIM_SET_MAGIC)
		return leave(&c, rc == NVML_SUCCESS ? NVML_ERROR_INVALID_ARGUMENT : rc);
	/* Freed even after nvmlShutdown, so that teardown order cannot leak it. */
	set->magic = 0;
	pthread_mutex_destroy(&set->mu);
	free(set);
	return leave(&c, rc);
}
