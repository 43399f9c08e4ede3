/* Unit tests: the kernel log reader (kmsg.c): record format, files and FIFOs, resume, loss, the saved position. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kmsg.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/gputel-kmsg-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* What the records delivered were: their sequence numbers and messages. */
struct seen {
	uint64_t seq[64];
	char msg[64][128];
	int level[64];
	unsigned int n;
};

static void collect(void *ctx, const struct kmsg_record *rec)
{
	struct seen *s = ctx;

	if (s->n < 64) {
		size_t len = rec->len < 127 ? rec->len : 127;

		s->seq[s->n] = rec->seq;
		s->level[s->n] = rec->level;
		memcpy(s->msg[s->n], rec->msg, len);
		s->msg[s->n][len] = '\0';
	}
	s->n++;
}

static void write_file(const char *path, const char *text, const char *mode)
{
	FILE *f = fopen(path, mode);

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_parse_record(void **state)
{
	struct kmsg_record rec;
	const char *line = "3,1042,5123456,-;NVRM: Xid (PCI:0000:2b:00): 79, GPU has fallen off the bus.";

	(void)state;
	assert_int_equal(kmsg_parse_record(line, strlen(line), &rec), 0);
	assert_int_equal(rec.level, 3);
	assert_int_equal(rec.facility, 0);
	assert_int_equal(rec.seq, 1042);
	assert_int_equal(rec.mono_us, 5123456);
	assert_int_equal(rec.len, strlen("NVRM: Xid (PCI:0000:2b:00): 79, GPU has fallen off the bus."));
	assert_memory_equal(rec.msg, "NVRM: Xid", 9);
	/* Extra fields after FLAGS (newer kernels add caller=) and a facility. */
	line = "14,7,100,c,caller=T1;hello";
	assert_int_equal(kmsg_parse_record(line, strlen(line), &rec), 0);
	assert_int_equal(rec.level, 6);
	assert_int_equal(rec.facility, 1);
	assert_int_equal(rec.len, 5);
	/* An empty message is a record. */
	assert_int_equal(kmsg_parse_record("6,8,100,-;", 10, &rec), 0);
	assert_int_equal(rec.len, 0);

	static const char *const bad[] = {
		"", "no semicolon", "6,1,2;msg", "6,1;msg", "x,1,2,-;msg", "6,,2,-;msg", "6,1,2x,-;msg",
		"1024,1,2,-;msg", "6,1,99999999999999999999,-;msg", "6,1,9300000000000000000,-;msg", ";msg",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		print_message("# %s\n", bad[i]);
		assert_int_equal(kmsg_parse_record(bad[i], strlen(bad[i]), &rec), -1);
	}
}

static void test_file_in_order_with_dictionary_and_junk(void **state)
{
	char path[128], *big;
	struct kmsg *k;
	struct seen s = { 0 };
	char err[256];

	(void)state;
	snprintf(path, sizeof path, "%s/kmsg1", dir);
	big = malloc(10241);
	assert_non_null(big);
	memset(big, 'a', 10240);
	big[10240] = '\0';
	write_file(path, "6,1,100,-;first\n SUBSYSTEM=pci\n DEVICE=+pci:0000:2b:00.0\n", "w");
	write_file(path, "not a record\n", "a");
	write_file(path, "6,2,101,-;", "a");
	write_file(path, big, "a");            /* a 10 KiB line: dropped whole */
	write_file(path, "\n4,3,102,-;third\n", "a");
	free(big);

	assert_int_equal(kmsg_open(&k, path, false, 0, err, sizeof err), 0);
	assert_int_equal(kmsg_fd(k), -1);      /* a regular file: read every tick */
	assert_int_equal(kmsg_drain(k, 100, collect, &s), 2);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.msg[0], "first");
	assert_string_equal(s.msg[1], "third");
	assert_int_equal(s.level[1], 4);
	assert_int_equal(kmsg_stats(k)->malformed, 2);
	/* Seq 2 was the long line: a gap, counted as lost. */
	assert_int_equal(kmsg_stats(k)->lost, 1);

	/* The file grows: the next drain reads on from where it was. */
	write_file(path, "6,4,103,-;fourth\n", "a");
	assert_int_equal(kmsg_drain(k, 100, collect, &s), 1);
	assert_string_equal(s.msg[2], "fourth");
	assert_int_equal(kmsg_drain(k, 100, collect, &s), 0);
	kmsg_close(k);
}

static void test_resume_skips_and_counts_lost(void **state)
{
	char path[128], err[256];
	struct kmsg *k;
	struct seen s = { 0 };
	uint64_t last;

	(void)state;
	snprintf(path, sizeof path, "%s/kmsg2", dir);
	write_file(path, "6,3,1,-;a\n6,4,1,-;b\n6,5,1,-;c\n6,6,1,-;d\n6,7,1,-;e\n", "w");
	/* Resumed after 5: 3, 4 and 5 were handled before the restart. */
	assert_int_equal(kmsg_open(&k, path, true, 5, err, sizeof err), 0);
	assert_int_equal(kmsg_drain(k, 100, collect, &s), 2);
	assert_int_equal(s.seq[0], 6);
	assert_int_equal(s.seq[1], 7);
	assert_int_equal(kmsg_stats(k)->skipped, 3);
	assert_int_equal(kmsg_stats(k)->lost, 0);
	assert_true(kmsg_last_seq(k, &last));
	assert_int_equal(last, 7);
	kmsg_close(k);

	/* Resumed after 1, but the buffer starts at 3: 2 was overwritten while gputel was down. */
	memset(&s, 0, sizeof s);
	assert_int_equal(kmsg_open(&k, path, true, 1, err, sizeof err), 0);
	assert_int_equal(kmsg_drain(k, 100, collect, &s), 5);
	assert_int_equal(kmsg_stats(k)->lost, 1);
	kmsg_close(k);

	/* Not resumed (a new boot): every record in the buffer is news, none lost. */
	memset(&s, 0, sizeof s);
	assert_int_equal(kmsg_open(&k, path, false, 0, err, sizeof err), 0);
	assert_false(kmsg_last_seq(k, &last));
	assert_int_equal(kmsg_drain(k, 100, collect, &s), 5);
	assert_int_equal(kmsg_stats(k)->lost, 0);
	kmsg_close(k);
}

static void test_fifo(void **state)
{
	char path[128], err[256];
	struct kmsg *k;
	struct seen s = { 0 };
	struct pollfd pfd;
	int w;

	(void)state;
	snprintf(path, sizeof path, "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(kmsg_open(&k, path, false, 0, err, sizeof err), 0);
	assert_true(kmsg_fd(k) >= 0);
	w = open(path, O_WRONLY);
	assert_true(w >= 0);
	/* A record written in two pieces arrives once, whole. */
	assert_int_equal(write(w, "6,10,1,-;NVRM: Xid (PCI:0000:2b:00): 13", 39), 39);
	assert_int_equal(kmsg_drain(k, 100, collect, &s), 0);
	assert_int_equal(write(w, ", x\n", 4), 4);
	pfd = (struct pollfd){ .fd = kmsg_fd(k), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	assert_int_equal(kmsg_drain(k, 100, collect, &s), 1);
	assert_string_equal(s.msg[0], "NVRM: Xid (PCI:0000:2b:00): 13, x");
	/* The writer goes: the reader is not woken for nothing (no end of file, no hang-up). */
	close(w);
	pfd.revents = 0;
	assert_int_equal(poll(&pfd, 1, 50), 0);
	assert_int_equal(kmsg_drain(k, 100, collect, &s), 0);
	kmsg_close(k);
}

static void test_bad_paths(void **state)
{
	char err[256];
	struct kmsg *k;

	(void)state;
	assert_int_equal(kmsg_open(&k, "/nonexistent/kmsg", false, 0, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/kmsg"));
	assert_int_equal(kmsg_open(&k, dir, false, 0, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "not a character device, FIFO or file"));
	assert_null(k);
}

static void test_position(void **state)
{
	char path[128], tmp[160], id[KMSG_BOOT_ID_LEN], target[160];
	const char *boot = "0f6e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
	uint64_t seq;

	(void)state;
	snprintf(path, sizeof path, "%s/kmsg.position", dir);
	assert_int_equal(kmsg_position_load(path, id, &seq), -ENOENT);
	assert_int_equal(kmsg_position_save(path, boot, 123456789012ULL), 0);
	assert_int_equal(kmsg_position_load(path, id, &seq), 0);
	assert_string_equal(id, boot);
	assert_int_equal(seq, 123456789012ULL);

	/* A link planted at the temporary name is replaced, not written through. */
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	snprintf(target, sizeof target, "%s/target", dir);
	write_file(target, "keep\n", "w");
	assert_int_equal(symlink(target, tmp), 0);
	assert_int_equal(kmsg_position_save(path, boot, 7), 0);
	assert_int_equal(kmsg_position_load(path, id, &seq), 0);
	assert_int_equal(seq, 7);
	{
		char buf[16] = { 0 };
		FILE *f = fopen(target, "r");

		assert_non_null(f);
		assert_non_null(fgets(buf, sizeof buf, f));
		fclose(f);
		assert_string_equal(buf, "keep\n");
	}

	/* Damaged files are not positions. */
	static const char *const bad[] = { "", "x 1\n", "0f6e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b\n",
					   "0f6e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b 12", "0f6e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b x\n" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(path, bad[i], "w");
		assert_int_equal(kmsg_position_load(path, id, &seq), -EINVAL);
	}
}

static void test_boot_id(void **state)
{
	char root[128], path[192], id[KMSG_BOOT_ID_LEN];

	(void)state;
	snprintf(root, sizeof root, "%s/proc", dir);
	snprintf(path, sizeof path, "%s/sys/kernel/random", root);
	{
		char cmd[300];

		snprintf(cmd, sizeof cmd, "mkdir -p %s", path);
		assert_int_equal(system(cmd), 0);
	}
	snprintf(path, sizeof path, "%s/sys/kernel/random/boot_id", root);
	write_file(path, "0f6e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b\n", "w");
	assert_int_equal(kmsg_boot_id(root, id), 0);
	assert_string_equal(id, "0f6e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
	write_file(path, "garbage\n", "w");
	assert_int_equal(kmsg_boot_id(root, id), -EINVAL);
	/* This machine's own. */
	assert_int_equal(kmsg_boot_id("/proc", id), 0);
	assert_int_equal(strlen(id), 36);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_record),
		cmocka_unit_test(test_file_in_order_with_dictionary_and_junk),
		cmocka_unit_test(test_resume_skips_and_counts_lost),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_position),
		cmocka_unit_test(test_boot_id),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
