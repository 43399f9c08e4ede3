/*
 * fuzz_smi.c - libFuzzer harness: arbitrary nvidia-smi output through the
 * line reassembly and every parser the backend runs on it.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gpu_smi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_ctx {
	struct smi_fieldset full, reduced;
};

static void on_line(char *line, void *vctx)
{
	struct fuzz_ctx *ctx = vctx;
	static char copy[LINEBUF_MAX];
	char *tok[SMI_MAX_FIELDS + 1];
	struct gpu_reading r;
	struct smi_probe p;
	char name[64];
	size_t n = strlen(line);
	int nt;

	/* Every parser below writes into the line, so each gets a fresh copy. */
	memcpy(copy, line, n + 1);
	memset(&r, 0, sizeof r);
	smi_parse_line(copy, &ctx->full, &r);
	memcpy(copy, line, n + 1);
	smi_parse_line(copy, &ctx->reduced, &r);
	memcpy(copy, line, n + 1);
	smi_parse_probe_line(copy, &p);
	smi_parse_bad_field(line, name, sizeof name);

	memcpy(copy, line, n + 1);
	nt = smi_split_line(copy, tok, SMI_MAX_FIELDS + 1);
	for (int i = 0; i < nt; i++) {
		int64_t v;

		smi_missing_state(tok[i]);
		smi_parse_number(tok[i], 1, &v);
		smi_parse_number(tok[i], 1000, &v);
		smi_parse_number(tok[i], 1048576, &v);
		smi_parse_pstate(tok[i], &v);
		smi_parse_hex(tok[i], &v);
		smi_parse_bool(tok[i], &v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct linebuf lb;
	struct fuzz_ctx ctx;
	size_t half = size / 2;

	smi_fieldset_full(&ctx.full);
	ctx.reduced = ctx.full;
	smi_fieldset_refuse(&ctx.reduced, "clocks_event_reasons.active");
	smi_fieldset_refuse(&ctx.reduced, "remapped_rows.pending");
	smi_fieldset_refuse(&ctx.reduced, "utilization.encoder");

	linebuf_reset(&lb);
	/* Two reads, as a pipe would deliver them, then the end of output. */
	linebuf_feed(&lb, (const char *)data, half, on_line, &ctx);
	linebuf_feed(&lb, (const char *)data + half, size - half, on_line, &ctx);
	linebuf_feed(&lb, "\n", 1, on_line, &ctx);
	return 0;
}
