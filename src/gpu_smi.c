/*
 * gpu_smi.c - the nvidia-smi fallback backend; see gpu.h and gpu_smi.h.
 *
 * nvidia-smi costs 10-20 ms (seconds on a cold GPU) per run, so rather
 * than one run per tick we keep one `-lms` child printing a line per GPU
 * per period and read whatever it has written, never waiting on it.
 * open() does the slow parts once: an identity probe, then finding a field
 * list this driver accepts (one refused name fails the whole query).
 */
#include "gpu_smi.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "gpu.h"
#include "log.h"
#include "util.h"

#define NS_PER_MS 1000000LL
#define MIB 1048576LL

/* ---------------------------------------------------------------- parsers */

/*
 * The catalog of query columns, built once from the field table: the full
 * list first, in query order; entries after it are only reached as some
 * field's fallback.
 */
static struct {
	pthread_once_t once;
	size_t n, n_full;
	struct smi_field f[2 + 2 * GPU_F__COUNT];
} catalog = { .once = PTHREAD_ONCE_INIT };

static void catalog_build(void)
{
	catalog.f[catalog.n++] = (struct smi_field){ "index", -1, SMI_K_INDEX, 1, NULL };
	catalog.f[catalog.n++] = (struct smi_field){ "uuid", -1, SMI_K_UUID, 1, NULL };
	for (int f = 0; f < GPU_F__COUNT; f++) {
		const struct field_smi *q = &gpu_fields[f].smi;

		if (q->name)
			catalog.f[catalog.n++] = (struct smi_field){ q->name, f, q->kind, q->scale, q->fallback };
	}
	catalog.n_full = catalog.n;
	for (int f = 0; f < GPU_F__COUNT; f++) {
		const struct field_smi *q = &gpu_fields[f].smi;

		if (q->name && q->fallback)
			catalog.f[catalog.n++] = (struct smi_field){ q->fallback, f, q->kind, q->scale, NULL };
	}
}

static const struct smi_field *catalog_get(size_t *n, size_t *n_full)
{
	pthread_once(&catalog.once, catalog_build);
	*n = catalog.n;
	*n_full = catalog.n_full;
	return catalog.f;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

int smi_missing_state(const char *tok)
{
	if (!tok || !*tok)
		return VAL_ERROR;
	if (tok[0] == '[') {
		if (!strcasecmp(tok, "[N/A]") || !strcasecmp(tok, "[Not Supported]"))
			return VAL_UNSUPPORTED;
		return VAL_ERROR;
	}
	if (!strcasecmp(tok, "N/A") || !strcasecmp(tok, "Not Supported"))
		return VAL_UNSUPPORTED;
	return 0;
}

/* Digits only, no sign, at most max. Returns 0 or -1. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!is_digit(*s))
		return -1;
	for (; is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (*s)
		return -1;
	*out = v;
	return 0;
}

int smi_parse_number(const char *tok, int64_t scale, int64_t *out)
{
	int64_t whole = 0, frac = 0, den = 1;
	const char *p = tok;
	int miss = smi_missing_state(tok), nfrac = 0;

	if (miss)
		return miss;
	/* Bounded so that frac * scale below cannot overflow. */
	if (scale < 1 || scale > 1000000000)
		return VAL_ERROR;
	/* Every field read this way is unsigned in NVML: a sign is garbage. */
	if (!is_digit(*p))
		return VAL_ERROR;
	for (; is_digit(*p); p++) {
		if (whole > (INT64_MAX - (*p - '0')) / 10)
			return VAL_ERROR;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return VAL_ERROR;
		for (; is_digit(*p); p++) {
			if (nfrac < 9) {
				frac = frac * 10 + (*p - '0');
				den *= 10;
				nfrac++;
			}
		}
	}
	if (*p)
		return VAL_ERROR;
	frac = frac * scale / den;
	if (whole > (INT64_MAX - frac) / scale)
		return VAL_ERROR;
	*out = whole * scale + frac;
	return VAL_OK;
}

int smi_parse_pstate(const char *tok, int64_t *out)
{
	int miss = smi_missing_state(tok);
	uint64_t v;

	if (miss)
		return miss;
	if (tok[0] != 'P' || strlen(tok) > 3 || parse_uint(tok + 1, 15, &v) < 0)
		return VAL_ERROR;
	*out = (int64_t)v;
	return VAL_OK;
}

int smi_parse_hex(const char *tok, int64_t *out)
{
	int miss = smi_missing_state(tok);
	uint64_t v = 0;
	const char *p;

	if (miss)
		return miss;
	if (tok[0] != '0' || (tok[1] != 'x' && tok[1] != 'X'))
		return VAL_ERROR;
	p = tok + 2;
	if (!*p || strlen(p) > 16)
		return VAL_ERROR;
	for (; *p; p++) {
		unsigned d;

		if (is_digit(*p))
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (*p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			return VAL_ERROR;
		v = v << 4 | d;
	}
	/* The mask is a bit set; keep the bit pattern even above INT64_MAX. */
	*out = (int64_t)v;
	return VAL_OK;
}

int smi_parse_bool(const char *tok, int64_t *out)
{
	int miss = smi_missing_state(tok);
	uint64_t v;

	if (miss)
		return miss;
	if (!strcasecmp(tok, "yes")) {
		*out = 1;
		return VAL_OK;
	}
	if (!strcasecmp(tok, "no")) {
		*out = 0;
		return VAL_OK;
	}
	if (parse_uint(tok, INT64_MAX, &v) < 0)
		return VAL_ERROR;
	*out = (int64_t)v;
	return VAL_OK;
}

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
			 s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

int smi_split_line(char *line, char **tok, int max)
{
	char *p = line;
	int n = 0;

	if (max < 1 || !line)
		return 0;
	for (;;) {
		char *sep = n < max - 1 ? strstr(p, ", ") : NULL;

		if (sep)
			*sep = '\0';
		tok[n++] = trim(p);
		if (!sep)
			return n;
		p = sep + 2;
	}
}

const struct smi_field *smi_field_find(const char *name)
{
	size_t n, n_full;
	const struct smi_field *c = catalog_get(&n, &n_full);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return &c[i];
	return NULL;
}

void smi_fieldset_full(struct smi_fieldset *fs)
{
	size_t n, n_full;
	const struct smi_field *c = catalog_get(&n, &n_full);

	_Static_assert(2 + GPU_F__COUNT <= SMI_MAX_FIELDS, "the full list must fit a fieldset");
	fs->n = (int)n_full;
	for (size_t i = 0; i < n_full; i++)
		fs->f[i] = &c[i];
}

int smi_fieldset_refuse(struct smi_fieldset *fs, const char *name)
{
	for (int i = 0; i < fs->n; i++) {
		const struct smi_field *alt;

		if (strcmp(fs->f[i]->name, name))
			continue;
		if (fs->f[i]->field < 0)
			return -1;
		alt = fs->f[i]->fallback ? smi_field_find(fs->f[i]->fallback) : NULL;
		if (alt) {
			fs->f[i] = alt;
		} else {
			memmove(&fs->f[i], &fs->f[i + 1], (size_t)(fs->n - i - 1) * sizeof fs->f[0]);
			fs->n--;
		}
		return 0;
	}
	return -1;
}

int smi_fieldset_query(const struct smi_fieldset *fs, char *buf, size_t n)
{
	size_t len = 0;

	if (n == 0)
		return -1;
	buf[0] = '\0';
	for (int i = 0; i < fs->n; i++) {
		size_t k = strlen(fs->f[i]->name);

		if (len + (i > 0) + k >= n)
			return -1;
		if (i > 0)
			buf[len++] = ',';
		memcpy(buf + len, fs->f[i]->name, k + 1);
		len += k;
	}
	return 0;
}

int smi_parse_bad_field(const char *out, char *name, size_t n)
{
	static const char head[] = "Field \"";
	static const char tail[] = "\" is not a valid field to query";
	const char *p = out;

	while ((p = strstr(p, head)) != NULL) {
		const char *start = p + sizeof head - 1;
		const char *end = strchr(start, '"');

		if (!end)
			return -1;
		if (!strncmp(end, tail, sizeof tail - 1) && end > start &&
		    (size_t)(end - start) < n) {
			memcpy(name, start, (size_t)(end - start));
			name[end - start] = '\0';
			return 0;
		}
		p = start;
	}
	return -1;
}

static int parse_value(const struct smi_field *f, const char *tok, int64_t *v)
{
	switch (f->kind) {
	case SMI_K_PSTATE:
		return smi_parse_pstate(tok, v);
	case SMI_K_HEX:
		return smi_parse_hex(tok, v);
	case SMI_K_BOOL:
		return smi_parse_bool(tok, v);
	default:
		return smi_parse_number(tok, f->scale, v);
	}
}

static bool uuid_ok(const char *tok, size_t cap)
{
	size_t n = strlen(tok);

	if (n == 0 || n >= cap || smi_missing_state(tok))
		return false;
	for (; *tok; tok++)
		if (*tok <= ' ' || *tok > '~' || *tok == ',')
			return false;
	return true;
}

int smi_parse_line(char *line, const struct smi_fieldset *fs, struct gpu_reading *r)
{
	char *tok[SMI_MAX_FIELDS + 1];
	struct gpu_reading out;
	int flags = 0, n_values = 0, n_ok = 0;
	bool lost = false;

	if (!line || !fs || fs->n < 1 || fs->n > SMI_MAX_FIELDS)
		return -1;
	if (smi_split_line(line, tok, fs->n + 1) != fs->n)
		return -1;
	out = *r;
	for (int f = 0; f < GPU_F__COUNT; f++) {
		out.val[f] = 0;
		out.st[f] = VAL_UNSUPPORTED;
	}
	for (int i = 0; i < fs->n; i++) {
		const struct smi_field *sf = fs->f[i];
		uint64_t idx;
		int64_t v = 0;
		int st;

		if (!strcasecmp(tok[i], "[GPU is lost]"))
			lost = true;
		if (sf->kind == SMI_K_INDEX) {
			if (parse_uint(tok[i], UINT_MAX, &idx) == 0) {
				out.id.index = (unsigned int)idx;
				flags |= SMI_LINE_HAS_INDEX;
			}
			continue;
		}
		if (sf->kind == SMI_K_UUID) {
			if (uuid_ok(tok[i], sizeof out.id.uuid)) {
				str_copy(out.id.uuid, tok[i], sizeof out.id.uuid);
				flags |= SMI_LINE_HAS_UUID;
			}
			continue;
		}
		if (sf->field < 0 || sf->field >= GPU_F__COUNT)
			continue;
		st = parse_value(sf, tok[i], &v);
		n_values++;
		out.st[sf->field] = (uint8_t)st;
		if (st == VAL_OK) {
			out.val[sf->field] = v;
			n_ok++;
		}
	}
	if (!(flags & (SMI_LINE_HAS_INDEX | SMI_LINE_HAS_UUID)))
		return -1;
	if (lost || (n_values > 0 && n_ok == 0))
		flags |= SMI_LINE_LOST;
	out.health = (flags & SMI_LINE_LOST) ? GPU_HEALTH_DOWN : GPU_HEALTH_UP;
	*r = out;
	return flags;
}

int smi_parse_probe_line(char *line, struct smi_probe *p)
{
	char *tok[6];
	uint64_t idx;
	struct smi_probe out;

	if (!line || smi_split_line(line, tok, 6) != 6)
		return -1;
	memset(&out, 0, sizeof out);
	if (parse_uint(tok[0], UINT_MAX, &idx) < 0 || !uuid_ok(tok[1], sizeof out.id.uuid))
		return -1;
	out.id.index = (unsigned int)idx;
	str_copy(out.id.uuid, tok[1], sizeof out.id.uuid);
	if (!smi_missing_state(tok[2]))
		str_copy(out.id.pci_bus_id, tok[2], sizeof out.id.pci_bus_id);
	if (!smi_missing_state(tok[3]))
		str_copy(out.driver, tok[3], sizeof out.driver);
	out.mem_state = smi_parse_number(tok[4], MIB, &out.mem_total);
	if (!smi_missing_state(tok[5]))
		str_copy(out.id.name, tok[5], sizeof out.id.name);
	*p = out;
	return 0;
}

/* ---------------------------------------------------------------- backend */

#define PROBE_TIMEOUT_NS (10 * NS_PER_SEC)
#define ONESHOT_OUT_MAX (64 * 1024)
#define BACKOFF_MIN_NS (1 * NS_PER_SEC)
#define BACKOFF_MAX_NS (60 * NS_PER_SEC)
#define HEALTHY_RUN_NS (60 * NS_PER_SEC)
#define MAX_ZOMBIES 4

struct smi_gpu {
	struct gpu_reading r;  /* identity from the probe, values from the latest line */
	int64_t last_ns;       /* when r last came from a line */
	bool seen_since_start; /* a line arrived from the current child */
};

struct smi_state {
	char path[PATH_MAX];
	char driver[80];
	char detail[PATH_MAX + 32];
	char query[1024];
	char lms[24];
	char *argv[6];
	struct smi_fieldset fs;
	int n_dropped;             /* fields this driver refused and we went without */

	int64_t interval_ns;
	int64_t stale_ns;
	int64_t hang_ns;
	int64_t first_wait_ns;

	unsigned int n;
	struct smi_gpu gpu[GPUTEL_MAX_GPUS];

	struct child loop;         /* the -lms child; loop.out_fd is -1 when none runs */
	int64_t started_ns;
	int64_t last_byte_ns;
	int64_t restart_at_ns;
	int64_t backoff_ns;
	bool first_wait;
	struct child zombies[MAX_ZOMBIES]; /* killed children not reaped yet (pid 0: free) */

	int64_t now_ns;            /* for line callbacks */
	struct linebuf lb;
	bool said_bad_line, said_long_line, said_new_gpu, said_too_many;

	/* open() only: the one-shot runs' output */
	char *once_out;
	size_t once_len;
};

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/*
 * Runs nvidia-smi to completion, collecting stdout and stderr into
 * s->once_out (the excess is dropped).  Kills it when it overruns timeout.
 */
static int run_once(struct smi_state *s, char *const argv[], int64_t timeout_ns, int *status,
		    int *err)
{
	struct child_spec spec = { .path = s->path, .argv = argv, .stdin_null = true,
				   .err = CHILD_TO_STDOUT, .own_group = true, .die_with_parent = true };
	int r = child_run(&spec, timeout_ns, s->once_out, ONESHOT_OUT_MAX, &s->once_len, status, err);

	if (r == CHILD_TIMEOUT)
		log_debug("nvidia-smi ran past %lld s and was killed", (long long)(timeout_ns / NS_PER_SEC));
	return r;
}

/* The first line of the one-shot output, for messages. */
static const char *first_line(const char *out, char *buf, size_t n)
{
	size_t k = strcspn(out, "\n");

	if (k >= n)
		k = n - 1;
	memcpy(buf, out, k);
	buf[k] = '\0';
	str_rtrim(buf);
	return buf[0] ? buf : "no output";
}

static bool is_exec_file(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && access(p, X_OK) == 0;
}

static int search_path(const char *name, char *out, size_t n)
{
	const char *path = getenv("PATH");
	const char *p;

	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = path;;) {
		size_t k = strcspn(p, ":");

		/* An empty element means the current directory (execvp does the same). */
		if (str_fmt(out, n, "%.*s%s%s", (int)k, p, k ? "/" : "", name) >= 0 &&
		    is_exec_file(out))
			return 0;
		if (!p[k])
			break;
		p += k + 1;
	}
	out[0] = '\0';
	return -1;
}

static int resolve_binary(struct smi_state *s, const struct gpu_options *opt, char *why,
			  size_t whylen)
{
	const char *p = opt ? opt->smi_path : NULL;
	const char *what = "nvidia-smi path ";
	struct stat sb;

	if (!p || !*p) {
		p = getenv("GPUTEL_NVIDIA_SMI");
		what = "GPUTEL_NVIDIA_SMI=";
		if (p && !*p)
			p = NULL;
	}
	if (!p) {
		if (search_path("nvidia-smi", s->path, sizeof s->path) < 0) {
			str_copy(why, "nvidia-smi not found on PATH", whylen);
			return GPU_OPEN_UNAVAILABLE;
		}
		return GPU_OPEN_OK;
	}
	if (!strchr(p, '/')) {
		if (search_path(p, s->path, sizeof s->path) == 0)
			return GPU_OPEN_OK;
		str_fmt(why, whylen, "%s%s is not on PATH: give the full path of nvidia-smi", what, p);
		return GPU_OPEN_BAD_CONFIG;
	}
	if (stat(p, &sb) < 0) {
		str_fmt(why, whylen, "%s%s does not exist: point it at the nvidia-smi binary or unset it",
			what, p);
		return GPU_OPEN_BAD_CONFIG;
	}
	if (!is_exec_file(p)) {
		str_fmt(why, whylen,
			"%s%s is not an executable file: point it at the nvidia-smi binary or unset it",
			what, p);
		return GPU_OPEN_BAD_CONFIG;
	}
	if (str_copy(s->path, p, sizeof s->path) >= sizeof s->path) {
		str_fmt(why, whylen, "%s... is too long: use a shorter path to nvidia-smi", what);
		return GPU_OPEN_BAD_CONFIG;
	}
	return GPU_OPEN_OK;
}

static struct smi_gpu *gpu_add(struct smi_state *s, const struct gpu_ident *id)
{
	struct smi_gpu *g;

	if (s->n >= GPUTEL_MAX_GPUS) {
		log_once(&s->said_too_many, LOG_WARN,
			 "nvidia-smi lists more than %d gpus; the rest are not collected",
			 GPUTEL_MAX_GPUS);
		return NULL;
	}
	g = &s->gpu[s->n++];
	memset(g, 0, sizeof *g);
	g->r.id = *id;
	g->r.health = GPU_HEALTH_UP;
	for (int f = 0; f < GPU_F__COUNT; f++)
		g->r.st[f] = VAL_ERROR;
	g->r.st[GPU_F_ENERGY_MJ] = VAL_UNSUPPORTED;
	g->last_ns = s->now_ns;
	return g;
}

/* The uuid decides; the index only where a line or a GPU has no uuid. */
static struct smi_gpu *gpu_match(struct smi_state *s, const struct gpu_reading *r, int flags)
{
	if (flags & SMI_LINE_HAS_UUID) {
		for (unsigned int i = 0; i < s->n; i++)
			if (!strcmp(s->gpu[i].r.id.uuid, r->id.uuid))
				return &s->gpu[i];
		if (flags & SMI_LINE_HAS_INDEX)
			for (unsigned int i = 0; i < s->n; i++)
				if (!s->gpu[i].r.id.uuid[0] && s->gpu[i].r.id.index == r->id.index) {
					str_copy(s->gpu[i].r.id.uuid, r->id.uuid, sizeof r->id.uuid);
					return &s->gpu[i];
				}
	} else {
		for (unsigned int i = 0; i < s->n; i++)
			if (s->gpu[i].r.id.index == r->id.index)
				return &s->gpu[i];
	}
	log_once(&s->said_new_gpu, LOG_INFO, "nvidia-smi reports gpu %u (%s) that it did not list at start",
		 r->id.index, r->id.uuid[0] ? r->id.uuid : "no uuid");
	{
		struct gpu_ident id;

		memset(&id, 0, sizeof id);
		id.index = r->id.index;
		str_copy(id.uuid, r->id.uuid, sizeof id.uuid);
		return gpu_add(s, &id);
	}
}

static void on_loop_line(char *line, void *ctx)
{
	struct smi_state *s = ctx;
	struct gpu_reading r;
	struct smi_gpu *g;
	int flags;

	if (!*line)
		return;
	memset(&r, 0, sizeof r);
	flags = smi_parse_line(line, &s->fs, &r);
	if (flags < 0) {
		log_once(&s->said_bad_line, LOG_WARN,
			 "ignoring nvidia-smi output that does not match the query: %.120s", line);
		return;
	}
	g = gpu_match(s, &r, flags);
	if (!g)
		return;
	memcpy(g->r.val, r.val, sizeof r.val);
	memcpy(g->r.st, r.st, sizeof r.st);
	g->r.health = r.health;
	g->last_ns = s->now_ns;
	g->seen_since_start = true;
}

static void on_probe_line(char *line, void *ctx)
{
	struct smi_state *s = ctx;
	struct smi_probe p;
	struct smi_gpu *g;

	if (smi_parse_probe_line(line, &p) < 0)
		return;
	if (!s->driver[0])
		str_copy(s->driver, p.driver, sizeof s->driver);
	g = gpu_add(s, &p.id);
	if (g && p.mem_state == VAL_OK)
		GPU_SET(&g->r, GPU_F_MEM_TOTAL_BYTES, p.mem_total);
}

static int probe(struct smi_state *s, char *why, size_t whylen)
{
	char *argv[] = { s->path, "--query-gpu=" SMI_PROBE_QUERY, "--format=csv,noheader,nounits", NULL };
	char line[200];
	int status = 0, err = 0;
	int r = run_once(s, argv, PROBE_TIMEOUT_NS, &status, &err);

	if (r == CHILD_NOSTART) {
		str_fmt(why, whylen, "cannot run %s: %s", s->path, strerror(err));
		return GPU_OPEN_UNAVAILABLE;
	}
	if (r == CHILD_TIMEOUT) {
		str_fmt(why, whylen,
			"%s did not answer within %lld s; enable persistence mode (nvidia-persistenced) if the gpus are slow to wake",
			s->path, PROBE_TIMEOUT_NS / NS_PER_SEC);
		return GPU_OPEN_UNAVAILABLE;
	}
	if (strstr(s->once_out, "No devices were found")) {
		str_copy(why, "nvidia-smi found no gpus", whylen);
		return GPU_OPEN_UNAVAILABLE;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char st[32];

		child_describe_status(status, st, sizeof st);
		str_fmt(why, whylen, "%s failed (%s): %s", s->path, st,
			first_line(s->once_out, line, sizeof line));
		return GPU_OPEN_UNAVAILABLE;
	}
	linebuf_reset(&s->lb);
	linebuf_feed(&s->lb, s->once_out, s->once_len, on_probe_line, s);
	linebuf_feed(&s->lb, "\n", 1, on_probe_line, s);
	if (s->n == 0) {
		str_fmt(why, whylen, "%s listed no gpus: %s", s->path,
			first_line(s->once_out, line, sizeof line));
		return GPU_OPEN_UNAVAILABLE;
	}
	return GPU_OPEN_OK;
}

static int set_query(struct smi_state *s)
{
	char list[sizeof s->query - 16];

	if (smi_fieldset_query(&s->fs, list, sizeof list) < 0)
		return -1;
	return str_fmt(s->query, sizeof s->query, "--query-gpu=%s", list) < 0 ? -1 : 0;
}

/*
 * Asks for the full list once; each refusal names one field, which we
 * replace or drop before asking again.  The accepted run's output seeds
 * the readings, so the first tick has values.
 */
static int choose_fields(struct smi_state *s, char *why, size_t whylen)
{
	char *argv[] = { s->path, s->query, "--format=csv,noheader,nounits", NULL };
	char line[200];

	smi_fieldset_full(&s->fs);
	for (int attempt = 0; attempt <= SMI_MAX_FIELDS; attempt++) {
		char bad[64];
		int status = 0, err = 0, r;
		const char *alt;

		if (set_query(s) < 0) {
			str_copy(why, "nvidia-smi query does not fit its buffer", whylen);
			return GPU_OPEN_UNAVAILABLE;
		}
		r = run_once(s, argv, PROBE_TIMEOUT_NS, &status, &err);
		if (r == CHILD_NOSTART) {
			str_fmt(why, whylen, "cannot run %s: %s", s->path, strerror(err));
			return GPU_OPEN_UNAVAILABLE;
		}
		if (r == CHILD_TIMEOUT) {
			str_fmt(why, whylen, "%s did not answer the field query within %lld s",
				s->path, PROBE_TIMEOUT_NS / NS_PER_SEC);
			return GPU_OPEN_UNAVAILABLE;
		}
		if (smi_parse_bad_field(s->once_out, bad, sizeof bad) == 0) {
			const struct smi_field *f = smi_field_find(bad);

			alt = f ? f->fallback : NULL;
			if (smi_fieldset_refuse(&s->fs, bad) < 0) {
				str_fmt(why, whylen, "%s does not know the field %s, which gputel needs",
					s->path, bad);
				return GPU_OPEN_UNAVAILABLE;
			}
			if (alt) {
				log_debug("nvidia-smi does not know %s; asking for %s instead", bad, alt);
			} else {
				s->n_dropped++;
				log_debug("nvidia-smi does not know %s; going without it", bad);
			}
			continue;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			char st[32];

			child_describe_status(status, st, sizeof st);
			str_fmt(why, whylen, "%s refused the field query (%s): %s", s->path, st,
				first_line(s->once_out, line, sizeof line));
			return GPU_OPEN_UNAVAILABLE;
		}
		s->now_ns = mono_now_ns();
		linebuf_reset(&s->lb);
		linebuf_feed(&s->lb, s->once_out, s->once_len, on_loop_line, s);
		linebuf_feed(&s->lb, "\n", 1, on_loop_line, s);
		linebuf_reset(&s->lb);
		return GPU_OPEN_OK;
	}
	str_fmt(why, whylen, "%s kept refusing fields; run it by hand with --query-gpu to see why",
		s->path);
	return GPU_OPEN_UNAVAILABLE;
}

static void bury(struct smi_state *s, const struct child *c)
{
	for (int i = 0; i < MAX_ZOMBIES; i++)
		if (s->zombies[i].pid == 0) {
			s->zombies[i] = *c;
			return;
		}
	/* Every slot holds a child stuck in the driver; this one joins them unwatched. */
	log_warn("nvidia-smi (pid %d) is stuck and cannot be reaped; check the driver (dmesg)",
		 (int)c->pid);
}

static int zombie_slots_free(struct smi_state *s)
{
	int n = 0;

	for (int i = 0; i < MAX_ZOMBIES; i++) {
		child_wait(&s->zombies[i], 0, NULL);
		n += s->zombies[i].pid == 0;
	}
	return n;
}

static void schedule_restart(struct smi_state *s, int64_t now)
{
	s->restart_at_ns = now + s->backoff_ns;
	s->backoff_ns = min64(s->backoff_ns * 2, BACKOFF_MAX_NS);
}

static void child_down(struct smi_state *s, int64_t now, const char *what, bool kill_it)
{
	char st[32] = "";
	int status = -1; /* stays -1 when someone else reaped it */
	bool reaped;

	child_close(&s->loop);
	if (kill_it)
		kill(s->loop.pid, SIGKILL);
	/* It closed its output, so its exit follows within moments. */
	reaped = child_wait(&s->loop, 10 * NS_PER_MS, &status);
	if (!reaped) {
		kill(s->loop.pid, SIGKILL);
		reaped = child_wait(&s->loop, 0, &status);
	}
	if (reaped && status != -1)
		child_describe_status(status, st, sizeof st);
	if (!reaped)
		bury(s, &s->loop);
	s->loop.pid = 0;
	if (now - s->started_ns >= HEALTHY_RUN_NS)
		s->backoff_ns = BACKOFF_MIN_NS;
	log_warn("nvidia-smi %s%s%s%s; restarting it in %lld s", what, st[0] ? " (" : "", st,
		 st[0] ? ")" : "", (long long)(s->backoff_ns / NS_PER_SEC));
	schedule_restart(s, now);
}

static int start_loop(struct smi_state *s, int64_t now)
{
	struct child_spec spec = { .path = s->path, .argv = s->argv, .stdin_null = true, .out = CHILD_PIPE,
				   .err = CHILD_NULL, .own_group = true, .die_with_parent = true };
	int r;

	if (zombie_slots_free(s) == 0) {
		schedule_restart(s, now);
		return -1;
	}
	r = child_start(&s->loop, &spec);
	if (r < 0) {
		log_warn("cannot start %s: %s; retrying in %lld s", s->path, strerror(-r),
			 (long long)(s->backoff_ns / NS_PER_SEC));
		schedule_restart(s, now);
		return -1;
	}
	s->started_ns = now;
	s->last_byte_ns = now;
	s->first_wait = true;
	linebuf_reset(&s->lb);
	for (unsigned int i = 0; i < s->n; i++)
		s->gpu[i].seen_since_start = false;
	return 0;
}

/* Reads whatever the child has written, without waiting for more. */
static void drain(struct smi_state *s, int64_t now)
{
	char chunk[4096];
	unsigned long dropped = s->lb.dropped;

	s->now_ns = now;
	/* Bounded so a child flooding the pipe cannot hold sample() forever. */
	for (int i = 0; i < 64 && s->loop.out_fd >= 0; i++) {
		ssize_t r = read(s->loop.out_fd, chunk, sizeof chunk);

		if (r > 0) {
			s->last_byte_ns = now;
			linebuf_feed(&s->lb, chunk, (size_t)r, on_loop_line, s);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		child_down(s, now, r == 0 ? "stopped" : "output could not be read", false);
	}
	if (s->lb.dropped != dropped)
		log_once(&s->said_long_line, LOG_WARN,
			 "dropped a nvidia-smi line longer than %d bytes", LINEBUF_MAX - 1);
}

static bool all_seen(const struct smi_state *s)
{
	for (unsigned int i = 0; i < s->n; i++)
		if (!s->gpu[i].seen_since_start)
			return false;
	return true;
}

/* After a (re)start, give the child's first round a short, bounded wait. */
static void first_round_wait(struct smi_state *s)
{
	int64_t deadline = mono_now_ns() + s->first_wait_ns;

	s->first_wait = false;
	while (s->loop.out_fd >= 0 && !all_seen(s)) {
		struct pollfd pfd = { .fd = s->loop.out_fd, .events = POLLIN };
		int64_t now = mono_now_ns();

		if (now >= deadline)
			return;
		if (poll(&pfd, 1, (int)((deadline - now + NS_PER_MS - 1) / NS_PER_MS)) <= 0)
			continue;
		drain(s, mono_now_ns());
	}
}

static void fill(struct smi_state *s, struct snapshot *snap, int64_t now)
{
	bool up = s->loop.out_fd >= 0, ok = up;

	snap->backend = gpu_smi_backend.name;
	snap->n_gpus = s->n;
	for (unsigned int i = 0; i < s->n; i++) {
		struct gpu_reading *o = &snap->gpu[i];
		int64_t last = s->gpu[i].last_ns;

		*o = s->gpu[i].r;
		if (!up || now - last > s->stale_ns) {
			for (int f = 0; f < GPU_F__COUNT; f++)
				if (o->st[f] != VAL_UNSUPPORTED) {
					o->st[f] = VAL_ERROR;
					o->val[f] = 0;
				}
		}
		/*
		 * Silence is the GPU's fault only once a running child has had
		 * the whole window to report it; while the child is down we
		 * cannot tell, so the last health stands.
		 */
		if (up && now - max64(last, s->started_ns) > s->stale_ns)
			o->health = GPU_HEALTH_DOWN;
		if (o->health == GPU_HEALTH_DOWN)
			ok = false;
		for (int f = 0; f < GPU_F__COUNT; f++)
			if (o->st[f] == VAL_ERROR)
				ok = false;
	}
	snap->gpu_src.ok = ok;
}

static void smi_sample(void *state, struct snapshot *snap)
{
	struct smi_state *s = state;
	int64_t t0 = mono_now_ns();

	if (s->loop.out_fd >= 0)
		drain(s, t0);
	if (s->loop.out_fd >= 0 && t0 - s->last_byte_ns > s->hang_ns)
		child_down(s, t0, "printed nothing for too long and was killed", true);
	if (s->loop.out_fd < 0 && t0 >= s->restart_at_ns)
		start_loop(s, t0);
	if (s->loop.out_fd >= 0 && s->first_wait)
		first_round_wait(s);
	fill(s, snap, mono_now_ns());
	snap->gpu_src.duration_ns = mono_now_ns() - t0;
}

static void smi_close(void *state)
{
	struct smi_state *s = state;

	if (!s)
		return;
	child_close(&s->loop);
	if (!child_stop(&s->loop, NS_PER_SEC))
		log_warn("nvidia-smi (pid %d) ignores SIGKILL; it is probably stuck in the driver",
			 (int)s->loop.pid);
	for (int i = 0; i < MAX_ZOMBIES; i++)
		if (!child_wait(&s->zombies[i], 100 * NS_PER_MS, NULL))
			kill(s->zombies[i].pid, SIGKILL);
	free(s->once_out);
	free(s);
}

static int smi_open(void **state, const struct gpu_options *opt, char *why, size_t whylen)
{
	struct smi_state *s = calloc(1, sizeof *s);
	char dropped[48] = "";
	int64_t ms;
	int r;

	*state = NULL;
	if (!s) {
		str_copy(why, "out of memory", whylen);
		return GPU_OPEN_UNAVAILABLE;
	}
	s->loop.out_fd = -1;
	r = resolve_binary(s, opt, why, whylen);
	if (r != GPU_OPEN_OK)
		goto fail;
	ms = opt && opt->interval_ns > 0 ? opt->interval_ns / NS_PER_MS : 1000;
	/* nvidia-smi's own floor; below it the child spins. */
	if (ms < 10)
		ms = 10;
	s->interval_ns = ms * NS_PER_MS;
	s->stale_ns = max64(3 * s->interval_ns, 3 * NS_PER_SEC);
	s->hang_ns = max64(10 * s->interval_ns, 30 * NS_PER_SEC);
	s->first_wait_ns = min64(s->interval_ns / 2, 200 * NS_PER_MS);
	s->backoff_ns = BACKOFF_MIN_NS;
	s->once_out = malloc(ONESHOT_OUT_MAX);
	if (!s->once_out) {
		str_copy(why, "out of memory", whylen);
		r = GPU_OPEN_UNAVAILABLE;
		goto fail;
	}
	s->now_ns = mono_now_ns();
	r = probe(s, why, whylen);
	if (r == GPU_OPEN_OK)
		r = choose_fields(s, why, whylen);
	free(s->once_out);
	s->once_out = NULL;
	if (r != GPU_OPEN_OK)
		goto fail;

	str_fmt(s->lms, sizeof s->lms, "%lld", (long long)ms);
	s->argv[0] = s->path;
	s->argv[1] = s->query;
	s->argv[2] = "--format=csv,noheader,nounits";
	s->argv[3] = "-lms";
	s->argv[4] = s->lms;
	s->argv[5] = NULL;
	str_fmt(s->detail, sizeof s->detail, "%s, -lms %s", s->path, s->lms);
	if (start_loop(s, mono_now_ns()) < 0) {
		str_fmt(why, whylen, "cannot start %s for the sampling loop", s->path);
		r = GPU_OPEN_UNAVAILABLE;
		goto fail;
	}
	if (s->n_dropped)
		str_fmt(dropped, sizeof dropped, " (%d not offered by this driver)", s->n_dropped);
	log_info("gpu backend nvidia-smi: %s, -lms %s, %d field%s%s, %u gpu%s", s->path, s->lms,
		 s->fs.n, plural_s((uint64_t)s->fs.n), dropped, s->n, plural_s(s->n));
	*state = s;
	return GPU_OPEN_OK;
fail:
	smi_close(s);
	return r;
}

static const char *smi_driver_version(void *state)
{
	const struct smi_state *s = state;

	return s ? s->driver : "";
}

static const char *smi_detail(void *state)
{
	const struct smi_state *s = state;

	return s ? s->detail : "";
}

const struct gpu_backend gpu_smi_backend = {
	.name = "nvidia-smi",
	.open = smi_open,
	.sample = smi_sample,
	.driver_version = smi_driver_version,
	.detail = smi_detail,
	.close = smi_close,
};
