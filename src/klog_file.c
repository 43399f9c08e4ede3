/*
 * klog_file.c - the kernel's lines of /var/log/kern.log, as rsyslog writes
 * them: the fallback when neither /dev/kmsg nor the journal can be read
 * (klog.h).
 *
 * The file is read like tail -F: from where the last run stopped (the
 * position: its inode, the offset of the first line not yet taken, and a
 * hash of its first bytes, since an inode number alone comes back for
 * another file), to its end, and again at every drain.  Rotation:
 *   - renamed away and a new file made (logrotate's create, Debian's way):
 *     the old one is read to its end first, given one more drain for the
 *     lines rsyslog writes to it before its HUP, then the new one from its
 *     start;
 *   - truncated in place (copytruncate): read again from the start;
 *   - rotated while gputel was stopped: the saved file is found as
 *     kern.log.1 (logrotate's delaycompress keeps it plain) and finished
 *     first.
 * A first start (no position) skips the lines stamped before this boot:
 * earlier boots' faults are history, not news.
 *
 * The lines have no level (rsyslog's default templates drop it): they come
 * at notice, so that NVRM's chatter is not taken for driver warnings; Xid,
 * SXid and fallen-off-the-bus lines are events at any level.  Their time is
 * the syslog time stamp, brought onto CLOCK_MONOTONIC as the kernel's own
 * would be.
 */
#include "klog_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define READ_CHUNK 16384
/* A drain reads at most this much, so that a first start on a big file cannot hold the loop. */
#define DRAIN_BYTES_MAX (4 << 20)
/* How much of a file's start identifies it beside its inode number. */
#define HEAD_LEN 256
/* kern.log's lines carry no level: notice, below what makes an NVRM line a driver warning. */
#define FILE_LEVEL 5
/* A line stamped this little before the boot (RFC 3164 has whole seconds) is still this boot's. */
#define BOOT_SLACK_NS (2 * NS_PER_SEC)

struct klog_file {
	char path[PATH_MAX];
	char shown[PATH_MAX + 8];    /* the file being read, for the log: path, or path.1 */
	int fd;                      /* the file being read: at path, or rotated away from it until finished */
	ino_t ino;
	off_t off;                   /* where the first line not yet taken starts */
	bool discarding;             /* inside a line too long to be one, up to its newline */
	bool rotation_seen;          /* at the end of a file no longer at path: one more drain for late lines */
	int64_t min_wall_ns;         /* this file's lines stamped before it are skipped */
	unsigned int head_len;       /* the bytes of the file's start hashed so far (at most HEAD_LEN) */
	uint64_t head_hash;
	bool have_read;              /* a position to save */
	bool said_reopen;
	struct kmsg_stats st;
	unsigned int delivered;
	char buf[READ_CHUNK];
};

/* ---- the syslog prefix ---- */

static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* n decimal digits at p (all of them digits), as a number; -1 when not. */
static int digits(const char *p, const char *end, int n)
{
	int v = 0;

	if (end - p < n)
		return -1;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), for RFC 3339's UTC arithmetic without the time zone. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* "2026-12-06T20:01:02[.frac](Z|+hh:mm|-hh:mm)": the time in *ns, the position after it; NULL when not. */
static const char *parse_rfc3339(const char *p, const char *end, int64_t *ns)
{
	int y = digits(p, end, 4), mo, d, h, mi, s;
	int64_t frac = 0, off = 0;

	if (y < 1970 || y > 2200 || end - p < 19 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != 't') ||
	    p[13] != ':' || p[16] != ':')
		return NULL;
	mo = digits(p + 5, end, 2);
	d = digits(p + 8, end, 2);
	h = digits(p + 11, end, 2);
	mi = digits(p + 14, end, 2);
	s = digits(p + 17, end, 2);
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
		return NULL;
	p += 19;
	if (p < end && *p == '.') {
		int64_t scale = 100000000;
		int n = 0;

		for (p++; p < end && isdigit((unsigned char)*p); p++, n++)
			if (n < 9) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
		if (n == 0)
			return NULL;
	}
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int oh = digits(p + 1, end, 2), om = end - p >= 6 && p[3] == ':' ? digits(p + 4, end, 2) : -1;

		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return NULL;
		off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return NULL;
	}
	*ns = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) - off) * NS_PER_SEC + frac;
	return p;
}

/* "Dec  6 20:01:02" (or "Dec 06"): local time, in the year that puts it at most a day after now. */
static const char *parse_rfc3164(const char *p, const char *end, int64_t now_ns, int64_t *ns)
{
	int mo = -1, d, h, mi, s;
	struct tm now_tm, tm;
	time_t now = (time_t)(now_ns / NS_PER_SEC), t;

	if (end - p < 15 || p[3] != ' ' || p[6] != ' ' || p[9] != ':' || p[12] != ':')
		return NULL;
	for (int i = 0; i < 12; i++)
		if (memcmp(p, months[i], 3) == 0)
			mo = i;
	d = p[4] == ' ' ? digits(p + 5, end, 1) : digits(p + 4, end, 2);
	h = digits(p + 7, end, 2);
	mi = digits(p + 10, end, 2);
	s = digits(p + 13, end, 2);
	if (mo < 0 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
		return NULL;
	if (!localtime_r(&now, &now_tm))
		return NULL;
	for (int back = 0; back < 2; back++) {
		tm = (struct tm){ .tm_year = now_tm.tm_year - back, .tm_mon = mo, .tm_mday = d, .tm_hour = h,
				  .tm_min = mi, .tm_sec = s, .tm_isdst = -1 };
		t = mktime(&tm);
		if (t == (time_t)-1)
			return NULL;
		/* December's lines read in January are last year's. */
		if ((int64_t)t <= (int64_t)now + 86400)
			break;
	}
	*ns = (int64_t)t * NS_PER_SEC;
	return p + 15;
}

int klog_parse_syslog(const char *line, size_t len, int64_t now_ns, struct klog_syslog_line *out)
{
	const char *p = line, *end = line + len, *host, *tag, *colon;

	p = len > 0 && isdigit((unsigned char)*line) ? parse_rfc3339(p, end, &out->wall_ns)
						     : parse_rfc3164(p, end, now_ns, &out->wall_ns);
	if (!p || p >= end || *p != ' ')
		return -1;
	/* The host: one word (RFC 3164's timestamp may have left a second space). */
	while (p < end && *p == ' ')
		p++;
	host = p;
	while (p < end && *p != ' ')
		p++;
	if (p == host || p >= end)
		return -1;
	tag = ++p;
	/* The tag ends at its colon: "kernel:", "sshd[412]:". */
	colon = memchr(tag, ':', (size_t)(end - tag));
	if (!colon || colon == tag || memchr(tag, ' ', (size_t)(colon - tag)))
		return -1;
	out->kernel = colon - tag == 6 && memcmp(tag, "kernel", 6) == 0;
	p = colon + 1;
	if (p < end && *p == ' ')
		p++;
	/* The kernel's own time stamp, "[ 1234.567890] ", when rsyslog kept it. */
	if (out->kernel && p < end && *p == '[') {
		const char *q = p + 1;

		while (q < end && *q == ' ')
			q++;
		if (q < end && isdigit((unsigned char)*q)) {
			while (q < end && (isdigit((unsigned char)*q) || *q == '.'))
				q++;
			if (q < end && *q == ']') {
				p = q + 1;
				if (p < end && *p == ' ')
					p++;
			}
		}
	}
	out->msg = p;
	out->len = (size_t)(end - p);
	return 0;
}

/* ---- the reader ---- */

/* FNV-1a: a file's first bytes, to tell it from another that got its inode number. */
static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The hash of a file's first up to want bytes; how many there were in *len. */
static uint64_t head_of(int fd, unsigned int want, unsigned int *len)
{
	char buf[HEAD_LEN];
	ssize_t n = pread(fd, buf, want < HEAD_LEN ? want : HEAD_LEN, 0);

	*len = n > 0 ? (unsigned int)n : 0;
	return hash_bytes(buf, *len);
}

/* Starts reading fd (a file at inode ino) at off. */
static void use_file(struct klog_file *f, int fd, ino_t ino, off_t off)
{
	if (f->fd >= 0 && f->fd != fd)
		close(f->fd);
	f->fd = fd;
	f->ino = ino;
	f->off = off;
	f->discarding = false;
	f->rotation_seen = false;
	f->head_hash = head_of(fd, HEAD_LEN, &f->head_len);
}

struct saved_pos {
	uintmax_t ino;
	intmax_t off;
	unsigned int head_len;
	uint64_t head_hash;
};

static int load_position(const char *path, struct saved_pos *p)
{
	char buf[160], tail;
	ssize_t n = file_read_small(path, buf, sizeof buf);

	if (n < 0)
		return (int)n;
	if (sscanf(buf, "%ju %jd %u %" SCNx64 "%c", &p->ino, &p->off, &p->head_len, &p->head_hash, &tail) != 5 ||
	    tail != '\n' || p->off < 0 || p->head_len > HEAD_LEN)
		return -EINVAL;
	return 0;
}

/* Whether the file open at fd is the one the position was saved for, and still holds its offset. */
static bool is_saved_file(int fd, const struct stat *st, const struct saved_pos *p)
{
	unsigned int len;
	uint64_t h;

	if ((uintmax_t)st->st_ino != p->ino || (intmax_t)st->st_size < p->off)
		return false;
	h = head_of(fd, p->head_len, &len);
	return len == p->head_len && h == p->head_hash;
}

static int open_file(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* Where a restart goes on: the saved file at path, or rotated to path.1, or else path from its start. */
static void resume(struct klog_file *f, struct klog_args *a, int fd, const struct stat *st)
{
	struct saved_pos p;
	struct stat st1;
	char old[PATH_MAX + 8];
	int r = load_position(a->position_path, &p), fd1;

	if (r == -ENOENT)
		return;
	if (r != 0) {
		log_warn("events: %s is not a kern.log position (%s); reading this boot's lines of %s", a->position_path,
			 strerror(-r), f->path);
		return;
	}
	if (is_saved_file(fd, st, &p)) {
		f->off = (off_t)p.off;
		a->resumed = true;
		return;
	}
	str_fmt(old, sizeof old, "%s.1", f->path);
	fd1 = open_file(old, &st1);
	if (fd1 >= 0 && is_saved_file(fd1, &st1, &p)) {
		log_info("events: %s was rotated while gputel was stopped: finishing %s first", f->path, old);
		use_file(f, fd1, st1.st_ino, (off_t)p.off);   /* closes fd */
		str_copy(f->shown, old, sizeof f->shown);
		a->resumed = true;
		return;
	}
	if (fd1 >= 0)
		close(fd1);
	/* Rotated more than once while stopped, or replaced: all of the file now there is news. */
	log_warn("events: %s is no longer the file %s was saved for (rotated more than once, or replaced): reading "
		 "it from its start; kernel lines in between may be lost", f->path, a->position_path);
	f->min_wall_ns = INT64_MIN;
}

int klog_file_open_at(void **self, struct klog_args *a, int64_t first_start_min_wall_ns, char *err, size_t errlen)
{
	struct klog_file *f;
	struct stat st;
	int fd = open_file(a->path, &st);

	*self = NULL;
	if (fd < 0) {
		str_fmt(err, errlen, "cannot read %s: %s; %s", a->path, fd == -EINVAL ? "not a regular file" : strerror(-fd),
			fd == -EACCES ? "add the account to group adm (rsyslog writes it 0640 root:adm)"
			: fd == -ENOENT ? "rsyslog is not installed, or writes the kernel's lines elsewhere"
					: "check the path");
		return fd;
	}
	f = calloc(1, sizeof *f);
	if (!f) {
		close(fd);
		str_copy(err, "out of memory", errlen);
		return -ENOMEM;
	}
	f->fd = -1;
	str_copy(f->path, a->path, sizeof f->path);
	str_copy(f->shown, a->path, sizeof f->shown);
	use_file(f, fd, st.st_ino, 0);
	f->min_wall_ns = first_start_min_wall_ns;
	a->resumed = false;
	if (a->position_path)
		resume(f, a, fd, &st);
	if (a->resumed)
		f->min_wall_ns = INT64_MIN;
	*self = f;
	return 0;
}

/* The wall-clock time a line was stamped, moved onto CLOCK_MONOTONIC (kmsg_wall_ns moves it back). */
static int64_t mono_us_of(int64_t wall_ns)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return (wall_ns - (timespec_to_ns(&rt) - timespec_to_ns(&mono))) / 1000;
}

static void take_line(struct klog_file *f, const char *line, size_t len, kmsg_record_fn fn, void *ctx)
{
	struct klog_syslog_line s;
	struct kmsg_record rec;
	struct timespec now;

	if (len == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	if (len > KLOG_FILE_LINE_MAX || klog_parse_syslog(line, len, timespec_to_ns(&now), &s) != 0) {
		f->st.malformed++;
		return;
	}
	if (!s.kernel || s.wall_ns < f->min_wall_ns) {
		f->st.skipped++;
		return;
	}
	rec = (struct kmsg_record){ .level = FILE_LEVEL, .mono_us = mono_us_of(s.wall_ns), .msg = s.msg, .len = s.len,
				    .no_seq = true };
	f->st.records++;
	f->delivered++;
	fn(ctx, &rec);
}

/*
 * The complete lines among the n bytes read at f->off, taken in order
 * until max_records are delivered; f->off moves past each.  Returns the
 * bytes taken (0: no newline in them).
 */
static size_t take_lines(struct klog_file *f, size_t n, unsigned int max_records, kmsg_record_fn fn, void *ctx)
{
	size_t done = 0;

	while (done < n && f->delivered < max_records) {
		const char *line = f->buf + done, *nl = memchr(line, '\n', n - done);
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - line);
		if (f->discarding) {
			f->discarding = false;
			f->st.malformed++;
		} else {
			take_line(f, line, len, fn, ctx);
		}
		done += len + 1;
		f->off += (off_t)(len + 1);
	}
	return done;
}

/*
 * At the end of the file being read: has it been rotated (a new file at
 * path) or truncated?  Returns 1 when there is a file to read on, 0 when
 * the end is just the end for now.
 */
static int at_end(struct klog_file *f, kmsg_record_fn fn, void *ctx)
{
	struct stat cur, named;
	int fd;

	if (fstat(f->fd, &cur) != 0)
		return 0;
	/* Between the rename and the new file, or no new file yet: wait with the old one. */
	if (stat(f->path, &named) != 0)
		return 0;
	if (named.st_ino == f->ino && named.st_dev == cur.st_dev) {
		if (cur.st_size >= f->off)
			return 0;
		log_info("events: %s was truncated: reading it again from its start", f->path);
		use_file(f, f->fd, f->ino, 0);
		return 1;
	}
	/* Renamed away: rsyslog writes to it until its HUP, so it gets one more drain before it is left. */
	if (!f->rotation_seen) {
		f->rotation_seen = true;
		return 0;
	}
	fd = open_file(f->path, &named);
	if (fd < 0) {
		log_once(&f->said_reopen, LOG_WARN, "events: %s was rotated, and the new one cannot be read: %s; "
			 "GPU events from the kernel wait until it can (it must stay readable by group adm)",
			 f->path, strerror(-fd));
		return 0;
	}
	f->said_reopen = false;
	/* A last line without its newline (rsyslog stopped mid-write): what there is of it. */
	if (cur.st_size > f->off) {
		size_t left = (size_t)(cur.st_size - f->off);
		ssize_t n = left <= KLOG_FILE_LINE_MAX ? pread(f->fd, f->buf, left, f->off) : -1;

		if (n > 0 && !f->discarding)
			take_line(f, f->buf, (size_t)n, fn, ctx);
		else
			f->st.malformed++;
	}
	use_file(f, fd, named.st_ino, 0);
	str_copy(f->shown, f->path, sizeof f->shown);
	/* Every line of the new file is newer than the last one read. */
	f->min_wall_ns = INT64_MIN;
	return 1;
}

static int file_drain(void *self, unsigned int max_records, kmsg_record_fn fn, void *ctx)
{
	struct klog_file *f = self;
	size_t budget = DRAIN_BYTES_MAX;

	f->delivered = 0;
	while (f->delivered < max_records && budget > 0) {
		ssize_t n = pread(f->fd, f->buf, sizeof f->buf, f->off);
		size_t taken;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if (n > 0) {
			f->have_read = true;
			if (f->head_len < HEAD_LEN)
				f->head_hash = head_of(f->fd, HEAD_LEN, &f->head_len);
			taken = take_lines(f, (size_t)n, max_records, fn, ctx);
			if (taken > 0) {
				/* Lines still come to a file renamed away: its grace starts again. */
				f->rotation_seen = false;
				continue;
			}
			if (f->delivered >= max_records)
				break;
			/* No newline in a whole chunk: a line too long to be one, skipped to its end. */
			if ((size_t)n == sizeof f->buf || f->discarding) {
				f->discarding = true;
				f->rotation_seen = false;
				f->off += n;
				continue;
			}
			/* A line still being written: the end for now, unless the file was rotated. */
		}
		if (at_end(f, fn, ctx) <= 0)
			break;
	}
	return (int)f->delivered;
}

static int file_fd(const void *self)
{
	(void)self;
	return -1;
}

static const struct kmsg_stats *file_stats(const void *self)
{
	return &((const struct klog_file *)self)->st;
}

static bool file_position(const void *self, char *buf, size_t n)
{
	const struct klog_file *f = self;

	if (!f->have_read)
		return false;
	snprintf(buf, n, "%ju %jd %u %016" PRIx64 "\n", (uintmax_t)f->ino, (intmax_t)f->off, f->head_len, f->head_hash);
	return true;
}

static void file_close(void *self)
{
	struct klog_file *f = self;

	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

/* This boot's start on the wall clock: the lines before it are an earlier boot's. */
static int64_t boot_wall_ns(void)
{
	struct timespec rt, boot;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	return timespec_to_ns(&rt) - timespec_to_ns(&boot);
}

static int file_open(void **self, struct klog_args *a, char *err, size_t errlen)
{
	return klog_file_open_at(self, a, boot_wall_ns() - BOOT_SLACK_NS, err, errlen);
}

const struct klog_ops klog_file_ops = {
	.name = "kern.log",
	.position_file = "kern-log.position",
	.open = file_open,
	.fd = file_fd,
	.drain = file_drain,
	.stats = file_stats,
	.position = file_position,
	.close = file_close,
};
