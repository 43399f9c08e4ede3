/* xid.c - see xid.h.  The rows follow NVIDIA's Xid catalog (mnemonic, immediate action, fatal or not). */
#include "xid.h"

#include <stddef.h>

#include "util.h"

#define ACT_RESTART_APP "restart the application; the GPU is fine"
#define ACT_NONE "none"
#define ACT_RESET "drain the GPU and reset it (nvidia-smi -r)"

/* In code order: xid_lookup() searches it by halves. */
static const struct xid_info catalog[] = {
	{ 13, "GR_EXCEPTION", "graphics engine exception", ACT_RESTART_APP, XID_SEV_WARN, true },
	{ 31, "FIFO_ERROR_MMU_ERR_FLT", "GPU memory page fault", ACT_RESTART_APP, XID_SEV_WARN, true },
	{ 43, "RESETCHANNEL_VERIF_ERROR", "GPU stopped processing", ACT_NONE, XID_SEV_WARN, true },
	{ 45, "PREEMPTIVE_REMOVAL", "cleanup after earlier errors", "look at the Xid logged before it",
	  XID_SEV_WARN, true },
	{ 48, "GPU_ECC_DBE", "double-bit ECC error", "drain the GPU and reset it to retire the page",
	  XID_SEV_ERROR, false },
	{ 61, "PMU_BREAKPOINT", "micro-controller breakpoint", "reset the GPU; report it to NVIDIA if it repeats",
	  XID_SEV_ERROR, false },
	{ 62, "PMU_HALT_ERROR", "micro-controller halt", ACT_RESET, XID_SEV_ERROR, false },
	{ 63, "INFOROM_DRAM_RETIREMENT_EVENT", "page retirement or row remap recorded",
	  "reset the GPU when idle to apply the remap", XID_SEV_INFO, false },
	{ 64, "INFOROM_DRAM_RETIREMENT_FAILURE", "page retirement or row remap failed", ACT_RESET,
	  XID_SEV_ERROR, false },
	{ 68, "NVDEC0_ERROR", "video decoder exception", ACT_RESTART_APP, XID_SEV_WARN, true },
	{ 74, "NVLINK_ERROR", "NVLink error", "check the links (nvidia-smi nvlink -e), then reset the GPU",
	  XID_SEV_ERROR, false },
	{ 79, "GPU_HAS_FALLEN_OFF_THE_BUS", "the GPU has fallen off the bus", "drain the node and reboot it",
	  XID_SEV_FATAL, false },
	{ 92, "EXCESSIVE_SBE_INTERRUPTS", "excessive single-bit ECC interrupts", ACT_NONE, XID_SEV_INFO, false },
	{ 94, "CONTAINED_ECC_ERROR", "contained ECC error", ACT_RESTART_APP, XID_SEV_WARN, false },
	{ 95, "UNCONTAINED_ECC_ERROR", "uncontained ECC error", ACT_RESET, XID_SEV_ERROR, false },
	{ 109, "CTXSW_TIMEOUT_ERROR", "context switch timeout", ACT_RESET, XID_SEV_ERROR, false },
	{ 119, "GSP_RPC_TIMEOUT", "GSP RPC timeout", ACT_RESET, XID_SEV_ERROR, false },
	{ 120, "GSP_ERROR", "GSP error", ACT_RESET, XID_SEV_ERROR, false },
	{ 154, "GPU_RECOVERY_ACTION_CHANGED", "the recovery action changed", "follow the Xid it refers to",
	  XID_SEV_INFO, false },
};

static const struct xid_info unknown = { -1, "unknown", "not in gputel's catalog",
					 "look the code up in NVIDIA's Xid catalog", XID_SEV_WARN, false };

const struct xid_info *xid_lookup(int code)
{
	size_t lo = 0, hi = ARRAY_SIZE(catalog);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (catalog[mid].code == code)
			return &catalog[mid];
		if (catalog[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return &unknown;
}

const char *xid_severity_name(enum xid_severity s)
{
	static const char *const names[] = { "info", "warn", "error", "fatal" };

	return (unsigned int)s < ARRAY_SIZE(names) ? names[s] : "warn";
}

const struct xid_info *xid_catalog(unsigned int *n)
{
	*n = (unsigned int)ARRAY_SIZE(catalog);
	return catalog;
}
