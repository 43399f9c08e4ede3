/* libcheck.c - see libcheck.h. */
#include "libcheck.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#if __SIZEOF_POINTER__ == 8
#define NATIVE_CLASS ELFCLASS64
#define NATIVE_BITS 64
#else
#define NATIVE_CLASS ELFCLASS32
#define NATIVE_BITS 32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_DATA ELFDATA2LSB
#else
#define NATIVE_DATA ELFDATA2MSB
#endif

/* ld.so.cache caps what it reads at this; real caches are a few hundred KiB. */
#define LD_CACHE_MAX_BYTES (16 << 20)

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

/* Whether [off, off + len) lies within size bytes, without overflow. */
static bool within(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static bool read_at(int fd, void *buf, size_t n, uint64_t off)
{
	return pread(fd, buf, n, (off_t)off) == (ssize_t)n;
}

/* The ELF checks proper, on an open regular file of size bytes. */
static int check_elf(int fd, uint64_t size, char *why, size_t whylen)
{
	ElfW(Ehdr) eh;
	uint64_t ph_end, sh_count;
	unsigned int loads = 0;

	if (size < EI_NIDENT || !read_at(fd, eh.e_ident, EI_NIDENT, 0) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		str_fmt(why, whylen, "%s", size == 0 ? "an empty file" : "not an ELF file");
		return LIBCHECK_INCOMPLETE;
	}
	if (eh.e_ident[EI_CLASS] != NATIVE_CLASS) {
		str_fmt(why, whylen, "a %d-bit ELF file; this gputel is %d-bit",
			eh.e_ident[EI_CLASS] == ELFCLASS32 ? 32 : 64, NATIVE_BITS);
		return LIBCHECK_INCOMPLETE;
	}
	if (eh.e_ident[EI_DATA] != NATIVE_DATA) {
		str_copy(why, "an ELF file of the other byte order", whylen);
		return LIBCHECK_INCOMPLETE;
	}
	if (size < sizeof eh || !read_at(fd, &eh, sizeof eh, 0)) {
		str_fmt(why, whylen, "%llu bytes, shorter than an ELF header (%zu)",
			(unsigned long long)size, sizeof eh);
		return LIBCHECK_INCOMPLETE;
	}
	if (eh.e_type != ET_DYN) {
		str_fmt(why, whylen, "ELF type %u, not a shared object (ET_DYN)", (unsigned int)eh.e_type);
		return LIBCHECK_INCOMPLETE;
	}
	if (eh.e_phnum == 0 || eh.e_phentsize != sizeof(ElfW(Phdr))) {
		str_copy(why, "no program headers", whylen);
		return LIBCHECK_INCOMPLETE;
	}
	ph_end = (uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * eh.e_phentsize;
	if (!within(eh.e_phoff, (uint64_t)eh.e_phnum * eh.e_phentsize, size)) {
		str_fmt(why, whylen, "%llu bytes, but its program headers end at byte %llu",
			(unsigned long long)size, (unsigned long long)ph_end);
		return LIBCHECK_INCOMPLETE;
	}
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		ElfW(Phdr) ph;

		if (!read_at(fd, &ph, sizeof ph, eh.e_phoff + (uint64_t)i * sizeof ph)) {
			str_copy(why, "its program headers cannot be read", whylen);
			return LIBCHECK_INCOMPLETE;
		}
		if (ph.p_type != PT_LOAD)
			continue;
		loads++;
		/* The part dlopen maps from the file: beyond the end is SIGBUS on first touch. */
		if (!within(ph.p_offset, ph.p_filesz, size)) {
			str_fmt(why, whylen, "%llu bytes, but a loadable segment ends at byte %llu",
				(unsigned long long)size,
				(unsigned long long)ph.p_offset + (unsigned long long)ph.p_filesz);
			return LIBCHECK_INCOMPLETE;
		}
	}
	if (loads == 0) {
		str_copy(why, "no loadable segment", whylen);
		return LIBCHECK_INCOMPLETE;
	}
	if (eh.e_shoff == 0)
		return 0; /* stripped of its section headers: allowed, the loader never reads them */
	sh_count = eh.e_shnum;
	if (eh.e_shentsize != sizeof(ElfW(Shdr))) {
		str_copy(why, "section headers of the wrong size", whylen);
		return LIBCHECK_INCOMPLETE;
	}
	if (sh_count == 0) {
		/* Over 0xff00 sections: the count is in the first header's sh_size. */
		ElfW(Shdr) sh0;

		if (!within(eh.e_shoff, sizeof sh0, size) || !read_at(fd, &sh0, sizeof sh0, eh.e_shoff)) {
			str_fmt(why, whylen, "%llu bytes, but its section headers start at byte %llu",
				(unsigned long long)size, (unsigned long long)eh.e_shoff);
			return LIBCHECK_INCOMPLETE;
		}
		sh_count = sh0.sh_size;
	}
	if (sh_count > size / sizeof(ElfW(Shdr)) ||
	    !within(eh.e_shoff, sh_count * sizeof(ElfW(Shdr)), size)) {
		str_fmt(why, whylen, "%llu bytes, but its section headers end at byte %llu",
			(unsigned long long)size,
			sh_count > size ? (unsigned long long)-1
					: (unsigned long long)(eh.e_shoff + sh_count * sizeof(ElfW(Shdr))));
		return LIBCHECK_INCOMPLETE;
	}
	return 0;
}

int libcheck_file(const char *path, char *why, size_t whylen)
{
	struct stat st;
	int fd, r;

	/* stat first: opening a FIFO blocks, and opening a device can act on it. */
	if (stat(path, &st) != 0) {
		r = -errno;
		str_copy(why, strerror(errno), whylen);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		str_copy(why, file_kind(st.st_mode), whylen);
		return LIBCHECK_NOT_FILE;
	}
	/* O_NONBLOCK: should the path become a FIFO in between, open still returns. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		str_copy(why, strerror(errno), whylen);
		return r;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		str_copy(why, file_kind(st.st_mode), whylen);
		close(fd);
		return LIBCHECK_NOT_FILE;
	}
	r = check_elf(fd, (uint64_t)st.st_size, why, whylen);
	close(fd);
	return r;
}

/* dir/name into path when that is a file; true then. */
static bool try_dir(const char *dir, size_t dirlen, const char *name, char *path, size_t pathlen)
{
	struct stat st;

	if (dirlen == 0)
		dirlen = 1, dir = "."; /* an empty LD_LIBRARY_PATH entry is the current directory */
	if (str_fmt(path, pathlen, "%.*s/%s", (int)dirlen, dir, name) < 0)
		return false;
	return stat(path, &st) == 0;
}

/*
 * ld.so.cache flags for a library this process can load: the ELF libc6
 * type, and the architecture bits ldconfig sets for this machine's
 * 64-bit libraries (glibc's sysdeps/generic/ldconfig.h).
 */
#define LD_CACHE_TYPE_MASK 0x00ff
#define LD_CACHE_ELF_LIBC6 0x0003
#if defined(__x86_64__) && __SIZEOF_POINTER__ == 8
#define LD_CACHE_ARCH 0x0300
#elif defined(__aarch64__)
#define LD_CACHE_ARCH 0x0a00
#elif defined(__powerpc64__)
#define LD_CACHE_ARCH 0x0500
#elif defined(__riscv) && __riscv_xlen == 64
#define LD_CACHE_ARCH 0x1000 /* lp64d: the Debian ABI */
#else
#define LD_CACHE_ARCH (-1)   /* unknown here: take the first entry */
#endif

/* The "glibc-ld.so.cache1.1" format (also found after an old-format header). */
struct ld_cache_head {
	char magic[20];
	uint32_t nlibs;
	uint32_t len_strings;
	uint8_t flags;
	uint8_t pad[3];
	uint32_t extension_offset;
	uint32_t unused[3];
};
struct ld_cache_entry {
	int32_t flags;
	uint32_t key, value; /* offsets from the head */
	uint32_t osversion;
	uint64_t hwcap;
};

static int find_in_ld_cache(const char *name, char *path, size_t pathlen)
{
	static const char magic[] = "glibc-ld.so.cache1.1";
	char *buf = malloc(LD_CACHE_MAX_BYTES);
	ssize_t n = buf ? file_read_small("/etc/ld.so.cache", buf, LD_CACHE_MAX_BYTES) : -1;
	const char *head;
	struct ld_cache_head h;
	size_t base, avail;
	int found = -1;

	head = n > 0 ? memmem(buf, (size_t)n, magic, sizeof magic - 1) : NULL;
	if (!head || (size_t)(buf + n - head) < sizeof h)
		goto out;
	base = (size_t)(head - buf);
	avail = (size_t)n - base;
	memcpy(&h, head, sizeof h);
	for (uint32_t i = 0; i < h.nlibs; i++) {
		struct ld_cache_entry e;
		size_t at = sizeof h + (size_t)i * sizeof e;
		const char *key, *value;

		if (at + sizeof e > avail)
			break;
		memcpy(&e, head + at, sizeof e);
		if (e.key >= avail || e.value >= avail ||
		    !memchr(head + e.key, '\0', avail - e.key) || !memchr(head + e.value, '\0', avail - e.value))
			continue;
		key = head + e.key;
		value = head + e.value;
		if ((e.flags & LD_CACHE_TYPE_MASK) != LD_CACHE_ELF_LIBC6 || strcmp(key, name) != 0)
			continue;
		if (LD_CACHE_ARCH >= 0 && (e.flags & ~LD_CACHE_TYPE_MASK) != LD_CACHE_ARCH)
			continue;
		if (str_copy(path, value, pathlen) < pathlen)
			found = 0;
		break;
	}
out:
	free(buf);
	return found;
}

int libcheck_find(const char *name, char *path, size_t pathlen)
{
	static const char *const default_dirs[] = { "/lib64", "/usr/lib64", "/lib", "/usr/lib" };
	const char *env = getenv("LD_LIBRARY_PATH");

	/* The loader ignores LD_LIBRARY_PATH in a setuid program; so does this. */
	if (env && getauxval(AT_SECURE) == 0) {
		for (const char *p = env;;) {
			size_t len = strcspn(p, ":;");

			if (try_dir(p, len, name, path, pathlen))
				return 0;
			if (!p[len])
				break;
			p += len + 1;
		}
	}
	if (find_in_ld_cache(name, path, pathlen) == 0)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(default_dirs); i++)
		if (try_dir(default_dirs[i], strlen(default_dirs[i]), name, path, pathlen))
			return 0;
	return -1;
}
