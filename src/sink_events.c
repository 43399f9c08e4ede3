/*
 * sink_events.c - GPU fault events: the kernel's log (klog.h, in the agent)
 * and NVML's Xid events (every snapshot), made one event per fault
 * (gpu_events.h), and where each goes: a log line (at most
 * LOG_PER_MINUTE a minute, the rest counted), a line in events.jsonl in the
 * log directory (the agent), an event on /v1/events, and the counters
 * per GPU and code on /metrics.
 *
 * The agent resumes the kernel log where it left off: the position (for
 * /dev/kmsg the boot id and sequence number) is saved in the state
 * directory after every tick that wrote an event, and every
 * POSITION_SAVE_NS otherwise; at start the last kernel record in
 * events.jsonl counts too, so a kill -9 between an event's line and the
 * position's save does not write that event twice.  The journal and
 * kern.log number no records: their position is saved right after the
 * records that made events instead.  A new boot (or no position) reads
 * this boot's kernel log from its start: this boot's earlier faults are
 * news to a new agent.
 *
 * The agent also runs --on-xid (JN_ON_XID) for each Xid, with the event in
 * the command's environment: at most HOOK_MAX_RUNNING at once, the others
 * waiting in a queue of HOOK_QUEUE_MAX (a burst of Xids, or this boot's
 * read at start); an Xid that finds the queue full gets no hook, and that
 * is counted and logged.
 *
 * The standalone exporter reads no kernel log and writes no file: it
 * counts NVML's events.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "gpu_events.h"
#include "hook.h"
#include "klog.h"
#include "log.h"
#include "outbuf.h"
#include "pipeline.h"
#include "prom.h"
#include "sink.h"
#include "util.h"

#define EVENTS_FILE "events.jsonl"
#define POSITION_SAVE_NS (60 * NS_PER_SEC)
/* Kernel records taken per wake-up: a flood cannot hold the loop; the rest wait for the next. */
#define DRAIN_MAX 256
#define LOG_PER_MINUTE 20
/* What of a kernel message goes into an event: the driver's lines are far shorter. */
#define TEXT_MAX 1024
#define HOOK_QUEUE_MAX 64
/* How much of events.jsonl is read back at start for the last kernel record. */
#define TAIL_MAX (64 * 1024)

/* An Xid waiting for a free --on-xid slot: the event with its own copy of the text. */
struct queued_xid {
	struct gpu_event ev;
	char text[TEXT_MAX + 4];
};

struct events_sink {
	struct pipeline *p;
	struct gpu_events *events;
	struct klog *klog;                 /* NULL: no kernel log (the exporter, or none readable) */
	char boot_id[KMSG_BOOT_ID_LEN];
	char events_path[CONFIG_TEXT_MAX + 32];    /* "" when no file is written */
	bool event_since_save;
	int64_t saved_mono_ns;
	uint64_t last_snap_seq;
	bool have_gpus;                    /* a snapshot came: kernel lines can be joined to GPUs */
	uint64_t events_written, events_failed;
	bool said_write_failure, said_position_failure, said_read_failure;
	int events_fd;                  /* events.jsonl while a drain appends to it, else -1 */
	/* The log's rate limit. */
	int64_t log_window_ns;
	unsigned int logged_in_window;
	uint64_t log_suppressed;
	uint64_t lost_said;
	/* --on-xid: its own hooks, apart from the agent's start and stop ones. */
	struct hooks hooks;
	struct queued_xid *queue;          /* HOOK_QUEUE_MAX, allocated at the first Xid with a hook */
	size_t queue_head, queue_len;
	uint64_t hooks_skipped;
};

/*
 * text (len bytes) made fit to show: valid UTF-8 without control
 * characters (each bad byte a '?'), at most TEXT_MAX bytes, NUL-terminated
 * in buf (TEXT_MAX + 4 bytes).  A kernel log file can hold anything.
 */
static void clean_text(const char *text, size_t len, char *buf)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n < TEXT_MAX;) {
		size_t bad = 0, take = len - i < TEXT_MAX - n ? len - i : TEXT_MAX - n;

		if (!text_problem(text + i, take, &bad)) {
			memcpy(buf + n, text + i, take);
			n += take;
			break;
		}
		memcpy(buf + n, text + i, bad);
		n += bad;
		buf[n++] = '?';
		i += bad + 1;
	}
	buf[n] = '\0';
}

static void put_text(struct outbuf *o, const char *text, size_t len)
{
	char buf[TEXT_MAX + 4];

	clean_text(text, len, buf);
	ob_put_json_str(o, buf);
}

static void put_plain_text(struct outbuf *o, const char *text, size_t len)
{
	char buf[TEXT_MAX + 4];

	clean_text(text, len, buf);
	ob_puts(o, buf);
}

static const char *kind_name(enum kevent_kind k)
{
	return k == KEVENT_XID ? "xid" : k == KEVENT_SXID ? "sxid" : "driver_message";
}

/* The event's fields as JSON members (no braces): for events.jsonl and /v1/events. */
static void event_fields(struct outbuf *o, const struct events_sink *k, const struct gpu_event *ev)
{
	struct timespec at = { (time_t)(ev->wall_ns / NS_PER_SEC), (long)(ev->wall_ns % NS_PER_SEC) };
	char ts[32];

	fmt_iso8601_ms(ts, &at);
	ob_puts(o, "\"at\": ");
	ob_put_json_str(o, ts);
	ob_puts(o, ", \"kind\": ");
	ob_put_json_str(o, kind_name(ev->kind));
	ob_puts(o, ", \"source\": ");
	ob_put_json_str(o, ev->source);
	if (ev->code >= 0) {
		ob_puts(o, ", \"code\": ");
		ob_put_i64(o, ev->code);
	}
	if (ev->info) {
		ob_puts(o, ", \"name\": ");
		ob_put_json_str(o, ev->info->name);
		ob_puts(o, ", \"severity\": ");
		ob_put_json_str(o, xid_severity_name(ev->info->severity));
		ob_puts(o, ", \"action\": ");
		ob_put_json_str(o, ev->info->action);
	}
	if (ev->fatal >= 0)
		ob_puts(o, ev->fatal ? ", \"fatal\": true" : ", \"fatal\": false");
	if (ev->gpu.index >= 0) {
		ob_puts(o, ", \"gpu\": ");
		ob_put_i64(o, ev->gpu.index);
	}
	if (ev->gpu.uuid[0]) {
		ob_puts(o, ", \"uuid\": ");
		ob_put_json_str(o, ev->gpu.uuid);
	}
	if (ev->gpu.pci[0]) {
		ob_puts(o, ", \"pci_bus_id\": ");
		ob_put_json_str(o, ev->gpu.pci);
	}
	if (ev->gpu_instance >= 0) {
		ob_puts(o, ", \"gpu_instance\": ");
		ob_put_i64(o, ev->gpu_instance);
	}
	if (ev->compute_instance >= 0) {
		ob_puts(o, ", \"compute_instance\": ");
		ob_put_i64(o, ev->compute_instance);
	}
	if (ev->pid >= 0) {
		ob_puts(o, ", \"pid\": ");
		ob_put_i64(o, ev->pid);
	}
	if (ev->process[0]) {
		ob_puts(o, ", \"process\": ");
		put_text(o, ev->process, strlen(ev->process));
	}
	if (ev->text) {
		ob_puts(o, ", \"text\": ");
		put_text(o, ev->text, ev->text_len);
	}
	if (ev->has_seq) {
		ob_puts(o, ", \"kernel_seq\": ");
		ob_put_u64(o, ev->seq);
		ob_puts(o, ", \"boot_id\": ");
		ob_put_json_str(o, k->boot_id);
	}
}

/* One line, appended whole; opened per line, so logrotate needs no signal. */
static void append_event(struct events_sink *k, const char *fields, size_t len)
{
	char line[TEXT_MAX * 8];
	struct outbuf o = { line, 0, sizeof line, false };
	struct timespec now;
	char ts[32];
	int fd, e = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	fmt_iso8601_ms(ts, &now);
	ob_puts(&o, "{\"time\": ");
	ob_put_json_str(&o, ts);
	ob_puts(&o, ", ");
	ob_put(&o, fields, len);
	ob_puts(&o, "}\n");
	/* Opened once per drain, closed after it (events_file_done): a storm costs no open per line, and logrotate, which moves the file between ticks, needs no signal. */
	if (k->events_fd < 0)
		k->events_fd = open(k->events_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	fd = k->events_fd;
	if (fd < 0 || o.full)
		e = fd < 0 ? errno : EMSGSIZE;
	else if (write(fd, o.p, o.len) != (ssize_t)o.len)
		e = errno ? errno : ENOSPC;
	if (e && fd >= 0) {
		close(fd);
		k->events_fd = -1;
	}
	if (e == 0) {
		k->events_written++;
		if (k->said_write_failure)
			log_info("events: writing to %s again", k->events_path);
		k->said_write_failure = false;
		return;
	}
	k->events_failed++;
	if (!k->said_write_failure)
		log_warn("events: cannot append to %s: %s; events still go to the log, /metrics and /v1/events, "
			 "and are counted (gputel_events_log_failures_total); check the log directory",
			 k->events_path, strerror(e));
	k->said_write_failure = true;
}

/* The end of a drain: events.jsonl is closed until the next event. */
static void events_file_done(struct events_sink *k)
{
	if (k->events_fd >= 0)
		close(k->events_fd);
	k->events_fd = -1;
}

/* At most LOG_PER_MINUTE lines a minute: an Xid storm must not flood the journal. */
static bool may_log(struct events_sink *k)
{
	int64_t now = mono_now_ns();

	if (now - k->log_window_ns >= 60 * NS_PER_SEC) {
		if (k->log_suppressed)
			log_warn("events: %llu more event%s in the last minute were not logged (see events.jsonl and /metrics)",
				 (unsigned long long)k->log_suppressed, plural_s(k->log_suppressed));
		k->log_window_ns = now;
		k->logged_in_window = 0;
		k->log_suppressed = 0;
	}
	if (k->logged_in_window < LOG_PER_MINUTE) {
		k->logged_in_window++;
		return true;
	}
	k->log_suppressed++;
	return false;
}

static void log_event(struct events_sink *k, const struct gpu_event *ev)
{
	char gpu[160] = "";
	int text_len = ev->text_len > 300 ? 300 : (int)ev->text_len;

	if (!may_log(k))
		return;
	if (ev->kind == KEVENT_NVRM) {
		log_warn("events: driver: %.*s", text_len, ev->text);
		return;
	}
	if (ev->kind == KEVENT_SXID) {
		log_warn("events: nvswitch %s: SXid %d (%s): %.*s", ev->gpu.pci, ev->code,
			 ev->fatal ? "fatal" : "non-fatal", text_len, ev->text);
		return;
	}
	if (ev->gpu.index >= 0)
		str_fmt(gpu, sizeof gpu, "gpu %d (%s)", ev->gpu.index, ev->gpu.uuid);
	else
		str_fmt(gpu, sizeof gpu, "gpu at %s%s%s", ev->gpu.pci, ev->gpu.uuid[0] ? " " : "", ev->gpu.uuid);
	log_warn("events: %s: Xid %d %s (%s, from %s): %s; %s", gpu, ev->code, ev->info->name,
		 xid_severity_name(ev->info->severity), ev->source, ev->info->meaning, ev->info->action);
}

/* --on-xid, with the event in the environment (hook.h adds GPUTEL_EVENT=xid and the time). */
static void start_xid_hook(struct events_sink *k, const struct gpu_event *ev)
{
	const char *cmd = k->p->st.cfg->on_xid;
	struct timespec at = { (time_t)(ev->wall_ns / NS_PER_SEC), (long)(ev->wall_ns % NS_PER_SEC) };
	char ts[32], code[32], name[96], sev[48], action[160], index[32], uuid[128], pci[48], pid[32], proc[96],
		source[48], text[TEXT_MAX + 32];
	char *env[] = { code, name, sev, action, index, uuid, pci, pid, proc, source, text, NULL };
	struct hook_event hev = { .event = "xid", .time_iso = ts, .util_cpct = -1, .csv = k->p->st.csv_path,
				  .extra_env = env };
	struct outbuf o = { text, 0, sizeof text - 1, false };

	fmt_iso8601_ms(ts, &at);
	str_fmt(code, sizeof code, "GPUTEL_XID=%d", ev->code);
	str_fmt(name, sizeof name, "GPUTEL_XID_NAME=%s", ev->info->name);
	str_fmt(sev, sizeof sev, "GPUTEL_XID_SEVERITY=%s", xid_severity_name(ev->info->severity));
	str_fmt(action, sizeof action, "GPUTEL_XID_ACTION=%s", ev->info->action);
	str_fmt(index, sizeof index, "GPUTEL_GPU_INDEX=%s", "");
	if (ev->gpu.index >= 0)
		str_fmt(index, sizeof index, "GPUTEL_GPU_INDEX=%d", ev->gpu.index);
	str_fmt(uuid, sizeof uuid, "GPUTEL_GPU_UUID=%s", ev->gpu.uuid);
	str_fmt(pci, sizeof pci, "GPUTEL_PCI_BUS_ID=%s", ev->gpu.pci);
	str_fmt(pid, sizeof pid, "GPUTEL_PID=%s", "");
	if (ev->pid >= 0)
		str_fmt(pid, sizeof pid, "GPUTEL_PID=%lld", (long long)ev->pid);
	str_fmt(proc, sizeof proc, "GPUTEL_PROCESS=%s", ev->process);
	str_fmt(source, sizeof source, "GPUTEL_XID_SOURCE=%s", ev->source);
	/* The kernel's text as JSON would quote it; here it is the bytes, made safe the same way. */
	ob_puts(&o, "GPUTEL_XID_TEXT=");
	if (ev->text)
		put_plain_text(&o, ev->text, ev->text_len);
	text[o.len] = '\0';
	hook_start(&k->hooks, cmd, &hev);
}

/* Starts queued hooks while slots are free. */
static void run_queued_hooks(struct events_sink *k)
{
	while (k->queue_len > 0 && hook_slot_free(&k->hooks)) {
		start_xid_hook(k, &k->queue[k->queue_head].ev);
		k->queue_head = (k->queue_head + 1) % HOOK_QUEUE_MAX;
		k->queue_len--;
	}
}

static void queue_xid_hook(struct events_sink *k, const struct gpu_event *ev)
{
	struct queued_xid *q;

	if (!k->p->st.cfg->on_xid[0] || ev->kind != KEVENT_XID)
		return;
	if (!k->queue)
		k->queue = malloc(HOOK_QUEUE_MAX * sizeof *k->queue);
	/* Full, or no memory for the queue: this Xid gets no hook, and that is counted. */
	if (!k->queue || k->queue_len == HOOK_QUEUE_MAX) {
		k->hooks_skipped++;
		if (may_log(k))
			log_warn("events: %d --on-xid hooks still running and %d waiting: Xid %d on %s gets none (%llu so far)",
				 HOOK_MAX_RUNNING, HOOK_QUEUE_MAX, ev->code, ev->gpu.pci,
				 (unsigned long long)k->hooks_skipped);
		return;
	}
	q = &k->queue[(k->queue_head + k->queue_len++) % HOOK_QUEUE_MAX];
	q->ev = *ev;
	clean_text(ev->text ? ev->text : "", ev->text ? ev->text_len : 0, q->text);
	q->ev.text = ev->text ? q->text : NULL;
	q->ev.text_len = strlen(q->text);
	run_queued_hooks(k);
}

static void on_event(void *ctx, const struct gpu_event *ev)
{
	struct events_sink *k = ctx;
	char fields[TEXT_MAX * 6];
	struct outbuf o = { fields, 0, sizeof fields - 1, false };   /* room for the NUL */

	log_event(k, ev);
	queue_xid_hook(k, ev);
	event_fields(&o, k, ev);
	if (o.full)
		return;   /* cannot happen: the text is bounded */
	fields[o.len] = '\0';
	if (k->events_path[0])
		append_event(k, fields, o.len);
	pipeline_gpu_event(k->p, ev);
	pipeline_event(k->p, ev->kind == KEVENT_XID ? "gpu_xid" : ev->kind == KEVENT_SXID ? "nvswitch_sxid" : "gpu_driver_message",
		       fields);
	k->event_since_save = true;
}

static void on_record(void *ctx, const struct kmsg_record *rec)
{
	struct events_sink *k = ctx;

	gpu_events_kernel(k->events, rec, on_event, k);
}

static void drain(struct events_sink *k)
{
	const struct kmsg_stats *st;
	int r;

	if (!k->klog)
		return;
	r = klog_drain(k->klog, DRAIN_MAX, on_record, k);
	events_file_done(k);
	if (r < 0)
		log_once(&k->said_read_failure, LOG_WARN, "events: reading %s: %s", klog_describe(k->klog), strerror(-r));
	st = klog_stats(k->klog);
	if (st->lost > k->lost_said) {
		log_warn("events: %llu kernel log record%s overwritten before gputel could read them (an overrun, or "
			 "while it was stopped); GPU events among them are lost",
			 (unsigned long long)(st->lost - k->lost_said), plural_s(st->lost - k->lost_said));
		k->lost_said = st->lost;
	}
}

static void save_position(struct events_sink *k, bool now)
{
	int r;

	if (!k->klog)
		return;
	if (!now && !k->event_since_save && mono_now_ns() - k->saved_mono_ns < POSITION_SAVE_NS)
		return;
	r = klog_save_position(k->klog);
	if (r == 0)
		return;   /* not moved, or no state directory */
	k->saved_mono_ns = mono_now_ns();
	if (r < 0) {
		if (!k->said_position_failure)
			log_warn("events: cannot save the kernel log position to %s: %s; after a restart, events may be "
				 "read again", klog_position_path(k->klog), strerror(-r));
		k->said_position_failure = true;
		return;
	}
	k->said_position_failure = false;
	k->event_since_save = false;
}

/* The last kernel record of this boot that events.jsonl holds (a kill -9 before the position was saved). */
static bool tail_seq(const struct events_sink *k, uint64_t *seq)
{
	char *buf = malloc(TAIL_MAX + 1), *line, *save = NULL;
	struct stat st;
	bool have = false;
	ssize_t n;
	int fd;

	if (!buf)
		return false;
	fd = open(k->events_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return false;
	}
	n = pread(fd, buf, TAIL_MAX, st.st_size > TAIL_MAX ? st.st_size - TAIL_MAX : 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cJSON *j = cJSON_Parse(line);
		const cJSON *boot = cJSON_GetObjectItemCaseSensitive(j, "boot_id");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "kernel_seq");

		if (cJSON_IsString(boot) && strcmp(boot->valuestring, k->boot_id) == 0 && cJSON_IsNumber(s) &&
		    s->valuedouble >= 0 && (!have || (uint64_t)s->valuedouble > *seq)) {
			*seq = (uint64_t)s->valuedouble;
			have = true;
		}
		cJSON_Delete(j);
	}
	free(buf);
	return have;
}

/* The first kernel log source that can be read, resumed after its saved position and events.jsonl's last record. */
static void open_kernel_log(struct events_sink *k, const struct config *cfg)
{
	const char *procfs = getenv("GPUTEL_PROCFS_ROOT");
	struct klog_options o = { .state_dir = cfg->state_dir };
	char err[2048];

	if (kmsg_boot_id(procfs && *procfs ? procfs : "/proc", k->boot_id) != 0)
		str_copy(k->boot_id, "unknown", sizeof k->boot_id);
	o.boot_id = k->boot_id;
	if (access(cfg->state_dir, W_OK | X_OK) != 0) {
		log_warn("events: state-dir %s is not writable: the kernel log is read from its start at every start",
			 cfg->state_dir);
		o.state_dir = NULL;
	}
	o.have_tail_seq = k->events_path[0] && tail_seq(k, &o.tail_seq);
	if (klog_open(&k->klog, &o, err, sizeof err) != 0) {
		log_warn("events: no kernel log: %s; Xids still come from NVML, without process or text", err);
		k->klog = NULL;
		return;
	}
	log_info("events: reading GPU events from %s%s%s%s", klog_describe(k->klog),
		 klog_resumed(k->klog) ? ", resumed where it left off" : "",
		 *klog_passed_over(k->klog) ? "; passed over: " : "", klog_passed_over(k->klog));
}

static int events_sink_open(void **self, struct pipeline *p, char *err, size_t errlen)
{
	const struct config *cfg = p->st.cfg;
	struct events_sink *k = calloc(1, sizeof *k);

	if (!k || !(k->events = gpu_events_new())) {
		free(k);
		str_copy(err, "out of memory", errlen);
		return -1;
	}
	k->p = p;
	k->events_fd = -1;
	p->st.gpu_events = k->events;   /* the last Xid of each GPU, for dcgm's DCGM_FI_DEV_XID_ERRORS */
	k->log_window_ns = mono_now_ns();
	if (strcmp(p->st.mode, "agent") == 0) {
		if (access(cfg->logdir, W_OK | X_OK) == 0)
			str_fmt(k->events_path, sizeof k->events_path, "%s/%s", cfg->logdir, EVENTS_FILE);
		open_kernel_log(k, cfg);
	}
	*self = k;
	return 0;
}

static void events_sink_write(void *self, const struct snapshot *snap)
{
	struct events_sink *k = self;

	if (snap->seq == k->last_snap_seq)
		return;
	k->last_snap_seq = snap->seq;
	/* The snapshot first: its GPUs are what the kernel lines' bus addresses are joined to. */
	gpu_events_snapshot(k->events, snap, on_event, k);
	events_file_done(k);
	k->have_gpus = true;
	/* Every tick, even with a descriptor: the journal's wakes only once for entries left by DRAIN_MAX. */
	drain(k);
	save_position(k, false);
	hook_reap(&k->hooks, snap->mono_ns);
	run_queued_hooks(k);
}

static int events_sink_fd(void *self)
{
	return klog_fd(((struct events_sink *)self)->klog);
}

static void events_sink_io(void *self)
{
	struct events_sink *k = self;

	/* Before the first snapshot the records wait in the kernel's buffer: no GPU is known to join them to. */
	if (klog_fd(k->klog) < 0 || !k->have_gpus)
		return;
	drain(k);
	/* No record numbers to guard a restart with: the position right after the events it made. */
	if (!klog_numbered(k->klog))
		save_position(k, false);
}

/*
 * name{gpu="0",uuid="...",pci_bus_id="...",name="...",xid="79"} for an Xid,
 * name{pci_bus_id="...",sxid="12028"} for an SXid (a switch, not a GPU).
 */
static void count_series(struct outbuf *o, const char *name, const struct gpu_event_count *c)
{
	ob_puts(o, name);
	if (c->kind == KEVENT_SXID) {
		ob_puts(o, "{pci_bus_id=\"");
		prom_put_label_value(o, c->gpu.pci);
		ob_puts(o, "\",sxid=\"");
	} else {
		ob_puts(o, "{gpu=\"");
		if (c->gpu.index >= 0)
			ob_put_u64(o, (uint64_t)c->gpu.index);
		ob_puts(o, "\",uuid=\"");
		prom_put_label_value(o, c->gpu.uuid);
		ob_puts(o, "\",pci_bus_id=\"");
		prom_put_label_value(o, c->gpu.pci);
		ob_puts(o, "\",name=\"");
		prom_put_label_value(o, c->gpu.name);
		ob_puts(o, "\",xid=\"");
	}
	ob_put_i64(o, c->code);
	ob_puts(o, "\"} ");
}

/* The families of the counts (gpu_events_counts), each over the counts of one kind. */
static const struct {
	const char *name, *type, *help;
	enum kevent_kind kind;
	bool last_time;     /* the time of the last one, not how many */
} count_families[] = {
	{ "gputel_gpu_xid_errors_total", "counter",
	  "Xid errors (GPU faults the driver reports) per GPU and code, one per fault whether the kernel log, NVML or both reported it.",
	  KEVENT_XID, false },
	{ "gputel_gpu_xid_last_timestamp_seconds", "gauge",
	  "When the last Xid of each GPU and code happened, in seconds since the epoch.", KEVENT_XID, true },
	{ "gputel_nvswitch_sxid_errors_total", "counter",
	  "SXid errors (NVSwitch faults) per switch and code, from the kernel log.", KEVENT_SXID, false },
};

static void counter(struct outbuf *o, const char *name, const char *help, uint64_t v)
{
	prom_family(o, name, "counter", help);
	ob_puts(o, name);
	ob_put(o, " ", 1);
	ob_put_u64(o, v);
	ob_put(o, "\n", 1);
}

static void events_sink_metrics(void *self, struct outbuf *o, const struct snapshot *snap)
{
	const struct events_sink *k = self;
	size_t n;
	const struct gpu_event_count *c = gpu_events_counts(k->events, &n);

	(void)snap;
	for (size_t f = 0; f < ARRAY_SIZE(count_families); f++) {
		bool any = false;

		for (size_t i = 0; i < n; i++) {
			if (c[i].kind != count_families[f].kind)
				continue;
			if (!any)
				prom_family(o, count_families[f].name, count_families[f].type, count_families[f].help);
			any = true;
			count_series(o, count_families[f].name, &c[i]);
			if (count_families[f].last_time)
				ob_put_scaled(o, c[i].last_wall_ns, NS_PER_SEC, 3);
			else
				ob_put_u64(o, c[i].count);
			ob_put(o, "\n", 1);
		}
	}
	if (!k->klog)
		return;
	prom_family(o, "gputel_kernel_log_source_info", "gauge",
		    "Where the agent reads the kernel log: kmsg, journal or kern.log; always 1.");
	ob_puts(o, "gputel_kernel_log_source_info{source=\"");
	ob_puts(o, klog_kind_name(klog_kind(k->klog)));
	ob_puts(o, "\"} 1\n");
	counter(o, "gputel_kernel_log_records_read_total", "Kernel log records read.", klog_stats(k->klog)->records);
	counter(o, "gputel_kernel_log_records_lost_total",
		"Kernel log records overwritten before they could be read (an overrun, or while gputel was stopped).",
		klog_stats(k->klog)->lost);
	counter(o, "gputel_kernel_log_records_malformed_total",
		"Kernel log lines that were not records (a file or FIFO given as GPUTEL_KMSG, kern.log), or too long.",
		klog_stats(k->klog)->malformed);
	if (k->events_path[0])
		counter(o, "gputel_events_log_failures_total", "Events that could not be appended to events.jsonl.",
			k->events_failed);
}

static void events_sink_close(void *self)
{
	struct events_sink *k = self;

	drain(k);
	save_position(k, true);
	events_file_done(k);
	hook_stop_all(&k->hooks);
	free(k->queue);
	klog_close(k->klog);
	k->p->st.gpu_events = NULL;
	gpu_events_free(k->events);
	free(k);
}

const struct sink_ops sink_events_ops = {
	.name = "events",
	.open = events_sink_open,
	.write = events_sink_write,
	.metrics = events_sink_metrics,
	.fd = events_sink_fd,
	.io = events_sink_io,
	.close = events_sink_close,
};
