/*
 * fuzz_config.c - libFuzzer harness: arbitrary bytes as a configuration
 * file, as environment variables and as every key's value.  Besides "no
 * crash", it checks two properties: every message is one line, and every
 * value the parser accepted formats to text that parses back to the same
 * value.
 *
 * Links with config.c, util.c and log.c alone:
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_config.c src/config.c src/util.c src/log.c -o /tmp/fc
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg, again;
static struct config_errors errs;
static char value[CONFIG_TEXT_MAX];

static void check_messages(void)
{
	for (int i = 0; i < errs.n_msgs; i++)
		if (strchr(errs.msg[i].text, '\n'))
			abort();
	if (errs.n_msgs > CONFIG_MAX_MSGS || errs.n_errors + errs.n_warnings < errs.n_msgs)
		abort();
}

/* Every stored value survives format -> parse unchanged. */
static void check_round_trip(void)
{
	config_defaults(&again);
	for (int i = 0; i < CONFIG_KEY__COUNT; i++) {
		const struct config_key_info *k = &config_keys[i];

		config_format_value(&cfg, k, value, sizeof value);
		if (config_set(&again, k->name, value, CONFIG_SRC_FLAG, 0, NULL) != 0)
			abort();
		if (!config_value_equal(&cfg, &again, (enum config_key)i))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[CONFIG_LINE_MAX];
	char *envp[9];
	size_t n = 0, ne = 0;

	/* 1. The bytes as a whole file. */
	config_errors_init(&errs);
	config_defaults(&cfg);
	config_load_buffer(&cfg, "fuzz.conf", (const char *)data, size, &errs);
	config_validate(&cfg, &errs);
	check_messages();
	check_round_trip();

	/* 2. The first line as every key's value (flags skip the file syntax). */
	while (n < size && n < sizeof text - 1 && data[n] != '\n' && data[n] != '\0')
		n++;
	memcpy(text, data, n);
	text[n] = '\0';
	config_errors_init(&errs);
	config_defaults(&cfg);
	for (int i = 0; i < CONFIG_KEY__COUNT; i++)
		config_set(&cfg, config_keys[i].name, text, CONFIG_SRC_FLAG, 0, &errs);
	config_suggest(text);
	config_lookup_flag(text);
	check_messages();
	check_round_trip();

	/* 3. The first line split at ';' as an environment. */
	for (char *p = text; ne < 8; ) {
		char *semi = strchr(p, ';');

		envp[ne++] = p;
		if (!semi)
			break;
		*semi = '\0';
		p = semi + 1;
	}
	envp[ne] = NULL;
	config_errors_init(&errs);
	config_defaults(&cfg);
	config_apply_env(&cfg, envp, &errs);
	check_messages();
	check_round_trip();
	return 0;
}
