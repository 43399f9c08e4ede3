/* hook.c - see hook.h. */
#include "hook.h"

#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>

#include "log.h"
#include "util.h"

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
	char *env_add[4 + HOOK_MAX_EXTRA_ENV + 1] = { e_event, e_time, e_util, e_csv, NULL };
	struct child_spec spec = { .argv = argv, .env_add = env_add, .stdin_null = true };
	int slot = -1, argc, r;

	for (int i = 0; ev->extra_env && ev->extra_env[i] && i < HOOK_MAX_EXTRA_ENV; i++)
		env_add[4 + i] = ev->extra_env[i];

	for (int i = 0; i < HOOK_MAX_RUNNING; i++)
		if (h->run[i].c.pid == 0) {
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
	/* The child gets our environment plus the event; stdout and stderr stay ours (the journal). */
	str_fmt(e_event, sizeof e_event, "GPUTEL_EVENT=%s", ev->event);
	str_fmt(e_time, sizeof e_time, "GPUTEL_EVENT_TIME=%s", ev->time_iso);
	if (ev->util_cpct < 0)
		str_copy(e_util, "GPUTEL_UTIL_PERCENT=", sizeof e_util);
	else
		str_fmt(e_util, sizeof e_util, "GPUTEL_UTIL_PERCENT=%lld.%02lld",
			(long long)(ev->util_cpct / 100), (long long)(ev->util_cpct % 100));
	str_fmt(e_csv, sizeof e_csv, "GPUTEL_CSV=%s", ev->csv ? ev->csv : "");
	r = child_start(&h->run[slot].c, &spec);
	if (r != 0) {
		log_warn("hook: cannot run the %s hook '%s': %s", ev->event, argv[0], strerror(-r));
		return -1;
	}
	h->run[slot].started_ns = mono_now_ns();
	h->run[slot].signalled = 0;
	str_copy(h->run[slot].name, argv[0], sizeof h->run[slot].name);
	log_info("hook: started the %s hook %s (pid %d)", ev->event, argv[0], (int)h->run[slot].c.pid);
	return 0;
}

bool hook_slot_free(const struct hooks *h)
{
	for (int i = 0; i < HOOK_MAX_RUNNING; i++)
		if (h->run[i].c.pid == 0)
			return true;
	return false;
}

void hook_reap(struct hooks *h, int64_t now_ns)
{
	for (int i = 0; i < HOOK_MAX_RUNNING; i++) {
		pid_t pid = h->run[i].c.pid;
		int status;

		if (pid == 0)
			continue;
		if (child_wait(&h->run[i].c, 0, &status)) {
			if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
				char how[32];

				child_describe_status(status, how, sizeof how);
				log_warn("hook: %s (pid %d) failed (%s)", h->run[i].name, (int)pid, how);
			}
			continue;
		}
		if (now_ns - h->run[i].started_ns > HOOK_TIMEOUT_NS && h->run[i].signalled == 0) {
			log_warn("hook: %s (pid %d) runs past %llds; stopping it", h->run[i].name,
				 (int)pid, (long long)(HOOK_TIMEOUT_NS / NS_PER_SEC));
			kill(pid, SIGTERM);
			h->run[i].signalled = SIGTERM;
		} else if (now_ns - h->run[i].started_ns > HOOK_TIMEOUT_NS + 5 * NS_PER_SEC &&
			   h->run[i].signalled == SIGTERM) {
			kill(pid, SIGKILL);
			h->run[i].signalled = SIGKILL;
		}
	}
}

void hook_stop_all(struct hooks *h)
{
	int64_t deadline = mono_now_ns() + NS_PER_SEC;

	/* Every hook gets SIGTERM at once, then shares one second's grace. */
	for (int i = 0; i < HOOK_MAX_RUNNING; i++)
		if (h->run[i].c.pid)
			kill(h->run[i].c.pid, SIGTERM);
	for (int i = 0; i < HOOK_MAX_RUNNING; i++) {
		int64_t left = deadline - mono_now_ns();

		if (!child_wait(&h->run[i].c, left > 0 ? left : 0, NULL))
			child_stop(&h->run[i].c, 0);
	}
}
