/* cli.c - option parsing helpers shared by the cmd_*.c files (commands.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

int opt_value(int argc, char **argv, int *i, const char *name, const char **value)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*value = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "gputel: option %s needs a value\n", name);
		return -1;
	}
	*value = argv[++*i];
	return 1;
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "gputel: %s: %s\n", cmd, msg);
	return EXIT_USAGE;
}
