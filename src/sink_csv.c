/* sink_csv.c - see sink_csv.h. */
#include "sink_csv.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fdlimit.h"
#include "log.h"
#include "outbuf.h"
#include "pipeline.h"
#include "prom.h"
#include "util.h"

enum col_kind {
	COL_TIMESTAMP,
	COL_SEQ,
	COL_GPU_INDEX,
	COL_GPU_UUID,
	COL_GPU_NAME,
	COL_GPU_PCI,
	COL_GPU_STATUS,
	COL_BACKEND,
	COL_GPU,          /* a gpu_field, named and scaled by its row in fields.c */
	COL_HOST,         /* a host_field, likewise */
	COL_SYSTEM_TOTAL,
	COL_RAPL_STATUS,
	COL_GPU_SAMPLE_MS,
	COL_HOST_SAMPLE_MS,
	COL_GPU_SAMPLE_OK,
	COL_HOST_SAMPLE_OK,
};

struct csv_col {
	enum col_kind kind;
	int field;
	const char *name; /* for columns that are not a field */
};

#define GPU(f) { COL_GPU, f, NULL }
#define HOST(f) { COL_HOST, f, NULL }

/*
 * The columns of released versions, in their order: the guide's 14 first,
 * with its names, so scripts that read those files by position keep
 * working, then gputel's.  A field added to fields.c since is appended
 * after these (columns()), so positions hold without touching this list.
 */
static const struct csv_col released[] = {
	{ COL_TIMESTAMP, 0, "timestamp" },
	GPU(GPU_F_POWER_MW),
	GPU(GPU_F_TEMP_MC),
	GPU(GPU_F_UTIL_GPU_PCT),
	GPU(GPU_F_UTIL_MEM_PCT),
	GPU(GPU_F_MEM_USED_BYTES),
	GPU(GPU_F_FAN_PCT),
	HOST(HOST_F_CPU_PKG_POWER_MW),
	HOST(HOST_F_CPU_PKG_TEMP_MC),
	HOST(HOST_F_CPU_CORE_MAX_MC),
	HOST(HOST_F_T_SENSOR_MC),
	HOST(HOST_F_CHIPSET_MC),
	HOST(HOST_F_VRM_MC),
	{ COL_SYSTEM_TOTAL, 0, "system_total_w" },
	/* gputel's additions */
	{ COL_SEQ, 0, "seq" },
	{ COL_GPU_INDEX, 0, "gpu_index" },
	{ COL_GPU_UUID, 0, "gpu_uuid" },
	{ COL_GPU_NAME, 0, "gpu_name" },
	{ COL_GPU_PCI, 0, "gpu_pci_bus_id" },
	{ COL_GPU_STATUS, 0, "gpu_status" },
	{ COL_BACKEND, 0, "backend" },
	GPU(GPU_F_POWER_LIMIT_MW),
	GPU(GPU_F_ENERGY_MJ),
	GPU(GPU_F_MEM_TOTAL_BYTES),
	GPU(GPU_F_CLOCK_SM_MHZ),
	GPU(GPU_F_CLOCK_MEM_MHZ),
	GPU(GPU_F_PSTATE),
	GPU(GPU_F_CLOCK_EVENT_MASK),
	GPU(GPU_F_ENC_UTIL_PCT),
	GPU(GPU_F_DEC_UTIL_PCT),
	GPU(GPU_F_ECC_CORR_VOLATILE),
	GPU(GPU_F_ECC_UNCORR_VOLATILE),
	GPU(GPU_F_REMAP_CORR_ROWS),
	GPU(GPU_F_REMAP_UNCORR_ROWS),
	GPU(GPU_F_REMAP_PENDING),
	GPU(GPU_F_REMAP_FAILURE),
	HOST(HOST_F_CPU_UTIL_CPCT),
	HOST(HOST_F_MEM_USED_BYTES),
	HOST(HOST_F_MEM_TOTAL_BYTES),
	HOST(HOST_F_DRAM_POWER_MW),
	HOST(HOST_F_CPU_PKG_ENERGY_MJ),
	{ COL_RAPL_STATUS, 0, "rapl_status" },
	{ COL_GPU_SAMPLE_MS, 0, "gpu_sample_ms" },
	{ COL_HOST_SAMPLE_MS, 0, "host_sample_ms" },
	{ COL_GPU_SAMPLE_OK, 0, "gpu_sample_ok" },
	{ COL_HOST_SAMPLE_OK, 0, "host_sample_ok" },
	GPU(GPU_F_XID_TOTAL),
};
#undef GPU
#undef HOST

#define CSV_COLS_MAX (ARRAY_SIZE(released) + GPU_F__COUNT + HOST_F__COUNT)

/* The released columns, then every field of fields.c that is not among them. */
static struct {
	pthread_once_t once;
	size_t n;
	struct csv_col c[CSV_COLS_MAX];
} layout = { .once = PTHREAD_ONCE_INIT };

static bool released_has(enum col_kind kind, int field)
{
	for (size_t i = 0; i < ARRAY_SIZE(released); i++)
		if (released[i].kind == kind && released[i].field == field)
			return true;
	return false;
}

static void layout_build(void)
{
	memcpy(layout.c, released, sizeof released);
	layout.n = ARRAY_SIZE(released);
	for (int f = 0; f < GPU_F__COUNT; f++)
		if (!released_has(COL_GPU, f))
			layout.c[layout.n++] = (struct csv_col){ COL_GPU, f, NULL };
	for (int f = 0; f < HOST_F__COUNT; f++)
		if (!released_has(COL_HOST, f))
			layout.c[layout.n++] = (struct csv_col){ COL_HOST, f, NULL };
}

static const struct csv_col *columns(size_t *n)
{
	pthread_once(&layout.once, layout_build);
	*n = layout.n;
	return layout.c;
}

static const char *col_name(const struct csv_col *c)
{
	if (c->kind == COL_GPU)
		return gpu_fields[c->field].csv.name;
	if (c->kind == COL_HOST)
		return host_fields[c->field].csv.name;
	return c->name;
}

size_t csv_column_count(void)
{
	size_t n;

	columns(&n);
	return n;
}

const char *csv_column_name(size_t i)
{
	size_t n;
	const struct csv_col *cols = columns(&n);

	return i < n ? col_name(&cols[i]) : NULL;
}

/* ---- formatting (integers only; no allocation) ---- */

/* Quotes a text cell when it holds a comma, quote or line break (RFC 4180). */
static void put_text(struct outbuf *o, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		ob_puts(o, s);
		return;
	}
	ob_put(o, "\"", 1);
	for (; *s; s++) {
		if (*s == '"')
			ob_put(o, "\"", 1);
		ob_put(o, s, 1);
	}
	ob_put(o, "\"", 1);
}

/* CPU package + DRAM + every GPU: empty when any part of it is unknown. */
static bool system_total_mw(const struct snapshot *snap, int64_t *out)
{
	const struct host_reading *h = &snap->host;
	int64_t sum;

	if (h->st[HOST_F_CPU_PKG_POWER_MW] != VAL_OK)
		return false;
	sum = h->val[HOST_F_CPU_PKG_POWER_MW];
	if (h->st[HOST_F_DRAM_POWER_MW] == VAL_OK)
		sum += h->val[HOST_F_DRAM_POWER_MW];
	for (unsigned int i = 0; i < snap->n_gpus; i++) {
		if (snap->gpu[i].st[GPU_F_POWER_MW] != VAL_OK)
			return false;
		sum += snap->gpu[i].val[GPU_F_POWER_MW];
	}
	*out = sum;
	return true;
}

static const char *const rapl_names[] = {
	[RAPL_ABSENT] = "absent", [RAPL_OK] = "ok", [RAPL_UNREADABLE] = "unreadable",
};

/* Prints one field value, or nothing when it is not VAL_OK. */
static void put_field(struct outbuf *o, const struct field_desc *d, int64_t v, uint8_t st)
{
	char tmp[48];

	if (st != VAL_OK)
		return;
	if (d->hex) {
		static const char digits[] = "0123456789abcdef";
		uint64_t u = (uint64_t)v;

		/* 0x%016llx by hand: snprintf would cost more than the rest of the row. */
		tmp[0] = '0';
		tmp[1] = 'x';
		for (int k = 17; k >= 2; k--, u >>= 4)
			tmp[k] = digits[u & 0xf];
		ob_put(o, tmp, 18);
		return;
	}
	if (d->div == 1 && d->decimals == 0 && v >= 0) {
		ob_put(o, tmp, fmt_u64(tmp, (uint64_t)v));
		return;
	}
	ob_put(o, tmp, fmt_scaled(tmp, sizeof tmp, v, d->div, d->decimals));
}

static void put_cell(struct outbuf *o, const struct csv_col *c, const struct snapshot *snap,
		     const struct gpu_reading *g, const char *ts, bool have_total,
		     int64_t total_mw)
{
	char tmp[32];
	int64_t v;

	switch (c->kind) {
	case COL_TIMESTAMP:
		ob_puts(o, ts);
		break;
	case COL_SEQ:
		ob_put(o, tmp, fmt_u64(tmp, snap->seq));
		break;
	case COL_GPU_INDEX:
		if (g)
			ob_put(o, tmp, fmt_u64(tmp, g->id.index));
		break;
	case COL_GPU_UUID:
		if (g)
			put_text(o, g->id.uuid);
		break;
	case COL_GPU_NAME:
		if (g)
			put_text(o, g->id.name);
		break;
	case COL_GPU_PCI:
		if (g)
			put_text(o, g->id.pci_bus_id);
		break;
	case COL_GPU_STATUS:
		ob_puts(o, g ? gpu_health_name(g->health) : "none");
		break;
	case COL_BACKEND:
		ob_puts(o, snap->backend ? snap->backend : "none");
		break;
	case COL_GPU:
		if (g)
			put_field(o, &gpu_fields[c->field].csv, g->val[c->field], g->st[c->field]);
		break;
	case COL_HOST:
		put_field(o, &host_fields[c->field].csv, snap->host.val[c->field],
			  snap->host.st[c->field]);
		break;
	case COL_SYSTEM_TOTAL:
		if (have_total)
			ob_put_scaled(o, total_mw, 1000, 2);
		break;
	case COL_RAPL_STATUS:
		v = snap->host.rapl;
		ob_puts(o, v >= 0 && v <= RAPL_UNREADABLE ? rapl_names[v] : "absent");
		break;
	case COL_GPU_SAMPLE_MS:
		ob_put_scaled(o, snap->gpu_src.duration_ns, 1000000, 3);
		break;
	case COL_HOST_SAMPLE_MS:
		ob_put_scaled(o, snap->host_src.duration_ns, 1000000, 3);
		break;
	case COL_GPU_SAMPLE_OK:
		ob_puts(o, snap->gpu_src.ok ? "1" : "0");
		break;
	case COL_HOST_SAMPLE_OK:
		ob_puts(o, snap->host_src.ok ? "1" : "0");
		break;
	}
}

size_t csv_header(char *buf, size_t cap)
{
	struct outbuf o = { buf, 0, cap, false };
	size_t n_cols;
	const struct csv_col *cols = columns(&n_cols);

	for (size_t i = 0; i < n_cols; i++) {
		if (i)
			ob_put(&o, ",", 1);
		ob_puts(&o, col_name(&cols[i]));
	}
	ob_put(&o, "\n", 1);
	return o.full ? 0 : o.len;
}

/* Columns whose cell is the same on every row of a tick. */
static bool col_is_per_tick(const struct csv_col *c)
{
	switch (c->kind) {
	case COL_GPU_INDEX:
	case COL_GPU_UUID:
	case COL_GPU_NAME:
	case COL_GPU_PCI:
	case COL_GPU_STATUS:
	case COL_GPU:
		return false;
	default:
		return true;
	}
}

/* Whether GPU g's rows are wanted (by NVML index). */
static bool selected(const struct gpu_reading *g, uint64_t gpus)
{
	return g->id.index < 64 && (gpus >> g->id.index) & 1;
}

size_t csv_format_rows(const struct snapshot *snap, uint64_t gpus, char *buf, size_t cap, uint64_t *n_rows)
{
	struct outbuf o = { buf, 0, cap, false };
	/* Per-tick cells are formatted once, then copied into every row. */
	char tick_cells[1024];
	struct outbuf t = { tick_cells, 0, sizeof tick_cells, false };
	size_t n_cols;
	const struct csv_col *cols = columns(&n_cols);
	uint16_t off[CSV_COLS_MAX], len[CSV_COLS_MAX];
	char ts[32];
	int64_t total_mw = 0;
	bool have_total = system_total_mw(snap, &total_mw);
	uint64_t rows = 0;
	bool host_only = true;

	for (unsigned int r = 0; r < snap->n_gpus && host_only; r++)
		host_only = !selected(&snap->gpu[r], gpus);
	fmt_iso8601_ms(ts, &snap->wall);
	for (size_t i = 0; i < n_cols; i++) {
		off[i] = (uint16_t)t.len;
		if (col_is_per_tick(&cols[i]))
			put_cell(&t, &cols[i], snap, NULL, ts, have_total, total_mw);
		len[i] = (uint16_t)(t.len - off[i]);
	}
	if (t.full)
		return 0;
	/* One row per wanted GPU; one host row when there is none (no backend, none wanted). */
	for (unsigned int r = 0; r < (host_only ? 1 : snap->n_gpus); r++) {
		const struct gpu_reading *g = host_only ? NULL : &snap->gpu[r];

		if (g && !selected(g, gpus))
			continue;
		rows++;
		for (size_t i = 0; i < n_cols; i++) {
			if (i)
				ob_put(&o, ",", 1);
			if (col_is_per_tick(&cols[i]))
				ob_put(&o, tick_cells + off[i], len[i]);
			else
				put_cell(&o, &cols[i], snap, g, ts, have_total, total_mw);
		}
		ob_put(&o, "\n", 1);
	}
	if (n_rows)
		*n_rows = rows;
	return o.full ? 0 : o.len;
}

/* ---- the file ---- */

static int open_path(struct csv_file *c)
{
	return fdlimit_open(c->path, O_WRONLY | O_CREAT | O_APPEND, 0640);
}

/*
 * The end of the last whole row within p[0..n), which starts at a row
 * boundary; *rows gets the number of rows before it.  A line break inside
 * a quoted cell (a GPU name may hold one) does not end a row.
 */
static size_t whole_rows_end(const char *p, size_t n, uint64_t *rows)
{
	size_t end = 0;
	bool quoted = false;

	*rows = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"')
			quoted = !quoted;
		else if (p[i] == '\n' && !quoted) {
			end = i + 1;
			(*rows)++;
		}
	}
	return end;
}

/*
 * Adds bytes holding `rows` data rows to the backlog; false when it is full
 * (the caller drops them).
 */
static bool backlog_add(struct csv_file *c, const char *p, size_t n, uint64_t rows)
{
	if (n > CSV_BACKLOG_MAX - c->backlog_len)
		return false;
	memcpy(c->backlog + c->backlog_len, p, n);
	c->backlog_len += n;
	c->backlog_rows += rows;
	return true;
}

/* A header that could not be written goes in front of the rows waiting, once. */
static void backlog_add_header(struct csv_file *c, const char *hdr, size_t n)
{
	if (c->backlog_head > 0 || n > CSV_BACKLOG_MAX - c->backlog_len)
		return;
	memmove(c->backlog + n, c->backlog, c->backlog_len);
	memcpy(c->backlog, hdr, n);
	c->backlog_len += n;
	c->backlog_head = n;
}

/*
 * Remembers rows that reached the file.  When full, the oldest batches go
 * until half the space is free, in one memmove: shifting the buffer on
 * every tick would cost more than the rest of the tick.
 */
static void recent_add(struct csv_file *c, const char *p, size_t n)
{
	if (n > CSV_RECENT_MAX / 2)
		return;
	if (c->recent_len + n > CSV_RECENT_MAX || c->recent_batches == CSV_RECENT_BATCHES) {
		unsigned int k = 0;
		size_t drop;

		while (k < c->recent_batches &&
		       (c->recent_len - c->recent_ends[k] + n > CSV_RECENT_MAX / 2 ||
			c->recent_batches - k > CSV_RECENT_BATCHES / 2))
			k++;
		drop = k ? c->recent_ends[k - 1] : 0;
		memmove(c->recent, c->recent + drop, c->recent_len - drop);
		c->recent_len -= drop;
		c->recent_batches -= k;
		for (unsigned int i = 0; i < c->recent_batches; i++)
			c->recent_ends[i] = c->recent_ends[i + k] - drop;
	}
	memcpy(c->recent + c->recent_len, p, n);
	c->recent_len += n;
	c->recent_ends[c->recent_batches++] = c->recent_len;
}

/*
 * One write(2) of whole rows (p starts at a row boundary) at the end of the
 * file, which c->expect_size tracks.  When the disk takes only part of it,
 * the whole rows it took stay and *kept (when not NULL) gets their length;
 * the torn row after them is cut off at once with ftruncate, and its bytes
 * stay with the caller, to go out whole with the next write.  Cutting back
 * rather than finishing the row once space returns keeps the file a valid
 * CSV at every moment: a reader (tail -f, logrotate's copy) never sees half
 * a row, and neither does anyone if the agent is killed before space
 * returns.  Returns 0 when all n bytes are on disk, else -errno (-ENOSPC
 * for a short write).
 */
static int write_rows(struct csv_file *c, const char *p, size_t n, size_t *kept)
{
	ssize_t w;
	size_t whole;
	uint64_t rows;

	if (kept)
		*kept = 0;
	if (n == 0)
		return 0;
	do
		w = write(c->fd, p, n);
	while (w < 0 && errno == EINTR);
	/* A pipe takes what it has room for: the rest follows; nothing can be cut back. */
	while (c->stream && w > 0 && (size_t)w < n) {
		p += w;
		n -= (size_t)w;
		do
			w = write(c->fd, p, n);
		while (w < 0 && errno == EINTR);
	}
	if (w == (ssize_t)n) {
		c->expect_size += (off_t)n;
		if (kept)
			*kept = n;
		return 0;
	}
	if (w < 0)
		return -errno;
	whole = c->stream ? 0 : whole_rows_end(p, (size_t)w, &rows);
	/* The file ended at expect_size before this write: keep the whole rows, cut the torn one. */
	if ((size_t)w > whole && ftruncate(c->fd, c->expect_size + (off_t)whole) != 0) {
		log_warn("csv: cannot cut a partial row off %s: %s", c->path, strerror(errno));
		whole = (size_t)w;   /* it is in the file: not to be written twice */
	}
	c->expect_size += (off_t)whole;
	if (kept)
		*kept = whole;
	return -ENOSPC;
}

/* All of p or none of it: a short write is cut back to where it began. */
static int write_whole(struct csv_file *c, const char *p, size_t n)
{
	size_t kept;
	int r = write_rows(c, p, n, &kept);

	if (r != 0 && kept > 0) {
		if (ftruncate(c->fd, c->expect_size - (off_t)kept) == 0)
			c->expect_size -= (off_t)kept;
		else
			log_warn("csv: cannot cut rows off %s: %s", c->path, strerror(errno));
	}
	return r;
}

static int alloc_buffers(struct csv_file *c, char *err, size_t errlen)
{
	c->batch = malloc(CSV_BATCH_MAX);
	c->backlog = malloc(CSV_BACKLOG_MAX);
	c->recent = malloc(CSV_RECENT_MAX);
	if (c->batch && c->backlog && c->recent)
		return 0;
	str_copy(err, "out of memory", errlen);
	csv_close(c);
	return -ENOMEM;
}

/* --out-dir -: rows to standard output, for a pipe; nothing to truncate or reopen. */
static int open_stdout(struct csv_file *c, char *err, size_t errlen)
{
	size_t n;
	int r = alloc_buffers(c, err, errlen);

	if (r != 0)
		return r;
	str_copy(c->path, "standard output", sizeof c->path);
	c->stream = true;
	c->fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	if (c->fd < 0) {
		r = -errno;
		str_fmt(err, errlen, "cannot write to standard output: %s", strerror(-r));
		csv_close(c);
		return r;
	}
	n = csv_header(c->batch, CSV_BATCH_MAX);
	if (write_whole(c, c->batch, n) != 0)
		backlog_add_header(c, c->batch, n);
	return 0;
}

int csv_open(struct csv_file *c, const char *dir, time_t start, char *err, size_t errlen)
{
	char stamp[24];
	struct stat st;

	memset(c, 0, sizeof *c);
	c->fd = -1;
	if (strcmp(dir, CSV_STDOUT) == 0)
		return open_stdout(c, err, errlen);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		str_fmt(err, errlen, "out-dir %s does not exist or is not a directory; create it or pass --out-dir", dir);
		return -ENOENT;
	}
	fmt_compact_utc(stamp, start);
	if (str_fmt(c->path, sizeof c->path, "%s/gpu_telemetry_%s.csv", dir, stamp) < 0) {
		str_fmt(err, errlen, "out-dir path is too long; pass a shorter --out-dir");
		return -ENAMETOOLONG;
	}
	if (alloc_buffers(c, err, errlen) != 0)
		return -ENOMEM;
	c->fd = open_path(c);
	if (c->fd < 0) {
		int e = errno;

		if (e == EMFILE || e == ENFILE)
			str_fmt(err, errlen, "cannot open a file in out-dir %s: %s (the limit is %lu); raise LimitNOFILE in the service unit or ulimit -n, or close connections to the exporter",
				dir, strerror(e), fdlimit_soft());
		else
			str_fmt(err, errlen, "cannot write in out-dir %s: %s; make it writable for this user or pass another --out-dir",
				dir, strerror(e));
		csv_close(c);
		return -e;
	}
	if (fstat(c->fd, &st) == 0) {
		size_t n = st.st_size == 0 ? csv_header(c->batch, CSV_BATCH_MAX) : 0;

		c->expect_size = st.st_size;
		if (n && write_whole(c, c->batch, n) != 0)
			backlog_add_header(c, c->batch, n);
	}
	return 0;
}

/* Tries to get the backlog on disk.  Returns 0 when it is empty. */
static int flush_backlog(struct csv_file *c)
{
	struct stat st;
	size_t kept;
	uint64_t rows;
	int r;

	if (c->backlog_len == 0)
		return 0;
	if (c->fd < 0)
		return -EBADF;
	/* A truncated file (copytruncate) needs its header and the rows that may
	 * have fallen between logrotate's copy and its truncate. */
	if (c->stream)
		st.st_size = c->expect_size;
	else if (fstat(c->fd, &st) != 0)
		return -errno;
	if (st.st_size < c->expect_size) {
		char hdr[2048];
		size_t hn = csv_header(hdr, sizeof hdr);

		c->expect_size = st.st_size;
		log_info("csv: %s was truncated (copytruncate); writing the header and the last %u ticks again",
			 c->path, c->recent_batches);
		r = write_whole(c, hdr, hn);
		if (r == 0)
			r = write_whole(c, c->recent, c->recent_len);
		if (r != 0)
			return r;
	}
	/* Where O_APPEND will put the rows (more than we wrote if someone else appends). */
	c->expect_size = st.st_size > c->expect_size ? st.st_size : c->expect_size;
	/* The oldest rows first, as many whole ones as the disk takes; the rest waits. */
	r = write_rows(c, c->backlog, c->backlog_len, &kept);
	if (kept == c->backlog_len) {
		c->rows_written += c->backlog_rows;
	} else if (kept > 0) {
		whole_rows_end(c->backlog, kept, &rows);
		if (c->backlog_head > 0)
			rows--;   /* the header is not a data row */
		c->rows_written += rows;
		c->backlog_rows -= rows;
	}
	if (kept > 0) {
		recent_add(c, c->backlog, kept);
		memmove(c->backlog, c->backlog + kept, c->backlog_len - kept);
		c->backlog_len -= kept;
		c->backlog_head = 0;
	}
	if (c->backlog_len == 0)
		c->backlog_rows = 0;
	return r;
}

/*
 * The common case, nothing pending: the batch goes straight from where it
 * was formatted, without a trip through the backlog.  Returns the bytes of
 * whole rows that reached the disk (all n, or those a nearly full disk
 * took); the caller queues the rest (a truncated file is left to
 * flush_backlog, which knows what to re-send).
 */
static size_t fast_write(struct csv_file *c, const char *p, size_t n, uint64_t rows)
{
	struct stat st;
	size_t kept;

	if (c->fd < 0)
		return 0;
	if (!c->stream) {
		if (fstat(c->fd, &st) != 0 || st.st_size < c->expect_size)
			return 0;
		c->expect_size = st.st_size;
	}
	if (write_rows(c, p, n, &kept) != 0 && kept > 0)
		whole_rows_end(p, kept, &rows);
	if (kept > 0) {
		c->rows_written += rows;
		recent_add(c, p, kept);
	}
	return kept;
}

void csv_write(struct csv_file *c, const struct snapshot *snap, uint64_t gpus)
{
	uint64_t rows;
	size_t n = csv_format_rows(snap, gpus, c->batch, CSV_BATCH_MAX, &rows);

	if (n > 0)
		csv_write_rows(c, c->batch, n, rows);
}

void csv_write_rows(struct csv_file *c, const char *p, size_t n, uint64_t rows)
{
	int r;

	if (c->reopen_pending)
		csv_reopen(c);
	if (c->backlog_len == 0 && !c->failing) {
		size_t kept = fast_write(c, p, n, rows);
		uint64_t kept_rows;

		if (kept == n)
			return;
		whole_rows_end(p, kept, &kept_rows);
		p += kept;
		n -= kept;
		rows -= kept_rows;
	}
	if (!backlog_add(c, p, n, rows)) {
		c->rows_dropped += rows;
		if (!c->failing)
			log_warn("csv: dropping rows: backlog of %d KiB is full", CSV_BACKLOG_MAX / 1024);
	}
	r = flush_backlog(c);
	c->last_errno = -r;
	if (r == 0) {
		if (c->failing) {
			log_warn("csv: writing to %s again; %llu row%s dropped while it failed", c->path,
				 (unsigned long long)(c->rows_dropped - c->rows_dropped_reported),
				 c->rows_dropped - c->rows_dropped_reported == 1 ? " was" : "s were");
			c->rows_dropped_reported = c->rows_dropped;
			c->failing = false;
		}
		return;
	}
	if (!c->failing) {
		c->failing = true;
		/* A reader that went away is not a disk that filled up (the sink stops the run). */
		if (!(c->stream && r == -EPIPE))
			log_warn("csv: cannot write %s: %s; sampling goes on, up to %d KiB of rows are kept in memory and written when space returns, rows beyond that are dropped and counted",
				 c->path, strerror(-r), CSV_BACKLOG_MAX / 1024);
	}
}

void csv_reopen(struct csv_file *c)
{
	int fd;
	struct stat st;

	if (c->stream)
		return;
	fd = open_path(c);
	if (fd < 0) {
		if (!c->reopen_pending)
			log_warn("csv: cannot reopen %s: %s; still writing to the old file, retrying every tick",
				 c->path, strerror(errno));
		c->reopen_pending = true;
		return;
	}
	if (c->reopen_pending)
		log_info("csv: reopened %s", c->path);
	c->reopen_pending = false;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = fd;
	if (fstat(fd, &st) != 0)
		st.st_size = 0;
	c->expect_size = st.st_size;
	if (st.st_size == 0) {
		/* A fresh file (logrotate's create mode): header first, in front of any backlog. */
		char hdr[2048];
		size_t hn = csv_header(hdr, sizeof hdr);

		if (write_whole(c, hdr, hn) != 0)
			backlog_add_header(c, hdr, hn);
	}
	/* Rows of the old file are not repeated in the new one. */
	c->recent_len = 0;
	c->recent_batches = 0;
}

void csv_close(struct csv_file *c)
{
	if (c->fd >= 0) {
		if (flush_backlog(c) != 0)
			c->rows_dropped += c->backlog_rows;
		close(c->fd);
	}
	c->fd = -1;
	free(c->batch);
	free(c->backlog);
	free(c->recent);
	c->batch = c->backlog = c->recent = NULL;
}

/* ---- the sink: a file per period, and the pre-roll ---- */

struct csv_sink {
	struct run_state *st;
	struct csv_file file;
	bool open;
	uint64_t closed_written, closed_dropped;  /* of the files already closed */
	uint64_t last_seq;                        /* a resampled tick is written once */
	bool said_no_file;                        /* this period's file could not be opened yet */
	uint64_t no_file_dropped;                 /* rows of this period dropped for want of a file */
	/* Full rows of the hold window, a tick per batch (see sink_csv.h). */
	char *pre;
	size_t pre_len;
	uint32_t pre_end[CSV_PREROLL_TICKS];      /* end offset of each tick's rows */
	uint8_t pre_rows[CSV_PREROLL_TICKS];
	size_t pre_ticks;
	struct timespec pre_first;                /* the oldest kept row's time */
	bool said_pre_full;
	char *fmt;                                /* one tick's rows, formatted */
};

static void pre_clear(struct csv_sink *k)
{
	k->pre_len = 0;
	k->pre_ticks = 0;
}

/* Drops the oldest ticks until n more bytes and one more tick fit. */
static void pre_make_room(struct csv_sink *k, size_t n)
{
	size_t drop = 0, cut = 0;

	while (drop < k->pre_ticks &&
	       (k->pre_len - cut + n > CSV_PREROLL_MAX || k->pre_ticks - drop >= CSV_PREROLL_TICKS)) {
		cut = k->pre_end[drop];
		drop++;
	}
	if (drop == 0)
		return;
	if (!k->said_pre_full) {
		log_info("csv: the pre-roll holds %zu ticks (%zu KiB) at most; the oldest rows of this hold are dropped",
			 k->pre_ticks, k->pre_len / 1024);
		k->said_pre_full = true;
	}
	memmove(k->pre, k->pre + cut, k->pre_len - cut);
	k->pre_len -= cut;
	k->pre_ticks -= drop;
	for (size_t i = 0; i < k->pre_ticks; i++) {
		k->pre_end[i] = (uint32_t)(k->pre_end[i + drop] - cut);
		k->pre_rows[i] = k->pre_rows[i + drop];
	}
}

static void pre_add(struct csv_sink *k, const struct snapshot *snap)
{
	uint64_t rows;
	size_t n;

	if (!k->pre && !(k->pre = malloc(CSV_PREROLL_MAX)))
		return;
	n = csv_format_rows(snap, k->st->csv_gpus, k->fmt, CSV_BATCH_MAX, &rows);
	if (n == 0 || n > CSV_PREROLL_MAX)
		return;
	pre_make_room(k, n);
	if (k->pre_ticks == 0)
		k->pre_first = snap->wall;
	memcpy(k->pre + k->pre_len, k->fmt, n);
	k->pre_len += n;
	k->pre_end[k->pre_ticks] = (uint32_t)k->pre_len;
	k->pre_rows[k->pre_ticks] = (uint8_t)rows;
	k->pre_ticks++;
}

static uint64_t pre_row_count(const struct csv_sink *k)
{
	uint64_t rows = 0;

	for (size_t i = 0; i < k->pre_ticks; i++)
		rows += k->pre_rows[i];
	return rows;
}

/*
 * A new file for the period, beginning with the pre-roll; named after its
 * first row.  Tried again every tick while it cannot be opened (out of
 * descriptors, the directory gone): the pre-roll waits for it, the rows of
 * those ticks are counted as dropped.
 */
static void period_open(struct csv_sink *k, const struct snapshot *snap)
{
	char err[1024];
	uint64_t rows;
	time_t start = k->pre_ticks ? k->pre_first.tv_sec : snap->wall.tv_sec;

	if (!k->said_no_file)
		k->no_file_dropped = 0;   /* the period's first try */
	k->st->csv_path[0] = '\0';
	if (csv_open(&k->file, k->st->cfg->logdir, start, err, sizeof err) != 0) {
		if (!k->said_no_file)
			log_warn("csv: telemetry on, but no CSV: %s; trying again every tick, rows are counted as dropped meanwhile",
				 err);
		k->said_no_file = true;
		return;
	}
	if (k->said_no_file)
		log_info("csv: writing %s at last; %llu row%s dropped while it could not be opened",
			 k->file.path, (unsigned long long)k->no_file_dropped,
			 k->no_file_dropped == 1 ? " was" : "s were");
	k->said_no_file = false;
	k->open = true;
	str_copy(k->st->csv_path, k->file.path, sizeof k->st->csv_path);
	k->st->csv_period_rows = 0;
	rows = pre_row_count(k);
	if (rows)
		csv_write_rows(&k->file, k->pre, k->pre_len, rows);
	pre_clear(k);
}

/* A period that ended (or a run that stopped) before its file could be opened: its pre-roll is lost too. */
static void period_lost(struct csv_sink *k)
{
	uint64_t rows = pre_row_count(k);

	k->no_file_dropped += rows;
	k->closed_dropped += rows;
	pre_clear(k);
	k->said_no_file = false;
	log_warn("csv: the period ended without a CSV file: %llu row%s dropped",
		 (unsigned long long)k->no_file_dropped, plural_s(k->no_file_dropped));
}

static void period_close(struct csv_sink *k)
{
	csv_close(&k->file);
	k->closed_written += k->file.rows_written;
	k->closed_dropped += k->file.rows_dropped;
	k->open = false;
}

static void count_rows(struct csv_sink *k)
{
	struct run_state *st = k->st;

	st->csv_period_rows = k->file.rows_written;
	st->csv_period_dropped = k->no_file_dropped + k->file.rows_dropped;
	st->csv_rows_written = k->closed_written + (k->open ? k->file.rows_written : 0);
	st->csv_rows_dropped = k->closed_dropped + (k->open ? k->file.rows_dropped : 0);
}

static int csv_sink_open(void **self, struct pipeline *p, char *err, size_t errlen)
{
	struct csv_sink *k = calloc(1, sizeof *k);
	int r = -1;

	if (!k || !(k->fmt = malloc(CSV_BATCH_MAX))) {
		str_copy(err, "out of memory", errlen);
		goto out;
	}
	k->st = &p->st;
	k->file.fd = -1;
	if (strcmp(p->st.cfg->logdir, CSV_STDOUT) != 0 &&
	    dir_ensure(p->st.cfg->logdir, 0750, "out-dir", "pass --out-dir DIR (JN_LOGDIR)", err, errlen) != 0)
		goto out;
	/* collect writes from its first tick: a directory it cannot write in is a usage error now. */
	if (p->st.telemetry) {
		if (csv_open(&k->file, p->st.cfg->logdir, time(NULL), err, errlen) != 0)
			goto out;
		k->open = true;
		str_copy(p->st.csv_path, k->file.path, sizeof p->st.csv_path);
	}
	*self = k;
	k = NULL;
	r = 0;
out:
	if (k)
		free(k->fmt);
	free(k);
	return r;
}

static void csv_sink_write(void *self, const struct snapshot *snap)
{
	struct csv_sink *k = self;
	const struct run_state *st = k->st;

	if (snap->seq == k->last_seq)
		return;
	k->last_seq = snap->seq;
	if (st->telemetry && !k->open)
		period_open(k, snap);
	else if (!st->telemetry && k->open)
		period_close(k);
	if (k->open) {
		csv_write(&k->file, snap, st->csv_gpus);
		/* Standard output's reader is gone (collect --out-dir - | head): so is the point. */
		if (k->file.stream && k->file.last_errno == EPIPE && !k->st->stop) {
			log_info("csv: standard output was closed; stopping");
			k->st->stop = true;
		}
	} else if (st->telemetry) {
		uint64_t rows = 0;

		csv_format_rows(snap, st->csv_gpus, k->fmt, CSV_BATCH_MAX, &rows);
		k->closed_dropped += rows;
		k->no_file_dropped += rows;
	} else {
		if (k->said_no_file)
			period_lost(k);
		if (st->preroll && !snap->lite)
			pre_add(k, snap);
		else if (!st->preroll)
			pre_clear(k);
	}
	count_rows(k);
}

static void csv_sink_reopen(void *self)
{
	struct csv_sink *k = self;

	if (k->open) {
		log_info("csv: reopening %s", k->file.path);
		csv_reopen(&k->file);
	}
}

static void csv_sink_metrics(void *self, struct outbuf *o, const struct snapshot *snap)
{
	const struct csv_sink *k = self;

	(void)snap;
	prom_family(o, "gputel_csv_rows_written_total", "counter", "CSV rows written.");
	ob_puts(o, "gputel_csv_rows_written_total ");
	ob_put_u64(o, k->st->csv_rows_written);
	ob_put(o, "\n", 1);
	prom_family(o, "gputel_csv_rows_dropped_total", "counter",
		    "CSV rows that could not be written (a full disk beyond the in-memory backlog, no file).");
	ob_puts(o, "gputel_csv_rows_dropped_total ");
	ob_put_u64(o, k->st->csv_rows_dropped);
	ob_put(o, "\n", 1);
}

static void csv_sink_close(void *self)
{
	struct csv_sink *k = self;

	if (k->open)
		period_close(k);
	else if (k->said_no_file)
		period_lost(k);
	count_rows(k);
	free(k->pre);
	free(k->fmt);
	free(k);
}

const struct sink_ops sink_csv_ops = {
	.name = "csv",
	.open = csv_sink_open,
	.write = csv_sink_write,
	.reopen = csv_sink_reopen,
	.metrics = csv_sink_metrics,
	.close = csv_sink_close,
};
