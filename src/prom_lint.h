/*
 * prom_lint.h - checks text against the Prometheus exposition format 0.0.4,
 * so `gputel doctor` can tell whether what answers on the exporter port is
 * valid metrics (and not, say, another program's page).
 */
#ifndef GPUTEL_PROM_LINT_H
#define GPUTEL_PROM_LINT_H

#include <stddef.h>

/*
 * Checks every line of text[0..len).  Returns NULL when all are valid, else
 * what is wrong with the first bad line, whose number (from 1) goes to
 * *bad_line.  *samples counts the sample lines.  Never reads past len.
 */
const char *prom_text_check(const char *text, size_t len, unsigned int *samples, unsigned int *bad_line);

#endif
