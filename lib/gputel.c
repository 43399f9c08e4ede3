/*
 * gputel.c - libgputel, the client of the agent's control socket.  See
 * include/gputel.h.  Self-contained (libc only): a request is one
 * connection, one HTTP/1.1 exchange with "Connection: close", read to EOF.
 */
#include "gputel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX (16u << 20)
#define SYSTEMCTL_WAIT_MS 30000
#define SERVICE "justnews-gpu-telemetry.service"

extern char **environ;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *socket_path(const char *socket)
{
	const char *env = getenv("JN_CONTROL_SOCKET");

	if (socket && *socket)
		return socket;
	return env && *env ? env : GPUTEL_DEFAULT_SOCKET;
}

/* A growing buffer; on allocation failure it is marked bad and stays so. */
struct buf {
	char *p;
	size_t len, cap;
	bool bad;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->bad)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->bad = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* s as a JSON string with its quotes. */
static void put_json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			put(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			put(b, e, 6);
		} else {
			put(b, s, 1);
		}
	}
	put(b, "\"", 1);
}

static int connect_to(const char *path, int *fd_out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof sa.sun_path)
		return GPUTEL_E_INVALID;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno == ENOMEM || errno == ENOBUFS ? GPUTEL_E_NOMEM : GPUTEL_E_NOAGENT;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		e = errno;
		close(fd);
		return e == EACCES || e == EPERM ? GPUTEL_E_PERMISSION : GPUTEL_E_NOAGENT;
	}
	*fd_out = fd;
	return GPUTEL_OK;
}

static bool wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { fd, events, 0 };
	int64_t left = deadline - now_ms();

	if (left <= 0)
		return false;
	return poll(&p, 1, (int)left) > 0;
}

static int status_of(int code)
{
	if (code >= 200 && code < 300)
		return GPUTEL_OK;
	if (code == 404)
		return GPUTEL_E_NOTFOUND;
	if (code == 409)
		return GPUTEL_E_CONFLICT;
	if (code >= 400 && code < 500)
		return GPUTEL_E_BADREQUEST;
	return GPUTEL_E_SERVER;
}

/* One exchange.  *json gets the reply body (also for 4xx/5xx). */
static int request(const char *socket, const char *method, const char *path, const char *body,
		   char **json)
{
	struct buf req = { 0 }, rep = { 0 };
	int64_t deadline = now_ms() + GPUTEL_TIMEOUT_MS;
	size_t blen = body ? strlen(body) : 0, off = 0;
	char line[64], *start, *hdr_end;
	int fd = -1, r, code = 0;

	if (json)
		*json = NULL;
	r = connect_to(socket_path(socket), &fd);
	if (r != GPUTEL_OK)
		return r;
	snprintf(line, sizeof line, "%zu", blen);
	puts_(&req, method);
	puts_(&req, " ");
	puts_(&req, path);
	puts_(&req, " HTTP/1.1\r\nHost: gputel\r\nConnection: close\r\nAccept: application/json\r\n");
	if (body) {
		puts_(&req, "Content-Type: application/json\r\nContent-Length: ");
		puts_(&req, line);
		puts_(&req, "\r\n");
	}
	puts_(&req, "\r\n");
	if (body)
		put(&req, body, blen);
	if (req.bad) {
		r = GPUTEL_E_NOMEM;
		goto out;
	}
	while (off < req.len) {
		ssize_t w;

		if (!wait_fd(fd, POLLOUT, deadline)) {
			r = GPUTEL_E_PROTOCOL;
			goto out;
		}
		w = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = GPUTEL_E_PROTOCOL;
			goto out;
		}
		off += (size_t)w;
	}
	for (;;) {
		char chunk[8192];
		ssize_t n;

		if (!wait_fd(fd, POLLIN, deadline)) {
			r = GPUTEL_E_PROTOCOL;
			goto out;
		}
		n = recv(fd, chunk, sizeof chunk, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = GPUTEL_E_PROTOCOL;
			goto out;
		}
		if (n == 0)
			break;
		if (rep.len + (size_t)n > REPLY_MAX) {
			r = GPUTEL_E_PROTOCOL;
			goto out;
		}
		put(&rep, chunk, (size_t)n);
		if (rep.bad) {
			r = GPUTEL_E_NOMEM;
			goto out;
		}
		/* Done once the announced body is in: the server may close later. */
		if ((hdr_end = strstr(rep.p, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(rep.p, "\r\nContent-Length:");

			if (cl && cl < hdr_end &&
			    rep.len >= (size_t)(hdr_end + 4 - rep.p) + strtoull(cl + 17, NULL, 10))
				break;
		}
	}
	if (!rep.p || sscanf(rep.p, "HTTP/1.%*c %d", &code) != 1 || !(hdr_end = strstr(rep.p, "\r\n\r\n"))) {
		r = GPUTEL_E_PROTOCOL;
		goto out;
	}
	r = status_of(code);
	start = hdr_end + 4;
	if (json) {
		*json = strdup(start);
		if (!*json)
			r = GPUTEL_E_NOMEM;
	}
out:
	if (fd >= 0)
		close(fd);
	free(req.p);
	free(rep.p);
	return r;
}

/* ---- autostart ---- */

static bool autostart_wanted(void)
{
	const char *v = getenv("GPU_TELEMETRY_AUTOSTART");

	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

/* The executable named file, searched on PATH as a shell would; 0 or -1. */
static int find_exe(const char *file, char *out, size_t n)
{
	const char *path = getenv("PATH");

	if (strchr(file, '/')) {
		if (access(file, X_OK) != 0 || strlen(file) >= n)
			return -1;
		memcpy(out, file, strlen(file) + 1);
		return 0;
	}
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");

		if (snprintf(out, n, "%.*s/%s", (int)(len ? len : 1), len ? path : ".", file) < (int)n &&
		    access(out, X_OK) == 0)
			return 0;
		path += len;
		if (*path == ':')
			path++;
	}
	return -1;
}

/* In a child about to exec: stdin, stdout and stderr on /dev/null. */
static void to_devnull(void)
{
	int nul = open("/dev/null", O_RDWR);

	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
	}
}

/* Runs argv and waits for it, at most wait_ms; its exit status, or -1. */
static int run_wait(char *const argv[], int64_t wait_ms)
{
	char exe[4096];
	int64_t deadline = now_ms() + wait_ms;
	pid_t pid;
	int st;

	if (find_exe(argv[0], exe, sizeof exe) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		to_devnull();
		execve(exe, argv, environ);
		_exit(127);
	}
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (w < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(20000);
	}
}

/*
 * The local agent, detached: the middle child exits at once, so the agent
 * is reparented and never becomes this process's zombie.
 */
static int start_local(const char *sock)
{
	const char *env = getenv("GPUTEL_AGENT");
	char exe[4096];
	char *argv[] = { exe, "agent", "--exit-when-idle", "--log-to-state-dir", "--control-socket", (char *)sock, NULL };
	pid_t pid;
	int st;

	if (find_exe(env && *env ? env : "gputel", exe, sizeof exe) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		to_devnull();
		execve(exe, argv, environ);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static int wait_for_agent(const char *sock, int64_t wait_ms)
{
	int64_t deadline = now_ms() + wait_ms;

	while (now_ms() < deadline) {
		int r = request(sock, "GET", "/v1/status", NULL, NULL);

		if (r == GPUTEL_OK || r == GPUTEL_E_PERMISSION)
			return r;
		usleep(100000);
	}
	return GPUTEL_E_AUTOSTART;
}

static int autostart(const char *sock)
{
	char *systemctl[] = { "systemctl", "start", SERVICE, NULL };

	if (run_wait(systemctl, SYSTEMCTL_WAIT_MS) == 0 && wait_for_agent(sock, GPUTEL_AUTOSTART_WAIT_MS) == GPUTEL_OK)
		return GPUTEL_OK;
	if (start_local(sock) != 0)
		return GPUTEL_E_AUTOSTART;
	return wait_for_agent(sock, GPUTEL_AUTOSTART_WAIT_MS);
}

/* ---- the calls ---- */

static bool id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 64)
		return false;
	for (; *id; id++)
		if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') || (*id >= '0' && *id <= '9') ||
		      strchr("._:@-", *id)))
			return false;
	return true;
}

int gputel_alloc_begin(const char *socket, const struct gputel_alloc_spec *spec, char **json)
{
	return gputel_alloc_begin_traced(socket, spec, NULL, json);
}

int gputel_alloc_begin_traced(const char *socket, const struct gputel_alloc_spec *spec, const char *traceparent,
			      char **json)
{
	struct buf b = { 0 };
	char num[64];
	int r;

	if (json)
		*json = NULL;
	if (!spec || !id_ok(spec->id) || spec->pid < 0 || spec->ttl_seconds < 0)
		return GPUTEL_E_INVALID;
	puts_(&b, "{\"id\": ");
	put_json_str(&b, spec->id);
	if (spec->gpus && *spec->gpus) {
		const char *p = spec->gpus;

		puts_(&b, ", \"gpus\": [");
		while (*p) {
			size_t n = strcspn(p, ",");
			char one[128];

			if (n == 0 || n >= sizeof one) {
				free(b.p);
				return GPUTEL_E_INVALID;
			}
			memcpy(one, p, n);
			one[n] = '\0';
			if (p != spec->gpus)
				puts_(&b, ", ");
			put_json_str(&b, one);
			p += n;
			if (*p == ',')
				p++;
		}
		puts_(&b, "]");
	}
	if (spec->owner) {
		puts_(&b, ", \"owner\": ");
		put_json_str(&b, spec->owner);
	}
	if (spec->pid > 0) {
		snprintf(num, sizeof num, ", \"pid\": %ld", spec->pid);
		puts_(&b, num);
	}
	if (spec->ttl_seconds > 0) {
		snprintf(num, sizeof num, ", \"ttl_seconds\": %.3f", spec->ttl_seconds);
		puts_(&b, num);
	}
	if (spec->labels_json && *spec->labels_json) {
		puts_(&b, ", \"labels\": ");
		puts_(&b, spec->labels_json);
	}
	/* Checked by the agent, which names what is wrong with it. */
	if (traceparent && *traceparent) {
		puts_(&b, ", \"traceparent\": ");
		put_json_str(&b, traceparent);
	}
	puts_(&b, "}");
	if (b.bad) {
		free(b.p);
		return GPUTEL_E_NOMEM;
	}
	r = request(socket, "POST", "/v1/allocations", b.p, json);
	if (r == GPUTEL_E_NOAGENT && autostart_wanted()) {
		r = autostart(socket_path(socket));
		if (r == GPUTEL_OK)
			r = request(socket, "POST", "/v1/allocations", b.p, json);
	}
	free(b.p);
	return r;
}

int gputel_alloc_end(const char *socket, const char *id, char **json)
{
	char path[128];

	if (json)
		*json = NULL;
	if (!id_ok(id))
		return GPUTEL_E_INVALID;
	snprintf(path, sizeof path, "/v1/allocations/%s", id);
	return request(socket, "DELETE", path, NULL, json);
}

int gputel_alloc_renew(const char *socket, const char *id, double ttl_seconds, char **json)
{
	char path[128], body[64];

	if (json)
		*json = NULL;
	if (!id_ok(id) || ttl_seconds < 0)
		return GPUTEL_E_INVALID;
	snprintf(path, sizeof path, "/v1/allocations/%s/renew", id);
	if (ttl_seconds > 0)
		snprintf(body, sizeof body, "{\"ttl_seconds\": %.3f}", ttl_seconds);
	return request(socket, "PUT", path, ttl_seconds > 0 ? body : "", json);
}

int gputel_health_clear(const char *socket, const char *gpu, char **json)
{
	char path[192];
	size_t n = gpu ? strlen(gpu) : 0;

	if (json)
		*json = NULL;
	/* An index, a UUID or a bus address: nothing that needs escaping in a path. */
	if (n == 0 || n > 96 || strspn(gpu, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:.-") != n)
		return GPUTEL_E_INVALID;
	snprintf(path, sizeof path, "/v1/gpus/%s/health/clear", gpu);
	return request(socket, "POST", path, "", json);
}

int gputel_status(const char *socket, char **json)
{
	return request(socket, "GET", "/v1/status", NULL, json);
}

int gputel_get(const char *socket, const char *path, char **json)
{
	if (json)
		*json = NULL;
	if (!path || path[0] != '/' || strpbrk(path, " \r\n"))
		return GPUTEL_E_INVALID;
	return request(socket, "GET", path, NULL, json);
}

const char *gputel_strerror(int status)
{
	switch (status) {
	case GPUTEL_OK: return "ok";
	case GPUTEL_E_INVALID: return "invalid argument (an id is 1-64 of letters, digits and ._:@-)";
	case GPUTEL_E_NOAGENT: return "no gputel agent answers on the control socket; start it (systemctl start justnews-gpu-telemetry) or set GPU_TELEMETRY_AUTOSTART=true";
	case GPUTEL_E_PERMISSION: return "the control socket refuses this user; add the user to the socket's group (JN_GROUP)";
	case GPUTEL_E_BADREQUEST: return "the agent refused the request";
	case GPUTEL_E_NOTFOUND: return "no such allocation";
	case GPUTEL_E_CONFLICT: return "conflict: the id is taken, or the allocation has no TTL to renew";
	case GPUTEL_E_SERVER: return "the agent failed to carry out the request";
	case GPUTEL_E_PROTOCOL: return "no valid reply from the agent in time";
	case GPUTEL_E_NOMEM: return "out of memory";
	case GPUTEL_E_AUTOSTART: return "autostart ran, but no agent answered in time; see journalctl -u justnews-gpu-telemetry";
	default: return "unknown gputel status";
	}
}

void gputel_free(void *p)
{
	free(p);
}
