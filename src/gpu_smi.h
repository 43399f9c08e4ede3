/*
 * gpu_smi.h - the pure parsers behind the nvidia-smi backend.
 *
 * gpu_smi_backend (declared in gpu.h) runs one long-lived
 * `nvidia-smi --query-gpu=... --format=csv,noheader,nounits -lms N` child
 * and turns its lines into struct gpu_reading.  Everything here works on
 * strings only, so tests and the fuzzer reach it without a child process.
 *
 * Value parsers return an enum val_state: VAL_OK with *out set, or
 * VAL_UNSUPPORTED ("[N/A]", "[Not Supported]", "N/A") or VAL_ERROR
 * ("[Unknown Error]", any other bracketed text, an empty token, anything
 * that does not parse) with *out untouched.  A missing value never reads
 * as 0.
 */
#ifndef GPUTEL_GPU_SMI_H
#define GPUTEL_GPU_SMI_H

#include <stddef.h>
#include <stdint.h>

#include "linebuf.h"
#include "snapshot.h"

/* Most fields one query may ask for. */
#define SMI_MAX_FIELDS 32

/* One column of a query: a field's row in fields.c, or an identity column. */
struct smi_field {
	const char *name;     /* as --query-gpu spells it */
	int field;            /* enum gpu_field; -1 for the identity columns */
	enum smi_kind kind;
	int64_t scale;        /* SMI_K_NUMBER: MiB -> bytes, W -> mW, C -> mC */
	const char *fallback; /* older drivers' name for it, or NULL: drop it */
};

/* The columns of one loop query, in the order nvidia-smi prints them. */
struct smi_fieldset {
	int n;
	const struct smi_field *f[SMI_MAX_FIELDS];
};

/* Classifies the missing-value forms: 0 when tok is not one of them. */
int smi_missing_state(const char *tok);

/*
 * Unsigned decimal ("81", "81.25") times scale, exactly: "81.25" with
 * scale 1000 gives 81250; digits past the ninth decimal are dropped.
 * Signs, exponents, hex, blanks and overflow are VAL_ERROR.
 */
int smi_parse_number(const char *tok, int64_t scale, int64_t *out);
/* "P0".."P15". */
int smi_parse_pstate(const char *tok, int64_t *out);
/* "0x" and 1..16 hex digits; bit 63 comes back as a negative number. */
int smi_parse_hex(const char *tok, int64_t *out);
/* "Yes"/"No" (any case) as 1/0, or an unsigned count. */
int smi_parse_bool(const char *tok, int64_t *out);

/*
 * Splits line in place at each ", " into at most max tokens, trimming
 * blanks around each; the last token keeps any further separators (so a
 * GPU name with commas survives as the last column).  Returns the token
 * count (0 when max < 1).  Call it with one slot more than the columns
 * expected to notice a line with too many.
 */
int smi_split_line(char *line, char **tok, int max);

/*
 * The full loop query (index, uuid, then every field of fields.c that
 * nvidia-smi offers, in table order), then the fallbacks, by name; NULL
 * when unknown.
 */
const struct smi_field *smi_field_find(const char *name);
/* Every field gputel asks for, newest names first. */
void smi_fieldset_full(struct smi_fieldset *fs);
/*
 * nvidia-smi refused `name`: replace it by its fallback, or drop it.
 * Returns 0, or -1 when name is not in the set or is an identity column
 * (without index and uuid no line can be matched to a GPU).
 */
int smi_fieldset_refuse(struct smi_fieldset *fs, const char *name);
/* Writes "index,uuid,..." into buf. Returns 0, or -1 when it did not fit. */
int smi_fieldset_query(const struct smi_fieldset *fs, char *buf, size_t n);

/*
 * Finds `Field "x" is not a valid field to query.` in nvidia-smi's output
 * and copies x into name.  Returns 0, or -1 when there is no such line.
 */
int smi_parse_bad_field(const char *out, char *name, size_t n);

/* What smi_parse_line() learnt beside the values. */
#define SMI_LINE_HAS_INDEX 0x1
#define SMI_LINE_HAS_UUID 0x2
#define SMI_LINE_LOST 0x4 /* "[GPU is lost]", or no value at all was OK */

/*
 * Parses one loop line (modified in place) whose columns are fs.  Fills
 * r->id.index / r->id.uuid where the line has them, every field in fs,
 * and marks every other field VAL_UNSUPPORTED; r->health is DOWN when
 * SMI_LINE_LOST is returned.  Returns the SMI_LINE_* flags, or -1 when
 * the line is not one of ours (too few or too many columns, neither an
 * index nor a uuid): then *r is left as it was.
 */
int smi_parse_line(char *line, const struct smi_fieldset *fs, struct gpu_reading *r);

/* One line of the identity probe (index, uuid, pci.bus_id, driver_version, memory.total, name). */
struct smi_probe {
	struct gpu_ident id;
	char driver[80];
	int64_t mem_total;  /* bytes, valid when mem_state is VAL_OK */
	int mem_state;
};

#define SMI_PROBE_QUERY "index,uuid,pci.bus_id,driver_version,memory.total,name"

/* Returns 0, or -1 when the line is not a probe line. */
int smi_parse_probe_line(char *line, struct smi_probe *p);

#endif
