/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

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

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024];

	if ((int)level > atomic_load(&current_level))
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
