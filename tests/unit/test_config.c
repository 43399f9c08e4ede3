/*
 * Unit tests: config.c - the key table, every type's good and bad values,
 * the file syntax, unknown and duplicated keys, the cross-key checks,
 * precedence and sources, file lookup, and docs/config.md kept in step
 * with the table (run from the repository root, as tests/run.sh does).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

#define NAME "t.conf"

static struct config cfg;
static struct config_errors errs;

/* Defaults, then the text as a file named t.conf. */
static int load(const char *text)
{
	config_errors_init(&errs);
	config_defaults(&cfg);
	return config_load_buffer(&cfg, NAME, text, strlen(text), &errs);
}

static bool has_msg(const char *needle)
{
	for (int i = 0; i < errs.n_msgs; i++)
		if (strstr(errs.msg[i].text, needle))
			return true;
	return false;
}

static void dump_msgs(void)
{
	for (int i = 0; i < errs.n_msgs; i++)
		print_message("# msg: %s\n", errs.msg[i].text);
}

#define assert_msg(needle)                                        \
	do {                                                      \
		if (!has_msg(needle))                             \
			dump_msgs();                              \
		assert_true(has_msg(needle));                     \
	} while (0)

static const char *value_of(enum config_key key)
{
	static char buf[CONFIG_TEXT_MAX];

	config_format_value(&cfg, &config_keys[key], buf, sizeof buf);
	return buf;
}

static const char *source_of(enum config_key key)
{
	static char buf[CONFIG_TEXT_MAX + 16];

	config_format_source(&cfg, key, buf, sizeof buf);
	return buf;
}

/* ---- the table and the defaults ---- */

static void test_defaults(void **state)
{
	(void)state;
	config_defaults(&cfg);
	assert_string_equal(cfg.user, "justnews");
	assert_string_equal(cfg.group, "syslog");
	assert_string_equal(cfg.workdir, "");
	assert_string_equal(cfg.logdir, "/var/log/justnews-perf");
	assert_int_equal(cfg.exporter_port, 9118);
	assert_true(cfg.start_util_pct == 20.0);
	assert_int_equal(cfg.start_ns, 5 * NS_PER_SEC);
	assert_true(cfg.stop_util_pct == 10.0);
	assert_int_equal(cfg.stop_ns, 15 * NS_PER_SEC);
	assert_string_equal(cfg.exporter_bind, "0.0.0.0");
	assert_int_equal(cfg.poll_interval_ns, NS_PER_SEC);
	assert_int_equal(cfg.exporter_mode, CONFIG_EXPORTER_ALWAYS);
	assert_int_equal(cfg.metric_names, CONFIG_METRICS_GPUTEL);
	assert_string_equal(cfg.on_start, "");
	assert_string_equal(cfg.on_stop, "");
	assert_true(cfg.gpus.all);
	assert_int_equal(cfg.log_level, LOG_INFO);
	for (int i = 0; i < CONFIG_KEY__COUNT; i++) {
		assert_int_equal(cfg.origin[i].src, CONFIG_SRC_DEFAULT);
		assert_string_equal(source_of((enum config_key)i), "default");
	}
	/* The defaults are valid together. */
	config_errors_init(&errs);
	assert_int_equal(config_validate(&cfg, &errs), 0);
	assert_int_equal(errs.n_errors + errs.n_warnings, 0);
}

static void test_table(void **state)
{
	static const char *const reloadable[] = {
		"JN_START_UTIL", "JN_START_SECONDS", "JN_STOP_UTIL", "JN_STOP_SECONDS",
		"JN_POLL_INTERVAL", "JN_ON_START", "JN_ON_STOP", "JN_LOG_LEVEL",
	};
	static const char *const fixed[] = {
		"JN_USER", "JN_GROUP", "JN_EXPORTER_PORT", "JN_EXPORTER_BIND",
	};
	char flag[64];

	(void)state;
	config_defaults(&cfg);
	for (int i = 0; i < CONFIG_KEY__COUNT; i++) {
		const struct config_key_info *k = &config_keys[i];
		static char v[CONFIG_TEXT_MAX];

		assert_non_null(k->name);
		assert_int_equal(strncmp(k->name, "JN_", 3), 0);
		assert_ptr_equal(config_lookup(k->name), k);
		assert_non_null(k->help);
		assert_true(strlen(k->help) > 0);
		assert_null(strchr(k->help, '|'));            /* markdown table cell */
		assert_non_null(k->def);
		assert_true(k->offset + k->size <= sizeof(struct config));
		config_flag_name(k, flag, sizeof flag);
		assert_ptr_equal(config_lookup_flag(flag), k);
		/* Every default is in canonical form: formatting gives it back. */
		config_format_value(&cfg, k, v, sizeof v);
		assert_string_equal(v, k->def);
		for (int j = 0; j < i; j++)
			assert_true(strcmp(config_keys[j].name, k->name) != 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(reloadable); i++)
		assert_true(config_lookup(reloadable[i])->reloadable);
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		assert_false(config_lookup(fixed[i])->reloadable);
	assert_null(config_lookup("JN_NOPE"));
	assert_null(config_lookup("jn_user"));
	assert_null(config_lookup(""));
	assert_ptr_equal(config_lookup_flag("--start-util"), &config_keys[CONFIG_START_UTIL]);
	assert_ptr_equal(config_lookup_flag("--exporter-port"), &config_keys[CONFIG_EXPORTER_PORT]);
	assert_null(config_lookup_flag("--start_util"));
	assert_null(config_lookup_flag("--config"));
	assert_string_equal(config_type_name(CONFIG_T_PERCENT), "percent");
}

/* Every key in the table has its row, verbatim, in docs/config.md. */
static void test_docs_match_table(void **state)
{
	static char doc[256 * 1024];
	char row[1024];
	ssize_t n;

	(void)state;
	n = file_read_small("docs/config.md", doc, sizeof doc);
	if (n < 0)
		fail_msg("cannot read docs/config.md (%zd); run from the repository root", n);
	for (int i = 0; i < CONFIG_KEY__COUNT; i++) {
		char name[64];

		snprintf(name, sizeof name, "`%s`", config_keys[i].name);
		if (!strstr(doc, name))
			fail_msg("docs/config.md does not mention %s", config_keys[i].name);
		config_doc_row(&config_keys[i], row, sizeof row);
		if (!strstr(doc, row))
			fail_msg("docs/config.md lacks the row (update the docs):\n%s", row);
	}
}

/* ---- values of every type ---- */

struct vcase {
	const char *key, *value;
	const char *want;       /* formatted value when good, NULL when it must be refused */
	const char *problem;    /* part of the message when refused */
};

static const struct vcase good_values[] = {
	{ "JN_USER", "gpu-svc_1.x", "gpu-svc_1.x", NULL },
	{ "JN_USER", "abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345", NULL },
	{ "JN_GROUP", "video", "video", NULL },
	{ "JN_OTLP_ENDPOINT", "", "", NULL },
	{ "JN_OTLP_ENDPOINT", "https://[::1]:4318/base", "https://[::1]:4318/base", NULL },
	{ "JN_OTLP_PROTOCOL", "http/json", "http/json", NULL },
	{ "JN_WORKDIR", "", "", NULL },
	{ "JN_WORKDIR", "/home/justnews/JustNews", "/home/justnews/JustNews", NULL },
	{ "JN_LOGDIR", "/srv/logs dir/é", "/srv/logs dir/é", NULL },
	{ "JN_EXPORTER_PORT", "1", "1", NULL },
	{ "JN_EXPORTER_PORT", "65535", "65535", NULL },
	{ "JN_EXPORTER_PORT", "09118", "9118", NULL },
	{ "JN_START_UTIL", "0", "0", NULL },
	{ "JN_START_UTIL", "100", "100", NULL },
	{ "JN_START_UTIL", "12.5", "12.5", NULL },
	{ "JN_START_UTIL", ".5", "0.5", NULL },
	{ "JN_START_UTIL", "33.333333333333336", "33.33", NULL },
	{ "JN_START_UTIL", "12.345", "12.35", NULL },
	{ "JN_START_UTIL", "0.0000016750638727", "0", NULL },
	{ "JN_STOP_UTIL", "100.0", "100", NULL },
	{ "JN_START_SECONDS", "0", "0", NULL },
	{ "JN_START_SECONDS", "2.5", "2.5", NULL },
	{ "JN_STOP_SECONDS", "86400", "86400", NULL },
	{ "JN_POLL_INTERVAL", "0.01", "0.01", NULL },
	{ "JN_POLL_INTERVAL", "3600", "3600", NULL },
	{ "JN_POLL_INTERVAL", "0.250", "0.25", NULL },
	{ "JN_POLL_INTERVAL", "500ms", "0.5", NULL },
	{ "JN_STOP_SECONDS", "2m", "120", NULL },
	{ "JN_IDLE_SAMPLE_SECONDS", "1h", "3600", NULL },
	{ "JN_EXPORTER_BIND", "127.0.0.1", "127.0.0.1", NULL },
	{ "JN_EXPORTER_BIND", "::", "::", NULL },
	{ "JN_EXPORTER_BIND", "fe80::1", "fe80::1", NULL },
	{ "JN_EXPORTER_MODE", "active", "active", NULL },
	{ "JN_EXPORTER_MODE", "ALWAYS", "always", NULL },
	{ "JN_METRIC_NAMES", "gputel,jn", "gputel,jn", NULL },
	{ "JN_METRIC_NAMES", "dcgm, gputel ,jn", "gputel,jn,dcgm", NULL },
	{ "JN_METRIC_NAMES", "jn,jn", "jn", NULL },
	{ "JN_ON_START", "", "", NULL },
	{ "JN_ON_START", "logger -t gputel \"gpu busy\"; curl -s http://x/$HOST", "logger -t gputel \"gpu busy\"; curl -s http://x/$HOST", NULL },
	{ "JN_ON_STOP", "/usr/local/bin/stop-hook", "/usr/local/bin/stop-hook", NULL },
	{ "JN_GPUS", "all", "all", NULL },
	{ "JN_GPUS", "ALL", "all", NULL },
	{ "JN_GPUS", "0", "0", NULL },
	{ "JN_GPUS", "3,1", "1,3", NULL },
	{ "JN_GPUS", "0-3, 5,7-7", "0-3,5,7", NULL },
	{ "JN_GPUS", "63", "63", NULL },
	{ "JN_LOG_LEVEL", "debug", "debug", NULL },
	{ "JN_LOG_LEVEL", "error", "error", NULL },
};

static const struct vcase bad_values[] = {
	{ "JN_USER", "", NULL, "JN_USER: is empty; give a name such as justnews" },
	{ "JN_USER", "just news", NULL, "is not a user or group name" },
	{ "JN_USER", "-rf", NULL, "is not a user or group name" },
	{ "JN_OTLP_ENDPOINT", "collector:4318", NULL, "is not an http:// or https:// URL" },
	{ "JN_OTLP_ENDPOINT", "http://", NULL, "is not an http:// or https:// URL" },
	{ "JN_OTLP_ENDPOINT", "http://a b", NULL, "is not an http:// or https:// URL" },
	{ "JN_OTLP_PROTOCOL", "grpc", NULL, "JN_OTLP_PROTOCOL" },
	{ "JN_USER", "abcdefghijklmnopqrstuvwxyz0123456", NULL, "longer than 32 bytes" },
	{ "JN_GROUP", "a/b", NULL, "is not a user or group name" },
	{ "JN_LOGDIR", "", NULL, "JN_LOGDIR: is empty; give an absolute path" },
	{ "JN_LOGDIR", "var/log", NULL, "'var/log' is not an absolute path; start it with /" },
	{ "JN_WORKDIR", "~/JustNews", NULL, "is not an absolute path" },
	{ "JN_EXPORTER_PORT", "0", NULL, "0 is out of range; give 1..65535" },
	{ "JN_EXPORTER_PORT", "65536", NULL, "65536 is out of range; give 1..65535" },
	{ "JN_EXPORTER_PORT", "-1", NULL, "'-1' is not a whole number; give 1..65535" },
	{ "JN_EXPORTER_PORT", "+80", NULL, "is not a whole number" },
	{ "JN_EXPORTER_PORT", "80x", NULL, "is not a whole number" },
	{ "JN_EXPORTER_PORT", "9118.0", NULL, "is not a whole number" },
	{ "JN_EXPORTER_PORT", "", NULL, "'' is not a whole number" },
	{ "JN_EXPORTER_PORT", "99999999999999999999999", NULL, "is not a whole number" },
	{ "JN_START_UTIL", "abc", NULL, "JN_START_UTIL: 'abc' is not a percentage; give 0..100" },
	{ "JN_START_UTIL", "", NULL, "'' is not a percentage" },
	{ "JN_START_UTIL", "101", NULL, "101 is out of range; give a percentage 0..100" },
	{ "JN_START_UTIL", "100.01", NULL, "out of range" },
	{ "JN_START_UTIL", "-5", NULL, "is not a percentage" },
	{ "JN_START_UTIL", "20%", NULL, "is not a percentage" },
	{ "JN_START_UTIL", "1e2", NULL, "is not a percentage" },
	{ "JN_START_UTIL", "nan", NULL, "is not a percentage" },
	{ "JN_START_UTIL", "1.2.3", NULL, "is not a percentage" },
	{ "JN_START_UTIL", ".", NULL, "is not a percentage" },
	{ "JN_START_SECONDS", "-1", NULL, "is not a duration; give seconds 0..86400" },
	{ "JN_START_SECONDS", "5sec", NULL, "'5sec' has a unit gputel does not know; use ms, s, m or h" },
	{ "JN_START_SECONDS", "2min", NULL, "has a unit gputel does not know" },
	{ "JN_START_SECONDS", "86400.5", NULL, "86400.5 is out of range; give seconds 0..86400" },
	{ "JN_STOP_SECONDS", "", NULL, "is not a duration" },
	{ "JN_STOP_SECONDS", "99999999999999999999", NULL, "out of range" },
	{ "JN_POLL_INTERVAL", "0", NULL, "0 is out of range; give seconds 0.01..3600" },
	{ "JN_POLL_INTERVAL", "0.001", NULL, "out of range" },
	{ "JN_POLL_INTERVAL", "3601", NULL, "out of range" },
	{ "JN_POLL_INTERVAL", "1e3", NULL, "is not a duration" },
	{ "JN_EXPORTER_BIND", "localhost", NULL, "'localhost' is not an IP address" },
	{ "JN_EXPORTER_BIND", "", NULL, "is not an IP address" },
	{ "JN_EXPORTER_BIND", "256.0.0.1", NULL, "is not an IP address" },
	{ "JN_EXPORTER_MODE", "sometimes", NULL, "'sometimes' is not one of always, active; give one of them" },
	{ "JN_EXPORTER_MODE", "", NULL, "is not one of always, active" },
	{ "JN_METRIC_NAMES", "", NULL, "JN_METRIC_NAMES: is empty; give a comma list of gputel, jn, dcgm" },
	{ "JN_METRIC_NAMES", "gputel,prom", NULL, "'prom' is not one of gputel, jn, dcgm" },
	{ "JN_METRIC_NAMES", "gputel,", NULL, "'' is not one of gputel, jn, dcgm" },
	{ "JN_METRIC_NAMES", ",jn", NULL, "is not one of" },
	{ "JN_ON_START", "a\tb", NULL, "contains a control character (byte 0x09)" },
	{ "JN_ON_STOP", "x\x1b[31m", NULL, "'x\\x1b[31m' contains a control character" },
	{ "JN_ON_STOP", "\xff\xfe", NULL, "is not valid UTF-8" },
	{ "JN_GPUS", "", NULL, "JN_GPUS: is empty; give all" },
	{ "JN_GPUS", "64", NULL, "'64' is not a GPU list; give all, or indexes 0..63" },
	{ "JN_GPUS", "3-1", NULL, "is not a GPU list" },
	{ "JN_GPUS", "0,,1", NULL, "is not a GPU list" },
	{ "JN_GPUS", "0,", NULL, "is not a GPU list" },
	{ "JN_GPUS", "gpu0", NULL, "is not a GPU list" },
	{ "JN_GPUS", "-1", NULL, "is not a GPU list" },
	{ "JN_GPUS", "00000000001", NULL, "is not a GPU list" },
	{ "JN_LOG_LEVEL", "verbose", NULL, "'verbose' is not one of error, warn, info, debug" },
};

static void test_good_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good_values); i++) {
		const struct vcase *c = &good_values[i];
		const struct config_key_info *k = config_lookup(c->key);
		struct config again;

		config_errors_init(&errs);
		config_defaults(&cfg);
		if (config_set(&cfg, c->key, c->value, CONFIG_SRC_FLAG, 0, &errs) != 0) {
			dump_msgs();
			fail_msg("%s=%s refused", c->key, c->value);
		}
		assert_int_equal(errs.n_errors, 0);
		assert_string_equal(value_of((enum config_key)(k - config_keys)), c->want);
		assert_string_equal(source_of((enum config_key)(k - config_keys)), "flag");
		/* The formatted value reads back as the same value. */
		config_defaults(&again);
		assert_int_equal(config_set(&again, c->key, c->want, CONFIG_SRC_FLAG, 0, &errs), 0);
		assert_true(config_value_equal(&cfg, &again, (enum config_key)(k - config_keys)));
	}
}

static void test_bad_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_values); i++) {
		const struct vcase *c = &bad_values[i];
		const struct config_key_info *k = config_lookup(c->key);
		enum config_key key = (enum config_key)(k - config_keys);
		char before[CONFIG_TEXT_MAX];

		config_errors_init(&errs);
		config_defaults(&cfg);
		str_copy(before, value_of(key), sizeof before);
		if (config_set(&cfg, c->key, c->value, CONFIG_SRC_FLAG, 0, &errs) != -EINVAL)
			fail_msg("%s='%s' accepted as '%s'", c->key, c->value, value_of(key));
		assert_int_equal(errs.n_errors, 1);
		assert_int_equal(errs.n_msgs, 1);
		if (!strstr(errs.msg[0].text, c->problem))
			fail_msg("%s='%s': message '%s' lacks '%s'", c->key, c->value, errs.msg[0].text, c->problem);
		/* One line, with the fix after "; ". */
		assert_null(strchr(errs.msg[0].text, '\n'));
		assert_non_null(strstr(errs.msg[0].text, "; "));
		assert_int_equal(strncmp(errs.msg[0].text, "command line: ", 14), 0);
		/* The value and its source stay as they were. */
		assert_string_equal(value_of(key), before);
		assert_int_equal(cfg.origin[key].src, CONFIG_SRC_DEFAULT);
	}
	config_errors_init(&errs);
	assert_int_equal(config_set(&cfg, "JN_NOPE", "1", CONFIG_SRC_FLAG, 0, &errs), -ENOENT);
	assert_int_equal(errs.n_errors, 1);
	assert_msg("unknown key JN_NOPE");
}

/* The example from the brief, in a file, with its line number. */
static void test_file_error_line(void **state)
{
	(void)state;
	assert_int_equal(load("# header\n\nJN_USER=justnews\nJN_GROUP=syslog\n\n# thresholds\nJN_START_UTIL=abc\n"), 1);
	assert_int_equal(errs.n_msgs, 1);
	assert_string_equal(errs.msg[0].text, NAME ":7: JN_START_UTIL: 'abc' is not a percentage; give 0..100");
	assert_false(errs.msg[0].warning);
}

/* ---- the file syntax ---- */

static void test_guide_file(void **state)
{
	(void)state;
	assert_int_equal(load("JN_USER=justnews\n"
			      "JN_GROUP=syslog\n"
			      "JN_WORKDIR=/home/justnews/JustNews\n"
			      "JN_LOGDIR=/var/log/justnews-perf\n"
			      "JN_EXPORTER_PORT=9118\n"
			      "JN_START_UTIL=20\n"
			      "JN_START_SECONDS=5\n"
			      "JN_STOP_UTIL=10\n"
			      "JN_STOP_SECONDS=15\n"), 0);
	assert_int_equal(errs.n_errors + errs.n_warnings, 0);
	assert_true(cfg.file_found);
	assert_string_equal(cfg.workdir, "/home/justnews/JustNews");
	assert_string_equal(source_of(CONFIG_WORKDIR), NAME ":3");
	assert_string_equal(source_of(CONFIG_STOP_SECONDS), NAME ":9");
	assert_string_equal(source_of(CONFIG_POLL_INTERVAL), "default");
	assert_int_equal(config_validate(&cfg, &errs), 0);
}

static void test_quotes_export_comments(void **state)
{
	(void)state;
	assert_int_equal(load("  # indented comment\n"
			      "\t\n"
			      "export JN_USER=svc\n"
			      "export\tJN_GROUP='video'\n"
			      "JN_WORKDIR=\"/srv/my dir\"\n"
			      "JN_LOGDIR='/var/log/a b'   # trailing comment\n"
			      "JN_ON_START='logger \"busy\" $X'\n"
			      "JN_ON_STOP=\"echo \\\"done\\\" \\$HOME \\\\ \\n\"\n"
			      "  JN_EXPORTER_PORT=9200 # port\n"
			      "JN_EXPORTER_BIND=\"\"\n"
			      "JN_METRIC_NAMES=gputel#jn\n"), 2);
	assert_string_equal(cfg.user, "svc");
	assert_string_equal(cfg.group, "video");
	assert_string_equal(cfg.workdir, "/srv/my dir");
	assert_string_equal(cfg.logdir, "/var/log/a b");
	assert_string_equal(cfg.on_start, "logger \"busy\" $X");
	assert_string_equal(cfg.on_stop, "echo \"done\" $HOME \\ \\n");
	assert_int_equal(cfg.exporter_port, 9200);
	/* An empty quoted value is a value: JN_EXPORTER_BIND refuses it. */
	assert_msg(NAME ":10: JN_EXPORTER_BIND: '' is not an IP address");
	/* '#' inside a word is not a comment, as in the shell. */
	assert_msg(NAME ":11: JN_METRIC_NAMES: 'gputel#jn' is not one of");
	assert_int_equal(errs.n_warnings, 0);
}

static void test_empty_values(void **state)
{
	(void)state;
	assert_int_equal(load("JN_WORKDIR=\nJN_ON_START=''\nJN_ON_STOP= # none\nJN_LOGDIR=\n"), 1);
	assert_string_equal(cfg.workdir, "");
	assert_string_equal(source_of(CONFIG_WORKDIR), NAME ":1");
	assert_string_equal(source_of(CONFIG_ON_START), NAME ":2");
	assert_string_equal(source_of(CONFIG_ON_STOP), NAME ":3");
	assert_msg(NAME ":4: JN_LOGDIR: is empty; give an absolute path, e.g. /var/log/justnews-perf");
	assert_string_equal(cfg.logdir, "/var/log/justnews-perf");
}

static void test_crlf_bom_no_newline(void **state)
{
	(void)state;
	assert_int_equal(load("\xef\xbb\xbfJN_USER=a\r\nJN_GROUP='b'\r\n# c\r\n\r\nJN_START_UTIL=30"), 0);
	assert_int_equal(errs.n_errors + errs.n_warnings, 0);
	assert_string_equal(cfg.user, "a");
	assert_string_equal(cfg.group, "b");
	assert_true(cfg.start_util_pct == 30.0);
	assert_string_equal(source_of(CONFIG_START_UTIL), NAME ":5");
	/* An empty file is a valid file. */
	assert_int_equal(load(""), 0);
	assert_true(cfg.file_found);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	assert_int_equal(load("JN_START_UTIL = 30\n"             /* 1 */
			      "JN_STOP_UTIL\n"                   /* 2 */
			      "JN_ON_START='never closed\n"      /* 3 */
			      "JN_ON_STOP=\"never closed\n"      /* 4 */
			      "JN_WORKDIR=/a b\n"                /* 5 */
			      "JN_LOGDIR='/a'b\n"                /* 6 */
			      "JN_USER=a;b\n"                    /* 7 */
			      "1JN=3\n"                          /* 8 */
			      "JN-USER=x\n"                      /* 9 */
			      "=5\n"                             /* 10 */
			      "JN_GROUP=$(id -gn)\n"             /* 11 */
			      "export\n"                         /* 12 */
			      "JN_GPUS=0 1\n"),                  /* 13 */
			 13);
	assert_msg(NAME ":1: JN_START_UTIL: space before '='; write JN_START_UTIL=value with no spaces");
	assert_msg(NAME ":2: expected KEY=value, found 'JN_STOP_UTIL'");
	assert_msg(NAME ":3: JN_ON_START: no closing single quote; end the value with '");
	assert_msg(NAME ":4: JN_ON_STOP: no closing double quote");
	assert_msg(NAME ":5: JN_WORKDIR: value has a space before 'b'; put the whole value in single quotes");
	assert_msg(NAME ":6: JN_LOGDIR: text after the closing quote: 'b'");
	assert_msg(NAME ":7: JN_USER: unquoted ; in 'a;b'");
	assert_msg(NAME ":8: '1JN=3' is not a KEY=value assignment");
	assert_msg(NAME ":9: 'JN-USER=x' is not a KEY=value assignment");
	assert_msg(NAME ":10: '=5' is not a KEY=value assignment");
	assert_msg(NAME ":11: JN_GROUP: unquoted (");
	assert_msg(NAME ":12: expected KEY=value, found 'export'");
	assert_msg(NAME ":13: JN_GPUS: value has a space");
	/* Nothing was applied from the broken lines. */
	for (int i = 0; i < CONFIG_KEY__COUNT; i++)
		assert_int_equal(cfg.origin[i].src, CONFIG_SRC_DEFAULT);
	for (int i = 0; i < errs.n_msgs; i++)
		assert_null(strchr(errs.msg[i].text, '\n'));
}

static void test_dollar_warning(void **state)
{
	(void)state;
	assert_int_equal(load("JN_ON_START=\"echo $HOME\"\nJN_ON_STOP='echo $HOME'\nJN_WORKDIR=/srv/$X\n"), 0);
	assert_int_equal(errs.n_warnings, 2);
	assert_msg(NAME ":1: warning: JN_ON_START: '$' and '`' are taken literally");
	assert_msg(NAME ":3: warning: JN_WORKDIR:");
	assert_false(has_msg(NAME ":2:"));
	assert_string_equal(cfg.on_start, "echo $HOME");
	assert_string_equal(cfg.workdir, "/srv/$X");
}

static void test_long_lines(void **state)
{
	static char text[3 * CONFIG_LINE_MAX];
	const char *pre = "JN_ON_START='";
	size_t n, fill;

	(void)state;
	/* The longest line allowed: CONFIG_LINE_MAX - 1 bytes before the newline. */
	n = str_copy(text, pre, sizeof text);
	fill = CONFIG_LINE_MAX - 1 - n - 1;
	memset(text + n, 'x', fill);
	n += fill;
	text[n++] = '\'';
	text[n++] = '\n';
	text[n] = '\0';
	assert_int_equal(load(text), 0);
	assert_int_equal(strlen(cfg.on_start), fill);

	/* One byte more: refused with its line number; the next lines still count. */
	n = str_copy(text, "JN_USER=a\n", sizeof text);
	memcpy(text + n, pre, strlen(pre));
	n += strlen(pre);
	memset(text + n, 'y', CONFIG_LINE_MAX);
	n += CONFIG_LINE_MAX;
	n += (size_t)snprintf(text + n, sizeof text - n, "'\nJN_GROUP=b\n");
	assert_int_equal(load(text), 1);
	assert_msg(NAME ":2: line is longer than 4095 bytes; shorten it");
	assert_string_equal(cfg.on_start, "");
	assert_string_equal(cfg.group, "b");
	assert_string_equal(source_of(CONFIG_GROUP), NAME ":3");

	/* A NUL byte inside a line. */
	config_errors_init(&errs);
	config_defaults(&cfg);
	const char nul[] = "JN_USER=a\0b\nJN_GROUP=c\n";

	assert_int_equal(config_load_buffer(&cfg, NAME, nul, sizeof nul - 1, &errs), 1);
	assert_msg(NAME ":1: line holds a NUL byte");
	assert_string_equal(cfg.group, "c");
}

static void test_all_errors_collected(void **state)
{
	static char text[64 * 200];
	size_t n = 0;

	(void)state;
	assert_int_equal(load("JN_START_UTIL=x\nJN_STOP_UTIL=y\nJN_EXPORTER_PORT=z\nJN_GPUS=w\n"), 4);
	assert_int_equal(errs.n_msgs, 4);
	assert_msg(NAME ":1: JN_START_UTIL");
	assert_msg(NAME ":4: JN_GPUS");
	/* More problems than are kept: all are counted. */
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "JN_EXPORTER_PORT=bad%d\n", i);
	assert_int_equal(load(text), 100);
	assert_int_equal(errs.n_errors, 100);
	assert_int_equal(errs.n_msgs, CONFIG_MAX_MSGS);
}

/* ---- unknown and duplicated keys ---- */

static void test_unknown_key(void **state)
{
	(void)state;
	assert_int_equal(load("JN_STRT_UTIL=30\njn_stop_util=5\nJN_EXPORTER_PROT=1\nSOMETHING_ELSE=1\nSTART_UTIL=3\nJN_X='oops\n"), 1);
	assert_int_equal(errs.n_warnings, 6);
	assert_msg(NAME ":1: warning: unknown key JN_STRT_UTIL; did you mean JN_START_UTIL?");
	assert_msg(NAME ":2: warning: unknown key jn_stop_util; did you mean JN_STOP_UTIL?");
	assert_msg(NAME ":3: warning: unknown key JN_EXPORTER_PROT; did you mean JN_EXPORTER_PORT?");
	assert_msg(NAME ":4: warning: unknown key SOMETHING_ELSE; ignored");
	assert_msg(NAME ":5: warning: unknown key START_UTIL; did you mean JN_START_UTIL?");
	/* An unknown key's broken value is still an error: a shell would choke. */
	assert_msg(NAME ":6: JN_X: no closing single quote");
	for (int i = 0; i < errs.n_msgs; i++)
		assert_true(errs.msg[i].warning == (strstr(errs.msg[i].text, "warning: ") != NULL));
	assert_true(cfg.start_util_pct == 20.0);

	assert_ptr_equal(config_suggest("JN_USR"), config_lookup("JN_USER"));
	assert_ptr_equal(config_suggest("JN_LOG_DIR"), config_lookup("JN_LOGDIR"));
	assert_ptr_equal(config_suggest("JN_START_SECOND"), config_lookup("JN_START_SECONDS"));
	assert_null(config_suggest("JN_PORT"));
	assert_null(config_suggest("HOME"));
	assert_null(config_suggest(""));
}

static void test_duplicate_key(void **state)
{
	(void)state;
	assert_int_equal(load("JN_START_UTIL=30\nJN_USER=a\nJN_START_UTIL=40\n"), 0);
	assert_int_equal(errs.n_warnings, 1);
	assert_msg(NAME ":3: warning: JN_START_UTIL set again (first on line 1); the later value wins");
	assert_true(cfg.start_util_pct == 40.0);
	assert_string_equal(source_of(CONFIG_START_UTIL), NAME ":3");
	/* A bad later value does not replace the good earlier one. */
	assert_int_equal(load("JN_START_UTIL=30\nJN_START_UTIL=300\n"), 1);
	assert_true(cfg.start_util_pct == 30.0);
	assert_string_equal(source_of(CONFIG_START_UTIL), NAME ":1");
}

/* ---- cross-key checks ---- */

static void test_hysteresis(void **state)
{
	(void)state;
	assert_int_equal(load("JN_START_UTIL=10\n"), 0);
	assert_int_equal(config_validate(&cfg, &errs), 1);
	assert_msg(NAME ":1: JN_START_UTIL: 10 is not above JN_STOP_UTIL (10, from default); starts and stops would alternate: raise JN_START_UTIL or lower JN_STOP_UTIL");

	assert_int_equal(load("JN_STOP_UTIL=50\n"), 0);
	assert_int_equal(config_validate(&cfg, &errs), 1);
	assert_msg(NAME ":1: JN_STOP_UTIL: 50 is not below JN_START_UTIL (20, from default)");

	assert_int_equal(load("JN_STOP_UTIL=30\nJN_START_UTIL=25\n"), 0);
	assert_int_equal(config_validate(&cfg, &errs), 1);
	assert_msg(NAME ":2: JN_START_UTIL: 25 is not above JN_STOP_UTIL (30, from " NAME ":1)");

	/* Raising both keeps the order: fine. */
	assert_int_equal(load("JN_START_UTIL=90\nJN_STOP_UTIL=80.5\n"), 0);
	assert_int_equal(config_validate(&cfg, &errs), 0);

	/* Across sources: a flag that breaks the order is named. */
	assert_int_equal(config_set(&cfg, "JN_STOP_UTIL", "95", CONFIG_SRC_FLAG, 0, &errs), 0);
	assert_int_equal(config_validate(&cfg, &errs), 1);
	assert_msg("command line: JN_STOP_UTIL: 95 is not below JN_START_UTIL (90, from " NAME ":1)");
}

static void test_hold_shorter_than_poll(void **state)
{
	(void)state;
	assert_int_equal(load("JN_POLL_INTERVAL=20\nJN_START_SECONDS=0\n"), 0);
	assert_int_equal(config_validate(&cfg, &errs), 0);
	assert_int_equal(errs.n_warnings, 1);
	assert_msg("default: warning: JN_STOP_SECONDS: 15 s is");
	assert_false(has_msg("JN_START_SECONDS"));
	assert_int_equal(load("JN_POLL_INTERVAL=20\nJN_START_SECONDS=0\nJN_STOP_SECONDS=20\n"), 0);
	assert_int_equal(config_validate(&cfg, &errs), 0);
	assert_int_equal(errs.n_warnings, 0);
}

/* ---- precedence and sources ---- */

static void test_precedence(void **state)
{
	char *env[] = { "HOME=/root", "JN_START_UTIL=40", "JN_START_SECONDS=7", "JN_LOG_LEVEL=debug", NULL };

	(void)state;
	assert_int_equal(load("JN_START_UTIL=30\nJN_START_SECONDS=6\nJN_STOP_SECONDS=8\nJN_USER=filer\n"), 0);
	assert_int_equal(config_apply_env(&cfg, env, &errs), 0);
	assert_int_equal(config_set(&cfg, "JN_START_UTIL", "50", CONFIG_SRC_FLAG, 0, &errs), 0);
	assert_int_equal(errs.n_errors, 0);
	assert_true(cfg.start_util_pct == 50.0);             /* flag > env > file */
	assert_string_equal(source_of(CONFIG_START_UTIL), "flag");
	assert_int_equal(cfg.start_ns, 7 * NS_PER_SEC);      /* env > file */
	assert_string_equal(source_of(CONFIG_START_SECONDS), "env");
	assert_int_equal(cfg.stop_ns, 8 * NS_PER_SEC);       /* file > default */
	assert_string_equal(source_of(CONFIG_STOP_SECONDS), NAME ":3");
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_string_equal(source_of(CONFIG_LOG_LEVEL), "env");
	assert_string_equal(source_of(CONFIG_EXPORTER_PORT), "default");

	/* The order of the calls does not matter: a lower source never wins. */
	config_errors_init(&errs);
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "JN_START_UTIL", "50", CONFIG_SRC_FLAG, 0, &errs), 0);
	assert_int_equal(config_apply_env(&cfg, env, &errs), 0);
	assert_int_equal(config_load_buffer(&cfg, NAME, "JN_START_UTIL=30\nJN_START_SECONDS=6\n", 36, &errs), 0);
	assert_true(cfg.start_util_pct == 50.0);
	assert_string_equal(source_of(CONFIG_START_UTIL), "flag");
	assert_int_equal(cfg.start_ns, 7 * NS_PER_SEC);
	assert_string_equal(source_of(CONFIG_START_SECONDS), "env");
	/* ... but its values are still checked. */
	assert_int_equal(config_load_buffer(&cfg, NAME, "JN_START_UTIL=abc\n", 18, &errs), 1);
	assert_msg(NAME ":1: JN_START_UTIL: 'abc' is not a percentage");
	assert_true(cfg.start_util_pct == 50.0);
}

static void test_env(void **state)
{
	char *env[] = { "JN_EXPORTER_PORT=http", "JN_STRT_UTIL=40", "JN_OTHER_TOOL=1", "JN_USER", "JN_WORKDIR=", NULL };

	(void)state;
	config_errors_init(&errs);
	config_defaults(&cfg);
	assert_int_equal(config_apply_env(&cfg, env, &errs), 1);
	assert_msg("environment: JN_EXPORTER_PORT: 'http' is not a whole number; give 1..65535");
	assert_msg("environment: warning: unknown variable JN_STRT_UTIL; did you mean JN_START_UTIL?");
	assert_false(has_msg("JN_OTHER_TOOL"));
	assert_int_equal(errs.n_warnings, 1);
	assert_int_equal(cfg.exporter_port, 9118);
	assert_string_equal(cfg.user, "justnews");           /* "JN_USER" without '=' is not set */
	assert_string_equal(source_of(CONFIG_WORKDIR), "env"); /* set, to empty */
	assert_null(config_env_get(env, "JN_EXPORTER"));
	assert_string_equal(config_env_get(env, "JN_EXPORTER_PORT"), "http");
	assert_int_equal(config_apply_env(&cfg, NULL, &errs), 0);
}

static void test_file_path(void **state)
{
	char *none[] = { "HOME=/root", NULL };
	char *env[] = { "GPUTEL_CONFIG=/etc/gputel.env", NULL };
	char *empty[] = { "GPUTEL_CONFIG=", NULL };
	bool ex;

	(void)state;
	assert_string_equal(config_file_path(NULL, none, &ex), CONFIG_DEFAULT_PATH);
	assert_false(ex);
	assert_string_equal(config_file_path(NULL, NULL, &ex), CONFIG_DEFAULT_PATH);
	assert_false(ex);
	assert_string_equal(config_file_path(NULL, empty, &ex), CONFIG_DEFAULT_PATH);
	assert_false(ex);
	assert_string_equal(config_file_path(NULL, env, &ex), "/etc/gputel.env");
	assert_true(ex);
	assert_string_equal(config_file_path("/x.conf", env, &ex), "/x.conf");
	assert_true(ex);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_load_file(void **state)
{
	char dir[] = "/tmp/gputel-config-test.XXXXXX", path[128];

	(void)state;
	assert_non_null(mkdtemp(dir));

	/* Missing: -ENOENT and no error; the caller decides. */
	snprintf(path, sizeof path, "%s/missing", dir);
	config_errors_init(&errs);
	config_defaults(&cfg);
	assert_int_equal(config_load_file(&cfg, path, &errs), -ENOENT);
	assert_int_equal(errs.n_errors + errs.n_warnings, 0);
	assert_false(cfg.file_found);
	assert_string_equal(cfg.file, path);
	assert_string_equal(cfg.user, "justnews");
	config_error_missing(&errs, path);
	assert_int_equal(errs.n_errors, 1);
	assert_msg("/missing: no such file; create it, or give an existing file with --config FILE");

	/* A good file. */
	snprintf(path, sizeof path, "%s/good", dir);
	write_file(path, "JN_USER=filer\nJN_STRT_UTIL=1\n");
	chmod(path, 0644);
	config_errors_init(&errs);
	config_defaults(&cfg);
	assert_int_equal(config_load_file(&cfg, path, &errs), 0);
	assert_true(cfg.file_found);
	assert_string_equal(cfg.user, "filer");
	assert_int_equal(errs.n_errors, 0);
	assert_int_equal(errs.n_warnings, 1);
	assert_msg("/good:2: warning: unknown key JN_STRT_UTIL; did you mean JN_START_UTIL?");
	assert_non_null(strstr(source_of(CONFIG_USER), "/good:1"));

	/* Writable by anyone: the hooks would run as the service. */
	chmod(path, 0666);
	config_errors_init(&errs);
	assert_int_equal(config_load_file(&cfg, path, &errs), 0);
	assert_msg("/good: warning: any user can write it");
	unlink(path);

	/* A directory. */
	config_errors_init(&errs);
	assert_int_equal(config_load_file(&cfg, dir, &errs), -EISDIR);
	assert_int_equal(errs.n_errors, 1);
	assert_msg(": is a directory; give the configuration file");

	/* Too big. */
	snprintf(path, sizeof path, "%s/big", dir);
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		for (int i = 0; i < CONFIG_FILE_MAX / 16 + 1; i++)
			fputs("# padding line.\n", f);
		assert_int_equal(fclose(f), 0);
	}
	config_errors_init(&errs);
	assert_int_equal(config_load_file(&cfg, path, &errs), -EFBIG);
	assert_msg("/big: larger than 1024 KiB");
	unlink(path);

	/* Unreadable (as a user that is not root; root reads anything). */
	if (geteuid() != 0) {
		snprintf(path, sizeof path, "%s/secret", dir);
		write_file(path, "JN_USER=a\n");
		chmod(path, 0);
		config_errors_init(&errs);
		assert_int_equal(config_load_file(&cfg, path, &errs), -EACCES);
		assert_msg("/secret: cannot read: Permission denied");
		unlink(path);
	}
	assert_int_equal(rmdir(dir), 0);
}

static void test_value_equal(void **state)
{
	struct config a, b;

	(void)state;
	config_defaults(&a);
	config_defaults(&b);
	for (int i = 0; i < CONFIG_KEY__COUNT; i++)
		assert_true(config_value_equal(&a, &b, (enum config_key)i));
	/* Leftover bytes of a longer earlier value do not matter. */
	assert_int_equal(config_set(&a, "JN_ON_START", "a long command", CONFIG_SRC_FILE, 1, NULL), 0);
	assert_int_equal(config_set(&a, "JN_ON_START", "", CONFIG_SRC_FILE, 2, NULL), 0);
	assert_true(config_value_equal(&a, &b, CONFIG_ON_START));
	assert_int_equal(config_set(&a, "JN_GPUS", "0,1", CONFIG_SRC_FILE, 1, NULL), 0);
	assert_false(config_value_equal(&a, &b, CONFIG_GPUS));
	assert_int_equal(config_set(&b, "JN_GPUS", "0-1", CONFIG_SRC_FILE, 1, NULL), 0);
	assert_true(config_value_equal(&a, &b, CONFIG_GPUS));
	assert_int_equal(config_set(&a, "JN_EXPORTER_PORT", "9000", CONFIG_SRC_FILE, 1, NULL), 0);
	assert_false(config_value_equal(&a, &b, CONFIG_EXPORTER_PORT));
	assert_int_equal(config_set(&a, "JN_START_UTIL", "21", CONFIG_SRC_FILE, 1, NULL), 0);
	assert_false(config_value_equal(&a, &b, CONFIG_START_UTIL));
	/* A NULL errors pointer is allowed: the problem is just not recorded. */
	assert_int_equal(config_set(&a, "JN_START_UTIL", "x", CONFIG_SRC_FILE, 1, NULL), -EINVAL);
}

static void test_formatting(void **state)
{
	char buf[128];

	(void)state;
	config_format_bounds(&config_keys[CONFIG_POLL_INTERVAL], buf, sizeof buf);
	assert_string_equal(buf, "0.01..3600");
	config_format_bounds(&config_keys[CONFIG_EXPORTER_PORT], buf, sizeof buf);
	assert_string_equal(buf, "1..65535");
	config_format_bounds(&config_keys[CONFIG_LOG_LEVEL], buf, sizeof buf);
	assert_string_equal(buf, "error, warn, info, debug");
	config_doc_row(&config_keys[CONFIG_START_UTIL], buf, sizeof buf);
	{
		const char *want = "| `JN_START_UTIL` | `--start-util` | percent | 0..100 | `20` | yes | ";

		assert_int_equal(strncmp(buf, want, strlen(want)), 0);
	}
	config_doc_row(&config_keys[CONFIG_ON_START], buf, sizeof buf);
	assert_non_null(strstr(buf, "| (empty) |"));
	/* Small buffers truncate, never overflow. */
	config_defaults(&cfg);
	config_format_value(&cfg, &config_keys[CONFIG_LOGDIR], buf, 5);
	assert_string_equal(buf, "/var");
	config_set(&cfg, "JN_GPUS", "0,2,4,6,8,10", CONFIG_SRC_FLAG, 0, NULL);
	config_format_value(&cfg, &config_keys[CONFIG_GPUS], buf, 6);
	assert_true(strlen(buf) < 6);
	config_flag_name(&config_keys[CONFIG_START_UTIL], buf, 2);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_docs_match_table),
		cmocka_unit_test(test_good_values),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_file_error_line),
		cmocka_unit_test(test_guide_file),
		cmocka_unit_test(test_quotes_export_comments),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_crlf_bom_no_newline),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_dollar_warning),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_all_errors_collected),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_hold_shorter_than_poll),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_file_path),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_value_equal),
		cmocka_unit_test(test_formatting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
