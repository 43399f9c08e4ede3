/*
 * config.h - the agent's configuration: one declarative table of keys
 * (name, type, bounds, default, help, reloadable) that drives parsing,
 * validation, `gputel config show/check` and docs/config.md.
 *
 * The file is the shell-style /etc/default/justnews-gpu-telemetry of the
 * JustNews guide: KEY=value lines, # comments, an optional "export "
 * prefix, values optionally in single or double quotes, never expanded.
 *
 * Precedence: command-line flags > environment (the same JN_* names) >
 * file > defaults.  config_set() enforces it, so sources may be applied in
 * any order: a value from a lower source is still checked but does not
 * replace one from a higher source.  The usual sequence:
 *
 *	struct config cfg;
 *	struct config_errors errs;
 *
 *	config_errors_init(&errs);
 *	config_defaults(&cfg);
 *	path = config_file_path(flag_value, environ, &explicit);
 *	if (config_load_file(&cfg, path, &errs) == -ENOENT && explicit)
 *		config_error_missing(&errs, path);
 *	config_apply_env(&cfg, environ, &errs);
 *	config_set(&cfg, "JN_START_UTIL", "30", CONFIG_SRC_FLAG, 0, &errs);
 *	config_validate(&cfg, &errs);
 *	if (errs.n_errors) ... print errs, exit 2
 *
 * Nothing here does I/O beyond reading the named file; nothing allocates
 * except config_load_file's temporary read buffer.  Messages are one line:
 * "FILE:LINE: KEY: problem; fix" ("environment" or "command line" in place
 * of FILE:LINE for the other sources).
 */
#ifndef GPUTEL_CONFIG_H
#define GPUTEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CONFIG_DEFAULT_PATH "/etc/default/justnews-gpu-telemetry"
#define CONFIG_PATH_ENV "GPUTEL_CONFIG"

/* A line holds at most CONFIG_LINE_MAX - 1 bytes before its newline. */
#define CONFIG_LINE_MAX 4096
#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_NAME_MAX 33     /* user and group names: 32 bytes */
#define CONFIG_ADDR_MAX 64
#define CONFIG_TEXT_MAX CONFIG_LINE_MAX /* paths and commands */
#define CONFIG_MAX_GPU_INDEX 63

/* Every key, in table order (config_keys[] follows it). */
enum config_key {
	CONFIG_USER,
	CONFIG_GROUP,
	CONFIG_WORKDIR,
	CONFIG_LOGDIR,
	CONFIG_EXPORTER_PORT,
	CONFIG_START_UTIL,
	CONFIG_START_SECONDS,
	CONFIG_STOP_UTIL,
	CONFIG_STOP_SECONDS,
	CONFIG_EXPORTER_BIND,
	CONFIG_POLL_INTERVAL,
	CONFIG_EXPORTER_MODE,
	CONFIG_METRIC_NAMES,
	CONFIG_ON_START,
	CONFIG_ON_STOP,
	CONFIG_ON_XID,
	CONFIG_GPUS,
	CONFIG_LOG_LEVEL,
	CONFIG_CONTROL_SOCKET,
	CONFIG_STATE_DIR,
	CONFIG_IDLE_SAMPLE_SECONDS,
	CONFIG_ROTATE_SIZE_MB,
	CONFIG_ROTATE_KEEP_DAYS,
	CONFIG_OTLP_ENDPOINT,
	CONFIG_OTLP_PROTOCOL,
	CONFIG_OTLP_QUEUE_MB,
	CONFIG_KEY__COUNT
};

enum config_type {
	CONFIG_T_STRING,   /* a user or group name */
	CONFIG_T_PATH,     /* an absolute path (or empty where min is 0) */
	CONFIG_T_INT,      /* a whole number in [min, max] */
	CONFIG_T_PERCENT,  /* a decimal in [min, max] percent */
	CONFIG_T_SECONDS,  /* decimal seconds, stored as ns in [min, max] */
	CONFIG_T_ENUM,     /* one of choices[] */
	CONFIG_T_LIST,     /* comma list of choices[], stored as a bit mask */
	CONFIG_T_COMMAND,  /* a shell command line, may be empty */
	CONFIG_T_ADDRESS,  /* an IPv4 or IPv6 address literal */
	CONFIG_T_GPUS,     /* "all" or a comma list of GPU indexes/ranges */
	CONFIG_T_URL,      /* an http:// or https:// URL (or empty where min is 0) */
};

/* Lowest to highest precedence. */
enum config_source {
	CONFIG_SRC_DEFAULT,
	CONFIG_SRC_FILE,
	CONFIG_SRC_ENV,
	CONFIG_SRC_FLAG,
};

enum config_exporter_mode { CONFIG_EXPORTER_ALWAYS, CONFIG_EXPORTER_ACTIVE };

/* JN_OTLP_PROTOCOL; "auto": OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf. */
enum config_otlp_protocol { CONFIG_OTLP_AUTO, CONFIG_OTLP_PROTOBUF, CONFIG_OTLP_JSON };

/* JN_METRIC_NAMES bits: which metric name families the exporter serves. */
#define CONFIG_METRICS_GPUTEL (1u << 0)
#define CONFIG_METRICS_JN (1u << 1)
#define CONFIG_METRICS_DCGM (1u << 2)

struct config_gpu_set {
	bool all;
	uint64_t mask;          /* bit i: GPU index i (when !all) */
};

struct config_origin {
	enum config_source src;
	unsigned int line;      /* CONFIG_SRC_FILE: line in config.file */
};

struct config {
	char user[CONFIG_NAME_MAX];             /* JN_USER */
	char group[CONFIG_NAME_MAX];            /* JN_GROUP */
	char workdir[CONFIG_TEXT_MAX];          /* JN_WORKDIR, "" = unset */
	char logdir[CONFIG_TEXT_MAX];           /* JN_LOGDIR */
	int exporter_port;                      /* JN_EXPORTER_PORT */
	double start_util_pct;                  /* JN_START_UTIL */
	int64_t start_ns;                       /* JN_START_SECONDS */
	double stop_util_pct;                   /* JN_STOP_UTIL */
	int64_t stop_ns;                        /* JN_STOP_SECONDS */
	char exporter_bind[CONFIG_ADDR_MAX];    /* JN_EXPORTER_BIND */
	int64_t poll_interval_ns;               /* JN_POLL_INTERVAL */
	enum config_exporter_mode exporter_mode; /* JN_EXPORTER_MODE */
	unsigned int metric_names;              /* JN_METRIC_NAMES, CONFIG_METRICS_* */
	char on_start[CONFIG_TEXT_MAX];         /* JN_ON_START, "" = none */
	char on_stop[CONFIG_TEXT_MAX];          /* JN_ON_STOP, "" = none */
	char on_xid[CONFIG_TEXT_MAX];           /* JN_ON_XID, "" = none */
	struct config_gpu_set gpus;             /* JN_GPUS */
	enum log_level log_level;               /* JN_LOG_LEVEL */
	char control_socket[CONFIG_TEXT_MAX];   /* JN_CONTROL_SOCKET, "" = none */
	char state_dir[CONFIG_TEXT_MAX];        /* JN_STATE_DIR */
	int64_t idle_sample_ns;                 /* JN_IDLE_SAMPLE_SECONDS, 0 = never */
	int rotate_size_mb;                     /* JN_ROTATE_SIZE_MB (logrotate policy) */
	int rotate_keep_days;                   /* JN_ROTATE_KEEP_DAYS (logrotate policy) */
	char otlp_endpoint[CONFIG_TEXT_MAX];    /* JN_OTLP_ENDPOINT, "" = from OTEL_EXPORTER_OTLP_* */
	enum config_otlp_protocol otlp_protocol; /* JN_OTLP_PROTOCOL */
	int otlp_queue_mb;                      /* JN_OTLP_QUEUE_MB */

	/* Where each value came from, indexed by enum config_key. */
	struct config_origin origin[CONFIG_KEY__COUNT];
	/* The file given to the last config_load_file(), "" before. */
	char file[CONFIG_TEXT_MAX];
	bool file_found;
};

/* One row of the key table. */
struct config_key_info {
	const char *name;               /* JN_* : file key and environment name */
	enum config_type type;
	size_t offset, size;            /* the field in struct config */
	int64_t min, max;               /* int/percent: value; seconds: ns; text: length */
	const char *const *choices;     /* enum and list: NULL-terminated */
	const char *def;                /* the default, in file syntax */
	bool reloadable;                /* applied on SIGHUP; else needs a restart */
	const char *help;               /* one line */
	/*
	 * Keys the agent does not use itself: the installer that applies them
	 * (JN_USER goes into the unit's User=, JN_ROTATE_* into the logrotate
	 * policy).  NULL: the agent applies the key.
	 */
	const char *installer;
};

/* How a changed key takes effect: "reloaded on SIGHUP", "needs a restart", ... */
const char *config_key_applied(const struct config_key_info *k);

extern const struct config_key_info config_keys[CONFIG_KEY__COUNT];

/* Messages collected over a whole load; the first CONFIG_MAX_MSGS are kept. */
#define CONFIG_MAX_MSGS 64
#define CONFIG_MSG_MAX 640

struct config_msg {
	bool warning;
	char text[CONFIG_MSG_MAX];
};

struct config_errors {
	int n_errors, n_warnings;       /* all of them, kept or not */
	int n_msgs;                     /* kept in msg[] */
	struct config_msg msg[CONFIG_MAX_MSGS];
};

void config_errors_init(struct config_errors *errs);

/* Fills every field with its default (source CONFIG_SRC_DEFAULT). */
void config_defaults(struct config *cfg);

/* The key named exactly name (a JN_* key), or NULL. */
const struct config_key_info *config_lookup(const char *name);

/* The key whose flag is flag ("--start-util" for JN_START_UTIL), or NULL. */
const struct config_key_info *config_lookup_flag(const char *flag);

/* "--start-util" for JN_START_UTIL: the name without JN_, lower case, '-'. */
void config_flag_name(const struct config_key_info *k, char *buf, size_t n);

/*
 * The known key closest to name by edit distance (case-insensitive), or
 * NULL when none is close enough to be a likely typo.
 */
const struct config_key_info *config_suggest(const char *name);

/*
 * Parses value for the key name and stores it unless the key already holds
 * a value from a higher source.  line is the file line for
 * CONFIG_SRC_FILE (the file is cfg->file), else 0.  Returns 0, -EINVAL for
 * a bad value or -ENOENT for an unknown key (an error is added either way).
 */
int config_set(struct config *cfg, const char *name, const char *value,
	       enum config_source src, unsigned int line, struct config_errors *errs);

/*
 * Parses a whole file held in memory, named name in messages.  Collects
 * every error and warning instead of stopping at the first.  Returns the
 * number of errors added.
 */
int config_load_buffer(struct config *cfg, const char *name, const char *data, size_t len,
		       struct config_errors *errs);

/*
 * Reads and parses the file at path.  Returns 0 once read (its errors are
 * in errs), -ENOENT without adding an error when the file does not exist
 * (the caller decides: a missing default file is fine), or another -errno
 * with an error added.
 */
int config_load_file(struct config *cfg, const char *path, struct config_errors *errs);

/* Adds "PATH: no such file; ..." for a file that was named explicitly. */
void config_error_missing(struct config_errors *errs, const char *path);

/*
 * The file to read: flag_value (--config) when given, else $GPUTEL_CONFIG
 * from envp, else CONFIG_DEFAULT_PATH.  *explicit says whether it was named.
 */
const char *config_file_path(const char *flag_value, char *const *envp, bool *explicit);

/* The value of name in envp ("NAME=value" strings, NULL-terminated), or NULL. */
const char *config_env_get(char *const *envp, const char *name);

/*
 * Applies every JN_* key set in envp (CONFIG_SRC_ENV), and warns about a
 * JN_* variable that looks like a misspelt key.  Returns the errors added.
 */
int config_apply_env(struct config *cfg, char *const *envp, struct config_errors *errs);

/*
 * Everything after the flags: reads the file (file_flag, else
 * $GPUTEL_CONFIG, else the default path; a missing default file is fine),
 * applies the environment, runs the cross-key checks.  Returns the number
 * of errors in errs.
 */
int config_resolve(struct config *cfg, const char *file_flag, char *const *envp,
		   struct config_errors *errs);

/* Cross-key checks (JN_START_UTIL > JN_STOP_UTIL, ...).  Returns the errors added. */
int config_validate(const struct config *cfg, struct config_errors *errs);

/*
 * Formats the key's current value in file syntax, unquoted: "20", "0.01",
 * "gputel,jn", "all".  Parsing the result gives the same value back.
 */
void config_format_value(const struct config *cfg, const struct config_key_info *k,
			 char *buf, size_t n);

/* "default", "env", "flag" or "FILE:LINE". */
void config_format_source(const struct config *cfg, enum config_key key, char *buf, size_t n);

/* "percent", "seconds", ... and "0..100", "1..65535", "always|active" for help and docs. */
const char *config_type_name(enum config_type t);
void config_format_bounds(const struct config_key_info *k, char *buf, size_t n);

/* The docs/config.md table row of a key (a unit test keeps the docs in step). */
void config_doc_row(const struct config_key_info *k, char *buf, size_t n);

/* Whether a and b hold the same value for key (reload: what changed). */
bool config_value_equal(const struct config *a, const struct config *b, enum config_key key);

#endif
