/*
 * klog_journal.c - the kernel's messages from the systemd journal (its
 * kernel transport): the fallback where /dev/kmsg cannot be read but the
 * account may read the journal (group systemd-journal or adm).  klog.h.
 *
 * libsystemd is loaded with dlopen() when this source is tried, never
 * linked: gputel runs where there is no systemd, and only the few
 * functions below, declared here from sd-journal(3)'s documented API, are
 * used.  The library is checked before it is mapped (libcheck.h), and
 * stays loaded: it is not made to be unloaded.
 *
 * Only this boot's kernel records are read (matches _TRANSPORT=kernel and
 * _BOOT_ID), as /dev/kmsg would give them: a first start reads them from
 * the journal's start, a restart of the same boot goes on after the entry
 * its cursor names (journal.position: the boot id and the cursor).  The
 * journal keeps no kernel sequence numbers, so no loss is counted here:
 * what journald could not store, it logs itself.
 */
#include "klog_internal.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libcheck.h"
#include "log.h"
#include "util.h"

#define LIBSYSTEMD "libsystemd.so.0"
/* sd_journal_open()'s flags (sd-journal.h): the local system's journal, not the users'. */
#define SD_JOURNAL_LOCAL_ONLY (1 << 0)
#define SD_JOURNAL_SYSTEM (1 << 2)
/* Cursors are about 150 characters; a longer one is not kept (the position then waits). */
#define CURSOR_MAX 512
/* A kernel record is at most about 8 KiB: a longer MESSAGE is not one, as for /dev/kmsg. */
#define MESSAGE_MAX 16384

/* The library's types, as pointers only: never looked into. */
typedef struct sd_journal sd_journal;
typedef union sd_id128 sd_id128_t;

struct journal_api {
	int (*open)(sd_journal **ret, int flags);
	int (*open_directory)(sd_journal **ret, const char *path, int flags);
	void (*close)(sd_journal *j);
	int (*add_match)(sd_journal *j, const void *data, size_t size);
	int (*seek_head)(sd_journal *j);
	int (*seek_tail)(sd_journal *j);
	int (*previous)(sd_journal *j);
	int (*seek_cursor)(sd_journal *j, const char *cursor);
	int (*test_cursor)(sd_journal *j, const char *cursor);
	int (*get_cursor)(sd_journal *j, char **cursor);
	int (*next)(sd_journal *j);
	int (*get_data)(sd_journal *j, const char *field, const void **data, size_t *length);
	int (*get_monotonic_usec)(sd_journal *j, uint64_t *usec, sd_id128_t *boot_id);
	int (*get_fd)(sd_journal *j);
	int (*process)(sd_journal *j);
	int (*get_usage)(sd_journal *j, uint64_t *bytes);
};

static const struct {
	const char *name;
	size_t offset;
} api_symbols[] = {
	{ "sd_journal_open", offsetof(struct journal_api, open) },
	{ "sd_journal_open_directory", offsetof(struct journal_api, open_directory) },
	{ "sd_journal_close", offsetof(struct journal_api, close) },
	{ "sd_journal_add_match", offsetof(struct journal_api, add_match) },
	{ "sd_journal_seek_head", offsetof(struct journal_api, seek_head) },
	{ "sd_journal_seek_tail", offsetof(struct journal_api, seek_tail) },
	{ "sd_journal_previous", offsetof(struct journal_api, previous) },
	{ "sd_journal_seek_cursor", offsetof(struct journal_api, seek_cursor) },
	{ "sd_journal_test_cursor", offsetof(struct journal_api, test_cursor) },
	{ "sd_journal_get_cursor", offsetof(struct journal_api, get_cursor) },
	{ "sd_journal_next", offsetof(struct journal_api, next) },
	{ "sd_journal_get_data", offsetof(struct journal_api, get_data) },
	{ "sd_journal_get_monotonic_usec", offsetof(struct journal_api, get_monotonic_usec) },
	{ "sd_journal_get_fd", offsetof(struct journal_api, get_fd) },
	{ "sd_journal_process", offsetof(struct journal_api, process) },
	{ "sd_journal_get_usage", offsetof(struct journal_api, get_usage) },
};

struct klog_journal {
	const struct journal_api *api;
	sd_journal *j;
	int fd;                      /* inotify, from the library; -1: drained every tick only */
	char boot_id[KMSG_BOOT_ID_LEN];
	char cursor[CURSOR_MAX];     /* the last entry taken */
	bool have_cursor;
	char skip[CURSOR_MAX];       /* the saved entry, read by the last run: not again */
	bool check_skip;
	bool said_cursor;
	struct kmsg_stats st;
};

/*
 * libsystemd's functions, loaded once for the process.  NULL with err set
 * when it is not installed, not a whole library, or lacks one of them.
 */
static const struct journal_api *load_api(char *err, size_t errlen)
{
	static struct journal_api api;
	static bool loaded;
	char path[PATH_MAX], why[256];
	void *lib;
	int r;

	if (loaded)
		return &api;
	if (libcheck_find(LIBSYSTEMD, path, sizeof path) != 0) {
		str_fmt(err, errlen, "cannot read the journal: %s is not installed (Debian: libsystemd0)", LIBSYSTEMD);
		return NULL;
	}
	r = libcheck_file(path, why, sizeof why);
	if (r != 0) {
		str_fmt(err, errlen, "cannot read the journal: %s: %s; reinstall libsystemd0", path, why);
		return NULL;
	}
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		str_fmt(err, errlen, "cannot read the journal: %s", dlerror());
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(api_symbols); i++) {
		void *p = dlsym(lib, api_symbols[i].name);

		if (!p) {
			str_fmt(err, errlen, "cannot read the journal: %s has no %s (systemd too old)", path,
				api_symbols[i].name);
			dlclose(lib);
			return NULL;
		}
		/* A function pointer from dlsym's object pointer, the way POSIX allows it. */
		memcpy((char *)&api + api_symbols[i].offset, &p, sizeof p);
	}
	loaded = true;
	return &api;
}

/* "_BOOT_ID=" and the boot id without its dashes, as the journal writes it. */
static void boot_match(const char *boot_id, char *out, size_t n)
{
	size_t len = str_copy(out, "_BOOT_ID=", n);

	for (const char *p = boot_id; *p && len + 1 < n; p++)
		if (*p != '-')
			out[len++] = (char)tolower((unsigned char)*p);
	out[len] = '\0';
}

/* Where this run starts: after the saved entry of this boot, else at this boot's first. */
static void seek_start(struct klog_journal *s, struct klog_args *a, bool have_boot)
{
	char buf[CURSOR_MAX + 64], boot[64], cursor[CURSOR_MAX], tail;
	ssize_t n = a->position_path ? file_read_small(a->position_path, buf, sizeof buf) : -ENOENT;

	a->resumed = false;
	if (n >= 0) {
		if (sscanf(buf, "%63s %511s%c", boot, cursor, &tail) != 3 || tail != '\n') {
			log_warn("events: %s is not a journal position; reading this boot's kernel messages from the start",
				 a->position_path);
		} else if (strcmp(boot, s->boot_id) != 0) {
			log_info("events: a new boot since %s was saved: reading this boot's kernel messages from the start",
				 a->position_path);
		} else if (s->api->seek_cursor(s->j, cursor) < 0) {
			log_warn("events: the journal does not take the cursor in %s; reading this boot's kernel messages "
				 "from the start", a->position_path);
		} else {
			str_copy(s->skip, cursor, sizeof s->skip);
			s->check_skip = true;
			a->resumed = true;
			return;
		}
	}
	if (have_boot) {
		s->api->seek_head(s->j);
		return;
	}
	/* This boot unknown: every boot's records would match, so only what comes from now on. */
	s->api->seek_tail(s->j);
	s->api->previous(s->j);
}

static void journal_close(void *self)
{
	struct klog_journal *s = self;

	if (!s)
		return;
	if (s->j)
		s->api->close(s->j);
	free(s);
}

static int journal_open(void **self, struct klog_args *a, char *err, size_t errlen)
{
	const struct journal_api *api = load_api(err, errlen);
	struct klog_journal *s;
	char match[64];
	uint64_t usage = 0;
	bool have_boot;
	int r;

	*self = NULL;
	if (!api)
		return -ENOENT;
	s = calloc(1, sizeof *s);
	if (!s) {
		str_copy(err, "out of memory", errlen);
		return -ENOMEM;
	}
	s->api = api;
	s->fd = -1;
	str_copy(s->boot_id, a->boot_id ? a->boot_id : "unknown", sizeof s->boot_id);
	r = a->path ? api->open_directory(&s->j, a->path, 0) : api->open(&s->j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
	if (r < 0) {
		str_fmt(err, errlen, "cannot read the journal%s%s: %s", a->path ? " in " : "", a->path ? a->path : "",
			strerror(-r));
		s->j = NULL;
		journal_close(s);
		return r;
	}
	/* The library opens what it may and skips the rest without a word: no file open is no access. */
	if (api->get_usage(s->j, &usage) < 0 || usage == 0) {
		str_fmt(err, errlen, "cannot read the journal%s%s: no journal file is readable by this account; "
			"add it to group systemd-journal (or adm), or journald keeps none", a->path ? " in " : "",
			a->path ? a->path : "");
		journal_close(s);
		return -EACCES;
	}
	/* Before reading, as sd_journal_get_fd(3) asks, so that files added later are watched too. */
	s->fd = api->get_fd(s->j);
	if (s->fd < 0)
		s->fd = -1;
	have_boot = strcmp(s->boot_id, "unknown") != 0;
	boot_match(s->boot_id, match, sizeof match);
	r = api->add_match(s->j, "_TRANSPORT=kernel", strlen("_TRANSPORT=kernel"));
	if (r >= 0 && have_boot)
		r = api->add_match(s->j, match, strlen(match));
	if (r < 0) {
		str_fmt(err, errlen, "cannot read the journal: matching its kernel messages: %s", strerror(-r));
		journal_close(s);
		return r;
	}
	seek_start(s, a, have_boot);
	*self = s;
	return 0;
}

static int journal_fd(const void *self)
{
	return ((const struct klog_journal *)self)->fd;
}

/* A field of the current entry: its value (after "NAME=") in *val, *len; false when it has none. */
static bool field(struct klog_journal *s, const char *name, const char **val, size_t *len)
{
	const void *d;
	size_t l, nl = strlen(name);

	if (s->api->get_data(s->j, name, &d, &l) < 0 || l <= nl || memcmp(d, name, nl) != 0 || ((const char *)d)[nl] != '=')
		return false;
	*val = (const char *)d + nl + 1;
	*len = l - nl - 1;
	return true;
}

static bool parse_u64(const char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)p[i]))
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return true;
}

/* The current entry as a record, through fn; false when it is not one (counted). */
static bool take_entry(struct klog_journal *s, kmsg_record_fn fn, void *ctx)
{
	struct kmsg_record rec = { .level = 6, .no_seq = true };
	const char *v;
	size_t len;
	uint64_t u;

	if (field(s, "PRIORITY", &v, &len) && len == 1 && v[0] >= '0' && v[0] <= '7')
		rec.level = v[0] - '0';
	/* The kernel's own time stamp (CLOCK_MONOTONIC, as /dev/kmsg gives it); else when journald got it. */
	if ((field(s, "_SOURCE_MONOTONIC_TIMESTAMP", &v, &len) && parse_u64(v, len, &u)) ||
	    s->api->get_monotonic_usec(s->j, &u, NULL) >= 0) {
		rec.mono_us = u > (uint64_t)INT64_MAX / 1000 ? INT64_MAX / 1000 : (int64_t)u;
	} else {
		rec.mono_us = mono_now_ns() / 1000;
	}
	/* Last: the data of one call is good only until the next. */
	if (!field(s, "MESSAGE", &rec.msg, &rec.len) || rec.len > MESSAGE_MAX) {
		s->st.malformed++;
		return false;
	}
	s->st.records++;
	fn(ctx, &rec);
	return true;
}

/* The entry just taken, for the position. */
static void remember(struct klog_journal *s)
{
	char *c = NULL;

	if (s->api->get_cursor(s->j, &c) < 0 || !c)
		return;
	if (strlen(c) < sizeof s->cursor && !strpbrk(c, " \t\n")) {
		str_copy(s->cursor, c, sizeof s->cursor);
		s->have_cursor = true;
	} else {
		log_once(&s->said_cursor, LOG_WARN, "events: the journal gave a cursor gputel cannot keep (%zu bytes); "
			 "the position is not saved, and a restart may read kernel messages again", strlen(c));
	}
	free(c);
}

static int journal_drain(void *self, unsigned int max_records, kmsg_record_fn fn, void *ctx)
{
	struct klog_journal *s = self;
	unsigned int delivered = 0, taken = 0;

	/* Acknowledges the wake-up; new entries, files rotated or added are picked up by the next calls. */
	if (s->fd >= 0)
		s->api->process(s->j);
	/* Entries that are not records count against the bound too: junk cannot hold the loop either. */
	while (taken < max_records) {
		int r = s->api->next(s->j);

		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (s->check_skip) {
			s->check_skip = false;
			if (s->api->test_cursor(s->j, s->skip) > 0) {
				s->st.skipped++;
				continue;
			}
			log_warn("events: the journal no longer has the entry where gputel stopped (rotated away): going on "
				 "from the next one; kernel messages in between may be lost");
		}
		taken++;
		delivered += take_entry(s, fn, ctx);
		remember(s);
	}
	return (int)delivered;
}

static const struct kmsg_stats *journal_stats(const void *self)
{
	return &((const struct klog_journal *)self)->st;
}

static bool journal_position(const void *self, char *buf, size_t n)
{
	const struct klog_journal *s = self;

	if (!s->have_cursor)
		return false;
	snprintf(buf, n, "%s %s\n", s->boot_id, s->cursor);
	return true;
}

const struct klog_ops klog_journal_ops = {
	.name = "journal",
	.position_file = "journal.position",
	.open = journal_open,
	.fd = journal_fd,
	.drain = journal_drain,
	.stats = journal_stats,
	.position = journal_position,
	.close = journal_close,
};
