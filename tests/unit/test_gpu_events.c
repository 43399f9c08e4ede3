/* Unit tests: one event per Xid from the kernel line and NVML's event (gpu_events.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gpu_events.h"
#include "util.h"

#define SEC NS_PER_SEC

static struct snapshot snap;

struct got {
	struct gpu_event ev[32];
	char text[32][160];
	int n;
};

static void collect(void *ctx, const struct gpu_event *ev)
{
	struct got *g = ctx;

	if (g->n < 32) {
		size_t len = ev->text_len < 159 ? ev->text_len : 159;

		g->ev[g->n] = *ev;
		if (ev->text)
			memcpy(g->text[g->n], ev->text, len);
		g->text[g->n][len] = '\0';
		g->ev[g->n].text = NULL;
	}
	g->n++;
}

/* Two GPUs as NVML names them; time t (monotonic, ns). */
static void set_snapshot(int64_t t)
{
	static const char *const pci[] = { "00000000:2B:00.0", "00000000:3B:00.0" };

	snap.n_gpus = 2;
	snap.mono_ns = t;
	snap.wall = (struct timespec){ 1800000000 + t / SEC, 0 };
	for (unsigned int i = 0; i < 2; i++) {
		snap.gpu[i].id.index = i;
		snprintf(snap.gpu[i].id.uuid, sizeof snap.gpu[i].id.uuid, "GPU-0000000%u-aaaa-bbbb-cccc-dddddddddddd", i);
		snprintf(snap.gpu[i].id.name, sizeof snap.gpu[i].id.name, "NVIDIA H100 80GB HBM3");
		snprintf(snap.gpu[i].id.pci_bus_id, sizeof snap.gpu[i].id.pci_bus_id, "%s", pci[i]);
	}
}

/* NVML's running count for GPU gpu and code becomes n. */
static void nvml_count(unsigned int gpu, int code, uint64_t n)
{
	struct gpu_reading *r = &snap.gpu[gpu];
	unsigned int i;

	for (i = 0; i < r->n_xid_codes; i++)
		if (r->xid_codes[i].code == code)
			break;
	if (i == r->n_xid_codes)
		r->n_xid_codes++;
	r->xid_codes[i] = (struct gpu_xid_count){ code, n };
}

static void kernel(struct gpu_events *e, int level, uint64_t seq, int64_t t, const char *msg, struct got *g)
{
	struct kmsg_record rec = { seq, level, 0, t / 1000, msg, strlen(msg), false };

	gpu_events_kernel(e, &rec, collect, g);
}

static uint64_t count_of(const struct gpu_events *e, enum kevent_kind kind, int code, const char *pci)
{
	size_t n;
	const struct gpu_event_count *c = gpu_events_counts(e, &n);

	for (size_t i = 0; i < n; i++)
		if (c[i].kind == kind && c[i].code == code && strcmp(c[i].gpu.pci, pci) == 0)
			return c[i].count;
	return 0;
}

static int setup(void **state)
{
	memset(&snap, 0, sizeof snap);
	*state = gpu_events_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	gpu_events_free(*state);
	return 0;
}

static void test_kernel_first_absorbs_nvml(void **state)
{
	struct gpu_events *e = *state;
	struct got g = { 0 };

	set_snapshot(100 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	kernel(e, 3, 7, 100 * SEC + 500, "NVRM: Xid (PCI:0000:2b:00): 13, pid=2413, name=python3, Graphics Exception", &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.ev[0].source, "kernel");
	assert_int_equal(g.ev[0].code, 13);
	assert_int_equal(g.ev[0].gpu.index, 0);
	assert_string_equal(g.ev[0].gpu.uuid, "GPU-00000000-aaaa-bbbb-cccc-dddddddddddd");
	assert_string_equal(g.ev[0].gpu.pci, "0000:2b:00");
	assert_int_equal(g.ev[0].pid, 2413);
	assert_string_equal(g.ev[0].process, "python3");
	assert_string_equal(g.ev[0].info->name, "GR_EXCEPTION");
	assert_true(g.ev[0].has_seq);
	assert_int_equal(g.ev[0].seq, 7);
	/* NVML reports the same Xid at the next tick, and for a while after: nothing new. */
	nvml_count(0, 13, 1);
	for (int s = 1; s <= 12; s++) {
		set_snapshot((100 + s) * SEC);
		gpu_events_snapshot(e, &snap, collect, &g);
	}
	assert_int_equal(g.n, 1);
	assert_int_equal(count_of(e, KEVENT_XID, 13, "0000:2b:00"), 1);
}

static void test_nvml_first_waits_for_kernel(void **state)
{
	struct gpu_events *e = *state;
	struct got g = { 0 };

	nvml_count(1, 48, 1);
	set_snapshot(50 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	assert_int_equal(g.n, 0);     /* held for its kernel line */
	kernel(e, 3, 9, 50 * SEC + 300 * 1000 * 1000LL, "NVRM: Xid (PCI:0000:3b:00): 48, An uncorrectable double bit error", &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.ev[0].source, "kernel+nvml");
	assert_int_equal(g.ev[0].gpu.index, 1);
	assert_string_equal(g.text[0], "NVRM: Xid (PCI:0000:3b:00): 48, An uncorrectable double bit error");
	set_snapshot(55 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(count_of(e, KEVENT_XID, 48, "0000:3b:00"), 1);
}

static void test_nvml_alone_after_the_hold(void **state)
{
	struct gpu_events *e = *state;
	struct got g = { 0 };

	nvml_count(0, 31, 2);
	set_snapshot(10 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	set_snapshot(11 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	assert_int_equal(g.n, 0);
	set_snapshot(12 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.ev[0].source, "nvml");
	assert_int_equal(g.ev[0].pid, -1);
	assert_int_equal(g.ev[1].code, 31);
	/* The same running count again is nothing new. */
	set_snapshot(20 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(count_of(e, KEVENT_XID, 31, "0000:2b:00"), 2);
}

static void test_other_codes_and_gpus_are_other_events(void **state)
{
	struct gpu_events *e = *state;
	struct got g = { 0 };

	set_snapshot(10 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	kernel(e, 3, 1, 10 * SEC, "NVRM: Xid (PCI:0000:2b:00): 13, x", &g);
	nvml_count(0, 31, 1);   /* another code */
	nvml_count(1, 13, 1);   /* another GPU */
	set_snapshot(11 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	set_snapshot(14 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	assert_int_equal(g.n, 3);
	assert_int_equal(count_of(e, KEVENT_XID, 13, "0000:2b:00"), 1);
	assert_int_equal(count_of(e, KEVENT_XID, 31, "0000:2b:00"), 1);
	assert_int_equal(count_of(e, KEVENT_XID, 13, "0000:3b:00"), 1);
}

static void test_fallen_off_the_bus_is_one_xid_79(void **state)
{
	struct gpu_events *e = *state;
	struct got g = { 0 };

	set_snapshot(10 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	kernel(e, 3, 1, 10 * SEC, "NVRM: Xid (PCI:0000:2b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.", &g);
	kernel(e, 3, 2, 10 * SEC + 4000, "NVRM: GPU 0000:2b:00.0: GPU has fallen off the bus.", &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ev[0].kind, KEVENT_XID);
	assert_int_equal(g.ev[0].info->severity, XID_SEV_FATAL);
	/* Without its Xid line, the companion alone is the Xid 79. */
	kernel(e, 3, 3, 10 * SEC, "NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.", &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ev[1].code, 79);
	assert_int_equal(g.ev[1].gpu.index, 1);
	assert_int_equal(count_of(e, KEVENT_XID, 79, "0000:2b:00"), 1);
	assert_int_equal(count_of(e, KEVENT_XID, 79, "0000:3b:00"), 1);
}

static void test_gpu_named_by_the_driver_line(void **state)
{
	struct gpu_events *e = *state;
	struct got g = { 0 };

	/* A GPU NVML does not list (it fell off the bus before gputel started). */
	kernel(e, 6, 1, SEC, "NVRM: GPU at PCI:0000:91:00: GPU-b850f46d-d5ea-c752-ddf3-c4453e44d3f7", &g);
	kernel(e, 3, 2, SEC, "NVRM: Xid (PCI:0000:91:00): 79, GPU has fallen off the bus.", &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ev[0].gpu.index, -1);
	assert_string_equal(g.ev[0].gpu.uuid, "GPU-b850f46d-d5ea-c752-ddf3-c4453e44d3f7");
	/* An address nobody named: the address alone. */
	kernel(e, 3, 3, SEC, "NVRM: Xid (PCI:0000:a1:00): 13, x", &g);
	assert_string_equal(g.ev[1].gpu.uuid, "");
	assert_string_equal(g.ev[1].gpu.pci, "0000:a1:00");
}

static void test_sxid_and_nvrm(void **state)
{
	struct gpu_events *e = *state;
	struct got g = { 0 };

	kernel(e, 3, 1, SEC, "nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Fatal, Link 48 LTSSM Fault Up", &g);
	kernel(e, 3, 2, SEC, "nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Severity 1 Engine instance 60", &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ev[0].kind, KEVENT_SXID);
	assert_int_equal(g.ev[0].fatal, 1);
	assert_null(g.ev[0].info);
	assert_int_equal(count_of(e, KEVENT_SXID, 20034, "0000:06:00"), 1);
	/* NVRM lines: a warning is an event, the driver's info chatter is not. */
	kernel(e, 4, 3, SEC, "NVRM: GPU 0000:2b:00.0: RmInitAdapter failed! (0x26:0x56:1474)", &g);
	kernel(e, 6, 4, SEC, "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15", &g);
	kernel(e, 3, 5, SEC, "usb 1-1: new high-speed USB device number 2", &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ev[1].kind, KEVENT_NVRM);
	assert_int_equal(g.ev[1].code, -1);
	assert_string_equal(g.text[1], "NVRM: GPU 0000:2b:00.0: RmInitAdapter failed! (0x26:0x56:1474)");
}

static void test_storm_is_bounded(void **state)
{
	struct gpu_events *e = *state;
	struct got g = { 0 };

	/* 1000 NVML events of one code in one tick: every one counted, none lost, bounded work. */
	nvml_count(0, 13, 1000);
	set_snapshot(SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	set_snapshot(5 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	assert_int_equal(g.n, 1000);
	assert_int_equal(count_of(e, KEVENT_XID, 13, "0000:2b:00"), 1000);
	assert_int_equal(gpu_events_unmerged(e), 1000 - 64);
}

/* dcgm's DCGM_FI_DEV_XID_ERRORS: the code of the latest Xid of a GPU, by when it happened. */
static void test_last_xid(void **state)
{
	struct gpu_events *e = *state;
	struct got g = { 0 };

	set_snapshot(100 * SEC);
	gpu_events_snapshot(e, &snap, collect, &g);
	assert_int_equal(gpu_events_last_xid(e, "00000000:2B:00.0"), 0);
	kernel(e, 3, 1, 100 * SEC, "NVRM: Xid (PCI:0000:2b:00): 48, An uncorrectable double bit error", &g);
	kernel(e, 3, 2, 101 * SEC, "NVRM: Xid (PCI:0000:2b:00): 13, pid=1, name=x, Graphics Exception", &g);
	assert_int_equal(gpu_events_last_xid(e, "00000000:2B:00.0"), 13);
	assert_int_equal(gpu_events_last_xid(e, "0000:2b:00"), 13);
	assert_int_equal(gpu_events_last_xid(e, "00000000:3B:00.0"), 0);
	/* A code seen before comes again: it is the last now. */
	kernel(e, 3, 3, 102 * SEC, "NVRM: Xid (PCI:0000:2b:00): 48, An uncorrectable double bit error", &g);
	assert_int_equal(gpu_events_last_xid(e, "00000000:2B:00.0"), 48);
	/* Read later, but it happened before: not the last. */
	kernel(e, 3, 4, 99 * SEC, "NVRM: Xid (PCI:0000:2b:00): 31, Ch 00000009, engmask 00000101", &g);
	assert_int_equal(gpu_events_last_xid(e, "00000000:2B:00.0"), 48);
	/* An SXid is a switch's, never a GPU's last Xid. */
	kernel(e, 3, 5, 103 * SEC, "nvidia-nvswitch0: SXid (PCI:0000:2b:00.0): 12028, Non-fatal, Link 32", &g);
	assert_int_equal(gpu_events_last_xid(e, "00000000:2B:00.0"), 48);
	assert_int_equal(gpu_events_last_xid(e, "not a bus id"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kernel_first_absorbs_nvml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvml_first_waits_for_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvml_alone_after_the_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_codes_and_gpus_are_other_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallen_off_the_bus_is_one_xid_79, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpu_named_by_the_driver_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sxid_and_nvrm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storm_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_xid, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
