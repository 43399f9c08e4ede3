/*
 * mhd.h - libmicrohttpd, loaded with dlopen() by the servers that need it
 * (the exporter's HTTP server, the agent's control socket), so that
 * `gputel collect` and the other modes never map it and its GnuTLS.
 *
 * mhd_load() fills the table of calls the first time and only counts
 * later loads, so a server thread reading the table never races a second
 * load.  Each successful mhd_load() is paired with one mhd_unload().
 */
#ifndef GPUTEL_MHD_H
#define GPUTEL_MHD_H

#include <stddef.h>

#include <microhttpd.h>

#define MHD_DEFAULT_LIBRARY "libmicrohttpd.so.12"

struct mhd_api {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_run) *run;
	__typeof__(MHD_get_timeout) *get_timeout;
	__typeof__(MHD_get_daemon_info) *get_daemon_info;
	__typeof__(MHD_get_connection_info) *get_connection_info;
	__typeof__(MHD_create_response_from_buffer) *response_from_buffer;
	__typeof__(MHD_create_response_from_callback) *response_from_callback;
	__typeof__(MHD_add_response_header) *add_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
	__typeof__(MHD_lookup_connection_value) *lookup_value;
	__typeof__(MHD_suspend_connection) *suspend_connection;
	__typeof__(MHD_resume_connection) *resume_connection;
};

extern struct mhd_api mhd;

/* path NULL: MHD_DEFAULT_LIBRARY.  Returns 0, or -1 with err naming the package to install. */
int mhd_load(const char *path, char *err, size_t errlen);
void mhd_unload(void);

#endif
