/* log.c - see log.h. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Read by every thread that logs (the GPU worker too), set by a reload. */
static _Atomic int current_level = LOG_INFO;

static const char *const level_prefix[] = {
	[LOG_ERROR] = "error: ",
	[LOG_WARN] = "warning: ",
	[LOG_INFO] = "",
	[LOG_DEBUG] = "debug: ",
};

void log_set_level(enum log_level level) { atomic_store(&current_level, (int)level); }
enum log_level log_get_level(void) { return (enum log_level)atomic_load(&current_level); }

/* -1: not decided yet (at the first line, and again after log_stderr_changed()). */
static _Atomic int stamp_lines = -1;

/*
 * Lines carry a timestamp unless stderr is the journal, which stamps them
 * itself.  systemd says so in JOURNAL_STREAM ("DEVICE:INODE" of the stream
 * it connected); a stderr redirected since (a child's 2>file) no longer
 * matches it and is stamped.
 */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_stderr_changed(void) { atomic_store(&stamp_lines, -1); }

/* "2026-12-06T05:05:35.568Z " (ISO 8601, UTC, milliseconds) into buf. */
static void format_stamp(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	buf[0] = '\0';
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || !gmtime_r(&ts.tv_sec, &tm))
		return;
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024], stamp[64] = "";

	if ((int)level > atomic_load(&current_level))
		return;
	if (atomic_load(&stamp_lines) < 0)
		atomic_store(&stamp_lines, stderr_is_journal() ? 0 : 1);
	if (atomic_load(&stamp_lines))
		format_stamp(stamp, sizeof stamp);
	vsnprintf(line, sizeof line, fmt, ap);
	/* One fprintf so concurrent writers never interleave within a line. */
	fprintf(stderr, "%sgputel: %s%s\n", stamp, level_prefix[level], line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_once(bool *said, enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (*said)
		return;
	*said = true;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_to_file(const char *path, char *err, size_t errlen)
{
	char older[PATH_MAX];
	struct stat st;
	int fd;

	/* One older generation is kept: the agent that writes here comes and goes. */
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > LOG_FILE_MAX &&
	    snprintf(older, sizeof older, "%s.1", path) < (int)sizeof older)
		rename(path, older);
	/* O_NOFOLLOW: a link planted in a shared state directory is not followed. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the log file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "the log file %s is not a regular file; remove it", path);
		close(fd);
		return -1;
	}
	fflush(stderr);
	if (dup2(fd, STDERR_FILENO) < 0) {
		snprintf(err, errlen, "cannot log to %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	log_stderr_changed();
	return 0;
}
