/*
 * klog.c - see klog.h: which source, and the parts every source shares
 * (the position file's path, when to write it).  /dev/kmsg's own reader is
 * kmsg.c; here it gets the same interface as the journal
 * (klog_journal.c) and kern.log (klog_file.c).
 */
#include "klog.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klog_internal.h"
#include "log.h"
#include "util.h"

#define POSITION_MAX 1024

struct klog {
	enum klog_kind kind;
	const struct klog_ops *ops;
	void *self;
	char describe[PATH_MAX + 64];
	char position_path[PATH_MAX];   /* "" when none is kept */
	char saved[POSITION_MAX];       /* the position file's text as last read or written */
	bool resumed;
	char passed_over[1024];         /* why the sources before it were not read */
};

/* ---- /dev/kmsg, behind the common interface ---- */

struct kmsg_source {
	struct kmsg *k;
	char boot_id[KMSG_BOOT_ID_LEN];
};

/*
 * Resumes after the saved record of this boot, or after events.jsonl's
 * last one when that is later (a kill -9 before the position was saved).
 * A new boot, or no position, reads the kernel's buffer from its start.
 */
static int kmsg_source_open(void **self, struct klog_args *a, char *err, size_t errlen)
{
	struct kmsg_source *s = calloc(1, sizeof *s);
	char saved_boot[KMSG_BOOT_ID_LEN];
	uint64_t after = 0, seq;
	bool resume = false;
	int r;

	*self = NULL;
	if (!s) {
		str_copy(err, "out of memory", errlen);
		return -ENOMEM;
	}
	str_copy(s->boot_id, a->boot_id ? a->boot_id : "unknown", sizeof s->boot_id);
	if (a->position_path) {
		r = kmsg_position_load(a->position_path, saved_boot, &seq);
		if (r == 0 && strcmp(saved_boot, s->boot_id) == 0) {
			resume = true;
			after = seq;
		} else if (r == 0) {
			log_info("events: a new boot since %s was saved: reading this boot's kernel log from its start",
				 a->position_path);
		} else if (r != -ENOENT) {
			log_warn("events: %s is not a kernel log position (%s); reading the kernel log from its start",
				 a->position_path, strerror(-r));
		}
	}
	if (a->have_tail_seq && (!resume || a->tail_seq > after)) {
		resume = true;
		after = a->tail_seq;
	}
	r = kmsg_open(&s->k, a->path, resume, after, err, errlen);
	if (r != 0) {
		free(s);
		return r;
	}
	a->resumed = resume;
	*self = s;
	return 0;
}

static int kmsg_source_fd(const void *self)
{
	return kmsg_fd(((const struct kmsg_source *)self)->k);
}

static int kmsg_source_drain(void *self, unsigned int max_records, kmsg_record_fn fn, void *ctx)
{
	return kmsg_drain(((struct kmsg_source *)self)->k, max_records, fn, ctx);
}

static const struct kmsg_stats *kmsg_source_stats(const void *self)
{
	return kmsg_stats(((const struct kmsg_source *)self)->k);
}

/* "BOOT_ID SEQ\n", as kmsg_position_save writes it. */
static bool kmsg_source_position(const void *self, char *buf, size_t n)
{
	const struct kmsg_source *s = self;
	uint64_t seq;

	if (!kmsg_last_seq(s->k, &seq))
		return false;
	snprintf(buf, n, "%s %llu\n", s->boot_id, (unsigned long long)seq);
	return true;
}

static void kmsg_source_close(void *self)
{
	struct kmsg_source *s = self;

	if (!s)
		return;
	kmsg_close(s->k);
	free(s);
}

static const struct klog_ops kmsg_ops = {
	.name = "kmsg",
	.position_file = "kmsg.position",
	.open = kmsg_source_open,
	.fd = kmsg_source_fd,
	.drain = kmsg_source_drain,
	.stats = kmsg_source_stats,
	.position = kmsg_source_position,
	.close = kmsg_source_close,
};

/* ---- the choice ---- */

static const struct klog_ops *const ops_of[KLOG__COUNT] = {
	[KLOG_KMSG] = &kmsg_ops,
	[KLOG_JOURNAL] = &klog_journal_ops,
	[KLOG_KERN_LOG] = &klog_file_ops,
};

const char *klog_kind_name(enum klog_kind kind)
{
	return ops_of[kind]->name;
}

/* An environment variable's value, or dflt when it is unset or empty. */
static const char *env_or(const char *v, const char *dflt)
{
	return v && *v ? v : dflt;
}

int klog_sources(enum klog_kind out[KLOG__COUNT], char *err, size_t errlen)
{
	const char *list = env_or(getenv("GPUTEL_KERNEL_LOG_SOURCES"), "kmsg,journal,kern.log");
	int n = 0;

	/* A file or FIFO in /dev/kmsg's format was asked for: that, and no other. */
	if (*env_or(getenv("GPUTEL_KMSG"), "")) {
		out[0] = KLOG_KMSG;
		return 1;
	}
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ", ");
		int found = -1;

		for (int k = 0; k < KLOG__COUNT && len > 0; k++)
			if (strlen(ops_of[k]->name) == len && memcmp(p, ops_of[k]->name, len) == 0)
				found = k;
		if (len > 0 && found < 0) {
			str_fmt(err, errlen, "GPUTEL_KERNEL_LOG_SOURCES=%s: '%.*s' is not kmsg, journal or kern.log", list,
				(int)len, p);
			return -1;
		}
		if (found >= 0 && n < KLOG__COUNT) {
			bool dup = false;

			for (int i = 0; i < n; i++)
				dup |= out[i] == (enum klog_kind)found;
			if (!dup)
				out[n++] = (enum klog_kind)found;
		}
		p += len;
		p += strspn(p, ", ");
	}
	if (n == 0)
		str_fmt(err, errlen, "GPUTEL_KERNEL_LOG_SOURCES names no source (kmsg, journal, kern.log)");
	return n > 0 ? n : -1;
}

int klog_open_kind(struct klog **out, enum klog_kind kind, const struct klog_options *o, char *err, size_t errlen)
{
	struct klog *k = calloc(1, sizeof *k);
	struct klog_args a = { .boot_id = o->boot_id, .have_tail_seq = o->have_tail_seq, .tail_seq = o->tail_seq };
	int r;

	*out = NULL;
	if (!k) {
		str_copy(err, "out of memory", errlen);
		return -ENOMEM;
	}
	k->kind = kind;
	k->ops = ops_of[kind];
	switch (kind) {
	case KLOG_KMSG:
		a.path = env_or(getenv("GPUTEL_KMSG"), KMSG_DEFAULT_PATH);
		str_copy(k->describe, a.path, sizeof k->describe);
		break;
	case KLOG_JOURNAL:
		a.path = *env_or(getenv("GPUTEL_JOURNAL_DIR"), "") ? getenv("GPUTEL_JOURNAL_DIR") : NULL;
		str_fmt(k->describe, sizeof k->describe, "the kernel messages of the journal%s%s", a.path ? " in " : "",
			a.path ? a.path : "");
		break;
	default:
		a.path = env_or(getenv("GPUTEL_KERN_LOG"), KLOG_DEFAULT_KERN_LOG);
		str_copy(k->describe, a.path, sizeof k->describe);
		break;
	}
	if (o->state_dir && *o->state_dir &&
	    str_fmt(k->position_path, sizeof k->position_path, "%s/%s", o->state_dir, k->ops->position_file) >= 0) {
		a.position_path = k->position_path;
		/* What is there already needs no writing again. */
		if (file_read_small(k->position_path, k->saved, sizeof k->saved) < 0)
			k->saved[0] = '\0';
	} else {
		k->position_path[0] = '\0';
	}
	r = k->ops->open(&k->self, &a, err, errlen);
	if (r != 0) {
		free(k);
		return r < 0 ? r : -EIO;
	}
	k->resumed = a.resumed;
	*out = k;
	return 0;
}

int klog_open(struct klog **out, const struct klog_options *o, char *err, size_t errlen)
{
	enum klog_kind kinds[KLOG__COUNT];
	int n = klog_sources(kinds, err, errlen);
	size_t len = 0;

	*out = NULL;
	if (n < 0)
		return -1;
	/* Each source that cannot be read adds its reason and its fix: one line for all. */
	err[0] = '\0';
	for (int i = 0; i < n; i++) {
		char why[512];

		if (klog_open_kind(out, kinds[i], o, why, sizeof why) == 0) {
			str_copy((*out)->passed_over, err, sizeof (*out)->passed_over);
			return 0;
		}
		if (len < errlen)
			len += (size_t)snprintf(err + len, errlen - len, "%s%s", len ? "; " : "", why);
	}
	return -1;
}

const char *klog_passed_over(const struct klog *k)
{
	return k->passed_over;
}

enum klog_kind klog_kind(const struct klog *k)
{
	return k->kind;
}

const char *klog_describe(const struct klog *k)
{
	return k->describe;
}

bool klog_resumed(const struct klog *k)
{
	return k->resumed;
}

bool klog_numbered(const struct klog *k)
{
	return k->kind == KLOG_KMSG;
}

int klog_fd(const struct klog *k)
{
	return k ? k->ops->fd(k->self) : -1;
}

int klog_drain(struct klog *k, unsigned int max_records, kmsg_record_fn fn, void *ctx)
{
	return k->ops->drain(k->self, max_records, fn, ctx);
}

const struct kmsg_stats *klog_stats(const struct klog *k)
{
	return k->ops->stats(k->self);
}

int klog_save_position(struct klog *k)
{
	char text[POSITION_MAX];
	int r;

	if (!k->position_path[0] || !k->ops->position(k->self, text, sizeof text) || strcmp(text, k->saved) == 0)
		return 0;
	r = kmsg_position_write(k->position_path, text);
	if (r != 0)
		return r;
	str_copy(k->saved, text, sizeof k->saved);
	return 1;
}

const char *klog_position_path(const struct klog *k)
{
	return k->position_path;
}

void klog_close(struct klog *k)
{
	if (!k)
		return;
	k->ops->close(k->self);
	free(k);
}
