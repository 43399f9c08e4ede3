/* Unit tests: CSV formatting (sink_csv.c) and the field table (snapshot.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outbuf.h"
#include "sink_csv.h"
#include "snapshot.h"

static char buf[CSV_BATCH_MAX];

static const char *scaled(int64_t v, int64_t div, int dec)
{
	static char out[48];

	fmt_scaled(out, sizeof out, v, div, dec);
	return out;
}

static void test_fmt_scaled(void **state)
{
	(void)state;
	assert_string_equal(scaled(81250, 1000, 2), "81.25");
	assert_string_equal(scaled(81255, 1000, 2), "81.26");     /* half away from zero */
	assert_string_equal(scaled(-81255, 1000, 2), "-81.26");
	assert_string_equal(scaled(45500, 1000, 0), "46");
	assert_string_equal(scaled(-400, 1000, 0), "0");           /* no "-0" */
	assert_string_equal(scaled(-500, 1000, 1), "-0.5");
	assert_string_equal(scaled(0, 1000, 3), "0.000");
	assert_string_equal(scaled(7, 1, 0), "7");
	assert_string_equal(scaled(85899345920LL, 1024 * 1024, 0), "81920");
	assert_string_equal(scaled(INT64_MAX, 1, 0), "9223372036854775807");
	assert_string_equal(scaled(INT64_MIN, 1000, 0), "-9223372036854776");
	assert_string_equal(scaled(1234567, 1000000, 3), "1.235");
}

static void test_header_keeps_guide_columns(void **state)
{
	static const char *const guide[] = {
		"timestamp", "power_draw_w", "temperature_c", "util_gpu_percent",
		"util_mem_percent", "memory_used_mb", "fan", "cpu_pkg_w", "cpu_pkg_temp_c",
		"cpu_core_max_c", "t_sensor_temp_c", "chipset_temp_c", "vrm_temp_c",
		"system_total_w",
	};
	size_t n = csv_header(buf, sizeof buf);
	size_t commas = 0;

	(void)state;
	assert_true(n > 0);
	for (size_t i = 0; i < 14; i++)
		assert_string_equal(csv_column_name(i), guide[i]);
	for (size_t i = 0; i < n; i++)
		commas += buf[i] == ',';
	assert_int_equal(commas + 1, csv_column_count());
	assert_int_equal(buf[n - 1], '\n');
	assert_null(csv_column_name(csv_column_count()));
}

/* Column index by name, or -1. */
static int col_of(const char *name)
{
	for (size_t i = 0; i < csv_column_count(); i++)
		if (strcmp(csv_column_name(i), name) == 0)
			return (int)i;
	return -1;
}

/* Copies cell `col` of line `row` (0-based, data rows) out of buf; handles quotes. */
static const char *cell(const char *text, int row, int col)
{
	static char out[256];
	const char *p = text;
	size_t k = 0;
	int c = 0;
	bool quoted = false;

	for (int r = 0; r < row; r++)
		p = strchr(p, '\n') + 1;
	for (; *p && *p != '\n'; p++) {
		if (*p == '"') {
			if (quoted && p[1] == '"') {
				if (c == col)
					out[k++] = '"';
				p++;
				continue;
			}
			quoted = !quoted;
			continue;
		}
		if (*p == ',' && !quoted) {
			if (c == col)
				break;
			c++;
			continue;
		}
		if (c == col && k < sizeof out - 1)
			out[k++] = *p;
	}
	out[k] = '\0';
	return out;
}

static void fill_snapshot(struct snapshot *s)
{
	memset(s, 0, sizeof *s);
	s->seq = 42;
	s->wall.tv_sec = 1767225600; /* 2026-01-01T00:00:00Z */
	s->wall.tv_nsec = 123456789;
	s->backend = "nvml";
	s->n_gpus = 2;
	for (unsigned int i = 0; i < 2; i++) {
		struct gpu_reading *g = &s->gpu[i];

		g->id.index = i;
		snprintf(g->id.uuid, sizeof g->id.uuid, "GPU-%u", i);
		snprintf(g->id.name, sizeof g->id.name, "NVIDIA \"Big\", Card");
		GPU_SET(g, GPU_F_POWER_MW, 250500 + i);
		GPU_SET(g, GPU_F_TEMP_MC, 65000);
		GPU_SET(g, GPU_F_UTIL_GPU_PCT, 97);
		GPU_SET(g, GPU_F_MEM_USED_BYTES, 2048LL * 1024 * 1024);
		GPU_SET(g, GPU_F_CLOCK_EVENT_MASK, 0x4);
		g->st[GPU_F_FAN_PCT] = VAL_UNSUPPORTED;
		g->val[GPU_F_FAN_PCT] = 0;
		g->st[GPU_F_ENERGY_MJ] = VAL_ERROR;
		g->val[GPU_F_ENERGY_MJ] = 0;
	}
	s->host_src.ok = 1;
	s->gpu_src.ok = 0;
	HOST_SET(&s->host, HOST_F_CPU_PKG_POWER_MW, 45250);
	HOST_SET(&s->host, HOST_F_DRAM_POWER_MW, 5000);
	HOST_SET(&s->host, HOST_F_CPU_PKG_TEMP_MC, 51500);
	HOST_SET(&s->host, HOST_F_CPU_UTIL_CPCT, 1234);
	s->host.rapl = RAPL_OK;
	s->gpu_src.duration_ns = 81000;
}

static void test_rows(void **state)
{
	static struct snapshot s;
	size_t n;

	(void)state;
	fill_snapshot(&s);
	n = csv_format_rows(&s, CSV_ALL_GPUS, buf, sizeof buf, NULL);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(cell(buf, 0, 0), "2026-01-01T00:00:00.123Z");
	assert_string_equal(cell(buf, 0, col_of("power_draw_w")), "250.50");
	assert_string_equal(cell(buf, 1, col_of("power_draw_w")), "250.50");
	assert_string_equal(cell(buf, 0, col_of("temperature_c")), "65");
	assert_string_equal(cell(buf, 0, col_of("memory_used_mb")), "2048");
	/* Unsupported and failed readings are empty, never 0. */
	assert_string_equal(cell(buf, 0, col_of("fan")), "");
	assert_string_equal(cell(buf, 0, col_of("energy_j")), "");
	assert_string_equal(cell(buf, 0, col_of("sm_clock_mhz")), "");
	assert_string_equal(cell(buf, 0, col_of("clocks_event_reasons")), "0x0000000000000004");
	assert_string_equal(cell(buf, 0, col_of("cpu_pkg_w")), "45.25");
	assert_string_equal(cell(buf, 0, col_of("cpu_pkg_temp_c")), "51.5");
	assert_string_equal(cell(buf, 0, col_of("cpu_util_percent")), "12.34");
	/* 45.25 + 5 + 250.5 + 250.501 */
	assert_string_equal(cell(buf, 0, col_of("system_total_w")), "551.25");
	assert_string_equal(cell(buf, 1, col_of("seq")), "42");
	assert_string_equal(cell(buf, 1, col_of("gpu_index")), "1");
	assert_string_equal(cell(buf, 0, col_of("gpu_name")), "NVIDIA \"Big\", Card");
	assert_string_equal(cell(buf, 0, col_of("gpu_status")), "up");
	assert_string_equal(cell(buf, 0, col_of("rapl_status")), "ok");
	assert_string_equal(cell(buf, 0, col_of("gpu_sample_ms")), "0.081");
	assert_string_equal(cell(buf, 0, col_of("gpu_sample_ok")), "0");
	assert_string_equal(cell(buf, 0, col_of("host_sample_ok")), "1");
	assert_non_null(strstr(buf, "\"NVIDIA \"\"Big\"\", Card\""));
}

static void test_system_total_needs_every_part(void **state)
{
	static struct snapshot s;
	size_t n;

	(void)state;
	fill_snapshot(&s);
	s.gpu[1].st[GPU_F_POWER_MW] = VAL_ERROR;
	n = csv_format_rows(&s, CSV_ALL_GPUS, buf, sizeof buf, NULL);
	buf[n] = '\0';
	assert_string_equal(cell(buf, 0, col_of("system_total_w")), "");

	fill_snapshot(&s);
	s.host.st[HOST_F_CPU_PKG_POWER_MW] = VAL_ERROR;
	s.host.rapl = RAPL_UNREADABLE;
	n = csv_format_rows(&s, CSV_ALL_GPUS, buf, sizeof buf, NULL);
	buf[n] = '\0';
	assert_string_equal(cell(buf, 0, col_of("system_total_w")), "");
	assert_string_equal(cell(buf, 0, col_of("cpu_pkg_w")), "");
	assert_string_equal(cell(buf, 0, col_of("rapl_status")), "unreadable");
}

static void test_down_gpu_and_no_gpu(void **state)
{
	static struct snapshot s;
	size_t n;

	(void)state;
	fill_snapshot(&s);
	s.gpu[0].health = GPU_HEALTH_DOWN;
	memset(s.gpu[0].st, VAL_ERROR, sizeof s.gpu[0].st);
	n = csv_format_rows(&s, CSV_ALL_GPUS, buf, sizeof buf, NULL);
	buf[n] = '\0';
	assert_string_equal(cell(buf, 0, col_of("gpu_status")), "down");
	assert_string_equal(cell(buf, 0, col_of("power_draw_w")), "");
	assert_string_equal(cell(buf, 0, col_of("gpu_uuid")), "GPU-0");

	fill_snapshot(&s);
	s.n_gpus = 0;
	s.backend = "none";
	n = csv_format_rows(&s, CSV_ALL_GPUS, buf, sizeof buf, NULL);
	buf[n] = '\0';
	assert_non_null(strchr(buf, '\n'));
	assert_null(strchr(buf, '\n') + 1 < buf + n ? strchr(strchr(buf, '\n') + 1, '\n') : NULL);
	assert_string_equal(cell(buf, 0, col_of("gpu_status")), "none");
	assert_string_equal(cell(buf, 0, col_of("gpu_index")), "");
	/* With no GPU, the total is the CPU package plus DRAM. */
	assert_string_equal(cell(buf, 0, col_of("system_total_w")), "50.25");
}

static void test_small_buffer_is_refused(void **state)
{
	static struct snapshot s;
	char small[64];

	(void)state;
	fill_snapshot(&s);
	assert_int_equal(csv_format_rows(&s, CSV_ALL_GPUS, small, sizeof small, NULL), 0);
	assert_int_equal(csv_header(small, sizeof small), 0);
}

/*
 * A disk with room for part of what waits: the whole rows that fit go out,
 * oldest first, and no torn row stays in the file -- not even when the cut
 * falls just after a line break inside a quoted cell.  The room is made
 * with RLIMIT_FSIZE, which cuts a write short as a full disk does.
 */
#define ROW_LEN 100

static void make_row(char *row, int i)
{
	/* "<40 x a>\n<i><44 x b>",z\n: 100 bytes, a quoted line break at byte 41. */
	memset(row, 'b', ROW_LEN);
	row[0] = '"';
	memset(row + 1, 'a', 40);
	row[41] = '\n';
	row[42] = (char)('0' + i);
	row[ROW_LEN - 4] = '"';
	row[ROW_LEN - 3] = ',';
	row[ROW_LEN - 2] = 'z';
	row[ROW_LEN - 1] = '\n';
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Writes n bytes of rows with the file size limited to `room` bytes; the limit is lifted before returning. */
static void write_with_room(struct csv_file *c, const char *p, size_t n, uint64_t rows, off_t room)
{
	struct rlimit was, lim;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
	lim = was;
	lim.rlim_cur = (rlim_t)room;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	csv_write_rows(c, p, n, rows);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
}

static void test_partial_room_writes_whole_rows_oldest_first(void **state)
{
	char dir[] = "/tmp/gputel-test-csv.XXXXXX", err[512], rows[7 * ROW_LEN], *text;
	static struct csv_file c;
	off_t head;
	FILE *f;
	size_t n;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	for (int i = 0; i < 7; i++)
		make_row(rows + i * ROW_LEN, i);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(csv_open(&c, dir, 1767225600, err, sizeof err), 0);
	head = file_size(c.path);

	/* Room for 2.5 rows of 5: the cut falls past the third row's quoted line break. */
	write_with_room(&c, rows, 5 * ROW_LEN, 5, head + 2 * ROW_LEN + ROW_LEN / 2);
	assert_int_equal(file_size(c.path), head + 2 * ROW_LEN);
	assert_int_equal(c.rows_written, 2);
	assert_int_equal(c.backlog_rows, 3);
	assert_int_equal(c.rows_dropped, 0);

	/* Room for two more: the oldest two that waited go out, the new row waits behind them. */
	write_with_room(&c, rows + 5 * ROW_LEN, ROW_LEN, 1, head + 4 * ROW_LEN + 10);
	assert_int_equal(file_size(c.path), head + 4 * ROW_LEN);
	assert_int_equal(c.rows_written, 4);
	assert_int_equal(c.backlog_rows, 2);

	/* Room for all: the rest, then the new row, in order. */
	csv_write_rows(&c, rows + 6 * ROW_LEN, ROW_LEN, 1);
	assert_int_equal(c.rows_written, 7);
	assert_int_equal(c.backlog_len, 0);
	assert_int_equal(c.rows_dropped, 0);
	csv_close(&c);

	text = calloc(1, (size_t)head + sizeof rows + 1);
	assert_non_null(text);
	f = fopen(c.path, "r");
	assert_non_null(f);
	n = fread(text, 1, (size_t)head + sizeof rows + 1, f);
	fclose(f);
	assert_int_equal(n, (size_t)head + sizeof rows);
	assert_memory_equal(text + head, rows, sizeof rows);
	free(text);
	unlink(c.path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_scaled),
		cmocka_unit_test(test_header_keeps_guide_columns),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_system_total_needs_every_part),
		cmocka_unit_test(test_down_gpu_and_no_gpu),
		cmocka_unit_test(test_small_buffer_is_refused),
		cmocka_unit_test(test_partial_room_writes_whole_rows_oldest_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
