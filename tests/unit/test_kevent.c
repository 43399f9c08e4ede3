/* Unit tests: GPU events in kernel messages (kevent.c) and the Xid catalog (xid.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "kevent.h"
#include "xid.h"

static enum kevent_kind parse(const char *msg, struct kevent *ev)
{
	return kevent_parse(msg, strlen(msg), ev);
}

static void assert_detail(const struct kevent *ev, const char *want)
{
	assert_int_equal(ev->detail_len, strlen(want));
	assert_memory_equal(ev->detail, want, ev->detail_len);
}

/* One row per Xid line variant the driver's versions print. */
static void test_xid_variants(void **state)
{
	static const struct {
		const char *msg;
		int code;
		const char *pci;
		int gi, ci;
		int64_t pid;
		const char *process, *detail;
	} rows[] = {
		/* The current form, with a process. */
		{ "NVRM: Xid (PCI:0000:2b:00): 13, pid=2413, name=python3, Graphics Exception: ESR 0x5",
		  13, "0000:2b:00", -1, -1, 2413, "python3", "Graphics Exception: ESR 0x5" },
		/* No channel: pid quoted unknown, name unknown. */
		{ "NVRM: Xid (PCI:0000:91:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.",
		  79, "0000:91:00", -1, -1, -1, "", "GPU has fallen off the bus." },
		/* No pid, no name. */
		{ "NVRM: Xid (PCI:0000:2b:00): 79, GPU has fallen off the bus.", 79, "0000:2b:00", -1, -1, -1, "",
		  "GPU has fallen off the bus." },
		/* Hex words after the code. */
		{ "NVRM: Xid (PCI:0000:3b:00): 62, 323f0f30 0000c3d8 00000000", 62, "0000:3b:00", -1, -1, -1, "",
		  "323f0f30 0000c3d8 00000000" },
		/* MIG: the GPU instance, then both instances. */
		{ "NVRM: Xid (PCI:0000:01:00 GPU-I:05): 94, pid=7194, Contained: CE User Channel (0x9). RST: No, D-RST: No",
		  94, "0000:01:00", 5, -1, 7194, "", "Contained: CE User Channel (0x9). RST: No, D-RST: No" },
		{ "NVRM: Xid (PCI:0000:01:00 GPU-I:01 GPU-CI:02): 95, pid=7062, Uncontained: LTC TAG (0x2, 0x1). RST: Yes, D-RST: No",
		  95, "0000:01:00", 1, 2, 7062, "", "Uncontained: LTC TAG (0x2, 0x1). RST: Yes, D-RST: No" },
		/* pid only, then text with commas. */
		{ "NVRM: Xid (PCI:0000:10:1c): 63, pid=1896, Row Remapper: New row marked for remapping, reset gpu to activate.",
		  63, "0000:10:1c", -1, -1, 1896, "", "Row Remapper: New row marked for remapping, reset gpu to activate." },
		/* Recovery action text. */
		{ "NVRM: Xid (PCI:0000:c1:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)",
		  154, "0000:c1:00", -1, -1, -1, "", "GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)" },
		/* 2015-18 drivers. */
		{ "NVRM: Xid (PCI:0000:01:00): 31, Ch 00000009, engmask 00000101, intr 10000000", 31, "0000:01:00", -1, -1,
		  -1, "", "Ch 00000009, engmask 00000101, intr 10000000" },
		/* Before 2012: no PCI: prefix. */
		{ "NVRM: Xid (0000:01:00): 13, 0005 00000000 0000a297 00001b0c 00000004 00000000", 13, "0000:01:00", -1,
		  -1, -1, "", "0005 00000000 0000a297 00001b0c 00000004 00000000" },
		/* GSP timeout with the current process. */
		{ "NVRM: Xid (PCI:0000:4e:00): 119, pid=88231, name=pt_main_thread, Timeout after 6s of waiting for RPC response from GPU1 GSP!",
		  119, "0000:4e:00", -1, -1, 88231, "pt_main_thread",
		  "Timeout after 6s of waiting for RPC response from GPU1 GSP!" },
		/* Upper case bus, a long domain, a trailing newline from a file. */
		{ "NVRM: Xid (PCI:00000000:AB:1F): 48, An uncorrectable double bit error\n", 48, "0000:ab:1f", -1, -1, -1, "",
		  "An uncorrectable double bit error" },
		/* Cut right after the code: still the event. */
		{ "NVRM: Xid (PCI:0000:2b:00): 74", 74, "0000:2b:00", -1, -1, -1, "", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct kevent ev;

		print_message("# %s\n", rows[i].msg);
		assert_int_equal(parse(rows[i].msg, &ev), KEVENT_XID);
		assert_int_equal(ev.code, rows[i].code);
		assert_string_equal(ev.pci, rows[i].pci);
		assert_int_equal(ev.gpu_instance, rows[i].gi);
		assert_int_equal(ev.compute_instance, rows[i].ci);
		assert_int_equal(ev.pid, rows[i].pid);
		assert_string_equal(ev.process, rows[i].process);
		assert_detail(&ev, rows[i].detail);
	}
}

static void test_other_driver_lines(void **state)
{
	struct kevent ev;

	(void)state;
	assert_int_equal(parse("NVRM: GPU 0000:2b:00.0: GPU has fallen off the bus.", &ev), KEVENT_OFF_BUS);
	assert_int_equal(ev.code, 79);
	assert_string_equal(ev.pci, "0000:2b:00");

	assert_int_equal(parse("NVRM: GPU at PCI:0000:2b:00: GPU-b850f46d-d5ea-c752-ddf3-c4453e44d3f7", &ev),
			 KEVENT_GPU_UUID);
	assert_string_equal(ev.pci, "0000:2b:00");
	assert_string_equal(ev.uuid, "GPU-b850f46d-d5ea-c752-ddf3-c4453e44d3f7");
	/* The older form, without PCI:. */
	assert_int_equal(parse("NVRM: GPU at 0000:03:00: GPU-b850f46d-d5ea-c752-ddf3-c4453e44d3f7", &ev),
			 KEVENT_GPU_UUID);
	assert_string_equal(ev.pci, "0000:03:00");

	/* Other NVRM lines are kept whole, for the log export. */
	assert_int_equal(parse("NVRM: GPU 0000:91:00.0: GPU serial number is 1653723052734.", &ev), KEVENT_NVRM);
	assert_int_equal(ev.code, -1);
	assert_string_equal(ev.pci, "");
	assert_detail(&ev, "NVRM: GPU 0000:91:00.0: GPU serial number is 1653723052734.");
	assert_int_equal(parse("NVRM: GPU Board Serial Number: 1653723052734", &ev), KEVENT_NVRM);
	assert_int_equal(parse("NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15", &ev), KEVENT_NVRM);

	/* Not the driver's. */
	assert_int_equal(parse("usb 1-1: new high-speed USB device number 2 using xhci_hcd", &ev), KEVENT_NONE);
	assert_int_equal(parse("", &ev), KEVENT_NONE);
	assert_int_equal(parse("NVRM:", &ev), KEVENT_NONE);
}

static void test_sxid(void **state)
{
	struct kevent ev;

	(void)state;
	assert_int_equal(parse("nvidia-nvswitch3: SXid (PCI:0000:05:00.0): 12028, Non-fatal, Link 32 egress non-posted PRIV error (First)",
			       &ev), KEVENT_SXID);
	assert_int_equal(ev.code, 12028);
	assert_int_equal(ev.fatal, 0);
	assert_string_equal(ev.pci, "0000:05:00");
	assert_detail(&ev, "Link 32 egress non-posted PRIV error (First)");
	assert_int_equal(parse("nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Fatal, Link 48 LTSSM Fault Up", &ev),
			 KEVENT_SXID);
	assert_int_equal(ev.fatal, 1);
	/* The lines an SXid prints after its first are details, not events. */
	assert_int_equal(parse("nvidia-nvswitch2: SXid (PCI:0000:07:00.0): 20034, Severity 1 Engine instance 60 Sub-engine instance 00",
			       &ev), KEVENT_SXID_DETAIL);
	assert_int_equal(parse("nvidia-nvswitch3: SXid (PCI:0000:08:00.0): 22013, Data {0x0000003c, 0x0000003c}", &ev),
			 KEVENT_SXID_DETAIL);
	assert_int_equal(parse("nvidia-nvswitch3: probe done", &ev), KEVENT_NONE);
}

/* Cut, malformed and hostile lines: never an event with made-up fields, never a read past the end. */
static void test_malformed(void **state)
{
	static const char *const bad_xid[] = {
		"NVRM: Xid (PCI:0000:2b:00",               /* cut inside the address */
		"NVRM: Xid (PCI:0000:2b:00):",             /* cut before the code */
		"NVRM: Xid (PCI:0000:2b:00): x, text",     /* no code */
		"NVRM: Xid (PCI:0000:2b:00): 1234567, x",  /* a code too long */
		"NVRM: Xid (PCI:zzzz:2b:00): 13, x",       /* not hex */
		"NVRM: Xid (PCI:0000:2b:00:00:00): 13, x", /* too many parts */
		"NVRM: Xid (PCI:0000:2b:00 GPU-I:): 13, x",
		"NVRM: Xid (): 13, x",
	};
	const char full[] = "NVRM: Xid (PCI:0000:2b:00 GPU-I:05 GPU-CI:02): 94, pid=7194, name=python3, text";
	struct kevent ev;

	(void)state;
	for (size_t i = 0; i < sizeof bad_xid / sizeof bad_xid[0]; i++) {
		print_message("# %s\n", bad_xid[i]);
		assert_int_equal(parse(bad_xid[i], &ev), KEVENT_NVRM);
		assert_int_equal(ev.code, -1);
		assert_string_equal(ev.pci, "");
	}
	/* Every prefix of a full line parses within its length (ASan sees any overread). */
	for (size_t n = 0; n <= strlen(full); n++) {
		char *copy = test_malloc(n ? n : 1);

		memcpy(copy, full, n);
		(void)kevent_parse(copy, n, &ev);
		assert_true(ev.detail >= copy && ev.detail + ev.detail_len <= copy + n);
		test_free(copy);
	}
	/* A pid that is not a number is no pid; a long name is cut to fit. */
	assert_int_equal(parse("NVRM: Xid (PCI:0000:2b:00): 13, pid=12ab, name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, x",
			 &ev), KEVENT_XID);
	assert_int_equal(ev.pid, -1);
	assert_int_equal(strlen(ev.process), KEVENT_NAME_MAX - 1);
	assert_detail(&ev, "x");
}

static void test_pci_normalize(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "0000:2b:00", "0000:2b:00" },       { "00000000:2B:00.0", "0000:2b:00" },
		{ "0000:2b:00.0", "0000:2b:00" },     { "2b:00.0", "0000:2b:00" },
		{ "0001:c1:1f.7", "0001:c1:1f" },     { "000A0000:01:00.0", "a0000:01:00" },
	};
	static const char *const bad[] = { "", "2b", "0000:2b:00.", "0000:2b:00.0x", "0000:2b:20",
					   "0000:123:00", "g000:2b:00", "0000:2b:00:00", "000000000:2b:00" };
	char out[KEVENT_PCI_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(kevent_pci_normalize(ok[i].in, strlen(ok[i].in), out), 0);
		assert_string_equal(out, ok[i].out);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		print_message("# %s\n", bad[i]);
		assert_int_equal(kevent_pci_normalize(bad[i], strlen(bad[i]), out), -1);
	}
}

static void test_catalog(void **state)
{
	unsigned int n;
	const struct xid_info *all = xid_catalog(&n);

	(void)state;
	assert_true(n >= 19);
	for (unsigned int i = 1; i < n; i++)
		assert_true(all[i - 1].code < all[i].code);
	for (unsigned int i = 0; i < n; i++)
		assert_ptr_equal(xid_lookup(all[i].code), &all[i]);
	assert_string_equal(xid_lookup(79)->name, "GPU_HAS_FALLEN_OFF_THE_BUS");
	assert_int_equal(xid_lookup(79)->severity, XID_SEV_FATAL);
	assert_true(xid_lookup(13)->app);
	assert_false(xid_lookup(48)->app);
	assert_int_equal(xid_lookup(48)->severity, XID_SEV_ERROR);
	assert_string_equal(xid_lookup(12345)->name, "unknown");
	assert_string_equal(xid_lookup(-5)->name, "unknown");
	assert_string_equal(xid_severity_name(XID_SEV_FATAL), "fatal");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xid_variants),
		cmocka_unit_test(test_other_driver_lines),
		cmocka_unit_test(test_sxid),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_pci_normalize),
		cmocka_unit_test(test_catalog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
