/*
 * scenario.c - parse a simulator scenario into keyframe tracks, evaluate
 * them.  See scenario.h for the contract and docs/simulator.md for the
 * format.
 *
 * Parsing collects every setting of every `at` line as a "raw" record
 * (time, GPU mask, value), then expands the records into one sorted track
 * per (GPU, value) that starts with an implicit keyframe holding the
 * default at t=0.  Evaluation is then a binary search in one small array,
 * which keeps the library's per-call cost to a few dozen nanoseconds.
 */
#include "scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCN_LINE_MAX 4096
#define SCN_MAX_TOKENS 256
#define SCN_MAX_RAW (1u << 18)
#define SCN_MAX_KF (1u << 20)
#define SCN_FILE_MAX (4u << 20)
#define SCN_TIME_MAX 1e9
#define SCN_XID_NUDGE 1e-6
#define RAW_XID 255

struct kf {
	double t;
	double v;
	uint32_t seq;
	uint8_t ramp;
};

struct track {
	uint32_t off;
	uint32_t n;
};

struct xev {
	double t;
	unsigned xid;
	uint32_t seq;
};

struct scenario {
	int gpus;
	int driver_major;
	double loop;
	uint64_t missing;
	char name[SCN_NAME_MAX];
	char driver[SCN_DRIVER_MAX];
	double defaults[SCN_VAR_COUNT];
	struct track tr[SCN_MAX_GPUS][SCN_VAR_COUNT];
	struct kf *kf;
	/* Joules of power_w from t=0 up to kf[i].t; used on power tracks only. */
	double *ecum;
	/* Joules in one full loop period. */
	double loop_j[SCN_MAX_GPUS];
	struct track xtr[SCN_MAX_GPUS];
	struct xev *xev;
};

/* One setting from one `at` line, before it is copied to each GPU's track. */
struct raw {
	double t;
	double v;
	uint64_t mask;
	uint32_t line;
	uint8_t var; /* enum scn_var or RAW_XID */
	uint8_t ramp;
	uint8_t all;
};

struct parser {
	const char *name;
	char *err;
	size_t errlen;
	int gpus_declared; /* 0: not declared */
	double loop;       /* 0: no loop */
	struct raw *raw;
	size_t nraw;
	size_t capraw;
	struct scenario *s;
};

/* ---- tables ---------------------------------------------------------- */

#define KF_INT 0x1    /* whole numbers only */
#define KF_HEX 0x2    /* 0x... accepted */
#define KF_NORAMP 0x4 /* a step value: ramping it means nothing */
#define KF_PSTATE 0x8 /* "P2" accepted */

struct keydef {
	const char *name;
	int var;
	double min, max;
	unsigned flags;
	const char *example;
};

static const struct keydef keys[] = {
	{ "util", SCN_UTIL, 0, 100, 0, "util=50" },
	{ "mem_util", SCN_MEM_UTIL, 0, 100, 0, "mem_util=30" },
	{ "power_w", SCN_POWER_W, 0, 100000, 0, "power_w=350.5" },
	{ "power_limit_w", SCN_POWER_LIMIT_W, 0, 100000, 0, "power_limit_w=700" },
	{ "temp_c", SCN_TEMP_C, 0, 200, 0, "temp_c=65" },
	{ "mem_used_mib", SCN_MEM_USED_MIB, 0, 1e9, 0, "mem_used_mib=20480" },
	{ "memory_total_mib", SCN_MEM_TOTAL_MIB, 0, 1e9, 0, "memory_total_mib=81559" },
	{ "sm_mhz", SCN_SM_MHZ, 0, 100000, 0, "sm_mhz=1980" },
	{ "mem_mhz", SCN_MEM_MHZ, 0, 100000, 0, "mem_mhz=2619" },
	{ "fan", SCN_FAN, 0, 100, 0, "fan=40" },
	{ "pstate", SCN_PSTATE, 0, 15, KF_INT | KF_NORAMP | KF_PSTATE, "pstate=0" },
	{ "clock_events", SCN_CLOCK_EVENTS, 0, 9007199254740991.0,
	  KF_INT | KF_HEX | KF_NORAMP, "clock_events=0x4" },
	{ "enc_util", SCN_ENC_UTIL, 0, 100, 0, "enc_util=20" },
	{ "dec_util", SCN_DEC_UTIL, 0, 100, 0, "dec_util=20" },
	{ "ecc_corr", SCN_ECC_CORR, 0, 1e15, KF_INT, "ecc_corr=3" },
	{ "ecc_uncorr", SCN_ECC_UNCORR, 0, 1e15, KF_INT, "ecc_uncorr=1" },
	{ "remap_corr", SCN_REMAP_CORR, 0, 1e15, KF_INT, "remap_corr=2" },
	{ "remap_uncorr", SCN_REMAP_UNCORR, 0, 1e15, KF_INT, "remap_uncorr=1" },
	{ "remap_pending", SCN_REMAP_PENDING, 0, 1, KF_INT | KF_NORAMP, "remap_pending=1" },
	{ "remap_failure", SCN_REMAP_FAILURE, 0, 1, KF_INT | KF_NORAMP, "remap_failure=1" },
	{ "latency_ms", SCN_LATENCY_MS, 0, 60000, 0, "latency_ms=200" },
};

#define KNOWN_KEYS                                                              \
	"util, mem_util, power_w, power_limit_w, temp_c, mem_used_mib, "        \
	"memory_total_mib, sm_mhz, mem_mhz, fan, pstate, clock_events, "        \
	"enc_util, dec_util, ecc_corr, ecc_uncorr, remap_corr, remap_uncorr, "  \
	"remap_pending, remap_failure, latency_ms, xid, unsupported, error, "   \
	"lost, recover, ramp"

#define KNOWN_DIRECTIVES \
	"gpus, driver, name, memory_total_mib, power_limit_w, loop, missing, at"

static const char *const field_names[SCN_F_COUNT] = {
	[SCN_F_UTIL] = "util",
	[SCN_F_MEM_UTIL] = "mem_util",
	[SCN_F_MEMORY] = "memory",
	[SCN_F_TEMP] = "temp",
	[SCN_F_POWER] = "power",
	[SCN_F_POWER_LIMIT] = "power_limit",
	[SCN_F_ENERGY] = "energy",
	[SCN_F_SM_CLOCK] = "sm_clock",
	[SCN_F_MEM_CLOCK] = "mem_clock",
	[SCN_F_FAN] = "fan",
	[SCN_F_PSTATE] = "pstate",
	[SCN_F_CLOCK_EVENTS] = "clock_events",
	[SCN_F_ENC] = "enc",
	[SCN_F_DEC] = "dec",
	[SCN_F_ECC] = "ecc",
	[SCN_F_REMAP] = "remap",
};

#define KNOWN_FIELDS                                                          \
	"util, mem_util, memory, temp, power, power_limit, energy, sm_clock, " \
	"mem_clock, fan, pstate, clock_events, enc, dec, ecc, remap, none"

static const char *const fn_names[SCN_FN_COUNT] = {
#define FN(x) [SCN_FN_##x] = #x
	FN(nvmlInit_v2),
	FN(nvmlInit),
	FN(nvmlInitWithFlags),
	FN(nvmlShutdown),
	FN(nvmlErrorString),
	FN(nvmlSystemGetDriverVersion),
	FN(nvmlSystemGetNVMLVersion),
	FN(nvmlDeviceGetCount_v2),
	FN(nvmlDeviceGetCount),
	FN(nvmlDeviceGetHandleByIndex_v2),
	FN(nvmlDeviceGetHandleByIndex),
	FN(nvmlDeviceGetHandleByUUID),
	FN(nvmlDeviceGetName),
	FN(nvmlDeviceGetUUID),
	FN(nvmlDeviceGetPciInfo_v3),
	FN(nvmlDeviceGetPciInfo_v2),
	FN(nvmlDeviceGetPciInfo),
	FN(nvmlDeviceGetMinorNumber),
	FN(nvmlDeviceGetPersistenceMode),
	FN(nvmlDeviceGetUtilizationRates),
	FN(nvmlDeviceGetMemoryInfo),
	FN(nvmlDeviceGetMemoryInfo_v2),
	FN(nvmlDeviceGetTemperature),
	FN(nvmlDeviceGetTemperatureV),
	FN(nvmlDeviceGetPowerUsage),
	FN(nvmlDeviceGetEnforcedPowerLimit),
	FN(nvmlDeviceGetTotalEnergyConsumption),
	FN(nvmlDeviceGetClockInfo),
	FN(nvmlDeviceGetFanSpeed),
	FN(nvmlDeviceGetPerformanceState),
	FN(nvmlDeviceGetCurrentClocksEventReasons),
	FN(nvmlDeviceGetCurrentClocksThrottleReasons),
	FN(nvmlDeviceGetEncoderUtilization),
	FN(nvmlDeviceGetDecoderUtilization),
	FN(nvmlDeviceGetTotalEccErrors),
	FN(nvmlDeviceGetRemappedRows),
	FN(nvmlEventSetCreate),
	FN(nvmlDeviceGetSupportedEventTypes),
	FN(nvmlDeviceRegisterEvents),
	FN(nvmlEventSetWait_v2),
	FN(nvmlEventSetWait),
	FN(nvmlEventSetFree),
#undef FN
};

/* An idle-ish GPU, for every value a scenario never mentions. */
static const double var_defaults[SCN_VAR_COUNT] = {
	[SCN_UTIL] = 0,
	[SCN_MEM_UTIL] = 0,
	[SCN_POWER_W] = 60,
	[SCN_POWER_LIMIT_W] = 700,
	[SCN_TEMP_C] = 32,
	[SCN_MEM_USED_MIB] = 512,
	[SCN_MEM_TOTAL_MIB] = 81559,
	[SCN_SM_MHZ] = 345,
	[SCN_MEM_MHZ] = 1593,
	[SCN_FAN] = 30,
	[SCN_PSTATE] = 8,
	[SCN_CLOCK_EVENTS] = 0,
	[SCN_ENC_UTIL] = 0,
	[SCN_DEC_UTIL] = 0,
	[SCN_ECC_CORR] = 0,
	[SCN_ECC_UNCORR] = 0,
	[SCN_REMAP_CORR] = 0,
	[SCN_REMAP_UNCORR] = 0,
	[SCN_REMAP_PENDING] = 0,
	[SCN_REMAP_FAILURE] = 0,
	[SCN_LATENCY_MS] = 0,
	[SCN_LOST] = 0,
	[SCN_UNSUPPORTED] = 0,
	[SCN_ERROR] = 0,
};

static const char default_text[] =
	"# built-in: two GPUs under a steady moderate load\n"
	"gpus 2\n"
	"driver 550.54.15\n"
	"name NVIDIA H100 80GB HBM3\n"
	"memory_total_mib 81559\n"
	"power_limit_w 700\n"
	"at 0 all util=45 mem_util=20 power_w=310 temp_c=55 mem_used_mib=20480 "
	"sm_mhz=1755 mem_mhz=2619 fan=40 pstate=0\n";

const char *scn_default_text(void)
{
	return default_text;
}

/* ---- small helpers ---------------------------------------------------- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void copy_str(char *dst, const char *src, size_t n)
{
	size_t len;

	if (n == 0)
		return;
	len = strlen(src);
	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* A token made safe to quote in a one-line message. */
static const char *show(const char *tok, char *buf, size_t n)
{
	size_t i;

	for (i = 0; tok[i] && i + 1 < n; i++) {
		unsigned char c = (unsigned char)tok[i];
		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (tok[i] && n > 4) {
		buf[n - 4] = '.';
		buf[n - 3] = '.';
		buf[n - 2] = '.';
		i = n - 1;
	}
	buf[i] = '\0';
	return buf;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct parser *p, uint32_t line, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!p->err || p->errlen == 0)
		return -1;
	if (line)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->name);
	if (n < 0)
		n = 0;
	if ((size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Plain decimals ("12", "0.5", "-3") and, when hex, "0x1f".  Exponents,
 * "nan" and "inf" are refused so that a typo never becomes a value.  The
 * parse is by hand because strtod follows the locale's decimal point.
 * Returns 0, or -1 when s is not such a number.
 */
static int parse_num(const char *s, bool hex, double *out, bool *whole)
{
	bool neg = false;
	double v = 0;

	*whole = true;
	if (*s == '-') {
		neg = true;
		s++;
	}
	if (hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		if (!*s)
			return -1;
		for (; *s; s++) {
			int h = hex_val(*s);
			if (h < 0)
				return -1;
			v = v * 16 + h;
		}
	} else {
		bool digits = false;

		for (; is_digit(*s); s++) {
			v = v * 10 + (*s - '0');
			digits = true;
		}
		if (*s == '.') {
			double scale = 0.1;

			s++;
			for (; is_digit(*s); s++) {
				if (*s != '0')
					*whole = false;
				v += (*s - '0') * scale;
				scale /= 10;
				digits = true;
			}
		}
		if (!digits || *s)
			return -1;
	}
	*out = neg ? -v : v;
	return 0;
}

static const struct keydef *key_find(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int field_find(const char *name)
{
	for (int i = 0; i < SCN_F_COUNT; i++)
		if (strcmp(field_names[i], name) == 0)
			return i;
	return -1;
}

int scn_fn_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < SCN_FN_COUNT; i++)
		if (strcmp(fn_names[i], name) == 0)
			return i;
	return -1;
}

const char *scn_field_name(enum scn_field f)
{
	return ((unsigned)f < SCN_F_COUNT) ? field_names[f] : "?";
}

const char *scn_fn_name(enum scn_fn fn)
{
	return ((unsigned)fn < SCN_FN_COUNT) ? fn_names[fn] : "?";
}

/* ---- line parsing ----------------------------------------------------- */

static int add_raw(struct parser *p, const struct raw *r)
{
	if (p->nraw == p->capraw) {
		size_t cap = p->capraw ? p->capraw * 2 : 64;
		struct raw *n;

		if (p->nraw >= SCN_MAX_RAW)
			return fail(p, r->line, "more than %u settings; shorten the scenario or use 'loop'",
				    SCN_MAX_RAW);
		n = realloc(p->raw, cap * sizeof(*n));
		if (!n)
			return fail(p, r->line, "out of memory; shorten the scenario");
		p->raw = n;
		p->capraw = cap;
	}
	p->raw[p->nraw++] = *r;
	return 0;
}

static int highest_bit(uint64_t m)
{
	int i = -1;

	while (m) {
		m >>= 1;
		i++;
	}
	return i;
}

static int check_gpu_range(struct parser *p, const struct raw *r, int limit)
{
	int hi;

	if (r->all)
		return 0;
	hi = highest_bit(r->mask);
	if (hi >= limit)
		return fail(p, r->line,
			    "GPU index %d out of range; this scenario has %d GPUs (0..%d), raise 'gpus' or fix the index",
			    hi, limit, limit - 1);
	return 0;
}

static int check_loop_range(struct parser *p, const struct raw *r, double loop)
{
	if (loop <= 0)
		return 0;
	if (r->var == RAW_XID && r->t >= loop)
		return fail(p, r->line, "xid at time %.15g is not before 'loop %.15g'; use a time below the loop length",
			    r->t, loop);
	if (r->t > loop)
		return fail(p, r->line, "time %.15g is past 'loop %.15g'; keep times within the loop or raise it",
			    r->t, loop);
	return 0;
}

/* Digits of a GPU index, saturating so that huge ones still read as huge. */
static const char *parse_index(const char *s, unsigned *out, int *ndigits)
{
	unsigned v = 0;
	int n = 0;

	for (; is_digit(*s); s++, n++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 100000)
			v = 100000;
	}
	*out = v;
	*ndigits = n;
	return s;
}

/*
 * "all", "2", "0,2,3", "0-3", "0-1,4".  Returns 0 with *mask, or -1.
 */
static int parse_selector(struct parser *p, uint32_t line, const char *tok, uint64_t *mask)
{
	char b[48];
	const char *s = tok;

	*mask = 0;
	for (;;) {
		unsigned lo, hi;
		int nd;

		s = parse_index(s, &lo, &nd);
		if (nd == 0)
			goto bad;
		hi = lo;
		if (*s == '-') {
			s = parse_index(s + 1, &hi, &nd);
			if (nd == 0 || hi < lo)
				goto bad;
		}
		if (hi >= SCN_MAX_GPUS)
			return fail(p, line, "GPU index %u out of range; GPUs are numbered 0..%d",
				    hi, SCN_MAX_GPUS - 1);
		for (unsigned i = lo; i <= hi; i++)
			*mask |= 1ULL << i;
		if (*s == '\0')
			return 0;
		if (*s != ',')
			goto bad;
		s++;
	}
bad:
	return fail(p, line, "bad GPU list '%s'; write all, 0, 0,2,3 or 0-3", show(tok, b, sizeof(b)));
}

static int parse_field_list(struct parser *p, uint32_t line, const char *key, const char *val,
			    double *out)
{
	char item[64], b[48];
	uint64_t mask = 0;
	const char *s = val;
	bool none = false;

	for (;;) {
		size_t n = strcspn(s, ",");
		int f;

		if (n == 0 || n >= sizeof(item))
			return fail(p, line, "bad field list '%s' in %s=; write e.g. %s=fan,ecc (known fields: " KNOWN_FIELDS ")",
				    show(val, b, sizeof(b)), key, key);
		memcpy(item, s, n);
		item[n] = '\0';
		if (strcmp(item, "none") == 0) {
			none = true;
		} else {
			f = field_find(item);
			if (f < 0)
				return fail(p, line, "unknown field '%s' in %s=; known fields: " KNOWN_FIELDS,
					    show(item, b, sizeof(b)), key);
			mask |= 1ULL << f;
		}
		s += n;
		if (*s == '\0')
			break;
		s++;
	}
	if (none && mask)
		return fail(p, line, "'none' mixed with fields in %s=; write %s=none alone to clear", key, key);
	*out = (double)mask;
	return 0;
}

static int parse_key_value(struct parser *p, uint32_t line, const struct keydef *k, const char *val,
			   double *out)
{
	char b[48];
	double v;
	bool whole;
	const char *num = val;

	if ((k->flags & KF_PSTATE) && (val[0] == 'P' || val[0] == 'p'))
		num = val + 1;
	if (parse_num(num, (k->flags & KF_HEX) != 0, &v, &whole) < 0)
		return fail(p, line, "'%s' needs a number, not '%s'; write e.g. %s", k->name,
			    show(val, b, sizeof(b)), k->example);
	if ((k->flags & KF_INT) && !whole)
		return fail(p, line, "'%s' needs a whole number, not '%s'; write e.g. %s", k->name,
			    show(val, b, sizeof(b)), k->example);
	if (v < k->min || v > k->max)
		return fail(p, line, "%s=%s is out of range; use %.15g..%.15g", k->name,
			    show(val, b, sizeof(b)), k->min, k->max);
	*out = v;
	return 0;
}

/* The word that ends at w (exclusive) names a key: "util", not "10" or "all". */
static bool ends_in_key(const char *s, const char *w)
{
	const char *b = w;

	while (b > s && !is_space(b[-1]))
		b--;
	if (b == w || memchr(b, '=', (size_t)(w - b)))
		return false;
	if (!((*b >= 'a' && *b <= 'z') || (*b >= 'A' && *b <= 'Z') || *b == '_'))
		return false;
	return !((size_t)(w - b) == 3 && memcmp(b, "all", 3) == 0);
}

/*
 * Removes blanks around an '=' that follows a key, so "util = 5" reads as
 * "util=5"; a time or GPU list is never glued to it.
 */
static void squeeze_equals(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (is_space(*r)) {
			char *q = r;
			while (is_space(*q))
				q++;
			if ((*q == '=' && ends_in_key(s, w)) ||
			    (w - s >= 2 && w[-1] == '=' && !is_space(w[-2]) && ends_in_key(s, w - 1))) {
				r = q - 1;
				continue;
			}
		}
		*w++ = *r;
	}
	*w = '\0';
}

static int tokenize(struct parser *p, uint32_t line, char *s, char **tok, int max)
{
	int n = 0;

	for (;;) {
		while (is_space(*s))
			s++;
		if (!*s)
			return n;
		if (n == max)
			return fail(p, line, "more than %d words on one line; split it over several lines", max);
		tok[n++] = s;
		while (*s && !is_space(*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
}

static int one_value(struct parser *p, uint32_t line, const char *dir, int n,
		     const char *example)
{
	if (n != 2)
		return fail(p, line, "'%s' takes one value; write e.g. %s", dir, example);
	return 0;
}

static int parse_at(struct parser *p, uint32_t line, char **tok, int n)
{
	char b[48];
	struct raw base = { .line = line };
	double t;
	bool whole, ramp = false, have_state = false;
	int i = 1, settings = 0;

	if (n < 3)
		return fail(p, line, "'at' needs a time and settings; write e.g. at 10 all util=90");
	if (parse_num(tok[1], false, &t, &whole) < 0)
		return fail(p, line, "time '%s' is not a number of seconds; write e.g. at 10.5 all util=90",
			    show(tok[1], b, sizeof(b)));
	if (t < 0)
		return fail(p, line, "negative time '%s'; times count seconds from t=0, use 0 or more",
			    show(tok[1], b, sizeof(b)));
	if (t > SCN_TIME_MAX)
		return fail(p, line, "time '%s' is too large; use at most %.0f seconds",
			    show(tok[1], b, sizeof(b)), SCN_TIME_MAX);
	base.t = t;
	i = 2;
	/* The GPU list may be left out: then the line is for every GPU. */
	if (strcmp(tok[2], "all") == 0) {
		base.all = 1;
		base.mask = ~0ULL;
		i = 3;
	} else if (is_digit(tok[2][0])) {
		if (parse_selector(p, line, tok[2], &base.mask) < 0)
			return -1;
		i = 3;
	} else {
		base.all = 1;
		base.mask = ~0ULL;
	}
	for (int j = i; j < n; j++)
		if (strcmp(tok[j], "ramp") == 0)
			ramp = true;
	base.ramp = ramp;

	for (; i < n; i++) {
		char *eq = strchr(tok[i], '=');
		struct raw r = base;
		const struct keydef *k;

		if (strcmp(tok[i], "ramp") == 0)
			continue;
		if (strcmp(tok[i], "lost") == 0 || strcmp(tok[i], "recover") == 0) {
			if (have_state)
				return fail(p, line, "'lost' and 'recover' on one line; keep one");
			if (ramp)
				return fail(p, line, "'%s' cannot ramp; move it to a line without 'ramp'", tok[i]);
			have_state = true;
			r.var = SCN_LOST;
			r.v = tok[i][0] == 'l';
			r.ramp = 0;
			if (add_raw(p, &r) < 0)
				return -1;
			settings++;
			continue;
		}
		if (!eq) {
			if (key_find(tok[i]) || strcmp(tok[i], "xid") == 0 ||
			    strcmp(tok[i], "unsupported") == 0 || strcmp(tok[i], "error") == 0)
				return fail(p, line, "'%s' needs a value; write it as %s=<value>",
					    tok[i], tok[i]);
			if (is_digit(tok[i][0]) || strcmp(tok[i], "all") == 0)
				return fail(p, line, "GPU list '%s' in the wrong place; write at <seconds> <gpus> key=value ...",
					    show(tok[i], b, sizeof(b)));
			return fail(p, line, "unknown key '%s'; known keys: " KNOWN_KEYS,
				    show(tok[i], b, sizeof(b)));
		}
		*eq = '\0';
		if (eq == tok[i])
			return fail(p, line, "'=' without a key; write key=value, e.g. util=50");
		if (eq[1] == '\0')
			return fail(p, line, "'%s' needs a value after '='; write it as %s=<value>",
				    show(tok[i], b, sizeof(b)), b);
		if (strcmp(tok[i], "unsupported") == 0 || strcmp(tok[i], "error") == 0) {
			if (ramp)
				return fail(p, line, "'%s' cannot ramp; move it to a line without 'ramp'", tok[i]);
			r.var = tok[i][0] == 'u' ? SCN_UNSUPPORTED : SCN_ERROR;
			r.ramp = 0;
			if (parse_field_list(p, line, tok[i], eq + 1, &r.v) < 0)
				return -1;
		} else if (strcmp(tok[i], "xid") == 0) {
			if (ramp)
				return fail(p, line, "'xid' cannot ramp; move it to a line without 'ramp'");
			if (parse_num(eq + 1, false, &r.v, &whole) < 0 || !whole || r.v < 1 || r.v > 65535)
				return fail(p, line, "xid=%s is not an Xid; use a whole number 1..65535, e.g. xid=79",
					    show(eq + 1, b, sizeof(b)));
			r.var = RAW_XID;
			r.ramp = 0;
		} else {
			k = key_find(tok[i]);
			if (!k)
				return fail(p, line, "unknown key '%s'; known keys: " KNOWN_KEYS,
					    show(tok[i], b, sizeof(b)));
			if (ramp && (k->flags & KF_NORAMP))
				return fail(p, line, "'%s' cannot ramp; move it to a line without 'ramp'", k->name);
			if (parse_key_value(p, line, k, eq + 1, &r.v) < 0)
				return -1;
			r.var = (uint8_t)k->var;
		}
		if (add_raw(p, &r) < 0)
			return -1;
		settings++;
	}
	if (settings == 0)
		return fail(p, line, "'at' line sets nothing; add key=value pairs, lost or recover");
	/* Range checks now where the limits are already known, else at the end. */
	for (size_t j = p->nraw - (size_t)settings; j < p->nraw; j++) {
		if (p->gpus_declared && check_gpu_range(p, &p->raw[j], p->gpus_declared) < 0)
			return -1;
		if (check_loop_range(p, &p->raw[j], p->loop) < 0)
			return -1;
	}
	return 0;
}

static int parse_line(struct parser *p, uint32_t line, char *buf)
{
	char b[48];
	char *tok[SCN_MAX_TOKENS];
	char *s = buf, *word, *rest;
	struct scenario *sc = p->s;
	double v;
	bool whole;
	int n;

	while (is_space(*s))
		s++;
	if (!*s)
		return 0;
	word = s;
	while (*s && !is_space(*s) && *s != '=')
		s++;
	/* "gpus=4" is forgiven as "gpus 4". */
	if (*s == '=' && s != word)
		*s = ' ';
	while (*s && !is_space(*s))
		s++;
	if (*s)
		*s++ = '\0';
	rest = s;

	if (strcmp(word, "name") == 0) {
		char *e;

		while (is_space(*rest))
			rest++;
		e = rest + strlen(rest);
		while (e > rest && is_space(e[-1]))
			*--e = '\0';
		if (!*rest)
			return fail(p, line, "'name' needs a GPU name; write e.g. name NVIDIA H100 80GB HBM3");
		if (strlen(rest) >= SCN_NAME_MAX)
			return fail(p, line, "name is longer than %d characters; shorten it", SCN_NAME_MAX - 1);
		for (e = rest; *e; e++)
			if ((unsigned char)*e < 0x20 || *e == 0x7f)
				return fail(p, line, "name has a control character; use printable text");
		copy_str(sc->name, rest, sizeof(sc->name));
		return 0;
	}

	tok[0] = word;
	if (strcmp(word, "at") == 0)
		squeeze_equals(rest);
	n = tokenize(p, line, rest, tok + 1, SCN_MAX_TOKENS - 1);
	if (n < 0)
		return -1;
	n++;

	if (strcmp(word, "at") == 0)
		return parse_at(p, line, tok, n);
	if (strcmp(word, "gpus") == 0) {
		if (one_value(p, line, word, n, "gpus 4") < 0)
			return -1;
		if (parse_num(tok[1], false, &v, &whole) < 0 || !whole || v < 1 || v > SCN_MAX_GPUS)
			return fail(p, line, "gpus '%s' is not a GPU count; use a whole number 1..%d",
				    show(tok[1], b, sizeof(b)), SCN_MAX_GPUS);
		p->gpus_declared = (int)v;
		return 0;
	}
	if (strcmp(word, "driver") == 0) {
		const char *d;
		bool ok;

		if (one_value(p, line, word, n, "driver 550.54.15") < 0)
			return -1;
		d = tok[1];
		ok = is_digit(d[0]) && strlen(d) < SCN_DRIVER_MAX;
		for (const char *c = d; ok && *c; c++)
			ok = is_digit(*c) || (*c == '.' && c[1] != '.' && c[1] != '\0');
		if (!ok)
			return fail(p, line, "driver '%s' is not a version; write e.g. driver 550.54.15",
				    show(d, b, sizeof(b)));
		copy_str(sc->driver, d, sizeof(sc->driver));
		return 0;
	}
	if (strcmp(word, "memory_total_mib") == 0 || strcmp(word, "power_limit_w") == 0) {
		const struct keydef *k = key_find(word);

		if (one_value(p, line, word, n, word[0] == 'm' ? "memory_total_mib 81559" : "power_limit_w 700") < 0)
			return -1;
		if (parse_key_value(p, line, k, tok[1], &v) < 0)
			return -1;
		sc->defaults[k->var] = v;
		return 0;
	}
	if (strcmp(word, "loop") == 0) {
		if (one_value(p, line, word, n, "loop 60") < 0)
			return -1;
		if (parse_num(tok[1], false, &v, &whole) < 0 || v <= 0 || v > SCN_TIME_MAX)
			return fail(p, line, "loop '%s' is not a period; use seconds above 0, e.g. loop 60",
				    show(tok[1], b, sizeof(b)));
		p->loop = v;
		return 0;
	}
	if (strcmp(word, "missing") == 0) {
		if (n < 2)
			return fail(p, line, "'missing' needs NVML function names; write e.g. missing nvmlDeviceGetTotalEnergyConsumption");
		for (int i = 1; i < n; i++) {
			char *f = tok[i];

			/* Commas are forgiven: "missing a,b" is "missing a b". */
			while (*f) {
				size_t len = strcspn(f, ",");
				char save = f[len];
				int fn;

				f[len] = '\0';
				fn = len ? scn_fn_from_name(f) : -2;
				if (fn == -1)
					return fail(p, line, "unknown function '%s'; name one the simulator exports, e.g. nvmlDeviceGetTotalEnergyConsumption (see docs/simulator.md)",
						    show(f, b, sizeof(b)));
				if (fn >= 0)
					sc->missing |= 1ULL << fn;
				f[len] = save;
				f += len;
				if (*f)
					f++;
			}
		}
		return 0;
	}
	if (key_find(word) || strcmp(word, "xid") == 0 || strcmp(word, "lost") == 0 ||
	    strcmp(word, "recover") == 0 || strcmp(word, "unsupported") == 0 ||
	    strcmp(word, "error") == 0)
		return fail(p, line, "'%s' outside an 'at' line; write e.g. at 0 all %s...", word, word);
	return fail(p, line, "unknown directive '%s'; use one of: " KNOWN_DIRECTIVES,
		    show(word, b, sizeof(b)));
}

/* ---- compiling tracks -------------------------------------------------- */

static int kf_cmp(const void *a, const void *b)
{
	const struct kf *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static int xev_cmp(const void *a, const void *b)
{
	const struct xev *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* Index of the last keyframe at or before t; k[0].t is 0 and t >= 0. */
static uint32_t kf_find(const struct kf *k, uint32_t n, double t)
{
	uint32_t lo = 0, hi = n;

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (k[mid].t <= t)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static double track_eval(const struct kf *k, uint32_t n, double t)
{
	uint32_t i = kf_find(k, n, t);

	if (i + 1 < n && k[i + 1].ramp) {
		double f = (t - k[i].t) / (k[i + 1].t - k[i].t);
		if (f < 0)
			f = 0;
		if (f > 1)
			f = 1;
		return k[i].v + f * (k[i + 1].v - k[i].v);
	}
	return k[i].v;
}

/* Joules of power_w over [0, t] for t >= 0 with no wrapping. */
static double power_integral(const struct scenario *s, int g, double t)
{
	const struct track *tr = &s->tr[g][SCN_POWER_W];
	const struct kf *k = s->kf + tr->off;
	const double *c = s->ecum + tr->off;
	uint32_t i = kf_find(k, tr->n, t);
	double dt = t - k[i].t;

	if (i + 1 < tr->n && k[i + 1].ramp) {
		double vt = track_eval(k, tr->n, t);
		return c[i] + 0.5 * (k[i].v + vt) * dt;
	}
	return c[i] + k[i].v * dt;
}

static int compile(struct parser *p, int gpus_override)
{
	struct scenario *s = p->s;
	int limit, gpus;
	uint64_t gmask;
	size_t total = 0, nx[SCN_MAX_GPUS] = { 0 }, xtotal = 0;
	uint32_t count[SCN_MAX_GPUS][SCN_VAR_COUNT];

	gpus = gpus_override > 0 ? gpus_override : (p->gpus_declared ? p->gpus_declared : SCN_DEFAULT_GPUS);
	if (gpus > SCN_MAX_GPUS)
		gpus = SCN_MAX_GPUS;
	if (gpus < 1)
		gpus = 1;
	limit = p->gpus_declared ? p->gpus_declared
				 : (gpus > SCN_DEFAULT_GPUS ? gpus : SCN_DEFAULT_GPUS);
	s->gpus = gpus;
	s->loop = p->loop;
	gmask = gpus >= 64 ? ~0ULL : (1ULL << gpus) - 1;

	for (size_t i = 0; i < p->nraw; i++) {
		if (check_gpu_range(p, &p->raw[i], limit) < 0)
			return -1;
		if (check_loop_range(p, &p->raw[i], p->loop) < 0)
			return -1;
	}

	for (int g = 0; g < gpus; g++)
		for (int v = 0; v < SCN_VAR_COUNT; v++)
			count[g][v] = 1;
	for (size_t i = 0; i < p->nraw; i++) {
		const struct raw *r = &p->raw[i];
		uint64_t m = r->mask & gmask;

		for (int g = 0; m; g++, m >>= 1) {
			if (!(m & 1))
				continue;
			if (r->var == RAW_XID) {
				nx[g]++;
				xtotal++;
			} else {
				count[g][r->var]++;
				total++;
			}
			if (total + xtotal > SCN_MAX_KF)
				return fail(p, r->line, "scenario expands to more than %u keyframes; use fewer GPUs or settings, or 'loop'",
					    SCN_MAX_KF);
		}
	}
	total += (size_t)(unsigned)gpus * SCN_VAR_COUNT;
	if (total > SCN_MAX_KF + (size_t)SCN_MAX_GPUS * SCN_VAR_COUNT)
		return fail(p, 0, "scenario too large; shorten it");

	s->kf = calloc(total, sizeof(*s->kf));
	s->ecum = calloc(total, sizeof(*s->ecum));
	s->xev = calloc(xtotal ? xtotal : 1, sizeof(*s->xev));
	if (!s->kf || !s->ecum || !s->xev)
		return fail(p, 0, "out of memory; shorten the scenario");

	{
		uint32_t off = 0, xoff = 0;

		for (int g = 0; g < gpus; g++) {
			for (int v = 0; v < SCN_VAR_COUNT; v++) {
				struct kf *k0 = &s->kf[off];

				s->tr[g][v].off = off;
				s->tr[g][v].n = 1;
				k0->t = 0;
				k0->v = s->defaults[v];
				k0->seq = 0;
				k0->ramp = 0;
				off += count[g][v];
			}
			s->xtr[g].off = xoff;
			s->xtr[g].n = 0;
			xoff += (uint32_t)nx[g];
		}
	}

	for (size_t i = 0; i < p->nraw; i++) {
		const struct raw *r = &p->raw[i];
		uint64_t m = r->mask & gmask;

		for (int g = 0; m; g++, m >>= 1) {
			if (!(m & 1))
				continue;
			if (r->var == RAW_XID) {
				struct track *xt = &s->xtr[g];
				struct xev *e = &s->xev[xt->off + xt->n++];
				e->t = r->t;
				e->xid = (unsigned)r->v;
				e->seq = (uint32_t)i;
			} else {
				struct track *t = &s->tr[g][r->var];
				struct kf *k = &s->kf[t->off + t->n++];
				k->t = r->t;
				k->v = r->v;
				k->seq = (uint32_t)i + 1;
				k->ramp = r->ramp;
			}
		}
	}

	for (int g = 0; g < gpus; g++) {
		for (int v = 0; v < SCN_VAR_COUNT; v++) {
			struct track *t = &s->tr[g][v];
			struct kf *k = s->kf + t->off;
			uint32_t w = 0;

			if (t->n > 1)
				qsort(k, t->n, sizeof(*k), kf_cmp);
			/* Several keyframes at one time: the last one written wins. */
			for (uint32_t i = 0; i < t->n; i++) {
				if (w > 0 && k[w - 1].t == k[i].t)
					k[w - 1] = k[i];
				else
					k[w++] = k[i];
			}
			t->n = w;
			k[0].ramp = 0;
		}
		{
			const struct track *t = &s->tr[g][SCN_POWER_W];
			const struct kf *k = s->kf + t->off;
			double *c = s->ecum + t->off;

			c[0] = 0;
			for (uint32_t i = 0; i + 1 < t->n; i++) {
				double dt = k[i + 1].t - k[i].t;
				double area = k[i + 1].ramp ? 0.5 * (k[i].v + k[i + 1].v) * dt : k[i].v * dt;
				c[i + 1] = c[i] + area;
			}
			s->loop_j[g] = s->loop > 0 ? power_integral(s, g, s->loop) : 0;
		}
		{
			struct track *xt = &s->xtr[g];
			struct xev *e = s->xev + xt->off;

			if (xt->n > 1)
				qsort(e, xt->n, sizeof(*e), xev_cmp);
			/* Keep event times distinct so a delivery cursor can pass each one. */
			for (uint32_t i = 1; i < xt->n; i++)
				if (e[i].t <= e[i - 1].t)
					e[i].t = e[i - 1].t + SCN_XID_NUDGE;
		}
	}
	return 0;
}

/* ---- public entry points ---------------------------------------------- */

void scn_free(struct scenario *s)
{
	if (!s)
		return;
	free(s->kf);
	free(s->ecum);
	free(s->xev);
	free(s);
}

int scn_parse(const char *text, size_t len, const char *name, int gpus_override,
	      struct scenario **out, char *err, size_t errlen)
{
	struct parser p = { .name = name ? name : "scenario", .err = err, .errlen = errlen };
	char *buf = NULL;
	size_t pos = 0;
	uint32_t line = 0;
	int rc = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return fail(&p, 0, "no place for the result; pass a scenario pointer");
	*out = NULL;
	if (!text && len)
		return fail(&p, 0, "no text; pass the scenario text");
	if (gpus_override < 0 || gpus_override > SCN_MAX_GPUS)
		return fail(&p, 0, "%d GPUs requested; use 1..%d", gpus_override, SCN_MAX_GPUS);

	p.s = calloc(1, sizeof(*p.s));
	buf = malloc(SCN_LINE_MAX);
	if (!p.s || !buf) {
		fail(&p, 0, "out of memory; free some memory");
		goto out;
	}
	copy_str(p.s->name, "NVIDIA H100 80GB HBM3", sizeof(p.s->name));
	copy_str(p.s->driver, "550.54.15", sizeof(p.s->driver));
	memcpy(p.s->defaults, var_defaults, sizeof(var_defaults));

	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - start) : len - pos;
		char *hash;

		line++;
		pos += ll + (nl ? 1 : 0);
		if (ll >= SCN_LINE_MAX) {
			fail(&p, line, "line is longer than %d characters; split it", SCN_LINE_MAX - 1);
			goto out;
		}
		if (memchr(start, '\0', ll)) {
			fail(&p, line, "line holds a NUL byte; scenarios are plain text");
			goto out;
		}
		memcpy(buf, start, ll);
		buf[ll] = '\0';
		hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		if (parse_line(&p, line, buf) < 0)
			goto out;
	}
	if (compile(&p, gpus_override) < 0)
		goto out;
	{
		const char *d = p.s->driver;
		int major = 0;
		for (; is_digit(*d) && major < 100000; d++)
			major = major * 10 + (*d - '0');
		p.s->driver_major = major;
	}
	*out = p.s;
	p.s = NULL;
	rc = 0;
out:
	free(buf);
	free(p.raw);
	scn_free(p.s);
	return rc;
}

int scn_load_file(const char *path, int gpus_override, struct scenario **out,
		  char *err, size_t errlen)
{
	struct parser p = { .name = path ? path : "(null)", .err = err, .errlen = errlen };
	char *text = NULL;
	size_t len = 0, cap = 0;
	int fd, rc;

	if (out)
		*out = NULL;
	if (!path || !*path)
		return fail(&p, 0, "no scenario file named; set GPUTEL_SIM_SCENARIO to a file");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		char eb[128];
		return fail(&p, 0, "cannot open: %s; point GPUTEL_SIM_SCENARIO at a readable scenario file",
			    strerror_r(errno, eb, sizeof(eb)));
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nt;

			if (cap >= SCN_FILE_MAX) {
				close(fd);
				free(text);
				return fail(&p, 0, "larger than %u MiB; scenarios are small text files",
					    SCN_FILE_MAX >> 20);
			}
			cap = cap ? cap * 2 : 4096;
			nt = realloc(text, cap + 1);
			if (!nt) {
				close(fd);
				free(text);
				return fail(&p, 0, "out of memory reading it; use a smaller file");
			}
			text = nt;
		}
		n = read(fd, text + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			char eb[128];
			int e = errno;
			close(fd);
			free(text);
			return fail(&p, 0, "cannot read: %s; point GPUTEL_SIM_SCENARIO at a readable scenario file",
				    strerror_r(e, eb, sizeof(eb)));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	rc = scn_parse(text ? text : "", len, path, gpus_override, out, err, errlen);
	free(text);
	return rc;
}

int scn_parse_gpus_env(const char *value, int *out, char *err, size_t errlen)
{
	char b[48];
	double v;
	bool whole;

	if (!value || parse_num(value, false, &v, &whole) < 0 || !whole || v < 1 || v > SCN_MAX_GPUS) {
		if (err && errlen)
			snprintf(err, errlen, "GPUTEL_SIM_GPUS=%s is not a GPU count; set it to a whole number 1..%d",
				 show(value ? value : "", b, sizeof(b)), SCN_MAX_GPUS);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int scn_parse_epoch_env(const char *value, double *out, char *err, size_t errlen)
{
	char b[48];
	double v;
	bool whole;

	if (!value || parse_num(value, false, &v, &whole) < 0 || v < 0 || v > 1e11) {
		if (err && errlen)
			snprintf(err, errlen, "GPUTEL_SIM_EPOCH=%s is not a unix time; set it to seconds since 1970, e.g. 1700000000.25",
				 show(value ? value : "", b, sizeof(b)));
		return -1;
	}
	*out = v;
	return 0;
}

int scn_load_env(struct scenario **out, bool *has_epoch, double *epoch, char *err, size_t errlen)
{
	const char *v;
	int gpus = 0;
	char e[SCN_ERR_MAX];

	*out = NULL;
	*has_epoch = false;
	*epoch = 0;
	v = getenv("GPUTEL_SIM_GPUS");
	if (v && *v && scn_parse_gpus_env(v, &gpus, err, errlen) < 0)
		return -1;
	v = getenv("GPUTEL_SIM_EPOCH");
	if (v && *v) {
		if (scn_parse_epoch_env(v, epoch, err, errlen) < 0)
			return -1;
		*has_epoch = true;
	}
	v = getenv("GPUTEL_SIM_SCENARIO");
	if (v && *v) {
		if (scn_load_file(v, gpus, out, e, sizeof(e)) < 0) {
			if (err && errlen)
				snprintf(err, errlen, "scenario %s", e);
			return -1;
		}
		return 0;
	}
	if (scn_parse(default_text, sizeof(default_text) - 1, "built-in scenario", gpus, out, e,
		      sizeof(e)) < 0) {
		if (err && errlen)
			snprintf(err, errlen, "scenario %s", e);
		return -1;
	}
	return 0;
}

int scn_gpus(const struct scenario *s)
{
	return s->gpus;
}

const char *scn_driver(const struct scenario *s)
{
	return s->driver;
}

int scn_driver_major(const struct scenario *s)
{
	return s->driver_major;
}

const char *scn_gpu_name(const struct scenario *s)
{
	return s->name;
}

double scn_loop(const struct scenario *s)
{
	return s->loop;
}

bool scn_missing(const struct scenario *s, enum scn_fn fn)
{
	return (unsigned)fn < SCN_FN_COUNT && (s->missing >> fn & 1);
}

static double wrap_time(const struct scenario *s, double t)
{
	if (!(t > 0)) /* also NaN */
		return 0;
	if (s->loop > 0 && t >= s->loop)
		t = fmod(t, s->loop);
	return t;
}

double scn_value(const struct scenario *s, int gpu, enum scn_var v, double t)
{
	const struct track *tr;

	if (!s || gpu < 0 || gpu >= s->gpus || (unsigned)v >= SCN_VAR_COUNT)
		return 0;
	tr = &s->tr[gpu][v];
	return track_eval(s->kf + tr->off, tr->n, wrap_time(s, t));
}

bool scn_lost(const struct scenario *s, int gpu, double t)
{
	return scn_value(s, gpu, SCN_LOST, t) != 0;
}

enum scn_status scn_status(const struct scenario *s, int gpu, enum scn_field f, double t)
{
	uint64_t bit;

	if ((unsigned)f >= SCN_F_COUNT)
		return SCN_ST_UNSUPPORTED;
	if (scn_lost(s, gpu, t))
		return SCN_ST_LOST;
	bit = 1ULL << f;
	if ((uint64_t)scn_value(s, gpu, SCN_UNSUPPORTED, t) & bit)
		return SCN_ST_UNSUPPORTED;
	if ((uint64_t)scn_value(s, gpu, SCN_ERROR, t) & bit)
		return SCN_ST_ERROR;
	return SCN_OK;
}

double scn_energy_offset_mj(int gpu)
{
	/* A counter that has been running since an earlier boot, as real ones have. */
	return 1.0e10 + (double)gpu * 7.3e8;
}

double scn_energy_mj(const struct scenario *s, int gpu, double t)
{
	double j;

	if (!s || gpu < 0 || gpu >= s->gpus)
		return 0;
	if (!(t > 0))
		t = 0;
	if (s->loop > 0) {
		double periods = floor(t / s->loop);
		double r = t - periods * s->loop;

		if (r < 0)
			r = 0;
		if (r > s->loop)
			r = s->loop;
		j = periods * s->loop_j[gpu] + power_integral(s, gpu, r);
	} else {
		j = power_integral(s, gpu, t);
	}
	return scn_energy_offset_mj(gpu) + j * 1000.0;
}

/* Index of the first event with e[i].t > t, or n. */
static uint32_t xev_after(const struct xev *e, uint32_t n, double t)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (e[mid].t > t)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int scn_next_xid(const struct scenario *s, int gpu, double after, double upto,
		 double *when, unsigned *xid)
{
	const struct xev *e;
	uint32_t n, i;
	double base, T;

	if (!s || gpu < 0 || gpu >= s->gpus || !(upto > after))
		return 0;
	n = s->xtr[gpu].n;
	e = s->xev + s->xtr[gpu].off;
	if (n == 0)
		return 0;
	if (s->loop <= 0) {
		i = xev_after(e, n, after);
		if (i == n)
			return 0;
		T = e[i].t;
	} else {
		if (after < 0) {
			base = 0;
			i = 0;
		} else {
			base = floor(after / s->loop) * s->loop;
			i = xev_after(e, n, after - base);
			if (i == n) {
				base += s->loop;
				i = 0;
			}
		}
		T = base + e[i].t;
		/* Rounding in base may land on the event just delivered: step past it. */
		for (uint32_t guard = 0; T <= after && guard <= n; guard++) {
			if (++i == n) {
				base += s->loop;
				i = 0;
			}
			T = base + e[i].t;
		}
		if (T <= after)
			return 0;
	}
	if (T > upto)
		return 0;
	if (when)
		*when = T;
	if (xid)
		*xid = e[i].xid;
	return 1;
}

/* ---- identity --------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void scn_gpu_uuid(int gpu, char *buf, size_t n)
{
	uint64_t a = mix64(0x67707574656c0000ULL + (uint64_t)(unsigned)gpu);
	uint64_t b = mix64(a);

	snprintf(buf, n, "GPU-%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
		 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff, (unsigned)(b >> 48),
		 (unsigned long long)(b & 0xffffffffffffULL));
}

/* Buses 0x18, 0x28, ...; past 0xff they move to the next PCI domain. */
unsigned scn_gpu_pci_domain(int gpu)
{
	return (0x18u + (unsigned)gpu * 0x10u) >> 8;
}

unsigned scn_gpu_pci_bus(int gpu)
{
	return (0x18u + (unsigned)gpu * 0x10u) & 0xffu;
}

void scn_gpu_bus_id(int gpu, char *buf, size_t n)
{
	snprintf(buf, n, "%08X:%02X:00.0", scn_gpu_pci_domain(gpu), scn_gpu_pci_bus(gpu));
}

void scn_gpu_bus_id_legacy(int gpu, char *buf, size_t n)
{
	snprintf(buf, n, "%04X:%02X:00.0", scn_gpu_pci_domain(gpu), scn_gpu_pci_bus(gpu));
}
