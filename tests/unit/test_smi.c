/* test_smi.c - the nvidia-smi backend's parsers, and the backend against a tiny script. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu.h"
#include "gpu_smi.h"
#include "log.h"
#include "util.h"

#define SENTINEL ((int64_t)0x5a5a5a5a)

typedef int (*value_parser)(const char *, int64_t *);

static int parse_number_x1(const char *tok, int64_t *out) { return smi_parse_number(tok, 1, out); }

/* A missing value keeps *out as it was: it never turns into 0. */
static void expect_missing(value_parser p, const char *tok, int state)
{
	int64_t v = SENTINEL;

	assert_int_equal(p(tok, &v), state);
	assert_int_equal(v, SENTINEL);
}

static void test_missing_forms(void **unused)
{
	static const value_parser parsers[] = { parse_number_x1, smi_parse_pstate, smi_parse_hex,
						smi_parse_bool };

	(void)unused;
	for (size_t i = 0; i < ARRAY_SIZE(parsers); i++) {
		expect_missing(parsers[i], "[N/A]", VAL_UNSUPPORTED);
		expect_missing(parsers[i], "[Not Supported]", VAL_UNSUPPORTED);
		expect_missing(parsers[i], "N/A", VAL_UNSUPPORTED);
		expect_missing(parsers[i], "[Unknown Error]", VAL_ERROR);
		expect_missing(parsers[i], "[GPU is lost]", VAL_ERROR);
		expect_missing(parsers[i], "[Insufficient Permissions]", VAL_ERROR);
		expect_missing(parsers[i], "[", VAL_ERROR);
		expect_missing(parsers[i], "", VAL_ERROR);
		expect_missing(parsers[i], "garbage", VAL_ERROR);
	}
	assert_int_equal(smi_missing_state("[N/A]"), VAL_UNSUPPORTED);
	assert_int_equal(smi_missing_state("[n/a]"), VAL_UNSUPPORTED);
	assert_int_equal(smi_missing_state("[Unknown Error]"), VAL_ERROR);
	assert_int_equal(smi_missing_state(""), VAL_ERROR);
	assert_int_equal(smi_missing_state(NULL), VAL_ERROR);
	assert_int_equal(smi_missing_state("42"), 0);
	assert_int_equal(smi_missing_state("P8"), 0);
}

static void expect_number(const char *tok, int64_t scale, int64_t want)
{
	int64_t v = SENTINEL;

	assert_int_equal(smi_parse_number(tok, scale, &v), VAL_OK);
	assert_int_equal(v, want);
}

static void test_numbers(void **unused)
{
	(void)unused;
	expect_number("0", 1, 0);
	expect_number("81", 1, 81);
	expect_number("00012", 1, 12);
	expect_number("81.25", 1000, 81250);
	expect_number("81.2", 1000, 81200);
	expect_number("400.00", 1000, 400000);
	expect_number("0.001", 1000, 1);
	expect_number("0.0009", 1000, 0);           /* below the unit: truncated */
	expect_number("1.23456789012", 1000, 1234); /* past nine decimals: dropped */
	expect_number("55", 1000, 55000);
	expect_number("7234", 1048576, 7234LL * 1048576);
	expect_number("0.5", 1048576, 524288);
	expect_number("81920", 1048576, 81920LL * 1048576);
	expect_number("12.9", 1, 12);
	expect_number("9223372036854775807", 1, INT64_MAX);
	expect_number("9223372036854775.807", 1000, INT64_MAX);
}

static void test_numbers_rejected(void **unused)
{
	static const char *const bad[] = {
		"-5", "+5", "-0", "5W", "81.25 W", " 5", "5 ", "1e3", "0x10", "nan", "inf",
		".5", "5.", "1.2.3", "--", "abc", "5,5", "٣", "1\t",
	};

	(void)unused;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int64_t v = SENTINEL;

		assert_int_equal(smi_parse_number(bad[i], 1000, &v), VAL_ERROR);
		assert_int_equal(v, SENTINEL);
	}
	/* overflow, in the digits or in the scaling */
	expect_missing(parse_number_x1, "9223372036854775808", VAL_ERROR);
	expect_missing(parse_number_x1, "99999999999999999999999999", VAL_ERROR);
	{
		int64_t v = SENTINEL;

		assert_int_equal(smi_parse_number("9223372036854775807", 1000, &v), VAL_ERROR);
		assert_int_equal(smi_parse_number("9223372036854775.808", 1000, &v), VAL_ERROR);
		assert_int_equal(smi_parse_number("8796093022208", 1048576, &v), VAL_ERROR);
		assert_int_equal(smi_parse_number("5", 0, &v), VAL_ERROR);
		assert_int_equal(smi_parse_number("5", -1000, &v), VAL_ERROR);
		assert_int_equal(v, SENTINEL);
	}
}

static void test_pstate(void **unused)
{
	static const char *const bad[] = { "P16", "P", "p8", "8", "P-1", "P 8", "P008", "P8x",
					   "Unknown", "P99" };
	int64_t v = SENTINEL;

	(void)unused;
	assert_int_equal(smi_parse_pstate("P0", &v), VAL_OK);
	assert_int_equal(v, 0);
	assert_int_equal(smi_parse_pstate("P8", &v), VAL_OK);
	assert_int_equal(v, 8);
	assert_int_equal(smi_parse_pstate("P15", &v), VAL_OK);
	assert_int_equal(v, 15);
	assert_int_equal(smi_parse_pstate("P08", &v), VAL_OK);
	assert_int_equal(v, 8);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_missing(smi_parse_pstate, bad[i], VAL_ERROR);
}

static void test_hex(void **unused)
{
	static const char *const bad[] = { "0x", "4", "x4", "-0x1", "0xg", "0x 4", "0x4 ",
					   "0x00000000000000001", "Not Active", "00x1" };
	int64_t v = SENTINEL;

	(void)unused;
	assert_int_equal(smi_parse_hex("0x0000000000000004", &v), VAL_OK);
	assert_int_equal(v, 4);
	assert_int_equal(smi_parse_hex("0x0000000000000000", &v), VAL_OK);
	assert_int_equal(v, 0);
	assert_int_equal(smi_parse_hex("0x1", &v), VAL_OK);
	assert_int_equal(v, 1);
	assert_int_equal(smi_parse_hex("0XFF", &v), VAL_OK);
	assert_int_equal(v, 255);
	assert_int_equal(smi_parse_hex("0xdeadBEEF", &v), VAL_OK);
	assert_int_equal(v, 0xdeadbeef);
	assert_int_equal(smi_parse_hex("0x8000000000000000", &v), VAL_OK);
	assert_true((uint64_t)v == 1ULL << 63);
	assert_int_equal(smi_parse_hex("0xFFFFFFFFFFFFFFFF", &v), VAL_OK);
	assert_true((uint64_t)v == UINT64_MAX);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_missing(smi_parse_hex, bad[i], VAL_ERROR);
}

static void test_bool(void **unused)
{
	int64_t v = SENTINEL;

	(void)unused;
	assert_int_equal(smi_parse_bool("Yes", &v), VAL_OK);
	assert_int_equal(v, 1);
	assert_int_equal(smi_parse_bool("No", &v), VAL_OK);
	assert_int_equal(v, 0);
	assert_int_equal(smi_parse_bool("yes", &v), VAL_OK);
	assert_int_equal(v, 1);
	assert_int_equal(smi_parse_bool("NO", &v), VAL_OK);
	assert_int_equal(v, 0);
	assert_int_equal(smi_parse_bool("1", &v), VAL_OK);
	assert_int_equal(v, 1);
	assert_int_equal(smi_parse_bool("0", &v), VAL_OK);
	assert_int_equal(v, 0);
	expect_missing(smi_parse_bool, "maybe", VAL_ERROR);
	expect_missing(smi_parse_bool, "-1", VAL_ERROR);
	expect_missing(smi_parse_bool, "1.5", VAL_ERROR);
}

static void test_split(void **unused)
{
	char *tok[8];
	char a[] = "a, b, c";
	char b[] = "a, b, c";
	char c[] = "";
	char d[] = "a, , b, ";
	char e[] = "  a ,  b\r\n";
	char f[] = "0, GPU-1, 00000000:18:00.0, 550.54.15, 81920, NVIDIA A100, SXM4, 80GB";
	char g[] = "a,b,c";

	(void)unused;
	assert_int_equal(smi_split_line(a, tok, 8), 3);
	assert_string_equal(tok[0], "a");
	assert_string_equal(tok[1], "b");
	assert_string_equal(tok[2], "c");

	assert_int_equal(smi_split_line(b, tok, 2), 2);
	assert_string_equal(tok[0], "a");
	assert_string_equal(tok[1], "b, c");

	assert_int_equal(smi_split_line(c, tok, 8), 1);
	assert_string_equal(tok[0], "");

	assert_int_equal(smi_split_line(d, tok, 8), 4);
	assert_string_equal(tok[0], "a");
	assert_string_equal(tok[1], "");
	assert_string_equal(tok[2], "b");
	assert_string_equal(tok[3], "");

	assert_int_equal(smi_split_line(e, tok, 8), 2);
	assert_string_equal(tok[0], "a");
	assert_string_equal(tok[1], "b");

	/* a name with commas: the last column keeps the rest */
	assert_int_equal(smi_split_line(f, tok, 6), 6);
	assert_string_equal(tok[4], "81920");
	assert_string_equal(tok[5], "NVIDIA A100, SXM4, 80GB");

	/* nvidia-smi always writes ", "; a bare comma is part of a token */
	assert_int_equal(smi_split_line(g, tok, 8), 1);
	assert_string_equal(tok[0], "a,b,c");

	assert_int_equal(smi_split_line(a, tok, 0), 0);
	assert_int_equal(smi_split_line(NULL, tok, 8), 0);
}

#define FULL_LINE                                                                            \
	"3, GPU-12345678-abcd-ef01-2345-6789abcdef01, 97, 41, 7234, 81920, 67, 281.25, 400.00, " \
	"1410, 1593, [N/A], P2, 0x0000000000000004, 12, 3, 5, 0, 1, 0, No, Yes"

static void test_full_line(void **unused)
{
	struct smi_fieldset fs;
	struct gpu_reading r;
	char line[] = FULL_LINE;
	int flags;

	(void)unused;
	smi_fieldset_full(&fs);
	memset(&r, 0, sizeof r);
	str_copy(r.id.name, "kept", sizeof r.id.name);
	flags = smi_parse_line(line, &fs, &r);
	assert_int_equal(flags, SMI_LINE_HAS_INDEX | SMI_LINE_HAS_UUID);
	assert_int_equal(r.id.index, 3);
	assert_string_equal(r.id.uuid, "GPU-12345678-abcd-ef01-2345-6789abcdef01");
	assert_string_equal(r.id.name, "kept");
	assert_int_equal(r.health, GPU_HEALTH_UP);

	struct {
		int f, st;
		int64_t v;
	} want[] = {
		{ GPU_F_UTIL_GPU_PCT, VAL_OK, 97 },
		{ GPU_F_UTIL_MEM_PCT, VAL_OK, 41 },
		{ GPU_F_MEM_USED_BYTES, VAL_OK, 7234LL * 1048576 },
		{ GPU_F_MEM_TOTAL_BYTES, VAL_OK, 81920LL * 1048576 },
		{ GPU_F_TEMP_MC, VAL_OK, 67000 },
		{ GPU_F_POWER_MW, VAL_OK, 281250 },
		{ GPU_F_POWER_LIMIT_MW, VAL_OK, 400000 },
		{ GPU_F_ENERGY_MJ, VAL_UNSUPPORTED, 0 },
		{ GPU_F_CLOCK_SM_MHZ, VAL_OK, 1410 },
		{ GPU_F_CLOCK_MEM_MHZ, VAL_OK, 1593 },
		{ GPU_F_FAN_PCT, VAL_UNSUPPORTED, 0 },
		{ GPU_F_PSTATE, VAL_OK, 2 },
		{ GPU_F_CLOCK_EVENT_MASK, VAL_OK, 4 },
		{ GPU_F_ENC_UTIL_PCT, VAL_OK, 12 },
		{ GPU_F_DEC_UTIL_PCT, VAL_OK, 3 },
		{ GPU_F_ECC_CORR_VOLATILE, VAL_OK, 5 },
		{ GPU_F_ECC_UNCORR_VOLATILE, VAL_OK, 0 },
		{ GPU_F_REMAP_CORR_ROWS, VAL_OK, 1 },
		{ GPU_F_REMAP_UNCORR_ROWS, VAL_OK, 0 },
		{ GPU_F_REMAP_PENDING, VAL_OK, 0 },
		{ GPU_F_REMAP_FAILURE, VAL_OK, 1 },
		{ GPU_F_XID_TOTAL, VAL_UNSUPPORTED, 0 },   /* Xids come from NVML events only */
	};
	assert_int_equal(ARRAY_SIZE(want), GPU_F__COUNT);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_int_equal(r.st[want[i].f], want[i].st);
		if (want[i].st == VAL_OK)
			assert_int_equal(r.val[want[i].f], want[i].v);
	}
}

static void test_line_missing_values(void **unused)
{
	struct smi_fieldset fs;
	struct gpu_reading r;
	char mixed[] = "0, GPU-a, [Unknown Error], N/A, , 81920, 55, [Not Supported], "
		       "400.00, 1410, 1593, 30, P8, 0x1, 0, 0, 0, 0, 0, 0, No, No";

	(void)unused;
	smi_fieldset_full(&fs);
	memset(&r, 0, sizeof r);
	assert_int_equal(smi_parse_line(mixed, &fs, &r), SMI_LINE_HAS_INDEX | SMI_LINE_HAS_UUID);
	assert_int_equal(r.st[GPU_F_UTIL_GPU_PCT], VAL_ERROR);
	assert_int_equal(r.st[GPU_F_UTIL_MEM_PCT], VAL_UNSUPPORTED);
	assert_int_equal(r.st[GPU_F_MEM_USED_BYTES], VAL_ERROR);
	assert_int_equal(r.st[GPU_F_POWER_MW], VAL_UNSUPPORTED);
	assert_int_equal(r.st[GPU_F_FAN_PCT], VAL_OK);
	assert_int_equal(r.val[GPU_F_FAN_PCT], 30);
	assert_int_equal(r.health, GPU_HEALTH_UP);
}

static void build_line(char *buf, size_t n, const char *index, const char *uuid,
		       const char *value, int nvalues)
{
	size_t len = (size_t)snprintf(buf, n, "%s, %s", index, uuid);

	for (int i = 0; i < nvalues; i++)
		len += (size_t)snprintf(buf + len, n - len, ", %s", value);
}

static void test_line_lost(void **unused)
{
	struct smi_fieldset fs;
	struct gpu_reading r;
	char line[1024];
	int flags;

	(void)unused;
	smi_fieldset_full(&fs);

	/* every value lost */
	build_line(line, sizeof line, "1", "GPU-b", "[GPU is lost]", fs.n - 2);
	memset(&r, 0, sizeof r);
	flags = smi_parse_line(line, &fs, &r);
	assert_true(flags >= 0);
	assert_true(flags & SMI_LINE_LOST);
	assert_int_equal(r.health, GPU_HEALTH_DOWN);
	for (int f = 0; f < GPU_F__COUNT; f++)
		assert_int_not_equal(r.st[f], VAL_OK);
	assert_int_equal(r.st[GPU_F_POWER_MW], VAL_ERROR);

	/* one lost token is enough */
	char one[] = "1, GPU-b, 97, 41, 7234, 81920, 67, [GPU is lost], 400.00, "
		     "1410, 1593, 30, P2, 0x4, 12, 3, 5, 0, 1, 0, No, Yes";
	memset(&r, 0, sizeof r);
	assert_true(smi_parse_line(one, &fs, &r) & SMI_LINE_LOST);
	assert_int_equal(r.health, GPU_HEALTH_DOWN);

	/* every value an error */
	build_line(line, sizeof line, "1", "GPU-b", "[Unknown Error]", fs.n - 2);
	memset(&r, 0, sizeof r);
	assert_true(smi_parse_line(line, &fs, &r) & SMI_LINE_LOST);
	assert_int_equal(r.health, GPU_HEALTH_DOWN);

	/* lost identity columns: the uuid alone still places the line */
	build_line(line, sizeof line, "[GPU is lost]", "GPU-b", "[GPU is lost]", fs.n - 2);
	memset(&r, 0, sizeof r);
	flags = smi_parse_line(line, &fs, &r);
	assert_int_equal(flags, SMI_LINE_HAS_UUID | SMI_LINE_LOST);

	build_line(line, sizeof line, "2", "[GPU is lost]", "[GPU is lost]", fs.n - 2);
	memset(&r, 0, sizeof r);
	assert_int_equal(smi_parse_line(line, &fs, &r), SMI_LINE_HAS_INDEX | SMI_LINE_LOST);
	assert_int_equal(r.id.index, 2);

	/* neither: the line cannot be placed */
	build_line(line, sizeof line, "[GPU is lost]", "[GPU is lost]", "[GPU is lost]", fs.n - 2);
	memset(&r, 0, sizeof r);
	assert_int_equal(smi_parse_line(line, &fs, &r), -1);
}

static void test_line_wrong_width(void **unused)
{
	struct smi_fieldset fs;
	struct gpu_reading r, before;
	char line[1024];

	(void)unused;
	smi_fieldset_full(&fs);
	memset(&r, 0x11, sizeof r);
	before = r;

	build_line(line, sizeof line, "0", "GPU-a", "1", fs.n - 3);
	assert_int_equal(smi_parse_line(line, &fs, &r), -1);
	build_line(line, sizeof line, "0", "GPU-a", "1", fs.n - 1);
	assert_int_equal(smi_parse_line(line, &fs, &r), -1);
	build_line(line, sizeof line, "0", "GPU-a", "1", 40);
	assert_int_equal(smi_parse_line(line, &fs, &r), -1);
	str_copy(line, "", sizeof line);
	assert_int_equal(smi_parse_line(line, &fs, &r), -1);
	str_copy(line, "Field \"x\" is not a valid field to query.", sizeof line);
	assert_int_equal(smi_parse_line(line, &fs, &r), -1);
	assert_memory_equal(&r, &before, sizeof r);

	assert_int_equal(smi_parse_line(NULL, &fs, &r), -1);
	assert_int_equal(smi_parse_line(line, NULL, &r), -1);
	{
		struct smi_fieldset empty = { .n = 0 };

		assert_int_equal(smi_parse_line(line, &empty, &r), -1);
	}
	build_line(line, sizeof line, "0", "GPU-a", "1", fs.n - 2);
	assert_true(smi_parse_line(line, &fs, &r) >= 0);
}

static void test_line_overlong(void **unused)
{
	struct smi_fieldset fs;
	struct gpu_reading r;
	size_t n = LINEBUF_MAX * 4;
	char *line = malloc(n);

	(void)unused;
	assert_non_null(line);
	smi_fieldset_full(&fs);
	memset(&r, 0, sizeof r);

	/* one enormous token */
	memset(line, '9', n - 1);
	line[n - 1] = '\0';
	assert_int_equal(smi_parse_line(line, &fs, &r), -1);

	/* an enormous uuid and number in an otherwise fine line */
	{
		size_t len = 0, big = LINEBUF_MAX;

		len += (size_t)snprintf(line, n, "0, GPU-");
		memset(line + len, 'a', big);
		len += big;
		for (int i = 0; i < fs.n - 2; i++) {
			memcpy(line + len, ", ", 2);
			len += 2;
			memset(line + len, '7', 64);
			len += 64;
		}
		line[len] = '\0';
		assert_int_equal(smi_parse_line(line, &fs, &r), SMI_LINE_HAS_INDEX | SMI_LINE_LOST);
		assert_int_equal(r.st[GPU_F_POWER_MW], VAL_ERROR);
		assert_int_equal(r.id.uuid[0], '\0');
	}
	free(line);
}

static void test_fieldset(void **unused)
{
	struct smi_fieldset fs;
	struct gpu_reading r;
	char q[1024];
	char small[16];
	int n;

	(void)unused;
	smi_fieldset_full(&fs);
	assert_int_equal(fs.n, 22);
	assert_string_equal(fs.f[0]->name, "index");
	assert_string_equal(fs.f[1]->name, "uuid");
	assert_int_equal(smi_fieldset_query(&fs, q, sizeof q), 0);
	assert_non_null(strstr(q, "index,uuid,utilization.gpu,utilization.memory,memory.used,"));
	assert_non_null(strstr(q, ",remapped_rows.pending,remapped_rows.failure"));
	assert_null(strstr(q, ",,"));
	assert_int_equal(smi_fieldset_query(&fs, small, sizeof small), -1);
	assert_int_equal(smi_fieldset_query(&fs, small, 0), -1);

	/* the old driver's name for the clock-event mask */
	n = fs.n;
	assert_int_equal(smi_fieldset_refuse(&fs, "clocks_event_reasons.active"), 0);
	assert_int_equal(fs.n, n);
	assert_int_equal(smi_fieldset_query(&fs, q, sizeof q), 0);
	assert_non_null(strstr(q, ",pstate,clocks_throttle_reasons.active,utilization.encoder,"));
	assert_null(strstr(q, "clocks_event_reasons"));

	/* no fallback: dropped */
	assert_int_equal(smi_fieldset_refuse(&fs, "remapped_rows.pending"), 0);
	assert_int_equal(fs.n, n - 1);
	assert_int_equal(smi_fieldset_refuse(&fs, "remapped_rows.pending"), -1);
	assert_int_equal(smi_fieldset_refuse(&fs, "no.such.field"), -1);
	assert_int_equal(smi_fieldset_refuse(&fs, "index"), -1);
	assert_int_equal(smi_fieldset_refuse(&fs, "uuid"), -1);

	/* the line follows the reduced set */
	char line[] = "0, GPU-a, 97, 41, 7234, 81920, 67, 281.25, 400.00, "
		      "1410, 1593, 30, P2, 0x0000000000000020, 12, 3, 5, 0, 1, 0, Yes";
	memset(&r, 0, sizeof r);
	assert_int_equal(smi_parse_line(line, &fs, &r), SMI_LINE_HAS_INDEX | SMI_LINE_HAS_UUID);
	assert_int_equal(r.st[GPU_F_CLOCK_EVENT_MASK], VAL_OK);
	assert_int_equal(r.val[GPU_F_CLOCK_EVENT_MASK], 0x20);
	assert_int_equal(r.st[GPU_F_REMAP_PENDING], VAL_UNSUPPORTED);
	assert_int_equal(r.st[GPU_F_REMAP_FAILURE], VAL_OK);
	assert_int_equal(r.val[GPU_F_REMAP_FAILURE], 1);

	assert_non_null(smi_field_find("clocks_throttle_reasons.active"));
	assert_null(smi_field_find("timestamp"));
}

static void test_bad_field(void **unused)
{
	char name[64];
	char tiny[4];

	(void)unused;
	assert_int_equal(smi_parse_bad_field("Field \"clocks_event_reasons.active\" is not a valid "
					     "field to query.\n\n",
					     name, sizeof name),
			 0);
	assert_string_equal(name, "clocks_event_reasons.active");
	assert_int_equal(smi_parse_bad_field("noise\nField \"a.b\" is not a valid field to query.\n",
					     name, sizeof name),
			 0);
	assert_string_equal(name, "a.b");
	assert_int_equal(smi_parse_bad_field("Field \"abcd.e\" is not a valid field to query.", tiny,
					     sizeof tiny),
			 -1);
	assert_int_equal(smi_parse_bad_field("Field \"\" is not a valid field to query.", name,
					     sizeof name),
			 -1);
	assert_int_equal(smi_parse_bad_field("Field \"a.b", name, sizeof name), -1);
	assert_int_equal(smi_parse_bad_field("Field \"x\" is fine", name, sizeof name), -1);
	assert_int_equal(smi_parse_bad_field("NVIDIA-SMI has failed because it couldn't "
					     "communicate with the NVIDIA driver.",
					     name, sizeof name),
			 -1);
	assert_int_equal(smi_parse_bad_field("", name, sizeof name), -1);
}

static void test_probe_line(void **unused)
{
	struct smi_probe p;
	char a[] = "1, GPU-12345678-abcd-ef01-2345-6789abcdef01, 00000000:3B:00.0, 550.54.15, "
		   "81920, NVIDIA A100-SXM4-80GB, rev, 2";
	char b[] = "0, GPU-a, [N/A], 418.87.01, [N/A], [N/A]";
	char c[] = "0, GPU-a, 00000000:3B:00.0, 550.54.15, 81920";
	char d[] = "x, GPU-a, 00000000:3B:00.0, 550.54.15, 81920, T4";
	char e[] = "0, [GPU is lost], 00000000:3B:00.0, 550.54.15, 81920, T4";

	(void)unused;
	assert_int_equal(smi_parse_probe_line(a, &p), 0);
	assert_int_equal(p.id.index, 1);
	assert_string_equal(p.id.uuid, "GPU-12345678-abcd-ef01-2345-6789abcdef01");
	assert_string_equal(p.id.pci_bus_id, "00000000:3B:00.0");
	assert_string_equal(p.driver, "550.54.15");
	assert_int_equal(p.mem_state, VAL_OK);
	assert_int_equal(p.mem_total, 81920LL * 1048576);
	assert_string_equal(p.id.name, "NVIDIA A100-SXM4-80GB, rev, 2");

	assert_int_equal(smi_parse_probe_line(b, &p), 0);
	assert_string_equal(p.id.pci_bus_id, "");
	assert_string_equal(p.id.name, "");
	assert_string_equal(p.driver, "418.87.01");
	assert_int_equal(p.mem_state, VAL_UNSUPPORTED);

	assert_int_equal(smi_parse_probe_line(c, &p), -1);
	assert_int_equal(smi_parse_probe_line(d, &p), -1);
	assert_int_equal(smi_parse_probe_line(e, &p), -1);
	assert_int_equal(smi_parse_probe_line(NULL, &p), -1);
}

struct collected {
	int n;
	char line[8][64];
};

static void collect(char *line, void *ctx)
{
	struct collected *c = ctx;

	if (c->n < 8)
		str_copy(c->line[c->n], line, sizeof c->line[0]);
	c->n++;
}

static void feed_str(struct linebuf *lb, const char *str, struct collected *c)
{
	linebuf_feed(lb, str, strlen(str), collect, c);
}

static void test_linebuf(void **unused)
{
	static struct linebuf lb;
	struct collected c = { 0 };
	size_t big = LINEBUF_MAX * 3;
	char *junk = malloc(big);

	(void)unused;
	assert_non_null(junk);
	linebuf_reset(&lb);
	lb.dropped = 0;

	/* a line arriving in pieces, CRLF, an empty line */
	feed_str(&lb, "0, GP", &c);
	assert_int_equal(c.n, 0);
	feed_str(&lb, "U-a\r\n\n1, GPU-b\n2, GPU", &c);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.line[0], "0, GPU-a");
	assert_string_equal(c.line[1], "");
	assert_string_equal(c.line[2], "1, GPU-b");

	/* an over-long line is dropped whole, in one feed or many */
	memset(junk, 'x', big);
	linebuf_feed(&lb, junk, big, collect, &c);
	linebuf_feed(&lb, junk, big, collect, &c);
	assert_int_equal(c.n, 3);
	feed_str(&lb, "\n3, GPU-d\n", &c);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.line[3], "3, GPU-d");
	assert_int_equal(lb.dropped, 1);

	/* the longest line that fits, and one byte more */
	memset(junk, 'y', LINEBUF_MAX - 1);
	junk[LINEBUF_MAX - 1] = '\n';
	linebuf_feed(&lb, junk, LINEBUF_MAX, collect, &c);
	assert_int_equal(c.n, 5);
	memset(junk, 'z', LINEBUF_MAX);
	junk[LINEBUF_MAX] = '\n';
	linebuf_feed(&lb, junk, LINEBUF_MAX + 1, collect, &c);
	assert_int_equal(c.n, 5);
	assert_int_equal(lb.dropped, 2);

	/* an unfinished line is not a line */
	feed_str(&lb, "4, GPU-e", &c);
	assert_int_equal(c.n, 5);
	linebuf_reset(&lb);
	feed_str(&lb, "5\n", &c);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.line[5], "5");
	free(junk);
}

/* ---------------------------------------------------------------- backend */

static char tmpdir[64];

static void write_script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(body, f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

/*
 * A stand-in nvidia-smi from an old driver: it refuses
 * clocks_event_reasons.active and knows the throttle name.
 */
static const char fake_smi[] =
	"#!/bin/sh\n"
	"case \"$*\" in\n"
	"*clocks_event_reasons*) echo 'Field \"clocks_event_reasons.active\" is not a valid field to query.'; echo; exit 2;;\n"
	"*driver_version*) echo '0, GPU-aaaa, 00000000:18:00.0, 470.82.01, 16384, Test GPU, rev 2'; exit 0;;\n"
	"esac\n"
	"line='0, GPU-aaaa, 42, 17, 1024, 16384, 55, 81.25, 250.00, 1410, 877, [N/A], P8, 0x0000000000000001, 0, 0, 0, [Unknown Error], 0, 0, No, No'\n"
	"case \"$*\" in *-lms*) ;; *) echo \"$line\"; exit 0;; esac\n"
	"[ -n \"$FAKE_STARTS\" ] && echo start >> \"$FAKE_STARTS\"\n"
	"[ -n \"$FAKE_EXIT\" ] && { echo \"$line\"; sleep 0.3; exit 3; }\n"
	"while :; do echo \"$line\" || exit 1; sleep 0.02; done\n";

static int backend_setup(void **unused)
{
	(void)unused;
	str_copy(tmpdir, "/tmp/gputel-test-smi-XXXXXX", sizeof tmpdir);
	if (!mkdtemp(tmpdir))
		return -1;
	log_set_level(LOG_ERROR);
	return 0;
}

static int backend_teardown(void **unused)
{
	char p[128];

	(void)unused;
	snprintf(p, sizeof p, "%s/nvidia-smi", tmpdir);
	unlink(p);
	snprintf(p, sizeof p, "%s/not-exec", tmpdir);
	unlink(p);
	snprintf(p, sizeof p, "%s/starts", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	unsetenv("FAKE_EXIT");
	unsetenv("FAKE_STARTS");
	unsetenv("GPUTEL_NVIDIA_SMI");
	return 0;
}

static void test_backend_config_errors(void **unused)
{
	struct gpu_options opt = { .interval_ns = 100 * 1000000LL };
	char why[256], p[128];
	const char *path = getenv("PATH");
	char *saved = path ? strdup(path) : NULL;
	void *st = (void *)1;

	(void)unused;
	snprintf(p, sizeof p, "%s/does-not-exist", tmpdir);
	setenv("GPUTEL_NVIDIA_SMI", p, 1);
	assert_int_equal(gpu_smi_backend.open(&st, &opt, why, sizeof why), GPU_OPEN_BAD_CONFIG);
	assert_null(st);
	assert_non_null(strstr(why, p));
	assert_non_null(strstr(why, "does not exist"));
	assert_null(strchr(why, '\n'));

	snprintf(p, sizeof p, "%s/not-exec", tmpdir);
	write_script(p, "");
	chmod(p, 0644);
	setenv("GPUTEL_NVIDIA_SMI", p, 1);
	assert_int_equal(gpu_smi_backend.open(&st, &opt, why, sizeof why), GPU_OPEN_BAD_CONFIG);
	assert_non_null(strstr(why, "not an executable"));

	setenv("GPUTEL_NVIDIA_SMI", tmpdir, 1);
	assert_int_equal(gpu_smi_backend.open(&st, &opt, why, sizeof why), GPU_OPEN_BAD_CONFIG);

	/* the option wins over the environment */
	opt.smi_path = "/nonexistent/nvidia-smi";
	unsetenv("GPUTEL_NVIDIA_SMI");
	assert_int_equal(gpu_smi_backend.open(&st, &opt, why, sizeof why), GPU_OPEN_BAD_CONFIG);
	assert_non_null(strstr(why, "/nonexistent/nvidia-smi"));
	opt.smi_path = NULL;

	/* nothing named and nothing on PATH: not here, try the next backend */
	setenv("PATH", tmpdir, 1);
	assert_int_equal(gpu_smi_backend.open(&st, &opt, why, sizeof why), GPU_OPEN_UNAVAILABLE);
	assert_string_equal(why, "nvidia-smi not found on PATH");
	if (saved)
		setenv("PATH", saved, 1);
	else
		unsetenv("PATH");
	free(saved);
}

static void test_backend_against_script(void **unused)
{
	struct gpu_options opt = { .interval_ns = 50 * 1000000LL };
	static struct snapshot snap;
	char why[256] = "", p[128];
	void *st = NULL;
	const struct gpu_reading *g;

	(void)unused;
	snprintf(p, sizeof p, "%s/nvidia-smi", tmpdir);
	write_script(p, fake_smi);
	setenv("GPUTEL_NVIDIA_SMI", p, 1);
	assert_int_equal(gpu_smi_backend.open(&st, &opt, why, sizeof why), GPU_OPEN_OK);
	assert_non_null(st);
	assert_string_equal(gpu_smi_backend.driver_version(st), "470.82.01");
	assert_non_null(strstr(gpu_smi_backend.detail(st), "-lms 50"));
	assert_non_null(strstr(gpu_smi_backend.detail(st), p));

	for (int i = 0; i < 3; i++) {
		gpu_smi_backend.sample(st, &snap);
		usleep(30 * 1000);
	}
	assert_int_equal(snap.n_gpus, 1);
	g = &snap.gpu[0];
	assert_string_equal(g->id.name, "Test GPU, rev 2");
	assert_string_equal(g->id.uuid, "GPU-aaaa");
	assert_string_equal(g->id.pci_bus_id, "00000000:18:00.0");
	assert_int_equal(g->health, GPU_HEALTH_UP);
	assert_int_equal(g->st[GPU_F_POWER_MW], VAL_OK);
	assert_int_equal(g->val[GPU_F_POWER_MW], 81250);
	assert_int_equal(g->st[GPU_F_CLOCK_EVENT_MASK], VAL_OK);
	assert_int_equal(g->val[GPU_F_CLOCK_EVENT_MASK], 1);
	assert_int_equal(g->st[GPU_F_PSTATE], VAL_OK);
	assert_int_equal(g->val[GPU_F_PSTATE], 8);
	assert_int_equal(g->st[GPU_F_FAN_PCT], VAL_UNSUPPORTED);
	assert_int_equal(g->st[GPU_F_ECC_UNCORR_VOLATILE], VAL_ERROR);
	assert_int_equal(g->st[GPU_F_ENERGY_MJ], VAL_UNSUPPORTED);
	assert_false(snap.gpu_src.ok); /* the [Unknown Error] */
	gpu_smi_backend.close(st);
}

static int count_lines(const char *path)
{
	char buf[256];
	ssize_t n = file_read_small(path, buf, sizeof buf);
	int lines = 0;

	for (ssize_t i = 0; i < n; i++)
		lines += buf[i] == '\n';
	return lines;
}

/* The child dies: values turn to errors, and it comes back after the backoff. */
static void test_backend_restart(void **unused)
{
	struct gpu_options opt = { .interval_ns = 50 * 1000000LL };
	static struct snapshot snap;
	char why[256] = "", p[128], starts[128];
	void *st = NULL;
	int64_t t0, took;

	(void)unused;
	snprintf(p, sizeof p, "%s/nvidia-smi", tmpdir);
	snprintf(starts, sizeof starts, "%s/starts", tmpdir);
	write_script(p, fake_smi);
	setenv("GPUTEL_NVIDIA_SMI", p, 1);
	setenv("FAKE_EXIT", "1", 1);
	setenv("FAKE_STARTS", starts, 1);
	assert_int_equal(gpu_smi_backend.open(&st, &opt, why, sizeof why), GPU_OPEN_OK);
	usleep(500 * 1000);
	gpu_smi_backend.sample(st, &snap);
	assert_int_equal(snap.n_gpus, 1);
	assert_int_equal(snap.gpu[0].st[GPU_F_POWER_MW], VAL_ERROR);
	assert_int_equal(snap.gpu[0].st[GPU_F_FAN_PCT], VAL_UNSUPPORTED);
	assert_false(snap.gpu_src.ok);
	assert_int_equal(count_lines(starts), 1);

	/* still inside the 1 s backoff: no restart, and no waiting */
	t0 = mono_now_ns();
	gpu_smi_backend.sample(st, &snap);
	took = mono_now_ns() - t0;
	assert_true(took < 50 * 1000000LL);
	assert_int_equal(count_lines(starts), 1);

	usleep(1000 * 1000);
	gpu_smi_backend.sample(st, &snap);
	assert_int_equal(count_lines(starts), 2);
	/* its one line may come after the short first-round wait */
	for (int i = 0; i < 50 && snap.gpu[0].st[GPU_F_POWER_MW] != VAL_OK; i++) {
		usleep(10 * 1000);
		gpu_smi_backend.sample(st, &snap);
	}
	assert_int_equal(snap.gpu[0].st[GPU_F_POWER_MW], VAL_OK);
	assert_int_equal(snap.gpu[0].val[GPU_F_POWER_MW], 81250);
	gpu_smi_backend.close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_forms),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_numbers_rejected),
		cmocka_unit_test(test_pstate),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_full_line),
		cmocka_unit_test(test_line_missing_values),
		cmocka_unit_test(test_line_lost),
		cmocka_unit_test(test_line_wrong_width),
		cmocka_unit_test(test_line_overlong),
		cmocka_unit_test(test_fieldset),
		cmocka_unit_test(test_bad_field),
		cmocka_unit_test(test_probe_line),
		cmocka_unit_test(test_linebuf),
		cmocka_unit_test_setup_teardown(test_backend_config_errors, backend_setup,
						backend_teardown),
		cmocka_unit_test_setup_teardown(test_backend_against_script, backend_setup,
						backend_teardown),
		cmocka_unit_test_setup_teardown(test_backend_restart, backend_setup,
						backend_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
