#!/bin/bash
# gputel exporter over HTTP on loopback: /metrics (plain and gzip) linted by
# promtool and scraped by a real Prometheus server, /healthz, /status, 404
# and 405, malformed and slow clients, 1000 concurrent connections, a stale
# sampler (a hung driver call), a taken port, SIGTERM.
. "$(dirname "$0")/lib.sh"

wait_http() { # url, seconds
	local i
	for ((i = 0; i < ${2:-10} * 10; i++)); do
		curl -s -o /dev/null "$1" && return 0
		sleep 0.1
	done
	return 1
}

cat >"$T/x.scn" <<'SCN'
gpus 4
at 0 all util=37 power_w=321.5 temp_c=61 mem_used_mib=2048
at 0 3 unsupported=fan
SCN
use_sim 4 "$T/x.scn" intel
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$GPUTEL" exporter --bind 127.0.0.1 --port "$PORT" --interval 0.2 >"$T/exp.log" 2>&1 &
EXP=$!
PIDS+=("$EXP")
check "the exporter answers on loopback" wait_http "$URL/metrics" 10
sleep 0.5

curl -s -D "$T/h1" -o "$T/m.txt" "$URL/metrics"
check "/metrics is 200 with the 0.0.4 content type" grep -qi '^content-type: text/plain; version=0.0.4' "$T/h1"
check "promtool check metrics finds nothing in a scrape" bash -c "promtool check metrics <'$T/m.txt' >'$T/lint' 2>&1 && [ ! -s '$T/lint' ]"
check "the scraped power equals the simulated 321.5 W" test "$(grep '^gputel_gpu_power_watts{gpu="2"' "$T/m.txt" | awk '{ print $NF }')" = "321.500"
check "an unsupported field is absent from the scrape" test -z "$(grep '^gputel_gpu_fan_ratio{gpu="3"' "$T/m.txt")"
curl -s -H 'Accept-Encoding: gzip' -D "$T/h2" -o "$T/m.gz" "$URL/metrics"
check "gzip when asked: Content-Encoding gzip" grep -qi '^content-encoding: gzip' "$T/h2"
check "the gzip body is the same exposition, smaller" bash -c "gzip -dc '$T/m.gz' | grep -c '^gputel_' | grep -qx \"\$(grep -c '^gputel_' '$T/m.txt')\" && [ \$(stat -c %s '$T/m.gz') -lt \$(stat -c %s '$T/m.txt') ]"
check "/healthz is 200 while sampling" test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200
curl -s "$URL/status" >"$T/status.json"
check "/status is JSON with the backend and 4 gpus" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["backend"] == "nvml" and d["gpus"] == 4 and d["gpus_up"] == 4, d
' "$T/status.json"
check "an unknown path is 404" test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")" = 404
check "POST is 405" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x=1 "$URL/metrics")" = 405

# Malformed requests, an oversized header, a slow client and 1000 idle
# connections: /metrics keeps answering, promptly.
check "malformed and abusive clients leave /metrics answering" python3 - "$PORT" <<'PY'
import http.client, resource, socket, sys, time
port = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
def send(raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(raw)
    try:
        s.recv(4096)
    except OSError:
        pass
    s.close()
send(b"\x00\xff garbage \r\n\r\n")
send(b"GET /metrics HTTP/9.9\r\n\r\n")
send(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 100000 + b"\r\n\r\n")
slow = socket.create_connection(("127.0.0.1", port))
slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")     # never finishes its headers
# 1000 idle clients from 40 loopback addresses, 25 each: under the per-address
# cap, so every one holds a slot; the scrape comes from yet another address.
idle = [socket.create_connection(("127.0.0.1", port), source_address=(f"127.0.1.{1 + i % 40}", 0))
        for i in range(1000)]
t0 = time.monotonic()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=("127.0.0.2", 0))
conn.request("GET", "/metrics")
body = conn.getresponse().read()
conn.close()
took = time.monotonic() - t0
assert b"gputel_gpu_power_watts" in body, "no metrics"
assert took < 2, f"/metrics took {took:.2f}s with 1000 idle connections"
for s in idle + [slow]:
    s.close()
PY
check "the exporter survived all of it" kill -0 "$EXP"

# A second exporter set up by a config file alone: bind, port, interval and
# all three name sets.
CPORT=$(free_port)
cat >"$T/exp.conf" <<CONF
JN_EXPORTER_BIND=127.0.0.1
JN_EXPORTER_PORT=$CPORT
JN_POLL_INTERVAL=0.2
JN_METRIC_NAMES=gputel,jn,dcgm
CONF
"$GPUTEL" exporter --config "$T/exp.conf" >"$T/exp2.log" 2>&1 &
PIDS+=("$!")
check "the exporter takes its bind address and port from the config file" wait_http "http://127.0.0.1:$CPORT/metrics" 10
curl -s "http://127.0.0.1:$CPORT/metrics" >"$T/c.txt"
check "JN_METRIC_NAMES=gputel,jn,dcgm serves the three sets side by side" \
	bash -c "grep -q '^gputel_gpu_power_watts{gpu=\"1\"' '$T/c.txt' && grep -qx 'jn_gpu_power_w{gpu=\"1\"} 321.500' '$T/c.txt' && grep -q '^DCGM_FI_DEV_POWER_USAGE{gpu=\"1\",.*} 321.500\$' '$T/c.txt'"
printf 'JN_METRIC_NAMES=gputel,dgcm\n' >"$T/bad.conf"
"$GPUTEL" exporter --config "$T/bad.conf" >/dev/null 2>"$T/err"
check "a misspelt name set in the file: exit 2 with file:line" \
	bash -c "[ $? -eq 2 ] && grep -q '^$T/bad.conf:1: JN_METRIC_NAMES:' '$T/err'"

# A real Prometheus server scrapes both and answers queries with the
# simulated power, including the NVIDIA dashboard's own expressions.
if command -v prometheus >/dev/null; then
	PPORT=$(free_port)
	cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: gputel
    static_configs:
      - targets: ['127.0.0.1:$PORT']
  - job_name: compat
    static_configs:
      - targets: ['127.0.0.1:$CPORT']
YML
	prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
		--web.listen-address="127.0.0.1:$PPORT" >"$T/prom.log" 2>&1 &
	PIDS+=("$!")
	got=""
	for ((i = 0; i < 60; i++)); do
		got=$(curl -s "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode 'query=gputel_gpu_power_watts{gpu="1",job="gputel"}' |
			python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null)
		[ -n "$got" ] && break
		sleep 0.5
	done
	check "Prometheus scraped the exporter and its query returns 321.5 (got '$got')" test "$got" = "321.5"
	up=$(curl -s "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode 'query=up{job="gputel"}' |
		python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")')
	check "Prometheus sees the target up (got '$up')" test "$up" = "1"
	pq() {
		curl -s "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
			python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null
	}
	for ((i = 0; i < 20; i++)); do
		got=$(pq 'sum(max(DCGM_FI_DEV_POWER_USAGE{Hostname=~".+", gpu=~".*"}) by (gpu))')
		[ -n "$got" ] && break
		sleep 0.5
	done
	check "the dashboard's 'GPU Power Total' query sums 4 x 321.5 W (got '$got')" test "$got" = "1286"
	got=$(pq 'max(DCGM_FI_DEV_GPU_TEMP{Hostname=~".+", gpu=~"2"}) by (Hostname, gpu, uuid)')
	check "the dashboard's 'GPU Temperature' query returns 61 (got '$got')" test "$got" = "61"
	got=$(pq 'max(jn_gpu_util_pct)')
	check "the guide's jn_gpu_util_pct is queryable (got '$got')" test "$got" = "37"
else
	not_ok "prometheus is missing: scripts/deps.sh installs it"
fi

# A second exporter on the same port: exit 2, one line naming the port.
"$GPUTEL" exporter --bind 127.0.0.1 --port "$PORT" >/dev/null 2>"$T/err"
rc=$?
check "a taken port exits 2 with one line naming it" bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$T/err') -eq 1 ] && grep -q 'port $PORT: Address already in use' '$T/err'"
for bad in 0 65536 http x; do
	"$GPUTEL" exporter --port "$bad" >/dev/null 2>"$T/err"
	rc=$?
	check "--port '$bad' is refused with exit 2" bash -c "[ $rc -eq 2 ] && grep -q \"bad --port '$bad'\" '$T/err'"
done
"$GPUTEL" exporter --bind localhost --port "$(free_port)" >/dev/null 2>"$T/err"
check "a non-numeric --bind is refused with exit 2" test $? -eq 2 -a "$(grep -c "JN_EXPORTER_BIND: .localhost. is not an IP address" "$T/err")" -eq 1

kill -TERM "$EXP"
wait "$EXP"
check "SIGTERM stops the exporter with exit 0" test $? -eq 0
check "the exporter logged its stop" grep -q "exporter: stopped after" "$T/exp.log"

# A driver call that hangs: the HTTP thread keeps serving the last page,
# and /healthz turns 503 once it is stale.
cat >"$T/hang.scn" <<'SCN'
gpus 1
at 0 all util=10 power_w=100
at 1.5 0 latency_ms=1000
SCN
use_sim 1 "$T/hang.scn" intel
PORT=$(free_port)
"$GPUTEL" exporter --bind 127.0.0.1 --port "$PORT" --interval 0.2 >"$T/hang.log" 2>&1 &
HANG=$!
PIDS+=("$HANG")
wait_http "http://127.0.0.1:$PORT/metrics" 10
sleep 6
check "with the sampler stuck, /healthz is 503" test "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" = 503
check "with the sampler stuck, /metrics still answers at once" test "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")" = 200
kill -KILL "$HANG"
finish
