/*
 * Unit tests: the field table (fields.c) and what derives from it -- the
 * CSV columns, the nvidia-smi query, the Prometheus families -- and the
 * drift between the table and docs/csv.md and docs/metrics.md.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "gpu_smi.h"
#include "sink_csv.h"

static int csv_columns_named(const char *name)
{
	int k = 0;

	for (size_t i = 0; i < csv_column_count(); i++)
		k += strcmp(csv_column_name(i), name) == 0;
	return k;
}

/* Every field has a printable CSV column, exactly once in the header. */
static void test_every_field_has_one_csv_column(void **state)
{
	(void)state;
	for (int f = 0; f < GPU_F__COUNT; f++) {
		assert_non_null(gpu_fields[f].csv.name);
		assert_non_null(gpu_fields[f].unit);
		assert_true(gpu_fields[f].csv.div > 0);
		assert_int_equal(csv_columns_named(gpu_fields[f].csv.name), 1);
	}
	for (int f = 0; f < HOST_F__COUNT; f++) {
		assert_non_null(host_fields[f].csv.name);
		assert_non_null(host_fields[f].unit);
		assert_true(host_fields[f].csv.div > 0);
		assert_int_equal(csv_columns_named(host_fields[f].csv.name), 1);
	}
}

/* The released column order holds: the guide's 14 first, xid_total at 47. */
static void test_csv_positions_hold(void **state)
{
	(void)state;
	assert_string_equal(csv_column_name(0), "timestamp");
	assert_string_equal(csv_column_name(1), "power_draw_w");
	assert_string_equal(csv_column_name(13), "system_total_w");
	assert_string_equal(csv_column_name(46), "xid_total");
	assert_true(csv_column_count() >= 47);
}

static const struct field_prom *prom_row(int host, int f, int k)
{
	return host ? &host_fields[f].prom[k] : &gpu_fields[f].prom[k];
}

/*
 * Within a name set, rows of one family are neighbours and agree on TYPE
 * and HELP: otherwise the exposition would split a family in two.
 */
static void test_prom_families_are_contiguous(void **state)
{
	static const unsigned int sets[] = { PROM_NAMES_GPUTEL, PROM_NAMES_JN, PROM_NAMES_DCGM };

	(void)state;
	for (int host = 0; host < 2; host++)
		for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
			const struct field_prom *prev = NULL;
			const char *seen[64];
			int n_seen = 0;
			int count = host ? HOST_F__COUNT : GPU_F__COUNT;

			for (int f = 0; f < count; f++)
				for (int k = 0; k < FIELD_PROM_MAX && prom_row(host, f, k)->set; k++) {
					const struct field_prom *m = prom_row(host, f, k);

					if (m->set != sets[s])
						continue;
					assert_non_null(m->name);
					assert_true(!strcmp(m->type, "gauge") || !strcmp(m->type, "counter"));
					assert_true(m->help && *m->help);
					assert_true(m->mul > 0 && m->div > 0);
					if (prev && !strcmp(prev->name, m->name)) {
						assert_string_equal(prev->type, m->type);
						assert_string_equal(prev->help, m->help);
						/* Two series of one family must differ in a label. */
						assert_non_null(m->label);
					} else {
						for (int i = 0; i < n_seen; i++)
							if (!strcmp(seen[i], m->name))
								fail_msg("family %s is split", m->name);
						assert_true(n_seen < 64);
						seen[n_seen++] = m->name;
					}
					prev = m;
				}
		}
}

/* The nvidia-smi query asks for every field nvidia-smi has, and maps each back. */
static void test_smi_query_derives_from_the_table(void **state)
{
	struct smi_fieldset fs;
	char q[2048];

	(void)state;
	smi_fieldset_full(&fs);
	assert_int_equal(smi_fieldset_query(&fs, q, sizeof q), 0);
	assert_string_equal(fs.f[0]->name, "index");
	assert_string_equal(fs.f[1]->name, "uuid");
	for (int f = 0; f < GPU_F__COUNT; f++) {
		const struct field_smi *s = &gpu_fields[f].smi;
		const struct smi_field *found;
		int in_query = 0;

		if (!s->name) {
			assert_int_equal(s->kind, SMI_K_NONE);
			continue;
		}
		found = smi_field_find(s->name);
		assert_non_null(found);
		assert_int_equal(found->field, f);
		for (int i = 0; i < fs.n; i++)
			in_query += fs.f[i]->field == f;
		assert_int_equal(in_query, 1);
		if (s->fallback) {
			found = smi_field_find(s->fallback);
			assert_non_null(found);
			assert_int_equal(found->field, f);
		}
	}
}

/* Reads a file under the source tree (the tests run from its root). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* docs/csv.md has a table row for every column: "| `name` |". */
static void test_csv_doc_has_every_column(void **state)
{
	char *doc = slurp("docs/csv.md");

	(void)state;
	for (size_t i = 0; i < csv_column_count(); i++) {
		char row[128];

		snprintf(row, sizeof row, "| `%s` |", csv_column_name(i));
		if (!strstr(doc, row))
			fail_msg("docs/csv.md does not describe the column %s", csv_column_name(i));
	}
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_field_has_one_csv_column),
		cmocka_unit_test(test_csv_positions_hold),
		cmocka_unit_test(test_prom_families_are_contiguous),
		cmocka_unit_test(test_smi_query_derives_from_the_table),
		cmocka_unit_test(test_csv_doc_has_every_column),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
