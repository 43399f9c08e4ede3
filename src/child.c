/* child.c - see child.h. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

#define WAIT_STEP_NS (2 * 1000 * 1000LL)

/* A descriptor above 0..2, so that the child's dup2 onto stdio never clobbers it. */
static int fd_above_stdio(int fd)
{
	int nfd;

	if (fd < 0 || fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / NS_PER_SEC), .tv_nsec = (long)(ns % NS_PER_SEC) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static size_t name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

/*
 * Our environment with env_add's names replaced, in *out (NULL when there
 * is nothing to add).  Returns 0 or -ENOMEM.
 */
static int build_env(char *const *env_add, char ***out)
{
	size_t n_env = 0, n_add = 0, k = 0;
	char **envp;

	*out = NULL;
	if (!env_add || !env_add[0])
		return 0;
	while (environ[n_env])
		n_env++;
	while (env_add[n_add])
		n_add++;
	envp = calloc(n_env + n_add + 1, sizeof *envp);
	if (!envp)
		return -ENOMEM;
	for (size_t i = 0; i < n_env; i++) {
		size_t len = name_len(environ[i]);
		bool replaced = false;

		for (size_t a = 0; a < n_add && !replaced; a++)
			replaced = name_len(env_add[a]) == len && strncmp(env_add[a], environ[i], len) == 0;
		if (!replaced)
			envp[k++] = environ[i];
	}
	for (size_t a = 0; a < n_add; a++)
		envp[k++] = env_add[a];
	*out = envp;
	return 0;
}

/* A pipe with both ends above 0..2.  Returns 0 or -errno. */
static int pipe_above_stdio(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fds[0] = fd_above_stdio(fds[0]);
	fds[1] = fd_above_stdio(fds[1]);
	return fds[0] < 0 || fds[1] < 0 ? -EMFILE : 0;
}

/* The child's side, between fork and exec: async-signal-safe calls only. */
__attribute__((noreturn)) static void exec_child(const struct child_spec *spec, char *const *envp,
						 int in, int out, int errfd, int report, pid_t parent)
{
	struct sigaction sa;
	sigset_t none;
	int e;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (spec->own_group)
		setpgid(0, 0);
	if (spec->die_with_parent) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
	}
	if ((in >= 0 && dup2(in, 0) < 0) || (out >= 0 && dup2(out, 1) < 0))
		goto fail;
	if (spec->err == CHILD_TO_STDOUT ? dup2(1, 2) < 0 : errfd >= 0 && dup2(errfd, 2) < 0)
		goto fail;
	if (spec->path)
		execve(spec->path, spec->argv, envp);
	else
		execvpe(spec->argv[0], spec->argv, envp);
fail:
	e = errno;
	if (write(report, &e, sizeof e) < 0) {
		/* nothing left to tell it with */
	}
	_exit(127);
}

int child_start(struct child *c, const struct child_spec *spec)
{
	int pipe_out[2] = { -1, -1 }, report[2] = { -1, -1 }, devnull = -1;
	int in, out, errfd, exec_errno = 0;
	char **envp = NULL;
	pid_t pid, parent = getpid();
	ssize_t got;
	int r;

	c->pid = 0;
	c->out_fd = -1;
	if (!spec->argv || !spec->argv[0])
		return -EINVAL;
	r = build_env(spec->env_add, &envp);
	if (r != 0)
		goto out;
	if (spec->stdin_null || spec->out == CHILD_NULL || spec->err == CHILD_NULL) {
		devnull = fd_above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC));
		r = devnull < 0 ? -errno : 0;
		if (r != 0)
			goto out;
	}
	if (spec->out == CHILD_PIPE && (r = pipe_above_stdio(pipe_out)) != 0)
		goto out;
	if ((r = pipe_above_stdio(report)) != 0)
		goto out;
	in = spec->stdin_null ? devnull : -1;
	out = spec->out == CHILD_PIPE ? pipe_out[1] : spec->out == CHILD_NULL ? devnull : -1;
	errfd = spec->err == CHILD_NULL ? devnull : -1;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0)
		exec_child(spec, envp ? envp : environ, in, out, errfd, report[1], parent);
	close_fd(&report[1]);
	/* EOF means the exec succeeded: the report pipe is close-on-exec. */
	do
		got = read(report[0], &exec_errno, sizeof exec_errno);
	while (got < 0 && errno == EINTR);
	if (got == (ssize_t)sizeof exec_errno) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		r = -exec_errno;
		goto out;
	}
	c->pid = pid;
	if (spec->out == CHILD_PIPE) {
		fcntl(pipe_out[0], F_SETFL, fcntl(pipe_out[0], F_GETFL) | O_NONBLOCK);
		c->out_fd = pipe_out[0];
		pipe_out[0] = -1;
	}
	r = 0;
out:
	close_fd(&pipe_out[0]);
	close_fd(&pipe_out[1]);
	close_fd(&report[0]);
	close_fd(&report[1]);
	close_fd(&devnull);
	free(envp);
	return r;
}

bool child_wait(struct child *c, int64_t timeout_ns, int *status)
{
	int64_t deadline = mono_now_ns() + (timeout_ns > 0 ? timeout_ns : 0);
	int st = -1;

	if (c->pid <= 0)
		return true;
	for (;;) {
		pid_t r = waitpid(c->pid, &st, timeout_ns < 0 ? 0 : WNOHANG);

		if (r == c->pid)
			break;
		/* ECHILD: SIGCHLD is ignored, or another waiter took it. */
		if (r < 0 && errno != EINTR) {
			st = -1;
			break;
		}
		if (timeout_ns >= 0 && mono_now_ns() >= deadline)
			return false;
		if (timeout_ns >= 0)
			sleep_ns(WAIT_STEP_NS);
	}
	c->pid = 0;
	if (status)
		*status = st;
	return true;
}

bool child_stop(struct child *c, int64_t grace_ns)
{
	if (c->pid <= 0)
		return true;
	if (grace_ns > 0) {
		kill(c->pid, SIGTERM);
		if (child_wait(c, grace_ns, NULL))
			return true;
	}
	kill(c->pid, SIGKILL);
	return child_wait(c, NS_PER_SEC, NULL);
}

void child_close(struct child *c)
{
	close_fd(&c->out_fd);
}

int child_run(const struct child_spec *spec, int64_t timeout_ns, char *out, size_t cap, size_t *len,
	      int *status, int *err)
{
	struct child_spec s = *spec;
	int64_t deadline = mono_now_ns() + timeout_ns;
	struct child c;
	size_t n = 0;
	int r;

	s.out = CHILD_PIPE;
	if (cap)
		out[0] = '\0';
	if (len)
		*len = 0;
	r = child_start(&c, &s);
	if (r < 0) {
		*err = -r;
		return CHILD_NOSTART;
	}
	for (;;) {
		struct pollfd pfd = { .fd = c.out_fd, .events = POLLIN };
		int64_t left = deadline - mono_now_ns();
		char chunk[4096];
		ssize_t got;

		if (left <= 0) {
			child_close(&c);
			child_stop(&c, 0);
			return CHILD_TIMEOUT;
		}
		if (poll(&pfd, 1, (int)((left + 999999) / 1000000)) < 0 && errno != EINTR)
			sleep_ns(1000000);
		got = read(c.out_fd, chunk, sizeof chunk);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0)
			break;
		if (cap && n < cap - 1) {
			size_t k = (size_t)got < cap - 1 - n ? (size_t)got : cap - 1 - n;

			memcpy(out + n, chunk, k);
			n += k;
			out[n] = '\0';
		}
	}
	child_close(&c);
	if (len)
		*len = n;
	/* Its output is closed; the exit follows at once, or we stop waiting. */
	if (!child_wait(&c, NS_PER_SEC, status)) {
		child_stop(&c, 0);
		return CHILD_TIMEOUT;
	}
	return CHILD_EXITED;
}

void child_describe_status(int status, char *buf, size_t n)
{
	if (status == -1)
		str_copy(buf, "reaped elsewhere", n);
	else if (WIFEXITED(status))
		str_fmt(buf, n, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		str_fmt(buf, n, "signal %d", WTERMSIG(status));
	else
		str_fmt(buf, n, "status 0x%x", (unsigned)status);
}
