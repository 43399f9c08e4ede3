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
	{ "doctor", cmd_doctor, "check the installation: GPUs, RAPL, directories, exporter, socket, service, logrotate" },
};

static void print_usage(FILE *f)
{
	fprintf(f, "usage: gputel <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'gputel <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		print_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("gputel %s\n", GPUTEL_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "gputel: unknown command '%s'; run 'gputel --help' for the list\n", argv[1]);
	return EXIT_USAGE;
}
