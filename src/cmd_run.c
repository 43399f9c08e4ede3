/*
 * cmd_run.c - `gputel run [--gpus LIST] [--id ID] [--json] -- CMD ARGS...`:
 * time(1) for GPU work.  Begins an allocation (owned by this process, so
 * it is reaped if gputel run is killed), runs CMD with CUDA_VISIBLE_DEVICES
 * set when --gpus is given, forwards the usual signals to it, ends the
 * allocation however CMD ends, prints the summary and exits with CMD's
 * status (128 + the signal when a signal ended it).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "child.h"
#include "commands.h"
#include "gputel.h"
#include "util.h"

static const char run_usage[] =
	"usage: gputel run [--gpus LIST] [--id ID] [--owner NAME] [--label KEY=VALUE]...\n"
	"                  [--socket PATH] [--json] [-o FILE] [--require-agent] -- CMD [ARGS...]\n"
	"\n"
	"Runs CMD inside an allocation and prints what it used when it ends:\n"
	"duration, GPU and CPU energy, utilisation, peak memory and temperature,\n"
	"Xid errors.  Exits with CMD's status.  When no agent answers, CMD runs all\n"
	"the same, with one warning and no summary, unless --require-agent.\n"
	"The allocation's span is a child of $TRACEPARENT when set, and CMD runs\n"
	"with TRACEPARENT naming the allocation's span (docs/otlp.md).\n"
	"\n";

static void print_usage(void)
{
	fputs(run_usage, stdout);
	cli_print_option(stdout, "--gpus LIST",
			 "GPU indexes or UUIDs; also sets CUDA_VISIBLE_DEVICES for CMD (default: every GPU, "
			 "CUDA_VISIBLE_DEVICES untouched)");
	cli_print_option(stdout, "--id ID", "the allocation's id (default: run-PID-TIME)");
	cli_print_option(stdout, "--owner NAME", "who holds it (default: gputel run)");
	cli_print_option(stdout, "--label KEY=VALUE", "a label, again for more (default: none)");
	cli_print_option(stdout, "--socket PATH",
			 "the agent's control socket (default: $JN_CONTROL_SOCKET, else " GPUTEL_DEFAULT_SOCKET ")");
	cli_print_option(stdout, "--json", "the summary as JSON (default: for people)");
	cli_print_option(stdout, "-o FILE", "write the summary there (default: standard error)");
	cli_print_option(stdout, "--require-agent",
			 "refuse to run CMD when no agent answers, exit 1 (default: run it without an allocation)");
}

/* TRACEPARENT for CMD: the allocation's span, from the begin's reply.  -1 when it cannot be set. */
static int set_traceparent(const char *reply)
{
	cJSON *j = reply ? cJSON_Parse(reply) : NULL;
	const cJSON *tp = cJSON_GetObjectItemCaseSensitive(j, "traceparent");
	int rc = 0;

	/* An older agent sends none: CMD keeps whatever it was given. */
	if (cJSON_IsString(tp) && setenv("TRACEPARENT", tp->valuestring, 1) != 0)
		rc = -1;
	cJSON_Delete(j);
	return rc;
}

static volatile sig_atomic_t child_pid;

/* Only forwards: kill() is async-signal-safe. */
static void forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

int cmd_run(int argc, char **argv)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct gputel_alloc_spec spec = { 0 };
	const char *sock = NULL, *out_file = NULL, *v;
	char id[80], labels[4096], *reply = NULL;
	struct sigaction sa;
	bool json = false, require_agent = false, tracked = true;
	int i, r, st, cmd_at = -1, rc;
	struct child cmd;
	struct child_spec cmd_spec = { 0 };
	FILE *out;

	labels[0] = '\0';
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			cmd_at = i + 1;
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_usage();
			return 0;
		}
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--require-agent")) {
			require_agent = true;
		} else if ((r = opt_value(argc, argv, &i, "--gpus", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			spec.gpus = v;
		} else if ((r = opt_value(argc, argv, &i, "--id", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			spec.id = v;
		} else if ((r = opt_value(argc, argv, &i, "--owner", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			spec.owner = v;
		} else if ((r = opt_value(argc, argv, &i, "--socket", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			sock = v;
		} else if ((r = opt_value(argc, argv, &i, "-o", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			out_file = v;
		} else if ((r = opt_value(argc, argv, &i, "--label", &v)) != 0) {
			const char *eq;
			size_t len = strlen(labels);

			if (r < 0)
				return EXIT_USAGE;
			eq = strchr(v, '=');
			if (!eq || eq == v || strpbrk(v, "\"\\") ||
			    snprintf(labels + len, sizeof labels - len, "%s\"%.*s\": \"%s\"", len ? ", " : "{",
				     (int)(eq - v), v, eq + 1) >= (int)(sizeof labels - len - 1))
				return usage_error("run", "bad --label '%s'; give KEY=VALUE without quotes", v);
		} else {
			return usage_error("run", "unknown option '%s'; put the command after --", argv[i]);
		}
	}
	if (cmd_at < 0 || cmd_at >= argc)
		return usage_error("run", "no command; give it after --, e.g. gputel run --gpus 0 -- python train.py");
	cmd_spec.argv = &argv[cmd_at];
	if (labels[0]) {
		size_t len = strlen(labels);

		labels[len] = '}';   /* room was kept for it */
		labels[len + 1] = '\0';
	}
	if (!spec.id) {
		str_fmt(id, sizeof id, "run-%ld-%lld", (long)getpid(), (long long)time(NULL));
		spec.id = id;
	}
	spec.pid = (long)getpid();
	spec.labels_json = labels[0] ? labels : NULL;
	if (!spec.owner)
		spec.owner = "gputel run";
	/* The job's own trace context, where it was started within one, parents the allocation's span. */
	r = cli_alloc_begin("run", sock, &spec, getenv("TRACEPARENT"), &reply);
	/* In a job script, a missing agent must not stop the job itself. */
	if ((r == GPUTEL_E_NOAGENT || r == GPUTEL_E_AUTOSTART) && !require_agent) {
		fprintf(stderr, "gputel: run: warning: no gputel agent answers on %s; running %s without an allocation "
			"(no summary); --require-agent refuses instead\n", alloc_socket_path(sock), argv[cmd_at]);
		tracked = false;
	} else if (r != GPUTEL_OK) {
		rc = alloc_exit_code(r, reply, sock);
		gputel_free(reply);
		return rc;
	}
	/* The command's spans nest under the allocation's. */
	if (tracked && set_traceparent(reply) != 0) {
		gputel_alloc_end(sock, spec.id, NULL);
		gputel_free(reply);
		return 1;
	}
	gputel_free(reply);
	reply = NULL;
	if (spec.gpus && setenv("CUDA_VISIBLE_DEVICES", spec.gpus, 1) != 0) {
		if (tracked)
			gputel_alloc_end(sock, spec.id, NULL);
		return 1;
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
		sigaction(sigs[k], &sa, NULL);
	r = child_start(&cmd, &cmd_spec);
	if (r != 0) {
		fprintf(stderr, "gputel: run: cannot run %s: %s\n", argv[cmd_at], strerror(-r));
		if (tracked)
			gputel_alloc_end(sock, spec.id, NULL);
		return r == -ENOENT ? 127 : 126;
	}
	child_pid = cmd.pid;
	child_wait(&cmd, -1, &st);
	child_pid = 0;
	rc = st == -1 ? 1 : WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
	if (!tracked)
		return rc;

	r = gputel_alloc_end(sock, spec.id, &reply);
	out = out_file ? fopen(out_file, "w") : stderr;
	if (!out) {
		fprintf(stderr, "gputel: run: cannot write %s: %s\n", out_file, strerror(errno));
		out = stderr;
	}
	if (r == GPUTEL_OK && json)
		fputs(reply, out);
	else if (r == GPUTEL_OK)
		alloc_print_summary(out, reply);
	else
		alloc_exit_code(r, reply, sock);
	if (out != stderr)
		fclose(out);
	gputel_free(reply);
	return rc;
}
