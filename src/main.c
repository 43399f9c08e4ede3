/*
 * main.c - the gputel command table and dispatch.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "util.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "agent", cmd_agent, "start/stop telemetry on sustained GPU load and serve metrics (the service)" },
	{ "collect", cmd_collect, "write GPU and host telemetry to a CSV file every interval" },
	{ "config", cmd_config, "show or check the agent's configuration and where each value comes from" },
	{ "gpus", cmd_gpus, "show the GPU backend, every GPU and the host sensors found" },
	{ "exporter", cmd_exporter, "serve Prometheus metrics over HTTP (port 9118)" },
	{ "alloc", cmd_alloc, "begin, end, renew, list or show allocations on the agent's control socket" },
	{ "run", cmd_run, "run a command inside an allocation and print the energy and GPU use it took" },
	{ "health", cmd_health, "show each GPU's health as the agent judges it, or clear a GPU's Xids once it is fixed" },
	{ "doctor", cmd_doctor, "check the installation: GPUs, RAPL, kernel log, directories, exporter, socket, service, logrotate, OTel collectors" },
};

static void print_usage(FILE *f)
{
	fprintf(f, "usage: gputel <command> [options]\n"
		   "       gputel help <command>\n"
		   "       gputel --version\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'gputel <command> --help' or 'gputel help <command>' describes a command and\n"
		   "its options; -V or --version prints the version.\n");
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

/* "unknown command 'colect'; did you mean 'collect'?" */
static int unknown(const char *name)
{
	const struct command *best = NULL;
	size_t best_d = (size_t)-1;

	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		size_t d = str_distance(name, commands[i].name);

		if (d < best_d) {
			best_d = d;
			best = &commands[i];
		}
	}
	if (best && str_likely_typo(best_d, best->name))
		fprintf(stderr, "gputel: unknown command '%s'; did you mean '%s'? run 'gputel --help' for the list\n",
			name, best->name);
	else
		fprintf(stderr, "gputel: unknown command '%s'; run 'gputel --help' for the list\n", name);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || (!strcmp(argv[1], "help") && argc == 2)) {
		print_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("gputel %s\n", GPUTEL_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help")) {
		char *help_argv[] = { argv[2], "--help", NULL };

		if (argc > 3)
			return usage_error("help", "give one command, e.g. gputel help collect");
		c = find(argv[2]);
		return c ? c->run(2, help_argv) : unknown(argv[2]);
	}
	c = find(argv[1]);
	return c ? c->run(argc - 1, argv + 1) : unknown(argv[1]);
}
