/*
 * sdnotify.h - the systemd notification protocol, natively: one datagram
 * to $NOTIFY_SOCKET per message (READY=1, STOPPING=1, WATCHDOG=1,
 * STATUS=...), no libsystemd.  Without NOTIFY_SOCKET every call is a no-op,
 * so the same binary runs under systemd (Type=notify) and anywhere else.
 */
#ifndef GPUTEL_SDNOTIFY_H
#define GPUTEL_SDNOTIFY_H

#include <stdint.h>

/* Sends msg; returns 0 when sent or when there is no socket, -errno otherwise. */
int sdnotify(const char *msg);

/*
 * The watchdog period systemd asked for (WATCHDOG_USEC, for this PID when
 * WATCHDOG_PID is set), in ns; 0 when there is none.
 */
int64_t sdnotify_watchdog_ns(void);

#endif
