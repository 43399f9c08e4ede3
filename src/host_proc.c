/*
 * host_proc.c - CPU utilisation from /proc/stat and memory from
 * /proc/meminfo.
 *
 * The parsers are pure functions of the text so that unit tests and the
 * fuzzer reach them directly; this file needs nothing beyond util.c.
 */
#include "host_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Index order of the fields on a "cpu" line, oldest kernels first. */
enum {
	ST_USER, ST_NICE, ST_SYSTEM, ST_IDLE, ST_IOWAIT, ST_IRQ, ST_SOFTIRQ,
	ST_STEAL, ST_GUEST, ST_GUEST_NICE, ST__MAX
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Parses the decimal digits at *pp into *out and advances *pp; refuses
 * anything that is not a digit and values that would not fit.
 */
static int parse_u64(const char **pp, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*pp = p;
	*out = v;
	return 0;
}

static const char *next_line(const char *p)
{
	const char *nl = strchr(p, '\n');

	return nl ? nl + 1 : p + strlen(p);
}

int proc_stat_parse(const char *text, struct cpu_times *out)
{
	uint64_t f[ST__MAX] = {0};
	const char *p = text;
	int n = 0;

	/* The aggregate line is first, but "cpuN" lines must never match. */
	while (*p && !(p[0] == 'c' && p[1] == 'p' && p[2] == 'u' && is_blank(p[3])))
		p = next_line(p);
	if (!*p)
		return -1;
	p += 3;
	while (n < ST__MAX) {
		while (is_blank(*p))
			p++;
		if (*p == '\n' || *p == '\r' || *p == '\0')
			break;
		if (parse_u64(&p, &f[n]) != 0)
			return -1;
		n++;
	}
	/* Before 2.5.41 a line had four fields; anything shorter is not /proc/stat. */
	if (n < 4)
		return -1;
	/* guest and guest_nice are already inside user and nice. */
	out->busy = f[ST_USER] + f[ST_NICE] + f[ST_SYSTEM] + f[ST_IRQ] +
		    f[ST_SOFTIRQ] + f[ST_STEAL];
	out->idle = f[ST_IDLE] + f[ST_IOWAIT];
	return 0;
}

int64_t cpu_util_cpct(const struct cpu_times *prev, const struct cpu_times *cur)
{
	/* iowait can go down (proc_stat(5)), dragging idle with it: clamp as htop does. */
	uint64_t busy = cur->busy > prev->busy ? cur->busy - prev->busy : 0;
	uint64_t idle = cur->idle > prev->idle ? cur->idle - prev->idle : 0;
	uint64_t total;

	/* Scaling both keeps the ratio and keeps busy * 10000 from overflowing. */
	while (busy > UINT64_MAX / 20000 || idle > UINT64_MAX / 20000) {
		busy >>= 1;
		idle >>= 1;
	}
	total = busy + idle;
	if (total == 0)
		return -1;
	return (int64_t)((busy * 10000 + total / 2) / total);
}

enum {
	MI_TOTAL, MI_FREE, MI_AVAILABLE, MI_BUFFERS, MI_CACHED, MI_SRECLAIMABLE,
	MI_SHMEM, MI__COUNT
};

static const struct {
	const char *key;
	size_t len;
} mi_keys[MI__COUNT] = {
	[MI_TOTAL] = {"MemTotal", 8},
	[MI_FREE] = {"MemFree", 7},
	[MI_AVAILABLE] = {"MemAvailable", 12},
	[MI_BUFFERS] = {"Buffers", 7},
	[MI_CACHED] = {"Cached", 6},
	[MI_SRECLAIMABLE] = {"SReclaimable", 12},
	[MI_SHMEM] = {"Shmem", 5},
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int proc_meminfo_parse(const char *text, struct meminfo *out)
{
	uint64_t v[MI__COUNT] = {0};
	unsigned int seen = 0;
	const char *p;

	for (p = text; *p; p = next_line(p)) {
		const char *colon = p;
		const char *q;
		uint64_t kb;
		size_t len;
		int k;

		while (*colon && *colon != ':' && *colon != '\n')
			colon++;
		if (*colon != ':')
			continue;
		len = (size_t)(colon - p);
		for (k = 0; k < MI__COUNT; k++)
			if (mi_keys[k].len == len && memcmp(p, mi_keys[k].key, len) == 0)
				break;
		if (k == MI__COUNT)
			continue;
		q = colon + 1;
		while (is_blank(*q))
			q++;
		/* Every key read here is in kB (KiB); a value too big to scale is junk. */
		if (parse_u64(&q, &kb) != 0 || kb > UINT64_MAX / 1024)
			continue;
		v[k] = kb * 1024;
		seen |= 1u << k;
		/* MemTotal and MemAvailable lead the file since 3.14: stop there. */
		if ((seen & (1u << MI_TOTAL)) && (seen & (1u << MI_AVAILABLE)))
			break;
	}
	if (!(seen & (1u << MI_TOTAL)))
		return -1;
	out->total_bytes = v[MI_TOTAL];
	if (seen & (1u << MI_AVAILABLE)) {
		out->available_bytes = v[MI_AVAILABLE];
	} else {
		/* Kernels before 3.14 have no MemAvailable: the estimate htop used. */
		uint64_t a = sat_add(sat_add(v[MI_FREE], v[MI_BUFFERS]),
				     sat_add(v[MI_CACHED], v[MI_SRECLAIMABLE]));

		out->available_bytes = a > v[MI_SHMEM] ? a - v[MI_SHMEM] : 0;
	}
	return 0;
}

static int open_in(const char *root, const char *name, int *err)
{
	char path[HOST_PATH_MAX];
	int fd;

	if (str_fmt(path, sizeof path, "%s/%s", root, name) < 0) {
		*err = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	*err = fd < 0 ? errno : 0;
	return fd;
}

/*
 * Reads fd into buf; when the buffer filled up, drops the last line, which
 * may have been cut in the middle of a number.
 */
static int read_whole_lines(int fd, char *buf, size_t n)
{
	ssize_t r = fd_reread(fd, buf, n);

	if (r < 0)
		return -1;
	if ((size_t)r == n - 1) {
		char *nl = strrchr(buf, '\n');

		if (nl)
			nl[1] = '\0';
	}
	return 0;
}

void proc_src_open(struct proc_src *p, const char *procfs_root)
{
	p->have_prev = 0;
	p->stat_fd = open_in(procfs_root, "stat", &p->stat_open_err);
	p->meminfo_fd = open_in(procfs_root, "meminfo", &p->meminfo_open_err);
	/* The baseline, so that the first tick already has a utilisation. */
	if (p->stat_fd >= 0 &&
	    read_whole_lines(p->stat_fd, p->stat_buf, sizeof p->stat_buf) == 0 &&
	    proc_stat_parse(p->stat_buf, &p->prev) == 0)
		p->have_prev = 1;
}

void proc_src_close(struct proc_src *p)
{
	if (p->stat_fd >= 0)
		close(p->stat_fd);
	if (p->meminfo_fd >= 0)
		close(p->meminfo_fd);
	p->stat_fd = p->meminfo_fd = -1;
}

static int missing(int err)
{
	return err == ENOENT || err == ENOTDIR;
}

static int64_t clamp_i64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

int proc_src_sample(struct proc_src *p, struct host_reading *r)
{
	struct cpu_times cur;
	struct meminfo mi;
	int fails = 0;

	if (p->stat_fd < 0) {
		if (!missing(p->stat_open_err)) {
			r->st[HOST_F_CPU_UTIL_CPCT] = VAL_ERROR;
			fails++;
		}
	} else if (read_whole_lines(p->stat_fd, p->stat_buf, sizeof p->stat_buf) != 0 ||
		   proc_stat_parse(p->stat_buf, &cur) != 0) {
		r->st[HOST_F_CPU_UTIL_CPCT] = VAL_ERROR;
		fails++;
	} else if (!p->have_prev) {
		p->prev = cur;
		p->have_prev = 1;
	} else {
		int64_t cpct = cpu_util_cpct(&p->prev, &cur);

		/* No tick elapsed: keep the old baseline so the next delta is whole. */
		if (cpct >= 0) {
			HOST_SET(r, HOST_F_CPU_UTIL_CPCT, cpct);
			p->prev = cur;
		}
	}

	if (p->meminfo_fd < 0) {
		if (!missing(p->meminfo_open_err)) {
			r->st[HOST_F_MEM_TOTAL_BYTES] = VAL_ERROR;
			r->st[HOST_F_MEM_USED_BYTES] = VAL_ERROR;
			fails++;
		}
	} else if (read_whole_lines(p->meminfo_fd, p->meminfo_buf, sizeof p->meminfo_buf) != 0 ||
		   proc_meminfo_parse(p->meminfo_buf, &mi) != 0) {
		r->st[HOST_F_MEM_TOTAL_BYTES] = VAL_ERROR;
		r->st[HOST_F_MEM_USED_BYTES] = VAL_ERROR;
		fails++;
	} else {
		uint64_t used = mi.total_bytes > mi.available_bytes ?
			mi.total_bytes - mi.available_bytes : 0;

		HOST_SET(r, HOST_F_MEM_TOTAL_BYTES, clamp_i64(mi.total_bytes));
		HOST_SET(r, HOST_F_MEM_USED_BYTES, clamp_i64(used));
	}
	return fails;
}
