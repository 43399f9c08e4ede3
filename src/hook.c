/* hook.c - see hook.h. */
#include "hook.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

extern char **environ;

int hook_split(const char *cmdline, char *buf, size_t bufsz, char **argv, int max)
{
	size_t o = 0;
	int argc = 0;
	const char *p = cmdline;

	while (*p) {
		char quote = 0;
		bool word = false;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (argc == max)
			return -1;
		argv[argc] = buf + o;
		for (; *p && (quote || (*p != ' ' && *p != '\t')); p++) {
			if (!quote && (*p == '\'' || *p == '"')) {
				quote = *p;
				word = true;
				continue;
			}
			if (quote && *p == quote) {
				quote = 0;
				continue;
			}
			if (o + 1 >= bufsz)
				return -1;
			buf[o++] = *p;
			word = true;
		}
		if (quote)
			return -1;
		if (o + 1 >= bufsz)
			return -1;
		buf[o++] = '\0';
		argc += word;
	}
	argv[argc] = NULL;
	return argc;
}

int hook_start(struct hooks *h, const char *cmdline, const struct hook_event *ev)
{
	static char words[4096];
	char *argv[HOOK_MAX_ARGS + 1];
	char e_event[64], e_time[64], e_util[64], e_csv[4200];
	char **envp;
	size_t n_env = 0;
	posix_spawn_file_actions_t fa;
	int slot = -1, argc, r;
	pid_t pid;

	for (int i = 0; i < HOOK_MAX_RUNNING; i++)
		if (h->run[i].pid == 0) {
			slot = i;
			break;
		}
	if (slot < 0) {
		log_warn("hook: %d hooks still running; not starting the %s hook '%s'",
			 HOOK_MAX_RUNNING, ev->event, cmdline);
		return -1;
	}
	argc = hook_split(cmdline, words, sizeof words, argv, HOOK_MAX_ARGS);
	if (argc <= 0) {
		log_warn("hook: cannot split the %s hook '%s' into words (unterminated quote?)",
			 ev->event, cmdline);
		return -1;
	}
	/* The child gets our environment plus the event. */
	while (environ[n_env])
		n_env++;
	envp = calloc(n_env + 5, sizeof *envp);
	if (!envp)
		return -1;
	memcpy(envp, environ, n_env * sizeof *envp);
	snprintf(e_event, sizeof e_event, "GPUTEL_EVENT=%s", ev->event);
	snprintf(e_time, sizeof e_time, "GPUTEL_EVENT_TIME=%s", ev->time_iso);
	snprintf(e_util, sizeof e_util, "GPUTEL_UTIL_PERCENT=%lld.%02lld",
		 (long long)(ev->util_cpct / 100), (long long)(ev->util_cpct % 100));
	snprintf(e_csv, sizeof e_csv, "GPUTEL_CSV=%s", ev->csv ? ev->csv : "");
	envp[n_env] = e_event;
	envp[n_env + 1] = e_time;
	envp[n_env + 2] = e_util;
	envp[n_env + 3] = e_csv;
	/* stdin from /dev/null; stdout and stderr stay ours (the journal). */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	if (r != 0) {
		log_warn("hook: cannot run the %s hook '%s': %s", ev->event, argv[0], strerror(r));
		return -1;
	}
	h->run[slot].pid = pid;
	h->run[slot].started_ns = mono_now_ns();
	h->run[slot].signalled = 0;
	str_copy(h->run[slot].name, argv[0], sizeof h->run[slot].name);
	log_info("hook: started the %s hook %s (pid %d)", ev->event, argv[0], (int)pid);
	return 0;
}

void hook_reap(struct hooks *h, int64_t now_ns)
{
	for (int i = 0; i < HOOK_MAX_RUNNING; i++) {
		int status;
		pid_t r;

		if (h->run[i].pid == 0)
			continue;
		r = waitpid(h->run[i].pid, &status, WNOHANG);
		if (r == h->run[i].pid || (r < 0 && errno == ECHILD)) {
			if (r > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
				log_warn("hook: %s (pid %d) failed (%s %d)", h->run[i].name,
					 (int)h->run[i].pid, WIFEXITED(status) ? "exit" : "signal",
					 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			h->run[i].pid = 0;
			continue;
		}
		if (now_ns - h->run[i].started_ns > HOOK_TIMEOUT_NS && h->run[i].signalled == 0) {
			log_warn("hook: %s (pid %d) runs past %llds; stopping it", h->run[i].name,
				 (int)h->run[i].pid, (long long)(HOOK_TIMEOUT_NS / NS_PER_SEC));
			kill(h->run[i].pid, SIGTERM);
			h->run[i].signalled = SIGTERM;
		} else if (now_ns - h->run[i].started_ns > HOOK_TIMEOUT_NS + 5 * NS_PER_SEC &&
			   h->run[i].signalled == SIGTERM) {
			kill(h->run[i].pid, SIGKILL);
			h->run[i].signalled = SIGKILL;
		}
	}
}

void hook_stop_all(struct hooks *h)
{
	int64_t deadline = mono_now_ns() + NS_PER_SEC;

	for (int i = 0; i < HOOK_MAX_RUNNING; i++)
		if (h->run[i].pid)
			kill(h->run[i].pid, SIGTERM);
	for (;;) {
		bool left = false;

		hook_reap(h, mono_now_ns());
		for (int i = 0; i < HOOK_MAX_RUNNING; i++)
			left |= h->run[i].pid != 0;
		if (!left)
			return;
		if (mono_now_ns() > deadline) {
			for (int i = 0; i < HOOK_MAX_RUNNING; i++)
				if (h->run[i].pid) {
					kill(h->run[i].pid, SIGKILL);
					waitpid(h->run[i].pid, NULL, 0);
					h->run[i].pid = 0;
				}
			return;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
}
