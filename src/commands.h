/*
 * commands.h - the subcommands of the gputel binary, one file each
 * (cmd_<name>.c), dispatched by main.c from its command table.
 *
 * Each takes the arguments after its name and returns the process exit
 * code: 0 ok, 1 runtime failure, 2 bad usage or bad configuration.
 */
#ifndef GPUTEL_COMMANDS_H
#define GPUTEL_COMMANDS_H

#include <stdio.h>

#define EXIT_USAGE 2

#ifndef GPUTEL_VERSION
#define GPUTEL_VERSION "0.1.0"
#endif

int cmd_agent(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_gpus(int argc, char **argv);
int cmd_exporter(int argc, char **argv);
int cmd_alloc(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_health(int argc, char **argv);

/*
 * cmd_alloc.c, shared with cmd_run.c: the socket a call goes to (sock, else
 * $JN_CONTROL_SOCKET, else the default), the exit code of a libgputel
 * status (message printed, naming the socket where it is the problem), and
 * a summary for people.
 */
const char *alloc_socket_path(const char *sock);
int alloc_exit_code(int status, const char *json, const char *sock);
struct gputel_alloc_spec;
/* gputel_alloc_begin, saying once (as who) that it started the agent, and where its log is. */
int cli_alloc_begin(const char *who, const char *sock, const struct gputel_alloc_spec *spec, const char *traceparent,
		    char **reply);
void alloc_print_summary(FILE *f, const char *json);

/* Shared option helpers (main.c). */

/*
 * Matches argv[*i] against "--name VALUE" or "--name=VALUE".  Returns 1 and
 * sets *value (advancing *i past a separate value), 0 when it is another
 * option, or -1 (message printed) when the value is missing.
 */
int opt_value(int argc, char **argv, int *i, const char *name, const char **value);

struct config;
struct config_errors;

/*
 * Matches argv[*i] against the flag of any configuration key
 * (--start-util 30, --start-util=30) and sets it with source "flag".
 * Returns 1 when consumed, 0 when it is no key's flag, -1 (message
 * printed) when its value is missing.  Bad values land in errs.
 */
int cli_config_flag(int argc, char **argv, int *i, struct config *cfg, struct config_errors *errs);

/* Prints the collected configuration messages; returns the error count. */
int cli_config_report(const struct config_errors *errs);

/* One option of a --help list: "  --opt VALUE   text", the text wrapped under itself. */
void cli_print_option(FILE *f, const char *opt, const char *text);

/*
 * Prints every configuration key the agent applies as a flag with its
 * value, help and default (the agent's --help).
 */
void cli_print_key_flags(FILE *f);

/* Prints s on stdout as a JSON string (quotes and control characters escaped). */
void cli_json_str(const char *s);

/* Prints "gputel: <cmd>: <msg>" and returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
