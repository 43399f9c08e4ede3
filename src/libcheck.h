/*
 * libcheck.h - looks at a shared library before dlopen() maps it.
 *
 * dlopen() trusts the file it is given: a FIFO blocks it in open() for
 * good, and a truncated library is mapped past its end, so the first
 * touch of a missing page kills the process with SIGBUS and no message.
 * The NVML backend runs these checks first, so that a bad
 * GPUTEL_NVML_LIBRARY (or a broken driver install) is one clear line.
 * Nothing here maps the file or opens anything but a regular file.
 */
#ifndef GPUTEL_LIBCHECK_H
#define GPUTEL_LIBCHECK_H

#include <stddef.h>

/*
 * Checks that path is a regular file (not a FIFO, directory or device) and
 * a complete ELF shared object (ET_DYN) of this process's class: its
 * program headers, every PT_LOAD segment's file part and its section
 * headers lie within the file.  Returns 0; LIBCHECK_NOT_FILE (why says what
 * it is: "a FIFO"), LIBCHECK_INCOMPLETE (why says what is wrong or
 * missing, e.g. "7000 bytes, but a loadable segment ends at byte 15816"),
 * or -errno when it cannot be looked at (why: strerror).
 */
#define LIBCHECK_NOT_FILE 1
#define LIBCHECK_INCOMPLETE 2
int libcheck_file(const char *path, char *why, size_t whylen);

/*
 * The file the dynamic loader would load for a bare name such as
 * "libnvidia-ml.so.1": the first directory of LD_LIBRARY_PATH that has it,
 * else the entry of /etc/ld.so.cache for this process's architecture,
 * else the first of the default directories that has it.  Returns 0 with
 * path filled, or -1 when none of them has it.  (gputel has no RPATH or
 * RUNPATH, which the loader would also search.)
 */
int libcheck_find(const char *name, char *path, size_t pathlen);

#endif
