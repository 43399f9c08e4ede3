/* gzip.c - see gzip.h. */
#include "gzip.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define ZLIB_LIBRARY "libz.so.1"

static struct {
	__typeof__(deflateInit2_) *init2;
	__typeof__(deflate) *deflate;
	__typeof__(deflateEnd) *end;
	__typeof__(deflateBound) *bound;
	const char *version;
} zl;
static pthread_once_t zl_once = PTHREAD_ONCE_INIT;

static void zl_load(void)
{
	void *lib = dlopen(ZLIB_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	void *init2, *def, *end, *bound, *ver;
	const char *(*version)(void);

	if (!lib)
		return;
	init2 = dlsym(lib, "deflateInit2_");
	def = dlsym(lib, "deflate");
	end = dlsym(lib, "deflateEnd");
	bound = dlsym(lib, "deflateBound");
	ver = dlsym(lib, "zlibVersion");
	if (!init2 || !def || !end || !bound || !ver)
		return;
	/* Function pointers from dlsym's void *: copied, as ISO C has no cast between them. */
	memcpy(&zl.deflate, &def, sizeof def);
	memcpy(&zl.end, &end, sizeof end);
	memcpy(&zl.bound, &bound, sizeof bound);
	memcpy(&version, &ver, sizeof ver);
	zl.version = version();
	memcpy(&zl.init2, &init2, sizeof init2);
}

bool gzip_buf(const char *in, size_t n, char **out, size_t *out_len)
{
	z_stream z;
	size_t cap;
	bool ok = false;

	*out = NULL;
	*out_len = 0;
	pthread_once(&zl_once, zl_load);
	if (!zl.init2)
		return false;
	memset(&z, 0, sizeof z);
	/* windowBits 15 + 16: a gzip wrapper, as Content-Encoding: gzip wants. */
	if (zl.init2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zl.version, (int)sizeof z) != Z_OK)
		return false;
	cap = zl.bound(&z, (uLong)n) + 32;
	*out = malloc(cap);
	if (*out) {
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)n;
		z.next_out = (Bytef *)*out;
		z.avail_out = (uInt)cap;
		ok = zl.deflate(&z, Z_FINISH) == Z_STREAM_END;
		if (ok) {
			*out_len = cap - z.avail_out;
		} else {
			free(*out);
			*out = NULL;
		}
	}
	zl.end(&z);
	return ok;
}
