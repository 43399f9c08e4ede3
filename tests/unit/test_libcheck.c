/* Unit tests: the checks run on a shared library before dlopen (libcheck.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libcheck.h"
#include "util.h"

/*
 * A minimal shared object as this process would load it: the ELF header,
 * one program header, one PT_LOAD segment of 64 bytes from offset 512,
 * and two section headers after it.
 */
#define SEG_OFF 512
#define SEG_SIZE 64
#define SH_OFF (SEG_OFF + SEG_SIZE)
#define IMAGE_SIZE (SH_OFF + 2 * sizeof(ElfW(Shdr)))

static char dir[64];

static void make_image(unsigned char *img)
{
	ElfW(Ehdr) eh = { 0 };
	ElfW(Phdr) ph = { 0 };

	memset(img, 0, IMAGE_SIZE);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = __SIZEOF_POINTER__ == 8 ? ELFCLASS64 : ELFCLASS32;
	eh.e_ident[EI_DATA] = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_DYN;
	eh.e_phoff = sizeof eh;
	eh.e_phentsize = sizeof ph;
	eh.e_phnum = 1;
	eh.e_shoff = SH_OFF;
	eh.e_shentsize = sizeof(ElfW(Shdr));
	eh.e_shnum = 2;
	ph.p_type = PT_LOAD;
	ph.p_offset = SEG_OFF;
	ph.p_filesz = SEG_SIZE;
	ph.p_memsz = SEG_SIZE;
	memcpy(img, &eh, sizeof eh);
	memcpy(img + sizeof eh, &ph, sizeof ph);
}

static const char *write_file(const char *name, const void *data, size_t n)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
	return path;
}

/* The check's result on the image cut to n bytes, its reason in why. */
static int check_image(const unsigned char *img, size_t n, char *why, size_t whylen)
{
	return libcheck_file(write_file("lib.so", img, n), why, whylen);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/gputel-libcheck.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_complete_library_passes(void **state)
{
	unsigned char img[IMAGE_SIZE];
	char why[160] = "", libc[256];

	(void)state;
	make_image(img);
	assert_int_equal(check_image(img, sizeof img, why, sizeof why), 0);
	/* A real one: the C library this test runs with. */
	assert_int_equal(libcheck_find("libc.so.6", libc, sizeof libc), 0);
	assert_int_equal(libcheck_file(libc, why, sizeof why), 0);
}

/* Every cut short of the whole file is caught, and says what is missing. */
static void test_every_truncation_is_refused(void **state)
{
	unsigned char img[IMAGE_SIZE];
	char why[160];

	(void)state;
	make_image(img);
	for (size_t n = 0; n < sizeof img; n++) {
		why[0] = '\0';
		assert_int_equal(check_image(img, n, why, sizeof why), LIBCHECK_INCOMPLETE);
		assert_true(why[0] != '\0');
	}
	check_image(img, SEG_OFF + 10, why, sizeof why);
	assert_string_equal(why, "522 bytes, but a loadable segment ends at byte 576");
	check_image(img, sizeof img - 1, why, sizeof why);
	assert_non_null(strstr(why, "its section headers end at byte"));
	check_image(img, 100, why, sizeof why);
	assert_non_null(strstr(why, "100 bytes, but its program headers end at byte"));
	check_image(img, 0, why, sizeof why);
	assert_string_equal(why, "an empty file");
}

static void test_wrong_kind_of_elf_is_refused(void **state)
{
	unsigned char img[IMAGE_SIZE];
	ElfW(Ehdr) eh;
	char why[160];

	(void)state;
	make_image(img);
	memcpy(&eh, img, sizeof eh);
	eh.e_type = ET_EXEC;
	memcpy(img, &eh, sizeof eh);
	assert_int_equal(check_image(img, sizeof img, why, sizeof why), LIBCHECK_INCOMPLETE);
	assert_string_equal(why, "ELF type 2, not a shared object (ET_DYN)");

	make_image(img);
	img[EI_CLASS] = __SIZEOF_POINTER__ == 8 ? ELFCLASS32 : ELFCLASS64;
	assert_int_equal(check_image(img, sizeof img, why, sizeof why), LIBCHECK_INCOMPLETE);
	assert_non_null(strstr(why, "-bit ELF file; this gputel is"));

	/* A segment whose end overflows 64 bits is not within the file. */
	make_image(img);
	{
		ElfW(Phdr) ph;

		memcpy(&ph, img + sizeof eh, sizeof ph);
		ph.p_offset = (ElfW(Off))-8;
		memcpy(img + sizeof eh, &ph, sizeof ph);
	}
	assert_int_equal(check_image(img, sizeof img, why, sizeof why), LIBCHECK_INCOMPLETE);

	assert_int_equal(libcheck_file(write_file("text.so", "hello, world\n", 13), why, sizeof why),
			 LIBCHECK_INCOMPLETE);
	assert_string_equal(why, "not an ELF file");
}

/* A FIFO, a directory or a device is never opened (a FIFO would block). */
static void test_not_a_regular_file(void **state)
{
	char path[128], why[160];

	(void)state;
	snprintf(path, sizeof path, "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(libcheck_file(path, why, sizeof why), LIBCHECK_NOT_FILE);
	assert_string_equal(why, "a FIFO");
	assert_int_equal(libcheck_file(dir, why, sizeof why), LIBCHECK_NOT_FILE);
	assert_string_equal(why, "a directory");
	assert_int_equal(libcheck_file("/dev/null", why, sizeof why), LIBCHECK_NOT_FILE);
	assert_string_equal(why, "a character device");
	snprintf(path, sizeof path, "%s/missing.so", dir);
	assert_true(libcheck_file(path, why, sizeof why) < 0);
}

/* LD_LIBRARY_PATH comes first, as for the loader; a name nowhere is not found. */
static void test_find_follows_the_loader(void **state)
{
	char path[256], want[256], env[256];
	const char *old = getenv("LD_LIBRARY_PATH");
	char *saved = old ? strdup(old) : NULL;

	(void)state;
	write_file("libc.so.6", "x", 1);
	snprintf(want, sizeof want, "%s/libc.so.6", dir);
	snprintf(env, sizeof env, "/nonexistent-gputel:%s", dir);
	setenv("LD_LIBRARY_PATH", env, 1);
	assert_int_equal(libcheck_find("libc.so.6", path, sizeof path), 0);
	assert_string_equal(path, want);
	assert_int_equal(libcheck_find("libgputel-no-such-library.so.9", path, sizeof path), -1);
	if (saved)
		setenv("LD_LIBRARY_PATH", saved, 1);
	else
		unsetenv("LD_LIBRARY_PATH");
	free(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_library_passes),
		cmocka_unit_test(test_every_truncation_is_refused),
		cmocka_unit_test(test_wrong_kind_of_elf_is_refused),
		cmocka_unit_test(test_not_a_regular_file),
		cmocka_unit_test(test_find_follows_the_loader),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
