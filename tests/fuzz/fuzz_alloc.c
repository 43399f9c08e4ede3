/*
 * fuzz_alloc.c - libFuzzer harness: arbitrary bytes as a control-API
 * allocation request.  Besides "no crash", it checks that every error is
 * one line, and that an accepted request becomes an allocation whose JSON
 * parses and carries the same id.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct snapshot snap;
static char out[1 << 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alloc_request req;
	struct alloc_table t;
	struct alloc *a;
	char err[512] = "";
	struct outbuf o = { out, 0, sizeof out - 1, false };
	cJSON *j;

	if (snap.n_gpus == 0) {
		snap.n_gpus = 4;
		for (unsigned int i = 0; i < 4; i++) {
			snap.gpu[i].id.index = i;
			snprintf(snap.gpu[i].id.uuid, sizeof snap.gpu[i].id.uuid, "GPU-%u", i);
		}
	}
	if (alloc_request_parse((const char *)data, size, &req, err, sizeof err) != 0) {
		if (!err[0] || strchr(err, '\n'))
			abort();
		return 0;
	}
	alloc_table_init(&t);
	if (alloc_begin(&t, &req, &snap, 1, &a, err, sizeof err) == 0) {
		alloc_json(&o, a);
		if (o.full)
			abort();
		out[o.len] = '\0';
		j = cJSON_Parse(out);
		if (!j || strcmp(cJSON_GetObjectItem(j, "id")->valuestring, req.id) != 0)
			abort();
		cJSON_Delete(j);
	} else if (strchr(err, '\n')) {
		abort();
	}
	alloc_request_release(&req);
	alloc_table_release(&t);
	return 0;
}
