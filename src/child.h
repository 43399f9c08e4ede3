/*
 * child.h - running another program: nvidia-smi, the agent's hooks, the
 * command of `gputel run`, doctor's systemctl.
 *
 * One way for all of them: never through a shell; signal dispositions and
 * the signal mask reset in the child (the agent blocks its signals for
 * signalfd, and a hook must still stop on SIGTERM); an optional addition to
 * the environment; stdout and stderr inherited, sent to /dev/null or read
 * from a pipe; every wait bounded.  A program that cannot be started is
 * reported by child_start() with its errno (ENOENT: not found), not as an
 * exit status of 127.
 *
 *	struct child c;
 *	struct child_spec spec = { .argv = argv, .out = CHILD_PIPE, .err = CHILD_NULL };
 *
 *	if (child_start(&c, &spec) == 0) {
 *		... read(c.out_fd, ...) ...
 *		if (!child_wait(&c, 5 * NS_PER_SEC, &status))
 *			child_stop(&c, NS_PER_SEC);
 *		child_close(&c);
 *	}
 *
 * or child_run() for a program run to completion with its output kept.
 * libgputel (lib/gputel.c) has its own, since it links nothing from src/.
 */
#ifndef GPUTEL_CHILD_H
#define GPUTEL_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum child_io {
	CHILD_INHERIT = 0,  /* the child shares ours */
	CHILD_NULL,         /* /dev/null */
	CHILD_PIPE,         /* stdout: a non-blocking pipe we read (out_fd) */
	CHILD_TO_STDOUT,    /* stderr: wherever stdout goes */
};

struct child_spec {
	const char *path;       /* the program; NULL: argv[0], looked up on PATH */
	char *const *argv;
	char *const *env_add;   /* "NAME=value" strings replacing or adding to ours; NULL: none */
	bool stdin_null;        /* stdin from /dev/null rather than ours */
	enum child_io out;      /* CHILD_INHERIT, CHILD_NULL or CHILD_PIPE */
	enum child_io err;      /* CHILD_INHERIT, CHILD_NULL or CHILD_TO_STDOUT */
	bool own_group;         /* its own process group: a terminal's ^C reaches us, not it */
	bool die_with_parent;   /* SIGTERM when the thread that started it ends */
};

struct child {
	pid_t pid;              /* 0 once reaped */
	int out_fd;             /* CHILD_PIPE: the read end, else -1 */
};

/* Starts the program.  Returns 0, or -errno (the exec's own errno when it could not run). */
int child_start(struct child *c, const struct child_spec *spec);

/*
 * Waits for the child to end, at most timeout_ns (0: just look; -1: as
 * long as it takes).  Returns true once it is reaped (status set, when
 * not NULL; -1 when someone else reaped it).
 */
bool child_wait(struct child *c, int64_t timeout_ns, int *status);

/*
 * Stops it: SIGTERM, then SIGKILL after grace_ns (0: SIGKILL at once),
 * each followed by a bounded wait.  Returns true once it is reaped; false
 * for a child stuck in the kernel (a hung driver), which stays a zombie.
 */
bool child_stop(struct child *c, int64_t grace_ns);

/* Closes the pipe, if any.  Does not wait: call child_wait/child_stop first. */
void child_close(struct child *c);

enum { CHILD_EXITED = 0, CHILD_NOSTART = -1, CHILD_TIMEOUT = -2 };

/*
 * Runs spec (out is forced to CHILD_PIPE) to completion, keeping the first
 * cap - 1 bytes of its output in out, NUL-terminated (*len set when not
 * NULL).  Killed at timeout_ns.  Returns CHILD_EXITED with *status set,
 * CHILD_NOSTART with *err set, or CHILD_TIMEOUT.
 */
int child_run(const struct child_spec *spec, int64_t timeout_ns, char *out, size_t cap, size_t *len,
	      int *status, int *err);

/* "exit status 3", "signal 9": for messages. */
void child_describe_status(int status, char *buf, size_t n);

#endif
