/*
 * test_host.c - host sensors: the pure helpers (RAPL wrap and power, hwmon
 * roles, /proc/stat and /proc/meminfo arithmetic) and host_open/host_sample
 * end to end on the fixture trees under tests/fixtures (run from the repo
 * root), on writable copies of them where a test must change a file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "host_internal.h"
#include "util.h"

#define INTEL "tests/fixtures/intel"
#define AMD "tests/fixtures/amd"
#define INTEL_MAXR 262143328850ULL
#define INTEL_PKG_UJ 48713255371ULL
#define INTEL_DRAM_UJ 5123456789ULL

/* ---- helpers ---- */

static struct snapshot snap;

static void use_roots(const char *base)
{
	char p[512];

	assert_true(str_fmt(p, sizeof p, "%s/sys", base) > 0);
	assert_int_equal(setenv("GPUTEL_SYSFS_ROOT", p, 1), 0);
	assert_true(str_fmt(p, sizeof p, "%s/proc", base) > 0);
	assert_int_equal(setenv("GPUTEL_PROCFS_ROOT", p, 1), 0);
}

static void write_file(const char *base, const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	assert_true(str_fmt(p, sizeof p, "%s/%s", base, rel) > 0);
	/* Truncate in place: host keeps the old descriptor, as with sysfs. */
	f = fopen(p, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void write_u64(const char *base, const char *rel, uint64_t v)
{
	char text[32];

	assert_true(str_fmt(text, sizeof text, "%llu\n", (unsigned long long)v) > 0);
	write_file(base, rel, text);
}

/* Turns a file into a directory: open() still works, read() fails with EISDIR. */
static void make_dir_instead(const char *base, const char *rel)
{
	char p[512];

	assert_true(str_fmt(p, sizeof p, "%s/%s", base, rel) > 0);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void mkdir_p(const char *base, const char *rel)
{
	char p[512];
	char *s;

	assert_true(str_fmt(p, sizeof p, "%s/%s", base, rel) > 0);
	for (s = p + strlen(base) + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
		*s = '/';
	}
	assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
}

static void copy_tree(const char *src, const char *dst)
{
	DIR *d = opendir(src);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char s[512], t[512];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		assert_true(str_fmt(s, sizeof s, "%s/%s", src, de->d_name) > 0);
		assert_true(str_fmt(t, sizeof t, "%s/%s", dst, de->d_name) > 0);
		assert_int_equal(lstat(s, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			assert_int_equal(mkdir(t, 0755), 0);
			copy_tree(s, t);
		} else if (S_ISLNK(st.st_mode)) {
			/* hwmon "device" links: only their target's name matters. */
			char target[512];
			ssize_t n = readlink(s, target, sizeof target - 1);

			assert_true(n > 0);
			target[n] = '\0';
			assert_int_equal(symlink(target, t), 0);
		} else {
			char buf[8192];
			ssize_t n = file_read_small(s, buf, sizeof buf);
			int fd = open(t, O_WRONLY | O_CREAT | O_EXCL, 0644);

			assert_true(n >= 0);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, buf, (size_t)n), n);
			close(fd);
		}
	}
	closedir(d);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* A writable copy of a fixture in a temp dir, readable by everyone. */
static void fixture_copy(const char *fixture, char *dir, size_t n)
{
	assert_true(str_fmt(dir, n, "/tmp/gputel-host-XXXXXX") > 0);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	copy_tree(fixture, dir);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void sample(struct host *h)
{
	memset(&snap, 0xa5, sizeof snap.host);
	host_sample(h, &snap);
}

#define assert_field(f, want)                                       \
	do {                                                        \
		assert_int_equal(snap.host.st[f], VAL_OK);          \
		assert_int_equal(snap.host.val[f], (want));         \
	} while (0)
#define assert_state(f, want) assert_int_equal(snap.host.st[f], (want))

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- RAPL helpers ---- */

static void test_rapl_wrap(void **state)
{
	(void)state;
	/* Near the top, then wrapped to a small value. */
	assert_int_equal(rapl_energy_delta_uj(INTEL_MAXR - 850, 1000, INTEL_MAXR), 1850);
	assert_int_equal(rapl_energy_delta_uj(65712999000ULL, 613, 65712999613ULL), 1226);
	/* No wrap, and no change. */
	assert_int_equal(rapl_energy_delta_uj(100, 600, INTEL_MAXR), 500);
	assert_int_equal(rapl_energy_delta_uj(48713255371ULL, 48713255371ULL, INTEL_MAXR), 0);
	assert_int_equal(rapl_energy_delta_uj(0, INTEL_MAXR, INTEL_MAXR), INTEL_MAXR);
	/* Went backwards with no believable range: only the part after the wrap. */
	assert_int_equal(rapl_energy_delta_uj(500, 100, 0), 100);
	assert_int_equal(rapl_energy_delta_uj(500, 100, 400), 100);
}

static void test_rapl_power(void **state)
{
	(void)state;
	assert_int_equal(rapl_power_mw(5000000, NS_PER_SEC), 5000);
	assert_int_equal(rapl_power_mw(5000000, NS_PER_SEC / 2), 10000);
	assert_int_equal(rapl_power_mw(65000000, NS_PER_SEC), 65000);
	assert_int_equal(rapl_power_mw(0, NS_PER_SEC), 0);
	/* 1 µJ in 3 ns is 333.33 W; 2 µJ in 3 ns rounds up. */
	assert_int_equal(rapl_power_mw(1, 3), 333333);
	assert_int_equal(rapl_power_mw(2, 3), 666667);
	assert_int_equal(rapl_power_mw(5000000, 0), -1);
	assert_int_equal(rapl_power_mw(5000000, -5), -1);
	/* Absurd inputs saturate rather than overflow. */
	assert_int_equal(rapl_power_mw(UINT64_MAX, 1), INT64_MAX);
	assert_true(rapl_power_mw(UINT64_MAX, INT64_MAX) > 0);
	assert_int_equal(rapl_power_mw(INTEL_MAXR, 60 * NS_PER_SEC), 4369055);
}

/* ---- hwmon roles ---- */

static void assert_role(const char *chip, const char *label, const char *want)
{
	const char *got = hwmon_classify(chip, label);

	if (!chip || !label) {
		assert_null(got);
		return;
	}
	if (!want) {
		if (got)
			fail_msg("%s/%s: got %s, want none", chip, label, got);
		return;
	}
	if (!got)
		fail_msg("%s/%s: got none, want %s", chip, label, want);
	assert_string_equal(got, want);
}

static void test_classify(void **state)
{
	(void)state;
	assert_role("coretemp", "Package id 0", "cpu_pkg");
	assert_role("coretemp", "Package id 1", "cpu_pkg");
	assert_role("coretemp", "package ID 0", "cpu_pkg");
	assert_role("coretemp", "Physical id 0", "cpu_pkg");
	assert_role("coretemp", "Core 0", "cpu_core");
	assert_role("coretemp", "Core 12", "cpu_core");
	assert_role("coretemp", "core 3", "cpu_core");
	/* Package and core labels mean something only on coretemp. */
	assert_role("nct6798", "Core 0", NULL);
	assert_role("k10temp", "Package id 0", NULL);

	assert_role("k10temp", "Tdie", "cpu_pkg");
	assert_role("k10temp", "Tctl", "cpu_pkg");  /* the scan drops it beside a Tdie */
	assert_role("k10temp", "tctl", "cpu_pkg");
	assert_role("k10temp", "Tccd1", "cpu_core");
	assert_role("k10temp", "Tccd12", "cpu_core");
	assert_role("k10temp", "temp1", "cpu_pkg");   /* unlabelled, older kernels */
	assert_role("k10temp", "temp3", NULL);
	assert_role("zenpower", "Tdie", "cpu_pkg");
	assert_role("zenpower", "Tccd2", "cpu_core");
	assert_role("nct6775", "Tdie", NULL);

	assert_role("asus_ec", "T_Sensor", "t_sensor");
	assert_role("nct6798", "t_sensor", "t_sensor");
	assert_role("asus_ec", "Chipset", "chipset");
	assert_role("asus_wmi_sensors", "Chipset Temperature", "chipset");
	assert_role("nct6798", "PCH", "chipset");
	assert_role("nct6798", "PCH_CHIP_TEMP", "chipset");
	assert_role("nct6798", "PCH_CPU_TEMP", NULL);
	assert_role("pch_cannonlake", "temp1", "chipset");
	assert_role("pch_skylake", "temp1", "chipset");
	assert_role("asus_ec", "VRM", "vrm");
	assert_role("asus_wmi_sensors", "CPU VRM Temperature", "vrm");
	assert_role("asus_ec", "vrm", "vrm");

	assert_role("asus_ec", "CPU", NULL);
	assert_role("asus_ec", "Motherboard", NULL);
	assert_role("nct6798", "SYSTIN", NULL);
	assert_role("nct6798", "CPUTIN", NULL);
	assert_role("acpitz", "temp1", NULL);
	assert_role("nvme", "Composite", NULL);
	assert_role("amdgpu", "edge", NULL);
	assert_role(NULL, NULL, NULL);
	assert_role("", "", NULL);
}

/* ---- /proc/stat ---- */

static void test_proc_stat_fields(void **state)
{
	struct cpu_times t;

	(void)state;
	/* Before 2.5.41: user nice system idle. */
	assert_int_equal(proc_stat_parse("cpu  100 20 30 400\ncpu0 100 20 30 400\n", &t), 0);
	assert_int_equal(t.busy, 150);
	assert_int_equal(t.idle, 400);
	/* All ten: guest and guest_nice are inside user and nice already. */
	assert_int_equal(proc_stat_parse("cpu  1000 200 300 4000 50 6 7 8 900 90\n", &t), 0);
	assert_int_equal(t.busy, 1000 + 200 + 300 + 6 + 7 + 8);
	assert_int_equal(t.idle, 4050);
	/* Seven (2.6.0) and eight (2.6.11), tabs, no final newline. */
	assert_int_equal(proc_stat_parse("cpu\t1 2 3 4 5 6 7", &t), 0);
	assert_int_equal(t.busy, 1 + 2 + 3 + 6 + 7);
	assert_int_equal(t.idle, 9);
	assert_int_equal(proc_stat_parse("cpu  1 2 3 4 5 6 7 8\r\n", &t), 0);
	assert_int_equal(t.busy, 1 + 2 + 3 + 6 + 7 + 8);
	/* More fields than any kernel has: the known ten are used. */
	assert_int_equal(proc_stat_parse("cpu  1 1 1 1 1 1 1 1 1 1 1 1\n", &t), 0);
	assert_int_equal(t.busy, 6);
	/* The aggregate line need not be first; cpuN must never be taken for it. */
	assert_int_equal(proc_stat_parse("intr 5 6\ncpu0 9 9 9 9\ncpu  1 2 3 4\n", &t), 0);
	assert_int_equal(t.busy, 6);
	assert_int_equal(proc_stat_parse("cpu0 1 2 3 4\ncpu1 1 2 3 4\n", &t), -1);
	assert_int_equal(proc_stat_parse("cpu  1 2 3\n", &t), -1);
	assert_int_equal(proc_stat_parse("cpu  1 2 x 4\n", &t), -1);
	assert_int_equal(proc_stat_parse("cpu  1 2 -3 4\n", &t), -1);
	assert_int_equal(proc_stat_parse("cpu  1 2 3 99999999999999999999999\n", &t), -1);
	assert_int_equal(proc_stat_parse("", &t), -1);
	assert_int_equal(proc_stat_parse("cpu", &t), -1);
	assert_int_equal(proc_stat_parse("cpu \n1 2 3 4\n", &t), -1);
}

static void test_cpu_util(void **state)
{
	struct cpu_times a, b;

	(void)state;
	a = (struct cpu_times){ .busy = 1000, .idle = 9000 };
	b = (struct cpu_times){ .busy = 1500, .idle = 9500 };
	assert_int_equal(cpu_util_cpct(&a, &b), 5000);
	b = (struct cpu_times){ .busy = 1001, .idle = 9002 };
	assert_int_equal(cpu_util_cpct(&a, &b), 3333);
	b = (struct cpu_times){ .busy = 1002, .idle = 9001 };
	assert_int_equal(cpu_util_cpct(&a, &b), 6667);
	/* No time passed. */
	assert_int_equal(cpu_util_cpct(&a, &a), -1);
	/* All idle, all busy. */
	b = (struct cpu_times){ .busy = 1000, .idle = 9100 };
	assert_int_equal(cpu_util_cpct(&a, &b), 0);
	b = (struct cpu_times){ .busy = 1100, .idle = 9000 };
	assert_int_equal(cpu_util_cpct(&a, &b), 10000);
	/* Huge deltas do not overflow. */
	a = (struct cpu_times){ 0, 0 };
	b = (struct cpu_times){ .busy = UINT64_MAX / 2, .idle = UINT64_MAX / 2 };
	assert_int_equal(cpu_util_cpct(&a, &b), 5000);
}

static void test_cpu_util_iowait_down(void **state)
{
	struct cpu_times a, b;

	(void)state;
	/* iowait fell by 50 while idle rose by 300: idle_all still rose by 250. */
	assert_int_equal(proc_stat_parse("cpu  100 0 100 1000 500 0 0 0\n", &a), 0);
	assert_int_equal(proc_stat_parse("cpu  300 0 100 1300 450 0 0 0\n", &b), 0);
	assert_int_equal(cpu_util_cpct(&a, &b), 4444);
	/* iowait fell more than idle rose: the idle delta clamps to 0. */
	assert_int_equal(proc_stat_parse("cpu  300 0 100 1050 400 0 0 0\n", &b), 0);
	assert_int_equal(cpu_util_cpct(&a, &b), 10000);
	/* Only iowait moved, downwards: no time seen to pass. */
	assert_int_equal(proc_stat_parse("cpu  100 0 100 1000 400 0 0 0\n", &b), 0);
	assert_int_equal(cpu_util_cpct(&a, &b), -1);
	/* Busy going backwards counts as no change, never as negative. */
	assert_int_equal(proc_stat_parse("cpu  50 0 100 1100 500 0 0 0\n", &b), 0);
	assert_int_equal(cpu_util_cpct(&a, &b), 0);
}

/* ---- /proc/meminfo ---- */

static void test_meminfo(void **state)
{
	struct meminfo m;

	(void)state;
	assert_int_equal(proc_meminfo_parse("MemTotal:       32719388 kB\n"
					    "MemFree:        18234560 kB\n"
					    "MemAvailable:   26873420 kB\n"
					    "Buffers:          412336 kB\n", &m), 0);
	assert_int_equal(m.total_bytes, 32719388ULL * 1024);
	assert_int_equal(m.available_bytes, 26873420ULL * 1024);

	/* Before 3.14: MemFree + Buffers + Cached + SReclaimable - Shmem. */
	assert_int_equal(proc_meminfo_parse("MemTotal:        1000000 kB\n"
					    "MemFree:          100000 kB\n"
					    "Buffers:           20000 kB\n"
					    "Cached:           300000 kB\n"
					    "SwapCached:        77777 kB\n"
					    "Shmem:             50000 kB\n"
					    "SReclaimable:      40000 kB\n", &m), 0);
	assert_int_equal(m.total_bytes, 1000000ULL * 1024);
	assert_int_equal(m.available_bytes, 410000ULL * 1024);

	/* Keys in any order; look-alike keys (SwapCached, MemTotalX) ignored. */
	assert_int_equal(proc_meminfo_parse("SwapCached: 5 kB\n"
					    "MemAvailable: 700 kB\n"
					    "HugePages_Total:       0\n"
					    "MemTotalX: 1 kB\n"
					    "Cached: 300 kB\n"
					    "MemTotal: 1000 kB", &m), 0);
	assert_int_equal(m.total_bytes, 1000 * 1024);
	assert_int_equal(m.available_bytes, 700 * 1024);

	/* Shmem larger than the rest: nothing available, not a wrap. */
	assert_int_equal(proc_meminfo_parse("MemTotal: 1000 kB\nMemFree: 10 kB\nShmem: 900 kB\n",
					    &m), 0);
	assert_int_equal(m.available_bytes, 0);

	assert_int_equal(proc_meminfo_parse("MemFree: 10 kB\nMemAvailable: 20 kB\n", &m), -1);
	assert_int_equal(proc_meminfo_parse("MemTotal: lots\n", &m), -1);
	assert_int_equal(proc_meminfo_parse("MemTotal: 99999999999999999999 kB\n", &m), -1);
	assert_int_equal(proc_meminfo_parse("", &m), -1);
}

/* ---- end to end on the fixtures ---- */

static int64_t bench_sample(struct host *h, int n)
{
	int64_t t0 = mono_now_ns();
	int i;

	for (i = 0; i < n; i++)
		host_sample(h, &snap);
	return (mono_now_ns() - t0) / n;
}

static void test_intel_fixture(void **state)
{
	const struct host_temp_info *ti;
	const struct host_rapl_info *zi;
	struct host *h;
	size_t n, i, npkg = 0, ncore = 0;

	(void)state;
	use_roots(INTEL);
	h = host_open();
	assert_non_null(h);
	assert_string_equal(host_sysfs_root(h), INTEL "/sys");
	sample(h);

	assert_field(HOST_F_CPU_PKG_TEMP_MC, 58000);
	assert_field(HOST_F_CPU_CORE_MAX_MC, 57000);
	assert_field(HOST_F_T_SENSOR_MC, 31000);
	assert_field(HOST_F_CHIPSET_MC, 52000);   /* pch_cannonlake beats asus_ec's 47.0 */
	assert_field(HOST_F_VRM_MC, 44000);
	/*
	 * A static fixture: no energy used, and no CPU time passed.  Counters
	 * that never move give no power (an empty cell), never 0 W.
	 */
	assert_int_equal(snap.host.rapl, RAPL_OK);
	assert_state(HOST_F_CPU_PKG_POWER_MW, VAL_ABSENT);
	assert_field(HOST_F_CPU_PKG_ENERGY_MJ, 0);
	assert_state(HOST_F_DRAM_POWER_MW, VAL_ABSENT);
	assert_state(HOST_F_CPU_UTIL_CPCT, VAL_ABSENT);
	assert_field(HOST_F_MEM_TOTAL_BYTES, 32719388LL * 1024);
	assert_field(HOST_F_MEM_USED_BYTES, (32719388LL - 26873420LL) * 1024);
	assert_int_equal(snap.host_src.ok, 1);
	assert_true(snap.host_src.duration_ns > 0);

	n = host_temps(h, &ti);
	assert_int_equal(n, 2 + 3 + 9 + 5 + 7 + 1);
	assert_string_equal(ti[0].chip, "acpitz");
	assert_string_equal(ti[0].label, "temp1");
	assert_null(ti[0].role);
	assert_string_equal(ti[5].chip, "coretemp");
	assert_string_equal(ti[5].label, "Package id 0");
	assert_string_equal(ti[5].role, "cpu_pkg");
	assert_string_equal(ti[n - 1].chip, "pch_cannonlake");
	assert_string_equal(ti[n - 1].role, "chipset");
	for (i = 0; i < n; i++) {
		npkg += ti[i].role && strcmp(ti[i].role, "cpu_pkg") == 0;
		ncore += ti[i].role && strcmp(ti[i].role, "cpu_core") == 0;
	}
	assert_int_equal(npkg, 1);
	assert_int_equal(ncore, 8);

	/* Sorted, with the intel-rapl-mmio duplicate left out. */
	n = host_rapl_zones(h, &zi);
	assert_int_equal(n, 4);
	assert_string_equal(zi[0].zone, "intel-rapl:0");
	assert_string_equal(zi[0].name, "package-0");
	assert_string_equal(zi[1].zone, "intel-rapl:0:0");
	assert_string_equal(zi[1].name, "core");
	assert_string_equal(zi[2].zone, "intel-rapl:0:1");
	assert_string_equal(zi[2].name, "dram");
	assert_string_equal(zi[3].zone, "intel-rapl:1");
	assert_string_equal(zi[3].name, "psys");
	for (i = 0; i < n; i++)
		assert_int_equal(zi[i].readable, 1);

	print_message("host_sample on " INTEL ": %lld ns per tick\n",
		      (long long)bench_sample(h, 2000));
	host_close(h);
}

static void test_amd_fixture(void **state)
{
	const struct host_temp_info *ti;
	const struct host_rapl_info *zi;
	struct host *h;
	size_t n, i;
	int saw_tctl = 0;

	(void)state;
	use_roots(AMD);
	h = host_open();
	assert_non_null(h);
	sample(h);

	/* Tdie, not the offset Tctl (71.25). */
	assert_field(HOST_F_CPU_PKG_TEMP_MC, 61250);
	assert_field(HOST_F_CPU_CORE_MAX_MC, 58500);
	assert_state(HOST_F_T_SENSOR_MC, VAL_ABSENT);
	assert_field(HOST_F_CHIPSET_MC, 52000);
	assert_field(HOST_F_VRM_MC, 47000);
	assert_int_equal(snap.host.rapl, RAPL_OK);
	assert_state(HOST_F_CPU_PKG_POWER_MW, VAL_ABSENT);   /* a counter that never moves */
	assert_field(HOST_F_CPU_PKG_ENERGY_MJ, 0);
	assert_state(HOST_F_DRAM_POWER_MW, VAL_ABSENT);   /* AMD has no dram zone */
	assert_field(HOST_F_MEM_TOTAL_BYTES, 65530972LL * 1024);
	assert_field(HOST_F_MEM_USED_BYTES, (65530972LL - 55123456LL) * 1024);
	assert_int_equal(snap.host_src.ok, 1);

	n = host_temps(h, &ti);
	for (i = 0; i < n; i++) {
		if (strcmp(ti[i].chip, "k10temp") == 0 && strcmp(ti[i].label, "Tctl") == 0) {
			saw_tctl = 1;
			assert_null(ti[i].role);
		}
	}
	assert_true(saw_tctl);
	n = host_rapl_zones(h, &zi);
	assert_int_equal(n, 2);
	assert_string_equal(zi[0].name, "package-0");
	assert_string_equal(zi[1].name, "core");

	print_message("host_sample on " AMD ": %lld ns per tick\n",
		      (long long)bench_sample(h, 2000));
	host_close(h);
}

static void test_tctl_without_tdie(void **state)
{
	char dir[64];
	const struct host_temp_info *ti;
	struct host *h;

	(void)state;
	fixture_copy(AMD, dir, sizeof dir);
	/* A Zen 2+ part with no offset: k10temp shows Tctl and no Tdie. */
	{
		char p[512];

		assert_true(str_fmt(p, sizeof p, "%s/sys/class/hwmon/hwmon1/temp2_label", dir) > 0);
		assert_int_equal(unlink(p), 0);
		assert_true(str_fmt(p, sizeof p, "%s/sys/class/hwmon/hwmon1/temp2_input", dir) > 0);
		assert_int_equal(unlink(p), 0);
	}
	use_roots(dir);
	h = host_open();
	sample(h);
	assert_field(HOST_F_CPU_PKG_TEMP_MC, 71250);
	assert_int_equal(host_temps(h, &ti) > 1, 1);
	assert_string_equal(ti[1].label, "Tctl");
	assert_string_equal(ti[1].role, "cpu_pkg");
	host_close(h);

	/* Older k10temp: one unlabelled channel, which is Tctl. */
	rm_tree(dir);
	fixture_copy(AMD, dir, sizeof dir);
	{
		char p[512];
		int k;

		for (k = 1; k <= 4; k++) {
			assert_true(str_fmt(p, sizeof p, "%s/sys/class/hwmon/hwmon1/temp%d_label",
					    dir, k) > 0);
			assert_int_equal(unlink(p), 0);
			if (k == 1)
				continue;
			assert_true(str_fmt(p, sizeof p, "%s/sys/class/hwmon/hwmon1/temp%d_input",
					    dir, k) > 0);
			assert_int_equal(unlink(p), 0);
		}
	}
	use_roots(dir);
	h = host_open();
	sample(h);
	assert_field(HOST_F_CPU_PKG_TEMP_MC, 71250);
	assert_state(HOST_F_CPU_CORE_MAX_MC, VAL_ABSENT);
	host_close(h);
	rm_tree(dir);
}

static void test_power_from_energy(void **state)
{
	char dir[64];
	const char *pkg = "sys/class/powercap/intel-rapl:0/energy_uj";
	const char *dram = "sys/class/powercap/intel-rapl:0:1/energy_uj";
	int64_t t0, t1, t2, t3, lo, hi, mw;
	uint64_t pkg_total;
	struct host *h;

	(void)state;
	fixture_copy(INTEL, dir, sizeof dir);
	use_roots(dir);
	h = host_open();
	/* The priming read's moment says nothing of when the counter last moved: no power yet. */
	write_u64(dir, pkg, INTEL_PKG_UJ + 1000000);
	write_u64(dir, dram, INTEL_DRAM_UJ + 100000);
	t0 = mono_now_ns();
	sample(h);
	t1 = mono_now_ns();
	assert_field(HOST_F_CPU_PKG_ENERGY_MJ, 1000);
	assert_state(HOST_F_CPU_PKG_POWER_MW, VAL_ABSENT);
	assert_state(HOST_F_DRAM_POWER_MW, VAL_ABSENT);
	sleep_ms(50);
	write_u64(dir, pkg, INTEL_PKG_UJ + 1000000 + 5000000);
	write_u64(dir, dram, INTEL_DRAM_UJ + 100000 + 1000000);
	/* The MMIO copy of package-0 must not be added on top. */
	write_u64(dir, "sys/class/powercap/intel-rapl-mmio:0/energy_uj", 1);
	/* Neither must core (inside package) nor psys. */
	write_u64(dir, "sys/class/powercap/intel-rapl:0:0/energy_uj", 19254870123ULL + 99999999);
	write_u64(dir, "sys/class/powercap/intel-rapl:1/energy_uj", 102345678901ULL + 99999999);
	t2 = mono_now_ns();
	sample(h);
	t3 = mono_now_ns();

	/* The interval host measured lies within [t2 - t1, t3 - t0]. */
	assert_int_equal(snap.host.rapl, RAPL_OK);
	assert_field(HOST_F_CPU_PKG_ENERGY_MJ, 6000);
	assert_int_equal(snap.host.st[HOST_F_CPU_PKG_POWER_MW], VAL_OK);
	mw = snap.host.val[HOST_F_CPU_PKG_POWER_MW];
	lo = rapl_power_mw(5000000, t3 - t0);
	hi = rapl_power_mw(5000000, t2 - t1);
	if (mw < lo || mw > hi)
		fail_msg("package power %lld mW outside [%lld, %lld]", (long long)mw,
			 (long long)lo, (long long)hi);
	assert_int_equal(snap.host.st[HOST_F_DRAM_POWER_MW], VAL_OK);
	mw = snap.host.val[HOST_F_DRAM_POWER_MW];
	lo = rapl_power_mw(1000000, t3 - t0);
	hi = rapl_power_mw(1000000, t2 - t1);
	if (mw < lo || mw > hi)
		fail_msg("dram power %lld mW outside [%lld, %lld]", (long long)mw,
			 (long long)lo, (long long)hi);

	/* The counter wraps: energy keeps growing by the wrap-corrected delta. */
	t0 = t2;  /* the first sample began after this */
	t1 = mono_now_ns();
	sleep_ms(20);
	write_u64(dir, pkg, 1000);
	t2 = mono_now_ns();
	sample(h);
	t3 = mono_now_ns();
	pkg_total = 6000000 + (INTEL_MAXR - (INTEL_PKG_UJ + 6000000)) + 1000;
	assert_field(HOST_F_CPU_PKG_ENERGY_MJ, (int64_t)(pkg_total / 1000));
	mw = snap.host.val[HOST_F_CPU_PKG_POWER_MW];
	lo = rapl_power_mw(pkg_total - 6000000, t3 - t0);
	hi = rapl_power_mw(pkg_total - 6000000, t2 - t1);
	assert_true(mw >= lo && mw <= hi);
	/* dram did not move since: too short an interval to tell, so no value rather than 0 W. */
	assert_state(HOST_F_DRAM_POWER_MW, VAL_ABSENT);

	/* A tick whose read fails is an error, and the next spans both ticks. */
	write_file(dir, pkg, "garbage\n");
	sample(h);
	assert_int_equal(snap.host.rapl, RAPL_UNREADABLE);
	assert_state(HOST_F_CPU_PKG_POWER_MW, VAL_ERROR);
	assert_state(HOST_F_CPU_PKG_ENERGY_MJ, VAL_ERROR);
	assert_state(HOST_F_DRAM_POWER_MW, VAL_ABSENT);
	assert_int_equal(snap.host_src.ok, 0);
	write_u64(dir, pkg, 1000 + 3000000);
	sample(h);
	assert_int_equal(snap.host.rapl, RAPL_OK);
	assert_field(HOST_F_CPU_PKG_ENERGY_MJ, (int64_t)((pkg_total + 3000000) / 1000));
	assert_true(snap.host.val[HOST_F_CPU_PKG_POWER_MW] > 0);
	assert_int_equal(snap.host_src.ok, 1);

	host_close(h);
	rm_tree(dir);
}

/*
 * A counter that moves only every 50 ms, read every 10 ms from a priming
 * read at an arbitrary moment: no power until an interval starts just
 * after a move, never 0 W while it has not moved, then the true power.
 */
static void test_power_of_a_slow_counter(void **state)
{
	static struct rapl_set set;
	static struct host_reading r;
	const char *pkg = "sys/class/powercap/intel-rapl:0/energy_uj";
	const uint64_t step_uj = 2500000;     /* 50 W for 50 ms */
	char dir[64], root[96];
	int64_t t0;
	int moves = 0;

	(void)state;
	fixture_copy(INTEL, dir, sizeof dir);
	snprintf(root, sizeof root, "%s/sys", dir);
	rapl_scan(&set, root);
	t0 = mono_now_ns();
	/* The counter moved 1 ms after the priming read, then every 50 ms; ticks every 10 ms from 3 ms. */
	for (int64_t ms = 3; ms <= 203; ms += 10) {
		int want = (int)((ms - 1) / 50) + 1;

		while (moves < want)
			write_u64(dir, pkg, INTEL_PKG_UJ + (uint64_t)++moves * step_uj);
		memset(&r, 0, sizeof r);
		rapl_sample(&set, t0 + ms * 1000000, 0, &r);
		assert_int_equal(r.rapl, RAPL_OK);
		assert_int_equal(r.st[HOST_F_CPU_PKG_ENERGY_MJ], VAL_OK);
		assert_int_equal(r.val[HOST_F_CPU_PKG_ENERGY_MJ], (int64_t)((uint64_t)moves * step_uj / 1000));
		/* Moves seen at 3 (re-aligns), 53, 103, 153, 203 ms: a value on each but the first. */
		if (ms == 53 || ms == 103 || ms == 153 || ms == 203) {
			assert_int_equal(r.st[HOST_F_CPU_PKG_POWER_MW], VAL_OK);
			assert_int_equal(r.val[HOST_F_CPU_PKG_POWER_MW], 50000);
		} else {
			assert_int_not_equal(r.st[HOST_F_CPU_PKG_POWER_MW], VAL_OK);
		}
	}
	rapl_release(&set);
	rm_tree(dir);
}

/* The per-channel temperature named label on chip, or fails. */
static size_t temp_index(const char *chip, const char *label)
{
	for (unsigned int i = 0; i < snap.host.n_temps; i++)
		if (strcmp(snap.host.temp_info[i].chip, chip) == 0 &&
		    strcmp(snap.host.temp_info[i].label, label) == 0)
			return i;
	fail_msg("no channel %s/%s", chip, label);
	return 0;
}

static size_t zone_index(const char *zone)
{
	for (unsigned int i = 0; i < snap.host.n_zones; i++)
		if (strcmp(snap.host.zone_info[i].zone, zone) == 0)
			return i;
	fail_msg("no zone %s", zone);
	return 0;
}

/*
 * Host detail: every channel and every zone, the zones' counters wrap
 * corrected, and channels without a role never spoil host_src.ok.
 */
static void test_detail(void **state)
{
	const char *psys = "sys/class/powercap/intel-rapl:1/energy_uj";
	const uint64_t psys0 = 102345678901ULL;
	char dir[64];
	struct host *h;
	size_t i;

	(void)state;
	fixture_copy(INTEL, dir, sizeof dir);
	use_roots(dir);
	h = host_open();
	sample(h);
	assert_int_equal(snap.host.n_temps, 0);
	assert_int_equal(snap.host.n_zones, 0);

	host_set_detail(h, 1);
	sample(h);
	assert_int_equal(snap.host_src.ok, 1);
	assert_int_equal(snap.host.n_temps, 27);
	i = temp_index("coretemp", "Core 3");
	assert_int_equal(snap.host.temp_st[i], VAL_OK);
	assert_int_equal(snap.host.temp_mc[i], 57000);
	assert_string_equal(snap.host.temp_info[i].device, "coretemp.0");
	i = temp_index("acpitz", "temp1");
	assert_string_equal(snap.host.temp_info[i].device, "hwmon0");
	assert_int_equal(snap.host.n_zones, 4);
	i = zone_index("intel-rapl:1");
	assert_int_equal(snap.host.zone_st[i], VAL_OK);
	assert_int_equal(snap.host.zone_energy_uj[i], psys0);
	i = zone_index("intel-rapl:0");
	assert_int_equal(snap.host.zone_energy_uj[i], INTEL_PKG_UJ);

	/* psys grows, then wraps: its counter follows energy_uj, then passes the wrap. */
	write_u64(dir, psys, psys0 + 7000000);
	sample(h);
	i = zone_index("intel-rapl:1");
	assert_int_equal(snap.host.zone_energy_uj[i], psys0 + 7000000);
	write_u64(dir, psys, 500);
	sample(h);
	assert_int_equal(snap.host.zone_st[i], VAL_OK);
	assert_int_equal(snap.host.zone_energy_uj[i], INTEL_MAXR + 500);

	/* A channel with no role that stops reading: its series goes, host_src stays ok. */
	write_file(dir, "sys/class/hwmon/hwmon0/temp1_input", "garbage\n");
	write_file(dir, psys, "garbage\n");
	sample(h);
	assert_int_equal(snap.host.temp_st[temp_index("acpitz", "temp1")], VAL_ERROR);
	assert_int_equal(snap.host.zone_st[zone_index("intel-rapl:1")], VAL_ERROR);
	assert_int_equal(snap.host_src.ok, 1);
	assert_int_equal(snap.host.rapl, RAPL_OK);

	/* Off again: nothing per channel. */
	host_set_detail(h, 0);
	sample(h);
	assert_int_equal(snap.host.n_temps, 0);
	assert_int_equal(snap.host.n_zones, 0);
	host_close(h);
	rm_tree(dir);
}

static void test_cpu_and_temps_change(void **state)
{
	char dir[64];
	struct host *h;

	(void)state;
	fixture_copy(INTEL, dir, sizeof dir);
	use_roots(dir);
	h = host_open();
	/* +300 user, +700 idle; guest +1000 is inside user and must not count. */
	write_file(dir, "proc/stat",
		   "cpu  10132453 290696 3084719 46829183 16683 0 25195 0 176628 0\n"
		   "cpu0 1 2 3 4 5 6 7 8 9 10\nintr 1 2 3\nctxt 5\n");
	write_file(dir, "sys/class/hwmon/hwmon2/temp1_input", "91000\n");
	write_file(dir, "proc/meminfo", "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\n"
		   "Cached: 200 kB\nShmem: 10 kB\nSReclaimable: 20 kB\n");
	sample(h);
	assert_field(HOST_F_CPU_UTIL_CPCT, 3000);
	assert_field(HOST_F_CPU_PKG_TEMP_MC, 91000);
	assert_field(HOST_F_MEM_TOTAL_BYTES, 1000 * 1024);
	assert_field(HOST_F_MEM_USED_BYTES, (1000 - 360) * 1024);
	assert_int_equal(snap.host_src.ok, 1);

	/* One core unreadable: skipped.  All of them: an error, not absent. */
	write_file(dir, "sys/class/hwmon/hwmon2/temp5_input", "\n");
	sample(h);
	assert_field(HOST_F_CPU_CORE_MAX_MC, 56000);
	assert_int_equal(snap.host_src.ok, 0);
	{
		static const int chans[] = { 2, 3, 4, 5, 10, 11, 12, 13 };
		size_t i;

		for (i = 0; i < ARRAY_SIZE(chans); i++) {
			char rel[64];

			assert_true(str_fmt(rel, sizeof rel,
					    "sys/class/hwmon/hwmon2/temp%d_input", chans[i]) > 0);
			write_file(dir, rel, "n/a\n");
		}
	}
	write_file(dir, "proc/stat", "cpu 1 2\n");
	write_file(dir, "proc/meminfo", "MemFree: 1 kB\n");
	sample(h);
	assert_state(HOST_F_CPU_CORE_MAX_MC, VAL_ERROR);
	assert_field(HOST_F_CPU_PKG_TEMP_MC, 91000);
	assert_state(HOST_F_CPU_UTIL_CPCT, VAL_ERROR);
	assert_state(HOST_F_MEM_TOTAL_BYTES, VAL_ERROR);
	assert_state(HOST_F_MEM_USED_BYTES, VAL_ERROR);
	assert_int_equal(snap.host_src.ok, 0);
	host_close(h);
	rm_tree(dir);
}

static void test_energy_is_directory(void **state)
{
	const struct host_rapl_info *zi;
	char dir[64];
	struct host *h;

	(void)state;
	/* open() of a directory succeeds; every read fails with EISDIR. */
	fixture_copy(AMD, dir, sizeof dir);
	make_dir_instead(dir, "sys/class/powercap/intel-rapl:0/energy_uj");
	use_roots(dir);
	h = host_open();
	sample(h);
	assert_int_equal(snap.host.rapl, RAPL_UNREADABLE);
	assert_state(HOST_F_CPU_PKG_POWER_MW, VAL_ERROR);
	assert_state(HOST_F_CPU_PKG_ENERGY_MJ, VAL_ERROR);
	assert_state(HOST_F_DRAM_POWER_MW, VAL_ABSENT);
	assert_int_equal(snap.host_src.ok, 0);
	/* Everything else is unaffected. */
	assert_field(HOST_F_CPU_PKG_TEMP_MC, 61250);
	assert_int_equal(host_rapl_zones(h, &zi), 2);
	assert_int_equal(zi[0].readable, 0);
	assert_int_equal(zi[1].readable, 1);
	host_close(h);
	rm_tree(dir);

	/* Only dram unreadable: package power still reported. */
	fixture_copy(INTEL, dir, sizeof dir);
	make_dir_instead(dir, "sys/class/powercap/intel-rapl:0:1/energy_uj");
	use_roots(dir);
	h = host_open();
	write_u64(dir, "sys/class/powercap/intel-rapl:0/energy_uj", INTEL_PKG_UJ + 1000);
	sample(h);
	write_u64(dir, "sys/class/powercap/intel-rapl:0/energy_uj", INTEL_PKG_UJ + 2000);
	sample(h);
	assert_int_equal(snap.host.rapl, RAPL_UNREADABLE);
	assert_int_equal(snap.host.st[HOST_F_CPU_PKG_POWER_MW], VAL_OK);
	assert_state(HOST_F_DRAM_POWER_MW, VAL_ERROR);
	host_close(h);
	rm_tree(dir);
}

/*
 * The real permission failure.  Root reads anything whatever the mode, so
 * a child that is root drops to nobody first; the warning is captured
 * from the child's stderr.
 */
static void test_energy_eacces(void **state)
{
	char dir[64], p[512], log[4096];
	int logfd, status;
	pid_t pid;

	(void)state;
	fixture_copy(INTEL, dir, sizeof dir);
	assert_true(str_fmt(p, sizeof p, "%s/sys/class/powercap/intel-rapl:0/energy_uj", dir) > 0);
	assert_int_equal(chmod(p, 0400), 0);
	assert_true(str_fmt(p, sizeof p, "%s/sys/class/powercap/intel-rapl:0:1/energy_uj", dir) > 0);
	assert_int_equal(chmod(p, 0000), 0);
	assert_true(str_fmt(p, sizeof p, "%s/stderr", dir) > 0);
	logfd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0666);
	assert_true(logfd >= 0);
	use_roots(dir);

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct host *h;
		int bad = 0;

		dup2(logfd, 2);
		close(logfd);
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
		     setresuid(65534, 65534, 65534) != 0))
			_exit(77);
		h = host_open();
		host_sample(h, &snap);
		bad |= (snap.host.rapl != RAPL_UNREADABLE) << 0;
		/* 0400 and owned by root, as the kernel has it: unreadable for nobody. */
		bad |= (snap.host.st[HOST_F_CPU_PKG_POWER_MW] != VAL_ERROR) << 1;
		bad |= (snap.host.st[HOST_F_DRAM_POWER_MW] != VAL_ERROR) << 2;
		bad |= (snap.host.st[HOST_F_CPU_PKG_TEMP_MC] != VAL_OK) << 3;
		host_close(h);
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	/* 77: dropping to nobody failed, which as root must not happen. */
	assert_int_not_equal(WEXITSTATUS(status), 77);
	memset(log, 0, sizeof log);
	assert_true(pread(logfd, log, sizeof log - 1, 0) > 0);
	close(logfd);
	print_message("%s", log);
	if (geteuid() == 0) {
		/* Only then is package-0's owner someone else than the reader. */
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_non_null(strstr(log, "intel-rapl:0/energy_uj is readable by root only, "
					    "so cpu_pkg_w stays empty"));
	} else {
		assert_int_equal(WEXITSTATUS(status) & ~0x2, 0);
		assert_non_null(strstr(log, "intel-rapl:0:1/energy_uj is readable by root only"));
	}
	assert_non_null(strstr(log, "SUBSYSTEM==\"powercap\", KERNEL==\"intel-rapl:*\", "
				    "RUN+=\"/bin/chgrp "));
	assert_non_null(strstr(log, " /sys%p/energy_uj\", RUN+=\"/bin/chmod g+r /sys%p/energy_uj\""));
	assert_non_null(strstr(log, "udevadm control --reload-rules && udevadm trigger"));
	/* Exactly one warning, however many zones are unreadable. */
	assert_null(strstr(strstr(log, "readable by root only") + 1, "readable by root only"));
	rm_tree(dir);
}

static void test_missing_roots(void **state)
{
	const struct host_temp_info *ti;
	const struct host_rapl_info *zi;
	struct host *h;
	int f;

	(void)state;
	use_roots("/nonexistent/gputel");
	h = host_open();
	assert_non_null(h);
	sample(h);
	for (f = 0; f < HOST_F__COUNT; f++)
		assert_int_equal(snap.host.st[f], VAL_ABSENT);
	assert_int_equal(snap.host.rapl, RAPL_ABSENT);
	assert_int_equal(snap.host_src.ok, 1);
	assert_int_equal(host_temps(h, &ti), 0);
	assert_int_equal(host_rapl_zones(h, &zi), 0);
	host_close(h);

	/* No host at all (host_open ran out of memory) is the same. */
	sample(NULL);
	for (f = 0; f < HOST_F__COUNT; f++)
		assert_int_equal(snap.host.st[f], VAL_ABSENT);
	host_close(NULL);

	/* Empty variables mean the defaults. */
	assert_int_equal(setenv("GPUTEL_SYSFS_ROOT", "", 1), 0);
	unsetenv("GPUTEL_PROCFS_ROOT");
	h = host_open();
	assert_string_equal(host_sysfs_root(h), "/sys");
	host_close(h);
}

static void test_broken_tree(void **state)
{
	const struct host_temp_info *ti;
	const struct host_rapl_info *zi;
	char dir[64];
	struct host *h;
	size_t n;

	(void)state;
	fixture_copy(INTEL, dir, sizeof dir);
	/* Files where directories belong and vice versa: nothing may crash. */
	make_dir_instead(dir, "sys/class/hwmon/hwmon2/name");
	make_dir_instead(dir, "sys/class/hwmon/hwmon3/temp4_label");
	make_dir_instead(dir, "sys/class/hwmon/hwmon3/temp5_input");
	make_dir_instead(dir, "sys/class/powercap/intel-rapl:0/name");
	make_dir_instead(dir, "sys/class/powercap/intel-rapl:0:1/max_energy_range_uj");
	make_dir_instead(dir, "proc/meminfo");
	write_file(dir, "sys/class/hwmon/hwmon5/name", "");
	write_file(dir, "sys/class/hwmon/hwmon9", "not a directory\n");
	use_roots(dir);
	h = host_open();
	sample(h);
	/* coretemp lost its name, so nothing there has a role any more. */
	assert_state(HOST_F_CPU_PKG_TEMP_MC, VAL_ABSENT);
	assert_state(HOST_F_CPU_CORE_MAX_MC, VAL_ABSENT);
	/* T_Sensor became "temp4"; VRM cannot be read. */
	assert_state(HOST_F_T_SENSOR_MC, VAL_ABSENT);
	assert_state(HOST_F_VRM_MC, VAL_ERROR);
	assert_field(HOST_F_CHIPSET_MC, 47000);
	/* package-0 lost its name: no package zone left, dram still counted (energy unmoved: no power yet). */
	assert_state(HOST_F_CPU_PKG_POWER_MW, VAL_ABSENT);
	assert_state(HOST_F_DRAM_POWER_MW, VAL_ABSENT);
	assert_state(HOST_F_MEM_TOTAL_BYTES, VAL_ERROR);
	assert_int_equal(snap.host_src.ok, 0);
	n = host_temps(h, &ti);
	assert_true(n > 0);
	assert_string_equal(ti[5].chip, "");
	n = host_rapl_zones(h, &zi);
	assert_int_equal(n, 4);
	assert_string_equal(zi[0].name, "");
	host_close(h);
	rm_tree(dir);
}

static void test_scan_order_and_caps(void **state)
{
	const struct host_temp_info *ti;
	const struct host_rapl_info *zi;
	char dir[64], rel[128];
	struct host *h;
	int c, k;

	(void)state;
	assert_true(str_fmt(dir, sizeof dir, "/tmp/gputel-host-XXXXXX") > 0);
	assert_non_null(mkdtemp(dir));
	/* hwmon10 sorts after hwmon9, temp10 after temp9, intel-rapl:10 after :2. */
	for (c = 0; c < 12; c++) {
		assert_true(str_fmt(rel, sizeof rel, "sys/class/hwmon/hwmon%d", c) > 0);
		mkdir_p(dir, rel);
		assert_true(str_fmt(rel, sizeof rel, "sys/class/hwmon/hwmon%d/name", c) > 0);
		write_file(dir, rel, c == 10 ? "chip10\n" : c == 9 ? "chip9\n" : "many\n");
		for (k = 1; k <= 12; k++) {
			assert_true(str_fmt(rel, sizeof rel, "sys/class/hwmon/hwmon%d/temp%d_input",
					    c, k) > 0);
			write_file(dir, rel, "30000\n");
		}
	}
	for (c = 0; c < 20; c++) {
		assert_true(str_fmt(rel, sizeof rel, "sys/class/powercap/intel-rapl:%d", c) > 0);
		mkdir_p(dir, rel);
		assert_true(str_fmt(rel, sizeof rel, "sys/class/powercap/intel-rapl:%d/name", c) > 0);
		write_file(dir, rel, "psys\n");
	}
	use_roots(dir);
	h = host_open();
	sample(h);
	/* 12 chips x 12 channels, capped. */
	assert_int_equal(host_temps(h, &ti), 128);
	assert_string_equal(ti[9 * 12].chip, "chip9");
	assert_string_equal(ti[9 * 12 + 8].label, "temp9");
	assert_string_equal(ti[9 * 12 + 9].label, "temp10");
	assert_string_equal(ti[10 * 12].chip, "chip10");
	assert_string_equal(ti[127].label, "temp8");
	assert_int_equal(host_rapl_zones(h, &zi), 16);
	for (c = 1; c < 16; c++)
		assert_true(strverscmp(zi[c - 1].zone, zi[c].zone) < 0);
	/* Only unsummed zones, none readable. */
	assert_int_equal(snap.host.rapl, RAPL_UNREADABLE);
	assert_state(HOST_F_CPU_PKG_POWER_MW, VAL_ABSENT);
	host_close(h);
	rm_tree(dir);
}

/* The chmod 000 checks; returns a bit per failed expectation (0: all held). */
static int chmod_expectations(void)
{
	struct host *h = host_open();
	int bad = 0;

	sample(h);
	bad |= (snap.host.rapl != RAPL_UNREADABLE) << 0;
	bad |= (snap.host.st[HOST_F_CPU_PKG_POWER_MW] != VAL_ERROR) << 1;
	/* Tccd1 unreadable, Tccd2 left. */
	bad |= (snap.host.st[HOST_F_CPU_CORE_MAX_MC] != VAL_OK) << 2;
	bad |= (snap.host.val[HOST_F_CPU_CORE_MAX_MC] != 55250) << 3;
	host_close(h);
	return bad;
}

/*
 * Mode 000 files.  Root reads them anyway, so as root the checks run in a
 * child that has dropped to nobody first.
 */
static void test_non_root_chmod(void **state)
{
	char dir[64], p[512];
	int status;
	pid_t pid;

	(void)state;
	fixture_copy(AMD, dir, sizeof dir);
	assert_true(str_fmt(p, sizeof p, "%s/sys/class/powercap/intel-rapl:0/energy_uj", dir) > 0);
	assert_int_equal(chmod(p, 0000), 0);
	assert_true(str_fmt(p, sizeof p, "%s/sys/class/hwmon/hwmon1/temp3_input", dir) > 0);
	assert_int_equal(chmod(p, 0000), 0);
	use_roots(dir);
	if (geteuid() != 0) {
		assert_int_equal(chmod_expectations(), 0);
		rm_tree(dir);
		return;
	}
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(100);
		_exit(chmod_expectations());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rapl_wrap),
		cmocka_unit_test(test_rapl_power),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_proc_stat_fields),
		cmocka_unit_test(test_cpu_util),
		cmocka_unit_test(test_cpu_util_iowait_down),
		cmocka_unit_test(test_meminfo),
		cmocka_unit_test(test_intel_fixture),
		cmocka_unit_test(test_amd_fixture),
		cmocka_unit_test(test_tctl_without_tdie),
		cmocka_unit_test(test_power_from_energy),
		cmocka_unit_test(test_power_of_a_slow_counter),
		cmocka_unit_test(test_cpu_and_temps_change),
		cmocka_unit_test(test_detail),
		cmocka_unit_test(test_energy_is_directory),
		cmocka_unit_test(test_energy_eacces),
		cmocka_unit_test(test_missing_roots),
		cmocka_unit_test(test_broken_tree),
		cmocka_unit_test(test_scan_order_and_caps),
		cmocka_unit_test(test_non_root_chmod),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
