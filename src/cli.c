/* cli.c - option parsing helpers shared by the cmd_*.c files (commands.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "outbuf.h"
#include "config.h"

int opt_value(int argc, char **argv, int *i, const char *name, const char **value)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*value = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "gputel: option %s needs a value\n", name);
		return -1;
	}
	*value = argv[++*i];
	return 1;
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "gputel: %s: %s\n", cmd, msg);
	return EXIT_USAGE;
}

int cli_config_flag(int argc, char **argv, int *i, struct config *cfg, struct config_errors *errs)
{
	const struct config_key_info *k;
	char flag[64];
	const char *v;
	size_t n = strcspn(argv[*i], "=");
	int r;

	if (n >= sizeof flag)
		return 0;
	memcpy(flag, argv[*i], n);
	flag[n] = '\0';
	k = config_lookup_flag(flag);
	if (!k)
		return 0;
	if ((r = opt_value(argc, argv, i, flag, &v)) < 0)
		return -1;
	config_set(cfg, k->name, v, CONFIG_SRC_FLAG, 0, errs);
	return 1;
}

int cli_config_report(const struct config_errors *errs)
{
	for (int i = 0; i < errs->n_msgs; i++)
		fprintf(stderr, "%s\n", errs->msg[i].text);
	if (errs->n_errors + errs->n_warnings > errs->n_msgs)
		fprintf(stderr, "gputel: config: %d more problems not shown; fix the ones above first\n",
			errs->n_errors + errs->n_warnings - errs->n_msgs);
	return errs->n_errors;
}

/* The word that stands for a key's value in help: "PCT", "S", "always|active". */
static void value_word(const struct config_key_info *k, char *buf, size_t n)
{
	static const char *const words[] = {
		[CONFIG_T_STRING] = "NAME", [CONFIG_T_PATH] = "PATH", [CONFIG_T_INT] = "N",
		[CONFIG_T_PERCENT] = "PCT", [CONFIG_T_SECONDS] = "S", [CONFIG_T_ENUM] = NULL,
		[CONFIG_T_LIST] = "LIST", [CONFIG_T_COMMAND] = "CMD", [CONFIG_T_ADDRESS] = "ADDR", [CONFIG_T_URL] = "URL",
		[CONFIG_T_GPUS] = "LIST",
	};
	struct outbuf o = { buf, 0, n - 1, false };

	if (k->type == CONFIG_T_ENUM) {
		for (const char *const *c = k->choices; *c; c++) {
			if (c != k->choices)
				ob_put(&o, "|", 1);
			ob_puts(&o, *c);
		}
	} else {
		ob_puts(&o, words[k->type]);
	}
	buf[o.full ? 0 : o.len] = '\0';
}

void cli_print_option(FILE *f, const char *opt, const char *text)
{
	enum { INDENT = 29, WIDTH = 79 };
	int col = fprintf(f, "  %-*s", INDENT - 3, opt);
	const char *p = text;

	/* The text wrapped at WIDTH, under itself; a long option starts it on the next line. */
	if (col > INDENT - 1) {
		fprintf(f, "\n%*s", INDENT - 1, "");
		col = INDENT - 1;
	}
	while (*p) {
		size_t w = strcspn(p, " ");

		if (col > INDENT - 1 && col + 1 + (int)w > WIDTH) {
			fprintf(f, "\n%*s", INDENT - 1, "");
			col = INDENT - 1;
		}
		col += fprintf(f, " %.*s", (int)w, p);
		p += w;
		while (*p == ' ')
			p++;
	}
	fputc('\n', f);
}

void cli_print_key_flags(FILE *f)
{
	for (int i = 0; i < CONFIG_KEY__COUNT; i++) {
		const struct config_key_info *k = &config_keys[i];
		char flag[64], word[64], opt[128], text[512];

		if (k->installer)
			continue;
		config_flag_name(k, flag, sizeof flag);
		value_word(k, word, sizeof word);
		snprintf(opt, sizeof opt, "%s %s", flag, word);
		snprintf(text, sizeof text, "%s (default: %s)", k->help, *k->def ? k->def : "none");
		cli_print_option(f, opt, text);
	}
}

void cli_json_str(const char *s)
{
	char small[1024];
	size_t need = 6 * strlen(s) + 2;   /* every byte escaped, and the quotes */
	char *buf = need <= sizeof small ? small : malloc(need);
	struct outbuf o = { buf ? buf : small, 0, buf ? need : sizeof small, false };

	ob_put_json_str(&o, buf ? s : "");
	fwrite(o.p, 1, o.len, stdout);
	if (buf != small)
		free(buf);
}
