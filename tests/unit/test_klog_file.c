/*
 * Unit tests: kern.log as a kernel log source (klog_file.c): the syslog
 * prefix in both time stamp forms, and the reader across growth, cut and
 * long lines, rotation (while reading and while stopped), truncation, a
 * restart from the saved position, and a reused inode number.  Also the
 * list of sources (klog.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "klog.h"
#include "klog_internal.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	strcpy(dir, "/tmp/gputel-klog-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the prefix ---- */

#define NS 1000000000LL
/* 2026-12-06T21:00:00Z */
#define NOW_2026 (1796590800LL * NS)

static struct klog_syslog_line parse_ok(const char *line, int64_t now_ns)
{
	struct klog_syslog_line s;

	print_message("# %s\n", line);
	assert_int_equal(klog_parse_syslog(line, strlen(line), now_ns, &s), 0);
	return s;
}

static void assert_msg(const struct klog_syslog_line *s, const char *want)
{
	assert_int_equal(s->len, strlen(want));
	assert_memory_equal(s->msg, want, s->len);
}

static void test_rfc3164(void **state)
{
	struct klog_syslog_line s;

	(void)state;
	s = parse_ok("Dec  6 20:01:02 node1 kernel: [ 1234.567890] NVRM: Xid (PCI:0000:2b:00): 79, GPU has fallen off the bus.",
		     NOW_2026);
	assert_true(s.kernel);
	assert_int_equal(s.wall_ns, NOW_2026 - (58 * 60 + 58) * NS);
	assert_msg(&s, "NVRM: Xid (PCI:0000:2b:00): 79, GPU has fallen off the bus.");
	/* A two-digit day, no kernel time stamp. */
	s = parse_ok("Nov 30 00:00:00 node1 kernel: NVRM: x", NOW_2026);
	assert_int_equal(s.wall_ns, NOW_2026 - (6 * 86400 + 21 * 3600) * NS);
	assert_msg(&s, "NVRM: x");
	/* December's line read on New Year's night is last year's. */
	s = parse_ok("Dec 31 23:59:59 node1 kernel: x", NOW_2026 + 26 * 86400 * NS);
	assert_int_equal(s.wall_ns, NOW_2026 + (25 * 86400 + 2 * 3600 + 59 * 60 + 59) * NS);
	/* A little ahead of now (clocks differ): still this year. */
	s = parse_ok("Dec  6 21:30:00 node1 kernel: x", NOW_2026);
	assert_int_equal(s.wall_ns, NOW_2026 + 30 * 60 * NS);
}

static void test_rfc3339(void **state)
{
	struct klog_syslog_line s;

	(void)state;
	s = parse_ok("2026-12-06T20:01:02.123456+00:00 node1 kernel: [    5.000001] NVRM: a", NOW_2026);
	assert_true(s.kernel);
	assert_int_equal(s.wall_ns, NOW_2026 - (58 * 60 + 58) * NS + 123456000);
	assert_msg(&s, "NVRM: a");
	s = parse_ok("2026-12-06T21:01:02+01:00 node1 kernel: b", NOW_2026);
	assert_int_equal(s.wall_ns, NOW_2026 - (58 * 60 + 58) * NS);
	s = parse_ok("2026-12-06T19:01:02.5-01:30 node1 kernel: c", NOW_2026);
	assert_int_equal(s.wall_ns, NOW_2026 - (58 * 60 + 58) * NS + 30 * 60 * NS + 500000000);
	s = parse_ok("2026-12-06T20:01:02.1234567891Z h kernel: d", NOW_2026);
	assert_int_equal(s.wall_ns, NOW_2026 - (58 * 60 + 58) * NS + 123456789);
	/* Another year entirely: RFC 3339 says which. */
	s = parse_ok("2020-01-02T03:04:05Z h kernel: e", NOW_2026);
	assert_int_equal(s.wall_ns, 1577934245LL * NS);
}

static void test_tags_and_stamps(void **state)
{
	struct klog_syslog_line s;

	(void)state;
	s = parse_ok("Dec  6 20:01:02 node1 sshd[412]: NVRM: Xid (PCI:0000:2b:00): 79, not the kernel", NOW_2026);
	assert_false(s.kernel);
	assert_false(parse_ok("Dec  6 20:01:02 node1 kernelx: y", NOW_2026).kernel);
	assert_false(parse_ok("Dec  6 20:01:02 node1 kerne: y", NOW_2026).kernel);
	/* Not a time stamp in brackets: the kernel's text as it is. */
	s = parse_ok("Dec  6 20:01:02 node1 kernel: [abc] x", NOW_2026);
	assert_msg(&s, "[abc] x");
	s = parse_ok("Dec  6 20:01:02 node1 kernel: [ 12.5 x", NOW_2026);
	assert_msg(&s, "[ 12.5 x");
	s = parse_ok("Dec  6 20:01:02 node1 kernel:", NOW_2026);
	assert_true(s.kernel);
	assert_int_equal(s.len, 0);
	/* Only len bytes are read: the rest of the buffer is not the line's. */
	{
		const char *line = "Dec  6 20:01:02 node1 kernel: NVRM: abcdef";

		assert_int_equal(klog_parse_syslog(line, strlen(line) - 3, NOW_2026, &s), 0);
		assert_msg(&s, "NVRM: abc");
	}
}

static void test_not_syslog(void **state)
{
	static const char *const bad[] = {
		"", "x", "garbage line", "Dec  6 20:01:02", "Dec  6 20:01:02 ", "Dec  6 20:01:02 node1",
		"Dec  6 20:01:02 node1 kernel", "Dec  6 20:01:02 node1 : x", "Dec  6 20:01:02 node1 no tag here",
		"Foo  6 20:01:02 node1 kernel: x", "Dec 32 20:01:02 node1 kernel: x", "Dec  0 20:01:02 node1 kernel: x",
		"Dec  6 24:01:02 node1 kernel: x", "Dec  6 20:61:02 node1 kernel: x", "Dec  6 20:01:62 node1 kernel: x",
		"Dec  6 2x:01:02 node1 kernel: x", "Dec 6 20:01:02 node1 kernel: x",
		"2026-13-06T20:01:02Z h kernel: x", "2026-12-00T20:01:02Z h kernel: x", "2026-12-06 20:01:02Z h kernel: x",
		"2026-12-06T20:01:02 h kernel: x", "2026-12-06T20:01:02+0100 h kernel: x", "2026-12-06T20:01:02.Z h kernel: x",
		"2026-12-06T20:01Z h kernel: x", "1969-12-06T20:01:02Z h kernel: x", "9999-12-06T20:01:02Z h kernel: x",
		"2026-12-06T20:01:02+24:00 h kernel: x", "2026-12-06T20:01:02Zh kernel: x", "20",
	};
	struct klog_syslog_line s;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		print_message("# %s\n", bad[i]);
		assert_int_equal(klog_parse_syslog(bad[i], strlen(bad[i]), NOW_2026, &s), -1);
	}
}

/* ---- the reader ---- */

struct seen {
	char msg[32][64];
	unsigned int n;
};

static void collect(void *ctx, const struct kmsg_record *rec)
{
	struct seen *s = ctx;

	assert_true(rec->no_seq);
	if (s->n < 32) {
		size_t len = rec->len < 63 ? rec->len : 63;

		memcpy(s->msg[s->n], rec->msg, len);
		s->msg[s->n][len] = '\0';
	}
	s->n++;
}

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A kernel line stamped now, with msg. */
static void klog_line(const char *path, const char *msg)
{
	char line[256], ts[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(line, sizeof line, "%s.000001+00:00 node1 kernel: [ 100.000000] %s\n", ts, msg);
	append(path, line);
}

struct reader {
	void *f;
	struct klog_args a;
	char pos[PATH_MAX];
};

static void reader_open(struct reader *r, const char *path, bool with_position, int64_t min_wall_ns)
{
	char err[256];

	memset(r, 0, sizeof *r);
	path_of(r->pos, sizeof r->pos, "kern-log.position");
	r->a.path = path;
	r->a.position_path = with_position ? r->pos : NULL;
	r->a.boot_id = "unknown";
	assert_int_equal(klog_file_open_at(&r->f, &r->a, min_wall_ns, err, sizeof err), 0);
	assert_int_equal(klog_file_ops.fd(r->f), -1);
}

static int drain(struct reader *r, unsigned int max, struct seen *s)
{
	return klog_file_ops.drain(r->f, max, collect, s);
}

/* Saves the position as the agent would, and closes. */
static void reader_close_saving(struct reader *r)
{
	char text[256];

	if (klog_file_ops.position(r->f, text, sizeof text))
		assert_int_equal(kmsg_position_write(r->pos, text), 0);
	klog_file_ops.close(r->f);
}

static const struct kmsg_stats *stats(const struct reader *r)
{
	return klog_file_ops.stats(r->f);
}

static void test_grows_cut_and_long_lines(void **state)
{
	char path[PATH_MAX], *big;
	struct reader r;
	struct seen s = { 0 };

	(void)state;
	path_of(path, sizeof path, "grow.log");
	klog_line(path, "NVRM: one");
	append(path, "Dec  6 20:01:02 node1 systemd[1]: Started something.\n");
	append(path, "not a syslog line\n");
	reader_open(&r, path, false, INT64_MIN);
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_string_equal(s.msg[0], "NVRM: one");
	assert_int_equal(stats(&r)->skipped, 1);
	assert_int_equal(stats(&r)->malformed, 1);

	/* A line cut where rsyslog's write stopped: nothing until its newline comes. */
	append(path, "2026-12-06T20:01:02Z node1 kernel: NVRM: tw");
	assert_int_equal(drain(&r, 100, &s), 0);
	append(path, "o\n");
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_string_equal(s.msg[1], "NVRM: two");

	/* A 10 KiB line and a 40 KiB one (more than a read): each counted once, the next line read. */
	big = malloc(40 * 1024 + 2);
	assert_non_null(big);
	memset(big, 'a', 40 * 1024);
	strcpy(big + 10 * 1024, "\n");
	append(path, big);
	memset(big, 'b', 40 * 1024);
	strcpy(big + 40 * 1024, "\n");
	append(path, big);
	free(big);
	klog_line(path, "NVRM: three");
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_string_equal(s.msg[2], "NVRM: three");
	assert_int_equal(stats(&r)->malformed, 3);
	assert_int_equal(stats(&r)->records, 3);

	/* At most max_records at a time; the rest wait. */
	for (int i = 0; i < 5; i++)
		klog_line(path, "NVRM: more");
	assert_int_equal(drain(&r, 2, &s), 2);
	assert_int_equal(drain(&r, 2, &s), 2);
	assert_int_equal(drain(&r, 2, &s), 1);
	assert_int_equal(drain(&r, 2, &s), 0);
	klog_file_ops.close(r.f);
}

static void test_rotation_while_reading(void **state)
{
	char path[PATH_MAX], old[PATH_MAX];
	struct reader r;
	struct seen s = { 0 };

	(void)state;
	path_of(path, sizeof path, "rot.log");
	path_of(old, sizeof old, "rot.log.1");
	klog_line(path, "NVRM: a");
	reader_open(&r, path, false, INT64_MIN);
	assert_int_equal(drain(&r, 100, &s), 1);
	/* logrotate: rename, a new file; rsyslog writes the old one until its HUP. */
	assert_int_equal(rename(path, old), 0);
	klog_line(path, "NVRM: c (new file)");
	klog_line(old, "NVRM: b (old file, late)");
	append(old, "2026-12-06T20:01:02Z node1 kernel: NVRM: cut short");
	/* The old file first, to its end; then one more drain's grace; then the new one. */
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_string_equal(s.msg[1], "NVRM: b (old file, late)");
	assert_int_equal(drain(&r, 100, &s), 2);
	assert_string_equal(s.msg[2], "NVRM: cut short");
	assert_string_equal(s.msg[3], "NVRM: c (new file)");
	assert_int_equal(drain(&r, 100, &s), 0);

	/* Truncated in place: from its start again. */
	assert_int_equal(truncate(path, 0), 0);
	klog_line(path, "NVRM: d");
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_string_equal(s.msg[4], "NVRM: d");
	/* The file gone and none new yet: the old one is kept, nothing fails. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(drain(&r, 100, &s), 0);
	assert_int_equal(drain(&r, 100, &s), 0);
	klog_line(path, "NVRM: e");
	assert_int_equal(drain(&r, 100, &s), 0);   /* the grace, as for a rename */
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_string_equal(s.msg[5], "NVRM: e");
	klog_file_ops.close(r.f);
	unlink(old);
}

static void test_restart(void **state)
{
	char path[PATH_MAX], old[PATH_MAX], text[128];
	struct reader r;
	struct seen s = { 0 };
	struct stat st;

	(void)state;
	path_of(path, sizeof path, "restart.log");
	path_of(old, sizeof old, "restart.log.1");
	klog_line(path, "NVRM: 1");
	klog_line(path, "NVRM: 2");
	reader_open(&r, path, true, INT64_MIN);
	assert_false(r.a.resumed);
	assert_int_equal(drain(&r, 100, &s), 2);
	reader_close_saving(&r);

	/* Same file, grown: only what is new. */
	klog_line(path, "NVRM: 3");
	reader_open(&r, path, true, INT64_MIN);
	assert_true(r.a.resumed);
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_string_equal(s.msg[2], "NVRM: 3");
	reader_close_saving(&r);

	/* Rotated while stopped: the rest of the old file (now .1), then the new one. */
	klog_line(path, "NVRM: 4");
	assert_int_equal(rename(path, old), 0);
	klog_line(path, "NVRM: 5");
	reader_open(&r, path, true, INT64_MIN);
	assert_true(r.a.resumed);
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_string_equal(s.msg[3], "NVRM: 4");
	assert_string_equal(s.msg[4], "NVRM: 5");
	reader_close_saving(&r);

	/* The position's inode number, but another file there (a head that differs): all of it is news. */
	assert_int_equal(stat(path, &st), 0);
	snprintf(text, sizeof text, "%ju 10 20 0123456789abcdef\n", (uintmax_t)st.st_ino);
	assert_int_equal(kmsg_position_write(r.pos, text), 0);
	reader_open(&r, path, true, INT64_MIN);
	assert_false(r.a.resumed);
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_string_equal(s.msg[5], "NVRM: 5");
	klog_file_ops.close(r.f);

	/* A position file that is not one: ignored, this boot's lines read. */
	assert_int_equal(kmsg_position_write(r.pos, "garbage\n"), 0);
	reader_open(&r, path, true, INT64_MIN);
	assert_false(r.a.resumed);
	assert_int_equal(drain(&r, 100, &s), 1);
	klog_file_ops.close(r.f);
	unlink(old);
	unlink(r.pos);
}

static void test_first_start_skips_earlier_boots(void **state)
{
	char path[PATH_MAX];
	struct reader r;
	struct seen s = { 0 };

	(void)state;
	path_of(path, sizeof path, "boots.log");
	append(path, "2020-01-02T03:04:05Z node1 kernel: NVRM: Xid (PCI:0000:2b:00): 79, an old boot\n");
	append(path, "Jan  2 03:04:05 node1 kernel: NVRM: in January, of some year\n");
	klog_line(path, "NVRM: this boot");
	reader_open(&r, path, false, (int64_t)(time(NULL) - 60) * NS);
	assert_int_equal(drain(&r, 100, &s), 1);
	assert_string_equal(s.msg[0], "NVRM: this boot");
	klog_file_ops.close(r.f);
}

static void test_bad_paths(void **state)
{
	char path[PATH_MAX], err[256];
	struct klog_args a = { .boot_id = "unknown" };
	void *f;

	(void)state;
	path_of(path, sizeof path, "missing.log");
	a.path = path;
	assert_int_equal(klog_file_open_at(&f, &a, 0, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "missing.log"));
	a.path = dir;
	assert_int_equal(klog_file_open_at(&f, &a, 0, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_sources(void **state)
{
	enum klog_kind k[KLOG__COUNT];
	char err[256];

	(void)state;
	unsetenv("GPUTEL_KMSG");
	unsetenv("GPUTEL_KERNEL_LOG_SOURCES");
	assert_int_equal(klog_sources(k, err, sizeof err), 3);
	assert_int_equal(k[0], KLOG_KMSG);
	assert_int_equal(k[1], KLOG_JOURNAL);
	assert_int_equal(k[2], KLOG_KERN_LOG);
	setenv("GPUTEL_KERNEL_LOG_SOURCES", "kern.log, journal,kern.log", 1);
	assert_int_equal(klog_sources(k, err, sizeof err), 2);
	assert_int_equal(k[0], KLOG_KERN_LOG);
	assert_int_equal(k[1], KLOG_JOURNAL);
	setenv("GPUTEL_KERNEL_LOG_SOURCES", "journal,dmesg", 1);
	assert_int_equal(klog_sources(k, err, sizeof err), -1);
	assert_non_null(strstr(err, "'dmesg' is not"));
	setenv("GPUTEL_KERNEL_LOG_SOURCES", ",", 1);
	assert_int_equal(klog_sources(k, err, sizeof err), -1);
	/* GPUTEL_KMSG: that file, whatever the list. */
	setenv("GPUTEL_KMSG", "/tmp/x", 1);
	assert_int_equal(klog_sources(k, err, sizeof err), 1);
	assert_int_equal(k[0], KLOG_KMSG);
	unsetenv("GPUTEL_KMSG");
	unsetenv("GPUTEL_KERNEL_LOG_SOURCES");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3164),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_tags_and_stamps),
		cmocka_unit_test(test_not_syslog),
		cmocka_unit_test(test_grows_cut_and_long_lines),
		cmocka_unit_test(test_rotation_while_reading),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_first_start_skips_earlier_boots),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_sources),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
