/* Unit tests: splitting hook command lines into words (hook.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hook.h"

static char buf[256];
static char *argv[9];

static void test_split(void **state)
{
	(void)state;
	assert_int_equal(hook_split("/usr/bin/logger -t gputel started", buf, sizeof buf, argv, 8), 4);
	assert_string_equal(argv[0], "/usr/bin/logger");
	assert_string_equal(argv[3], "started");
	assert_null(argv[4]);
	assert_int_equal(hook_split("  a   'b c'  \"d 'e'\" f''g ''  ", buf, sizeof buf, argv, 8), 5);
	assert_string_equal(argv[1], "b c");
	assert_string_equal(argv[2], "d 'e'");
	assert_string_equal(argv[3], "fg");
	assert_string_equal(argv[4], "");                      /* '' is an empty word */
	/* No shell: $, ;, | and > are plain characters. */
	assert_int_equal(hook_split("echo $HOME; x|y > z", buf, sizeof buf, argv, 8), 5);
	assert_string_equal(argv[1], "$HOME;");
	assert_string_equal(argv[2], "x|y");
	assert_int_equal(hook_split("", buf, sizeof buf, argv, 8), 0);
	assert_int_equal(hook_split("   ", buf, sizeof buf, argv, 8), 0);
}

static void test_split_refuses(void **state)
{
	char tiny[8];

	(void)state;
	assert_int_equal(hook_split("a 'unterminated", buf, sizeof buf, argv, 8), -1);
	assert_int_equal(hook_split("a b c d e f g h i", buf, sizeof buf, argv, 8), -1);
	assert_int_equal(hook_split("abcdefghijk", tiny, sizeof tiny, argv, 8), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
