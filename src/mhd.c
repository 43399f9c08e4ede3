/* mhd.c - see mhd.h. */
#include "mhd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "util.h"

struct mhd_api mhd;

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static void *lib;
static unsigned int loads;

static const struct {
	const char *name;
	size_t offset;
} syms[] = {
#define SYM(field, name) { name, offsetof(struct mhd_api, field) }
	SYM(start_daemon, "MHD_start_daemon"),
	SYM(stop_daemon, "MHD_stop_daemon"),
	SYM(run, "MHD_run"),
	SYM(get_timeout, "MHD_get_timeout"),
	SYM(get_daemon_info, "MHD_get_daemon_info"),
	SYM(get_connection_info, "MHD_get_connection_info"),
	SYM(response_from_buffer, "MHD_create_response_from_buffer"),
	SYM(response_from_callback, "MHD_create_response_from_callback"),
	SYM(add_header, "MHD_add_response_header"),
	SYM(queue_response, "MHD_queue_response"),
	SYM(destroy_response, "MHD_destroy_response"),
	SYM(lookup_value, "MHD_lookup_connection_value"),
	SYM(suspend_connection, "MHD_suspend_connection"),
	SYM(resume_connection, "MHD_resume_connection"),
#undef SYM
};

int mhd_load(const char *path, char *err, size_t errlen)
{
	struct mhd_api api;
	void *h;

	if (!path)
		path = MHD_DEFAULT_LIBRARY;
	pthread_mutex_lock(&load_mu);
	if (loads > 0) {
		loads++;
		pthread_mutex_unlock(&load_mu);
		return 0;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		str_fmt(err, errlen, "cannot load %s (%s); install the libmicrohttpd12 package", path,
			dlerror());
		goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(syms); i++) {
		void *p = dlsym(h, syms[i].name);

		if (!p) {
			str_fmt(err, errlen, "%s lacks %s; install libmicrohttpd12 0.9.71 or later", path,
				syms[i].name);
			dlclose(h);
			goto fail;
		}
		memcpy((char *)&api + syms[i].offset, &p, sizeof p);
	}
	mhd = api;
	lib = h;
	loads = 1;
	pthread_mutex_unlock(&load_mu);
	return 0;
fail:
	pthread_mutex_unlock(&load_mu);
	return -1;
}

void mhd_unload(void)
{
	pthread_mutex_lock(&load_mu);
	if (loads > 0 && --loads == 0) {
		dlclose(lib);
		lib = NULL;
		memset(&mhd, 0, sizeof mhd);
	}
	pthread_mutex_unlock(&load_mu);
}
