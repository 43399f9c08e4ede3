/* Unit tests: running other programs (child.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "util.h"

/* Output is captured, and the exit status comes back. */
static void test_run_captures_output(void **state)
{
	char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	struct child_spec spec = { .argv = argv, .err = CHILD_TO_STDOUT };
	char out[64];
	size_t len;
	int status = 0, err = 0;

	(void)state;
	assert_int_equal(child_run(&spec, 5 * NS_PER_SEC, out, sizeof out, &len, &status, &err), CHILD_EXITED);
	assert_string_equal(out, "out\nerr\n");
	assert_int_equal(len, 8);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
}

/* Output past the buffer is dropped, never written beyond it. */
static void test_run_truncates(void **state)
{
	char *argv[] = { "sh", "-c", "printf 0123456789", NULL };
	struct child_spec spec = { .argv = argv };
	char out[5];
	int status = 0, err = 0;

	(void)state;
	assert_int_equal(child_run(&spec, 5 * NS_PER_SEC, out, sizeof out, NULL, &status, &err), CHILD_EXITED);
	assert_string_equal(out, "0123");
}

/* A missing program is reported with its errno, not as exit status 127. */
static void test_missing_program(void **state)
{
	char *argv[] = { "gputel-no-such-program", NULL };
	struct child_spec spec = { .argv = argv };
	struct child c;
	char out[8];
	int status = 0, err = 0;

	(void)state;
	assert_int_equal(child_start(&c, &spec), -ENOENT);
	assert_int_equal(c.pid, 0);
	assert_int_equal(child_run(&spec, NS_PER_SEC, out, sizeof out, NULL, &status, &err), CHILD_NOSTART);
	assert_int_equal(err, ENOENT);
	spec.path = "/nonexistent/gputel";
	assert_int_equal(child_start(&c, &spec), -ENOENT);
}

/* env_add replaces a variable we have and adds one we do not. */
static void test_environment(void **state)
{
	char *argv[] = { "sh", "-c", "echo \"$GPUTEL_T_A/$GPUTEL_T_B/$GPUTEL_T_C\"", NULL };
	char *add[] = { "GPUTEL_T_A=new", "GPUTEL_T_B=added", NULL };
	struct child_spec spec = { .argv = argv, .env_add = add };
	char out[64];
	int status = 0, err = 0;

	(void)state;
	setenv("GPUTEL_T_A", "old", 1);
	setenv("GPUTEL_T_C", "kept", 1);
	assert_int_equal(child_run(&spec, 5 * NS_PER_SEC, out, sizeof out, NULL, &status, &err), CHILD_EXITED);
	assert_string_equal(out, "new/added/kept\n");
}

/* A program that outlives the timeout is killed, and the call returns. */
static void test_run_timeout(void **state)
{
	char *argv[] = { "sleep", "30", NULL };
	struct child_spec spec = { .argv = argv };
	char out[8];
	int status = 0, err = 0;
	int64_t t0 = mono_now_ns();

	(void)state;
	assert_int_equal(child_run(&spec, 200 * 1000 * 1000LL, out, sizeof out, NULL, &status, &err),
			 CHILD_TIMEOUT);
	assert_true(mono_now_ns() - t0 < 3 * NS_PER_SEC);
}

/*
 * The child starts with no signal blocked: the agent blocks SIGTERM for
 * its signalfd, and a hook it starts must still stop on SIGTERM.
 */
static void test_signals_reset(void **state)
{
	char *argv[] = { "sleep", "30", NULL };
	struct child_spec spec = { .argv = argv };
	struct child c;
	sigset_t mask, old;
	int status = 0;

	(void)state;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, &old);
	assert_int_equal(child_start(&c, &spec), 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	kill(c.pid, SIGTERM);
	assert_true(child_wait(&c, 5 * NS_PER_SEC, &status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	assert_int_equal(c.pid, 0);
}

/* child_stop escalates to SIGKILL for a child that ignores SIGTERM. */
static void test_stop_escalates(void **state)
{
	char *argv[] = { "sh", "-c", "trap '' TERM; echo ready; sleep 30", NULL };
	struct child_spec spec = { .argv = argv, .out = CHILD_PIPE };
	struct child c;
	char buf[16];
	int64_t t0;

	(void)state;
	assert_int_equal(child_start(&c, &spec), 0);
	/* Once it says ready, its trap is set. */
	for (int i = 0; i < 500 && read(c.out_fd, buf, sizeof buf) <= 0; i++)
		usleep(10000);
	assert_false(child_wait(&c, 0, NULL));
	t0 = mono_now_ns();
	assert_true(child_stop(&c, 200 * 1000 * 1000LL));
	assert_true(mono_now_ns() - t0 < 3 * NS_PER_SEC);
	child_close(&c);
	assert_int_equal(c.out_fd, -1);
}

/* stdin from /dev/null: a program reading it sees EOF at once. */
static void test_stdin_null(void **state)
{
	char *argv[] = { "cat", NULL };
	struct child_spec spec = { .argv = argv, .stdin_null = true };
	char out[8];
	int status = 0, err = 0;

	(void)state;
	assert_int_equal(child_run(&spec, 5 * NS_PER_SEC, out, sizeof out, NULL, &status, &err), CHILD_EXITED);
	assert_string_equal(out, "");
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_captures_output),
		cmocka_unit_test(test_run_truncates),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_run_timeout),
		cmocka_unit_test(test_signals_reset),
		cmocka_unit_test(test_stop_escalates),
		cmocka_unit_test(test_stdin_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
