/* otlp_queue.c - see otlp_queue.h. */
#include "otlp_queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const char *const signal_names[OTLP_SIGNALS] = { "logs", "traces" };

static void batch_name(char *out, size_t n, const struct otlp_batch *b)
{
	snprintf(out, n, "%016" PRIx64 "-%s-%" PRIu32 ".%s%s", b->seq, signal_names[b->signal], b->records,
		 b->fmt == OTLP_JSON ? "json" : "pb", b->gzipped ? ".gz" : "");
}

/* A file name of ours, parsed into b; false for anything else (left alone). */
static bool parse_name(const char *name, struct otlp_batch *b)
{
	char sig[8], ext[8], tail[8] = "";
	unsigned long long seq;
	unsigned int records;
	int used = 0;

	if (sscanf(name, "%16llx-%7[a-z]-%u.%7[a-z]%n", &seq, sig, &records, ext, &used) != 4)
		return false;
	if (name[used] == '.')
		str_copy(tail, name + used + 1, sizeof tail);
	else if (name[used])
		return false;
	memset(b, 0, sizeof *b);
	b->seq = seq;
	b->records = records;
	if (strcmp(sig, "logs") == 0)
		b->signal = OTLP_LOGS;
	else if (strcmp(sig, "traces") == 0)
		b->signal = OTLP_TRACES;
	else
		return false;
	if (strcmp(ext, "json") == 0)
		b->fmt = OTLP_JSON;
	else if (strcmp(ext, "pb") == 0)
		b->fmt = OTLP_PROTOBUF;
	else
		return false;
	if (tail[0] && strcmp(tail, "gz") != 0)
		return false;
	b->gzipped = tail[0] != '\0';
	return true;
}

static int path_of(char *out, size_t n, const struct otlp_queue *q, const struct otlp_batch *b)
{
	char name[96];

	batch_name(name, sizeof name, b);
	return str_fmt(out, n, "%s/%s", q->dir, name);
}

static struct otlp_batch *at(const struct otlp_queue *q, size_t i)
{
	return &q->b[(q->head + i) % q->cap];
}

static bool grow(struct otlp_queue *q)
{
	size_t cap = q->cap ? q->cap * 2 : 64;
	struct otlp_batch *b;

	if (q->n < q->cap)
		return true;
	b = malloc(cap * sizeof *b);
	if (!b)
		return false;
	for (size_t i = 0; i < q->n; i++)
		b[i] = *at(q, i);
	free(q->b);
	q->b = b;
	q->head = 0;
	q->cap = cap;
	return true;
}

static int by_seq(const void *a, const void *b)
{
	const struct otlp_batch *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Drops the oldest batch, counting its records as lost. */
static void drop_head(struct otlp_queue *q)
{
	struct otlp_batch *b = at(q, 0);

	q->dropped[b->signal] += b->records;
	otlp_queue_pop(q);
}

static void enforce_bound(struct otlp_queue *q)
{
	uint64_t dropped = 0;

	while (q->n && q->bytes > q->max_bytes) {
		dropped += at(q, 0)->records;
		drop_head(q);
	}
	if (dropped)
		log_warn("otlp: the queue is over its bound (%zu MiB): the oldest %" PRIu64 " record%s dropped; "
			 "raise JN_OTLP_QUEUE_MB or bring the collector back", q->max_bytes >> 20, dropped,
			 dropped == 1 ? " was" : "s were");
}

int otlp_queue_open(struct otlp_queue *q, const char *dir, size_t max_bytes, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *e;
	int rc;

	memset(q, 0, sizeof *q);
	q->max_bytes = max_bytes;
	if (!dir || !*dir)
		return 0;
	if (str_fmt(q->dir, sizeof q->dir, "%s", dir) < 0) {
		q->dir[0] = '\0';
		str_fmt(err, errlen, "otlp: the queue directory's path is too long; the queue is kept in memory");
		return -1;
	}
	rc = dir_ensure(q->dir, 0700, "the OTLP queue directory", "set JN_STATE_DIR to a writable directory",
			err, errlen);
	if (rc != 0 || (d = opendir(q->dir)) == NULL) {
		if (rc == 0)
			str_fmt(err, errlen, "cannot read the OTLP queue directory %s: %s; the queue is kept in memory",
				q->dir, strerror(errno));
		q->dir[0] = '\0';
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		struct otlp_batch b;
		struct stat st;
		char path[OTLP_QUEUE_PATH_MAX + 128];

		if (str_fmt(path, sizeof path, "%s/%s", q->dir, e->d_name) < 0)
			continue;
		/* A batch cut short by a crash never made it past its temporary name. */
		if (strncmp(e->d_name, ".tmp-", 5) == 0) {
			unlink(path);
			continue;
		}
		if (!parse_name(e->d_name, &b) || lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || !grow(q))
			continue;
		b.bytes = (size_t)st.st_size;
		q->b[q->n++] = b;
		q->bytes += b.bytes;
		if (b.seq >= q->next_seq)
			q->next_seq = b.seq + 1;
	}
	closedir(d);
	if (q->n)
		qsort(q->b, q->n, sizeof *q->b, by_seq);
	if (q->n)
		log_info("otlp: %zu batch%s (%zu KiB) from an earlier run wait in %s", q->n, q->n == 1 ? "" : "es",
			 q->bytes >> 10, q->dir);
	enforce_bound(q);
	return 0;
}

int otlp_queue_peek(const char *dir, size_t *batches, size_t *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	*batches = *bytes = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		struct otlp_batch b;
		struct stat st;

		if (parse_name(e->d_name, &b) && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode)) {
			(*batches)++;
			*bytes += (size_t)st.st_size;
		}
	}
	closedir(d);
	return 0;
}

void otlp_queue_close(struct otlp_queue *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(at(q, i)->mem);
	free(q->b);
	q->b = NULL;
	q->n = q->cap = 0;
}

static int write_file(const char *dir, const char *final, const char *body, size_t len)
{
	char tmp[OTLP_QUEUE_PATH_MAX + 128];
	size_t done = 0;
	int fd, e = 0;

	if (str_fmt(tmp, sizeof tmp, "%s/.tmp-%s", dir, strrchr(final, '/') + 1) < 0)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (done < len && e == 0) {
		ssize_t w = write(fd, body + done, len - done);

		if (w > 0)
			done += (size_t)w;
		else if (w < 0 && errno != EINTR)
			e = errno;
	}
	if (close(fd) != 0 && e == 0)
		e = errno;
	if (e == 0 && rename(tmp, final) != 0)
		e = errno;
	if (e)
		unlink(tmp);
	return -e;
}

void otlp_queue_push(struct otlp_queue *q, enum otlp_signal signal, enum otlp_format fmt, bool gzipped,
		     uint32_t records, const char *body, size_t len)
{
	struct otlp_batch b = { .seq = q->next_seq++, .signal = signal, .fmt = fmt, .gzipped = gzipped,
				.records = records, .bytes = len };
	char path[OTLP_QUEUE_PATH_MAX + 128];
	int rc = -ENOENT;

	if (len > q->max_bytes || !grow(q)) {
		q->dropped[signal] += records;
		log_warn("otlp: a batch of %" PRIu32 " %s record%s (%zu KiB) does not fit the queue (%zu MiB): dropped",
			 records, signal_names[signal], plural_s(records), len >> 10, q->max_bytes >> 20);
		return;
	}
	if (q->dir[0] && path_of(path, sizeof path, q, &b) >= 0)
		rc = write_file(q->dir, path, body, len);
	if (rc != 0) {
		b.mem = malloc(len ? len : 1);
		if (!b.mem) {
			q->dropped[signal] += records;
			return;
		}
		memcpy(b.mem, body, len);
		if (q->dir[0]) {
			q->write_failures++;
			if (!q->write_failing)
				log_warn("otlp: cannot write the queue in %s: %s; batches are kept in memory (at most %zu MiB) "
					 "until it can be written", q->dir, strerror(-rc), q->max_bytes >> 20);
			q->write_failing = true;
		}
	} else if (q->write_failing) {
		q->write_failing = false;
		log_info("otlp: the queue in %s can be written again", q->dir);
	}
	*at(q, q->n) = b;
	q->n++;
	q->bytes += len;
	enforce_bound(q);
}

const struct otlp_batch *otlp_queue_head(const struct otlp_queue *q)
{
	return q->n ? at(q, 0) : NULL;
}

char *otlp_queue_read_head(struct otlp_queue *q, size_t *len)
{
	struct otlp_batch *b = at(q, 0);
	char path[OTLP_QUEUE_PATH_MAX + 128];
	char *body = NULL;
	size_t got = 0;
	int fd;

	*len = 0;
	if (b->mem) {
		body = malloc(b->bytes ? b->bytes : 1);
		if (body) {
			memcpy(body, b->mem, b->bytes);
			*len = b->bytes;
		}
		return body;
	}
	if (path_of(path, sizeof path, q, b) >= 0 && (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		body = malloc(b->bytes ? b->bytes : 1);
		while (body && got < b->bytes) {
			ssize_t r = read(fd, body + got, b->bytes - got);

			if (r > 0)
				got += (size_t)r;
			else if (r == 0 || errno != EINTR)
				break;
		}
		close(fd);
		if (body && got == b->bytes) {
			*len = got;
			return body;
		}
	}
	free(body);
	log_warn("otlp: cannot read the queued batch %s: dropped", path);
	drop_head(q);
	return NULL;
}

void otlp_queue_pop(struct otlp_queue *q)
{
	struct otlp_batch *b;
	char path[OTLP_QUEUE_PATH_MAX + 128];

	if (!q->n)
		return;
	b = at(q, 0);
	if (b->mem)
		free(b->mem);
	else if (path_of(path, sizeof path, q, b) >= 0)
		unlink(path);
	q->bytes -= b->bytes;
	q->head = (q->head + 1) % q->cap;
	q->n--;
}
