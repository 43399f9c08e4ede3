/*
 * log.h - leveled logging to stderr (the journal under systemd).
 *
 * Each line starts with an ISO 8601 UTC timestamp, except when stderr is
 * the journal (JOURNAL_STREAM names it), which adds its own.
 *
 * Messages are one line, lowercase, and name the thing and the fix.
 * log_once() keeps a complaint that would repeat every tick (an unreadable
 * sensor, a lost GPU) to a single line until log_once_reset() says the
 * condition cleared.
 */
#ifndef GPUTEL_LOG_H
#define GPUTEL_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* log_to_file moves a bigger file aside (to FILE.1) before appending. */
#define LOG_FILE_MAX (8L << 20)

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
/* stderr now goes elsewhere (agent --log-to-state-dir): decide the timestamps again. */
void log_stderr_changed(void);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * From now on stderr appends to path (created 0640, never through a
 * symlink), and the lines are stamped.  -1 with err set when it cannot.
 */
int log_to_file(const char *path, char *err, size_t errlen);

/* Logs only while *said is false, then sets it. */
void log_once(bool *said, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
