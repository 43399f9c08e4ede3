/*
 * cmd_health.c - `gputel health show|clear`: each GPU's health as the
 * agent judges it (health.h), and an operator's clear of the Xids that
 * made a GPU degraded or unhealthy, over the control socket through
 * libgputel.
 *
 * Exit codes, as `gputel alloc`'s: 0 done; 1 no agent answered, or it
 * failed; 2 bad usage, or a GPU the node does not have.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "gputel.h"
#include "util.h"

static const char health_usage[] =
	"usage: gputel health show [--socket PATH] [--json]\n"
	"       gputel health clear GPU [--socket PATH] [--json]\n"
	"\n"
	"Each GPU's health as the agent judges it: healthy, degraded or unhealthy,\n"
	"and why (an Xid, a lost GPU, a pending row remap, ECC errors).  clear\n"
	"forgets the Xids that made the GPU degraded or unhealthy, once it was\n"
	"looked after; what it still shows (a pending remap, a lost GPU) remains.\n"
	"GPU is an index, a UUID or a PCI bus id.  Exit: 0 done, 1 no agent\n"
	"answered, 2 bad usage or a GPU the node does not have.\n"
	"\n";

static void print_usage(FILE *f)
{
	fputs(health_usage, f);
	cli_print_option(f, "--socket PATH",
			 "the agent's control socket (default: $JN_CONTROL_SOCKET, else " GPUTEL_DEFAULT_SOCKET ")");
	cli_print_option(f, "--json", "print the agent's JSON (default: a line per GPU for people)");
}

static const char *str_of(const cJSON *j, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* "gpu 1 (GPU-...) unhealthy since ...: reason" */
static void print_gpu(const cJSON *g)
{
	const cJSON *idx = cJSON_GetObjectItemCaseSensitive(g, "gpu");

	printf("gpu %.0f  %s  %s  %s", cJSON_IsNumber(idx) ? idx->valuedouble : -1.0, str_of(g, "uuid"),
	       str_of(g, "pci_bus_id"), str_of(g, "state"));
	if (*str_of(g, "reason"))
		printf(" since %s: %s", str_of(g, "since"), str_of(g, "reason"));
	putchar('\n');
}

static int show(const char *sock, bool json)
{
	char *reply = NULL;
	int r = gputel_status(sock, &reply);
	cJSON *j;
	const cJSON *list, *g;

	if (r != GPUTEL_OK) {
		r = alloc_exit_code(r, reply, sock);
		gputel_free(reply);
		return r;
	}
	j = cJSON_Parse(reply);
	gputel_free(reply);
	list = cJSON_GetObjectItemCaseSensitive(j, "health");
	if (!cJSON_IsArray(list)) {
		fprintf(stderr, "gputel: health: the agent on %s does not judge GPU health; update it\n",
			alloc_socket_path(sock));
		cJSON_Delete(j);
		return 1;
	}
	if (json) {
		char *text = cJSON_PrintUnformatted(list);

		printf("{\"health\": %s}\n", text ? text : "[]");
		cJSON_free(text);
	} else {
		cJSON_ArrayForEach(g, list)
			print_gpu(g);
		if (cJSON_GetArraySize(list) == 0)
			printf("no gpus\n");
	}
	cJSON_Delete(j);
	return 0;
}

static int clear(const char *sock, const char *gpu, bool json)
{
	char *reply = NULL;
	int r = gputel_health_clear(sock, gpu, &reply);
	cJSON *j;
	const cJSON *cleared, *idx;

	if (r == GPUTEL_E_INVALID)
		return usage_error("health", "'%s' is not a GPU index, UUID or PCI bus id; 'gputel gpus' lists them", gpu);
	if (r != GPUTEL_OK) {
		r = alloc_exit_code(r, reply, sock);
		gputel_free(reply);
		return r;
	}
	if (json) {
		fputs(reply, stdout);
		gputel_free(reply);
		return 0;
	}
	j = cJSON_Parse(reply);
	gputel_free(reply);
	cleared = cJSON_GetObjectItemCaseSensitive(j, "cleared");
	idx = cJSON_GetObjectItemCaseSensitive(j, "gpu");
	printf("gpu %.0f (%s): ", cJSON_IsNumber(idx) ? idx->valuedouble : -1.0, str_of(j, "uuid"));
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(cleared, "xid")))
		printf("Xid %.0f of %s cleared; ", cJSON_GetObjectItemCaseSensitive(cleared, "xid")->valuedouble,
		       str_of(cleared, "at"));
	else
		printf("no Xid to clear; ");
	if (*str_of(j, "reason"))
		printf("still %s: %s\n", str_of(j, "state"), str_of(j, "reason"));
	else
		printf("now %s\n", str_of(j, "state"));
	cJSON_Delete(j);
	return 0;
}

int cmd_health(int argc, char **argv)
{
	const char *sub, *gpu = NULL, *sock = NULL, *v;
	bool json = false;
	int r;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		print_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if ((r = opt_value(argc, argv, &i, "--socket", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			sock = v;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return usage_error("health", "unknown option '%s'; see 'gputel health --help'", argv[i]);
		} else if (!gpu && !strcmp(sub, "clear")) {
			gpu = argv[i];
		} else {
			return usage_error("health", "unexpected '%s'; see 'gputel health --help'", argv[i]);
		}
	}
	if (!strcmp(sub, "show"))
		return show(sock, json);
	if (!strcmp(sub, "clear")) {
		if (!gpu)
			return usage_error("health", "clear needs a GPU: an index, a UUID or a PCI bus id "
				"('gputel gpus' lists them)");
		return clear(sock, gpu, json);
	}
	return usage_error("health", "unknown action '%s'; use show or clear", sub);
}
