/*
 * fdlimit.h - the process's file descriptor budget.
 *
 * A service starts with a soft RLIMIT_NOFILE of 1024 (systemd's default
 * when the unit sets no LimitNOFILE), and every TCP connection to the
 * exporter holds a descriptor.  Unbounded, a crowd of idle connections
 * takes them all and the agent can no longer open its own files: the CSV
 * of a period, the state file, the ledger, the hooks' pipes.  So:
 *
 *   - the servers (agent, exporter) raise the soft limit to the hard one
 *     at start (fdlimit_raise);
 *   - a server holds at most a share of what is left once FDLIMIT_RESERVE
 *     descriptors are set aside for the process's own files
 *     (fdlimit_connections);
 *   - one spare descriptor is kept open, and given up for a file that
 *     must be opened when the limit is reached anyway (fdlimit_open).
 *
 * The functions may be called from any thread.
 */
#ifndef GPUTEL_FDLIMIT_H
#define GPUTEL_FDLIMIT_H

#include <sys/types.h>

/* Descriptors kept for the process's own files, whatever the servers hold. */
#define FDLIMIT_RESERVE 256

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (logged when that fails
 * or leaves it low) and takes the spare descriptor.  Returns the soft
 * limit now in force.
 */
unsigned long fdlimit_raise(void);

/* The soft RLIMIT_NOFILE now in force. */
unsigned long fdlimit_soft(void);

/*
 * How many connections a server may hold at once: `percent` of the
 * descriptors beyond FDLIMIT_RESERVE, at most `max`, at least 8 (a limit
 * too low to keep a reserve still serves a few).
 */
unsigned int fdlimit_connections(unsigned int percent, unsigned int max);

/*
 * open(2) with O_CLOEXEC added.  When the process is out of descriptors
 * (EMFILE, ENFILE), the spare one is closed and the open tried once more,
 * then the spare is taken again when a descriptor is free.  Returns the
 * descriptor, or -1 with errno set.
 */
int fdlimit_open(const char *path, int flags, mode_t mode);

#endif
