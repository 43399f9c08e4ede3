/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level current_level = LOG_INFO;

static const char *const level_prefix[] = {
	[LOG_ERROR] = "error: ",
	[LOG_WARN] = "warning: ",
	[LOG_INFO] = "",
	[LOG_DEBUG] = "debug: ",
};

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024];

	if (level > current_level)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	/* One fprintf so concurrent writers never interleave within a line. */
	fprintf(stderr, "gputel: %s%s\n", level_prefix[level], line);
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
