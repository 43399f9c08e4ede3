/*
 * cmd_config.c - `gputel config show` and `gputel config check`: the
 * agent's configuration as the agent would see it (file, then JN_*
 * environment variables, then the key flags given here), with where each
 * value came from.  Problems are one line each, "FILE:LINE: KEY: problem;
 * fix", and exit 2.  The keys themselves live in config.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "util.h"

static const char config_usage[] =
	"usage: gputel config show [--config FILE] [--json | --verbose] [--KEY VALUE ...]\n"
	"       gputel config check [--config FILE] [--KEY VALUE ...]\n"
	"       gputel config defaults\n"
	"\n"
	"show   prints every key with its effective value and where it came from\n"
	"       (default, FILE:LINE, env or flag); the output is itself a valid file.\n"
	"check  prints 'config ok: FILE', or one line per problem and exits 2.\n"
	"defaults  prints /etc/default/justnews-gpu-telemetry as installed: every\n"
	"       key at its default, with its help (packaging/ holds this output).\n"
	"\n"
	"  --config FILE   the file to read (default $" CONFIG_PATH_ENV ", else\n"
	"                  " CONFIG_DEFAULT_PATH "; a missing default is fine)\n"
	"  --json          show as JSON\n"
	"  --verbose       show each key's help, bounds and default above it\n"
	"  --KEY VALUE     a key as the agent's flag would set it, e.g. --start-util 30\n"
	"\n"
	"Precedence: flags > environment (the same JN_* names) > file > defaults.\n"
	"The keys are described in docs/config.md.\n";

enum config_cmd { CMD_SHOW, CMD_CHECK, CMD_DEFAULTS };

struct config_args {
	enum config_cmd cmd;
	const char *file;       /* --config, or NULL */
	bool json, verbose;
};

/* Parses the options; key flags go straight into cfg (errors into errs). */
static int parse_args(int argc, char **argv, struct config_args *a, struct config *cfg,
		      struct config_errors *errs)
{
	memset(a, 0, sizeof *a);
	if (argc < 2)
		return usage_error("config", "give a subcommand: show or check; see 'gputel config --help'");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(config_usage, stdout);
		return -1;
	}
	if (!strcmp(argv[1], "show"))
		a->cmd = CMD_SHOW;
	else if (!strcmp(argv[1], "check"))
		a->cmd = CMD_CHECK;
	else if (!strcmp(argv[1], "defaults") && argc == 2)
		a->cmd = CMD_DEFAULTS;
	else if (!strcmp(argv[1], "defaults"))
		return usage_error("config", "defaults takes no options");
	else
		return usage_error("config", "unknown subcommand '%s'; give show, check or defaults", argv[1]);

	for (int i = 2; i < argc; i++) {
		const char *v;
		int r;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(config_usage, stdout);
			return -1;
		}
		if (a->cmd == CMD_SHOW && !strcmp(argv[i], "--json")) {
			a->json = true;
			continue;
		}
		if (a->cmd == CMD_SHOW && (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v"))) {
			a->verbose = true;
			continue;
		}
		if ((r = opt_value(argc, argv, &i, "--config", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (!*v)
				return usage_error("config", "--config is empty; pass a file");
			a->file = v;
			continue;
		}
		if ((r = cli_config_flag(argc, argv, &i, cfg, errs)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			continue;
		}
		return usage_error("config", "unknown option '%s'; see 'gputel config --help'", argv[i]);
	}
	if (a->json && a->verbose)
		return usage_error("config", "--json and --verbose do not go together; pick one");
	return 0;
}

/* The value in file syntax: bare when the shell would take it as is, else quoted. */
static void shell_value(const char *v, char *buf, size_t n)
{
	size_t o = 0;

	if (!v[strcspn(v, " \t'\"\\;&|<>()`$#*?[]~{}!")]) {
		str_copy(buf, v, n);
		return;
	}
	if (!strchr(v, '\'')) {
		str_fmt(buf, n, "'%s'", v);
		return;
	}
	buf[o++] = '"';
	for (; *v && o + 3 < n; v++) {
		if (strchr("\"\\$`", *v))
			buf[o++] = '\\';
		buf[o++] = *v;
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

static const char *source_word(enum config_source s)
{
	switch (s) {
	case CONFIG_SRC_FILE: return "file";
	case CONFIG_SRC_ENV: return "env";
	case CONFIG_SRC_FLAG: return "flag";
	case CONFIG_SRC_DEFAULT: break;
	}
	return "default";
}

static void show_json(const struct config *cfg, const struct config_errors *errs)
{
	static char value[CONFIG_TEXT_MAX];
	char bounds[128], flag[64];
	bool first = true;

	printf("{\"file\": ");
	cli_json_str(cfg->file);
	printf(", \"file_found\": %s, \"keys\": [", cfg->file_found ? "true" : "false");
	for (size_t i = 0; i < CONFIG_KEY__COUNT; i++) {
		const struct config_key_info *k = &config_keys[i];
		const struct config_origin *o = &cfg->origin[i];

		config_format_value(cfg, k, value, sizeof value);
		config_format_bounds(k, bounds, sizeof bounds);
		config_flag_name(k, flag, sizeof flag);
		printf("%s\n  {\"key\": ", i ? "," : "");
		cli_json_str(k->name);
		printf(", \"value\": ");
		cli_json_str(value);
		printf(", \"source\": \"%s\"", source_word(o->src));
		if (o->src == CONFIG_SRC_FILE)
			printf(", \"line\": %u", o->line);
		else
			printf(", \"line\": null");
		printf(", \"type\": ");
		cli_json_str(config_type_name(k->type));
		printf(", \"bounds\": ");
		cli_json_str(bounds);
		printf(", \"default\": ");
		cli_json_str(k->def);
		printf(", \"flag\": ");
		cli_json_str(flag);
		printf(", \"reloadable\": %s, \"applied\": ", k->reloadable ? "true" : "false");
		cli_json_str(config_key_applied(k));
		printf(", \"help\": ");
		cli_json_str(k->help);
		putchar('}');
	}
	printf("\n], \"warnings\": [");
	for (int i = 0; i < errs->n_msgs; i++) {
		if (!errs->msg[i].warning)
			continue;
		printf("%s\n  ", first ? "" : ",");
		cli_json_str(errs->msg[i].text);
		first = false;
	}
	printf("%s]}\n", first ? "" : "\n");
}

static void show_text(const struct config *cfg, bool verbose)
{
	static char value[CONFIG_TEXT_MAX], quoted[2 * CONFIG_TEXT_MAX + 3];
	char src[CONFIG_TEXT_MAX + 16], bounds[128];
	int width = 0;

	/* Align the sources; a very long value just pushes its own past the column. */
	for (size_t i = 0; i < CONFIG_KEY__COUNT; i++) {
		int w;

		config_format_value(cfg, &config_keys[i], value, sizeof value);
		shell_value(value, quoted, sizeof quoted);
		w = (int)(strlen(config_keys[i].name) + 1 + strlen(quoted));
		if (w > width && w <= 48)
			width = w;
	}
	for (size_t i = 0; i < CONFIG_KEY__COUNT; i++) {
		const struct config_key_info *k = &config_keys[i];
		int w;

		config_format_value(cfg, k, value, sizeof value);
		shell_value(value, quoted, sizeof quoted);
		config_format_source(cfg, (enum config_key)i, src, sizeof src);
		if (verbose) {
			config_format_bounds(k, bounds, sizeof bounds);
			printf("%s# %s\n# %s (%s); default %s; %s\n", i ? "\n" : "", k->help,
			       config_type_name(k->type), bounds, *k->def ? k->def : "empty",
			       config_key_applied(k));
		}
		w = printf("%s=%s", k->name, quoted);
		printf("%*s  # %s\n", w < width ? width - w : 0, "", src);
	}
}

/* The defaults file as installed: each key with its help, at its default. */
static void show_defaults(void)
{
	static struct config cfg;
	static char value[CONFIG_TEXT_MAX], quoted[2 * CONFIG_TEXT_MAX + 3];
	char bounds[128];

	config_defaults(&cfg);
	printf("# /etc/default/justnews-gpu-telemetry - settings of the gputel agent\n"
	       "# (justnews-gpu-telemetry.service).  KEY=VALUE lines; '#' starts a comment.\n"
	       "# Every key is listed at its default; see justnews-gpu-telemetry(5) and\n"
	       "# docs/config.md.  Check an edit with: gputel config check\n"
	       "# Apply it: systemctl reload justnews-gpu-telemetry (keys marked\n"
	       "# \"reloaded\"), or systemctl restart justnews-gpu-telemetry (the others);\n"
	       "# keys marked \"applied by\" take effect when that installer runs again.\n");
	for (size_t i = 0; i < CONFIG_KEY__COUNT; i++) {
		const struct config_key_info *k = &config_keys[i];

		config_format_value(&cfg, k, value, sizeof value);
		shell_value(value, quoted, sizeof quoted);
		config_format_bounds(k, bounds, sizeof bounds);
		printf("\n# %s\n# %s (%s); %s\n%s=%s\n", k->help, config_type_name(k->type), bounds,
		       config_key_applied(k), k->name, quoted);
	}
}

int cmd_config(int argc, char **argv)
{
	static struct config cfg;
	static struct config_errors errs;
	struct config_args a;
	int r;

	config_errors_init(&errs);
	config_defaults(&cfg);
	r = parse_args(argc, argv, &a, &cfg, &errs);
	if (r != 0)
		return r < 0 ? 0 : r;
	if (a.cmd == CMD_DEFAULTS) {
		show_defaults();
		return fflush(stdout) == 0 ? 0 : 1;
	}

	config_resolve(&cfg, a.file, environ, &errs);
	if (cli_config_report(&errs) > 0)
		return EXIT_USAGE;

	if (a.cmd == CMD_CHECK) {
		if (!cfg.file_found)
			printf("config ok: %s (not found; defaults apply)\n", cfg.file);
		else if (errs.n_warnings)
			printf("config ok: %s (%d warning%s)\n", cfg.file, errs.n_warnings,
			       errs.n_warnings == 1 ? "" : "s");
		else
			printf("config ok: %s\n", cfg.file);
	} else if (a.json) {
		show_json(&cfg, &errs);
	} else {
		show_text(&cfg, a.verbose);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
