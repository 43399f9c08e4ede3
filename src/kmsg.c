/* kmsg.c - see kmsg.h. */
#include "kmsg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "linebuf.h"
#include "util.h"

/* A /dev/kmsg record is at most about 8 KiB with its dictionary; a larger read buffer loses nothing. */
#define READ_MAX 16384
/* A file is read this much at a time, so that max_records is not overshot by much. */
#define FILE_CHUNK 4096

struct kmsg {
	int fd;
	bool device;            /* /dev/kmsg: one record per read() */
	bool pollable;          /* a device or a FIFO */
	bool have_last;
	uint64_t last_seq;
	struct kmsg_stats st;
	/* The drain in progress (linebuf's callback has only one argument). */
	kmsg_record_fn fn;
	void *ctx;
	unsigned int delivered;
	struct linebuf lines;
	char buf[READ_MAX];
};

int kmsg_parse_record(const char *line, size_t len, struct kmsg_record *rec)
{
	const char *p = line, *end = line + len, *semi = memchr(line, ';', len);
	uint64_t f[3];

	if (!semi)
		return -1;
	/* PRIO,SEQ,TS_USEC: decimals; FLAGS and anything after it up to ';' are not used. */
	for (int i = 0; i < 3; i++) {
		uint64_t v = 0;
		int digits = 0;

		while (p < semi && isdigit((unsigned char)*p)) {
			if (++digits > 19)
				return -1;
			v = v * 10 + (uint64_t)(*p++ - '0');
		}
		if (digits == 0 || p >= semi || (*p != ',' && !(i == 2 && *p == ';')))
			return -1;
		f[i] = v;
		p++;
	}
	if (f[0] > 1023 || f[2] > (uint64_t)INT64_MAX / 1000)
		return -1;
	rec->level = (int)(f[0] & 7);
	rec->facility = (int)(f[0] >> 3);
	rec->seq = f[1];
	rec->mono_us = (int64_t)f[2];
	rec->msg = semi + 1;
	rec->len = (size_t)(end - (semi + 1));
	rec->no_seq = false;
	return 0;
}

static void deliver(struct kmsg *k, const struct kmsg_record *rec)
{
	if (k->have_last) {
		/* Already seen (before a restart, or the same file read again): not twice. */
		if (rec->seq <= k->last_seq) {
			k->st.skipped++;
			return;
		}
		if (rec->seq > k->last_seq + 1)
			k->st.lost += rec->seq - k->last_seq - 1;
	}
	k->have_last = true;
	k->last_seq = rec->seq;
	k->st.records++;
	k->delivered++;
	k->fn(k->ctx, rec);
}

/* One line of a record: the header line, or a dictionary line (" KEY=VALUE"), which is not used. */
static void on_record(struct kmsg *k, const char *line, size_t len)
{
	struct kmsg_record rec;

	if (len == 0 || line[0] == ' ')
		return;
	if (kmsg_parse_record(line, len, &rec) != 0) {
		k->st.malformed++;
		return;
	}
	deliver(k, &rec);
}

/* A NUL inside a line read from a file ends it there: what follows is not text anyway. */
static void on_line(char *line, void *arg)
{
	on_record(arg, line, strlen(line));
}

int kmsg_open(struct kmsg **out, const char *path, bool resume, uint64_t after_seq, char *err,
	      size_t errlen)
{
	struct kmsg *k;
	struct stat st;
	int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;

	*out = NULL;
	if (stat(path, &st) != 0) {
		int e = errno;

		str_fmt(err, errlen, "cannot read kernel messages from %s: %s; %s", path, strerror(e),
			e == EACCES ? "run as root or give the account CAP_SYSLOG" : "check the path");
		return -e;
	}
	if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISREG(st.st_mode)) {
		str_fmt(err, errlen, "cannot read kernel messages from %s: not a character device, FIFO or file; "
			"give /dev/kmsg or a file in its record format", path);
		return -EINVAL;
	}
	/* A FIFO opened for writing too never reads as ended when its writer goes: poll() stays quiet. */
	if (S_ISFIFO(st.st_mode))
		flags = O_RDWR | O_NONBLOCK | O_CLOEXEC;
	k = calloc(1, sizeof *k);
	if (!k) {
		str_copy(err, "out of memory", errlen);
		return -ENOMEM;
	}
	k->fd = open(path, flags);
	if (k->fd < 0) {
		int e = errno;

		str_fmt(err, errlen, "cannot read kernel messages from %s: %s; %s", path, strerror(e),
			e == EACCES || e == EPERM ? "run as root or give the account CAP_SYSLOG "
						    "(kernel.dmesg_restrict is 1)" : "check the path");
		free(k);
		return -e;
	}
	k->device = S_ISCHR(st.st_mode);
	k->pollable = !S_ISREG(st.st_mode);
	k->have_last = resume;
	k->last_seq = after_seq;
	*out = k;
	return 0;
}

int kmsg_fd(const struct kmsg *k)
{
	return k && k->pollable ? k->fd : -1;
}

/* /dev/kmsg: one record per read(), the header line first. */
static int drain_device(struct kmsg *k, unsigned int max_records)
{
	while (k->delivered < max_records) {
		ssize_t n = read(k->fd, k->buf, sizeof k->buf);
		const char *nl;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* The oldest unread records were overwritten: the next read goes on after them. */
			if (errno == EPIPE)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		if (n == 0)
			return 0;
		nl = memchr(k->buf, '\n', (size_t)n);
		on_record(k, k->buf, nl ? (size_t)(nl - k->buf) : (size_t)n);
	}
	return 0;
}

/* A file or FIFO: lines in pieces. */
static int drain_stream(struct kmsg *k, unsigned int max_records)
{
	while (k->delivered < max_records) {
		ssize_t n = read(k->fd, k->buf, FILE_CHUNK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (n == 0)
			return 0;
		linebuf_feed(&k->lines, k->buf, (size_t)n, on_line, k);
		k->st.malformed += k->lines.dropped;
		k->lines.dropped = 0;
	}
	return 0;
}

int kmsg_drain(struct kmsg *k, unsigned int max_records, kmsg_record_fn fn, void *ctx)
{
	int r;

	k->fn = fn;
	k->ctx = ctx;
	k->delivered = 0;
	r = k->device ? drain_device(k, max_records) : drain_stream(k, max_records);
	return r < 0 ? r : (int)k->delivered;
}

bool kmsg_last_seq(const struct kmsg *k, uint64_t *seq)
{
	*seq = k->last_seq;
	return k->have_last;
}

const struct kmsg_stats *kmsg_stats(const struct kmsg *k)
{
	return &k->st;
}

void kmsg_close(struct kmsg *k)
{
	if (!k)
		return;
	close(k->fd);
	free(k);
}

int64_t kmsg_wall_ns(const struct kmsg_record *rec)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return timespec_to_ns(&rt) - (timespec_to_ns(&mono) - rec->mono_us * 1000);
}

static bool boot_id_ok(const char *s)
{
	if (strlen(s) != KMSG_BOOT_ID_LEN - 1)
		return false;
	for (const char *p = s; *p; p++)
		if (!isxdigit((unsigned char)*p) && *p != '-')
			return false;
	return true;
}

int kmsg_boot_id(const char *procfs_root, char out[KMSG_BOOT_ID_LEN])
{
	char path[4096], buf[64];
	ssize_t n;

	if (str_fmt(path, sizeof path, "%s/sys/kernel/random/boot_id", procfs_root) < 0)
		return -ENAMETOOLONG;
	n = file_read_small(path, buf, sizeof buf);
	if (n < 0)
		return (int)n;
	str_rtrim(buf);
	if (!boot_id_ok(buf))
		return -EINVAL;
	str_copy(out, buf, KMSG_BOOT_ID_LEN);
	return 0;
}

int kmsg_position_load(const char *path, char boot_id[KMSG_BOOT_ID_LEN], uint64_t *seq)
{
	char buf[128], id[64], tail;
	unsigned long long s;
	ssize_t n = file_read_small(path, buf, sizeof buf);

	if (n < 0)
		return (int)n;
	if (sscanf(buf, "%63s %llu%c", id, &s, &tail) != 3 || tail != '\n' || !boot_id_ok(id))
		return -EINVAL;
	str_copy(boot_id, id, KMSG_BOOT_ID_LEN);
	*seq = s;
	return 0;
}

int kmsg_position_save(const char *path, const char *boot_id, uint64_t seq)
{
	char line[96];

	snprintf(line, sizeof line, "%s %" PRIu64 "\n", boot_id, seq);
	return kmsg_position_write(path, line);
}

int kmsg_position_write(const char *path, const char *text)
{
	char tmp[4200];
	size_t n = strlen(text);
	int fd, r = 0;

	if (str_fmt(tmp, sizeof tmp, "%s.tmp", path) < 0)
		return -ENAMETOOLONG;
	/* Never written through a link planted at the temporary name. */
	if (unlink(tmp) != 0 && errno != ENOENT)
		return -errno;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, text, n) != (ssize_t)n)
		r = errno ? -errno : -ENOSPC;
	if (r == 0 && fdatasync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r != 0)
		unlink(tmp);
	return r;
}
