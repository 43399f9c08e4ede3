#!/bin/bash
# The node collector with the shipped configuration
# (packaging/otel/node-collector-config.yaml, node.env's defaults; only the
# ports, the state directory, the log files and the upstream overridden),
# in the chain it runs in:
#
#   kernel record written to a FIFO (the agent's GPUTEL_KMSG, read when
#   readable, as /dev/kmsg is) -> gputel agent (2 simulated GPUs) --OTLP/HTTP-->
#   node collector --OTLP/gRPC--> central collector (central-collector-config.yaml)
#   --OTLP/HTTP--> a sink collector writing OTLP/JSON to logs.json
#   (tests/otelcol/sink.yaml, flushed every 100 ms).
#
# The records are gputel's own: Xid lines written to the agent's kernel log,
# which the agent turns into OTLP log records; no load generator speaks OTLP
# to the node. Each run starts a fresh chain (state directories empty) and
# measures, in this order:
#   idle     IDLE s with nothing to send: the node's CPU (schedstat of every
#            thread, ns) and VmRSS, VmHWM, RssAnon at the end;
#   trickle  TRICKLE s of Xids at 10/s (gaps uniform in 0.2..1.8 x 100 ms):
#            latency when every batch goes on its timer (1 s per tier);
#   load     LOAD s at RATE records/s (written in 1 ms steps): the node's CPU
#            and RSS (sampled every 0.5 s: the highest, and at the end), the
#            agent's and the central collector's CPU, the records the node
#            accepted (its own otelcol_receiver_accepted_log_records_total),
#            and the latency of every record; then 3 s more at RATE, not
#            measured, so that the measured records leave in full batches
#            as in a longer stream (a stream's last records wait for each
#            tier's 1 s batch timer instead).
# Latency is from the write of a record to the FIFO to its linux.kmsg.seq
# appearing in the sink's logs.json (polled every 5 ms; the 100 ms flush is
# inside the figures). RUNS runs; the medians of the runs' figures and each
# run's are printed, with the machine, the commit, the collector's version
# and the load average before and after.
# Usage: bench/otel_node.sh [RUNS] [IDLE] [TRICKLE] [LOAD] [RATE]
. "$(dirname "$0")/otlp_lib.sh"
runs=${1:-3}
idle=${2:-15}
trickle=${3:-10}
load=${4:-30}
rate=${5:-1000}
for v in "$runs" "$idle" "$trickle" "$load" "$rate"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/otel_node.sh [RUNS] [IDLE] [TRICKLE] [LOAD] [RATE]" >&2; exit 2; }
done
OTEL=$PWD/packaging/otel
started=$SECONDS
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ports N: N free loopback ports, distinct (bound together), on one line.
ports() { python3 -c 'import socket, sys; ss = [socket.socket() for _ in range(int(sys.argv[1]))]; [s.bind(("127.0.0.1", 0)) for s in ss]; print(*(s.getsockname()[1] for s in ss))' "$1"; }
# healthy PID URL LOG: up to 30 s for a collector's health check.
healthy() {
	local i
	for ((i = 0; i < 300; i++)); do
		curl -sf -o /dev/null --max-time 1 "$2" && return 0
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: the collector did not come up; $3:" >&2
	tail -n 5 "$3" >&2
	exit 1
}
# shipped ENVFILE CONFIG LOG VAR=VALUE...: a collector on a shipped
# configuration under its env file, with these overrides. Sets COL_PID.
shipped() {
	local envfile=$1 cfg=$2 log=$3
	shift 3
	env -i PATH="$PATH" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$envfile" \
		env "$@" "$OTELCOL" --config="$cfg" >"$log" 2>&1 &
	COL_PID=$!
	PIDS+=("$COL_PID")
}
# stop_all: SIGTERM to what the run started, SIGKILL after 15 s.
stop_all() {
	local p i
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] || continue
		for ((i = 0; i < 150; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	PIDS=()
}

cat >"$T/driver.py" <<'PY'
import json, os, random, sys, time

fifo, logs, node, agent, central = sys.argv[1:6]
idle, trickle, load, rate = float(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9])
node_metrics, tail = sys.argv[10], float(sys.argv[11])
fd = os.open(fifo, os.O_WRONLY)
codes = [13, 31, 43, 45, 48, 63, 74, 94]
written, seen = {}, {}
pos, partial = 0, b""
seq = 0

def cpu_ns(pid):
    n = 0
    for t in os.listdir("/proc/%s/task" % pid):
        try:
            n += int(open("/proc/%s/task/%s/schedstat" % (pid, t)).read().split()[0])
        except OSError:
            pass
    return n

def status(pid):
    out = {}
    for l in open("/proc/%s/status" % pid):
        k, _, v = l.partition(":")
        if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0])
    return out

def accepted():
    import urllib.request
    n = 0
    for l in urllib.request.urlopen(node_metrics, timeout=5).read().decode().splitlines():
        if l.startswith("otelcol_receiver_accepted_log_records_total{") and 'receiver="otlp"' in l:
            n += float(l.rsplit(" ", 1)[1])
    return n

def write():
    global seq
    seq += 1
    pci = "0000:18:00" if seq % 2 else "0000:28:00"
    line = "3,%d,%d,-;NVRM: Xid (PCI:%s): %d, pid=%d, name=python3, Graphics Exception: ESR 0x405040=0x%x\n" % (
        seq, time.monotonic_ns() // 1000, pci, codes[seq % len(codes)], 2000 + seq % 100, seq)
    written[seq] = time.monotonic_ns()
    os.write(fd, line.encode())

def poll():
    global pos, partial
    try:
        with open(logs, "rb") as f:
            f.seek(pos)
            data = f.read()
    except FileNotFoundError:
        return
    if not data:
        return
    now = time.monotonic_ns()
    pos += len(data)
    lines = (partial + data).split(b"\n")
    partial = lines.pop()
    for l in lines:
        for rl in json.loads(l).get("resourceLogs", []):
            for sl in rl.get("scopeLogs", []):
                for r in sl.get("logRecords", []):
                    for a in r.get("attributes", []):
                        if a["key"] == "linux.kmsg.seq":
                            s = int(a["value"]["intValue"])
                            seen.setdefault(s, []).append(now)

def wait_for(last, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end and not all(s in seen for s in range(1, last + 1)):
        poll()
        time.sleep(0.005)

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))] if v else float("nan")

def lat(first, last):
    v = [(seen[s][0] - written[s]) / 1e6 for s in range(first, last + 1) if s in seen]
    return {"n": last - first + 1, "got": len(v), "p50": pct(v, 50), "p90": pct(v, 90), "p99": pct(v, 99), "max": max(v) if v else float("nan")}

out = {}
# A first record, waited for: the agent has named its GPUs, every tier has
# connected and sent once (the agent has loaded libcurl).
write()
wait_for(1, 30)
if 1 not in seen:
    sys.exit("bench: the first record never reached the sink")
time.sleep(2)

# idle
c0, t0 = cpu_ns(node), time.monotonic_ns()
time.sleep(idle)
out["idle_node_cpu_pct"] = (cpu_ns(node) - c0) / (time.monotonic_ns() - t0) * 100
out["idle_node"] = status(node)

# trickle: 10/s
first = seq + 1
rng = random.Random(7)
end = time.monotonic() + trickle
nxt = time.monotonic()
while time.monotonic() < end:
    if time.monotonic() >= nxt:
        write()
        nxt += 0.1 * rng.uniform(0.2, 1.8)
    poll()
    time.sleep(0.002)
wait_for(seq, 15)
out["trickle"] = lat(first, seq)
time.sleep(1.5)
poll()

# load: RATE/s in 1 ms steps
first = seq + 1
n = int(rate * load)
acc0 = accepted()
cn0, ca0, cc0, t0 = cpu_ns(node), cpu_ns(agent), cpu_ns(central), time.monotonic_ns()
rss_max, next_rss, next_poll = 0, 0.0, 0.0
start = time.monotonic()
while seq < first - 1 + n:
    now = time.monotonic()
    due = first - 1 + min(n, int((now - start) * rate) + 1)
    while seq < due:
        write()
    if now >= next_rss:
        rss_max = max(rss_max, status(node)["VmRSS"])
        next_rss = now + 0.5
    if now >= next_poll:
        poll()
        next_poll = now + 0.005
    time.sleep(0.001)
t1 = time.monotonic_ns()
cn1, ca1, cc1 = cpu_ns(node), cpu_ns(agent), cpu_ns(central)
acc1 = accepted()
last = seq
# The same rate for TAIL s more, not measured: the measured records leave in
# full batches, as in a longer stream, rather than waiting for the timers
# of a stream's end.
start2 = time.monotonic()
while time.monotonic() - start2 < tail:
    due = last + min(int(rate * tail), int((time.monotonic() - start2) * rate) + 1)
    while seq < due:
        write()
    poll()
    time.sleep(0.001)
out["load_rate"] = n / ((t1 - t0) / 1e9)
out["load_node_cpu_pct"] = (cn1 - cn0) / (t1 - t0) * 100
out["load_agent_cpu_pct"] = (ca1 - ca0) / (t1 - t0) * 100
out["load_central_cpu_pct"] = (cc1 - cc0) / (t1 - t0) * 100
out["load_node"] = status(node)
out["load_node_rss_max"] = max(rss_max, out["load_node"]["VmRSS"])
wait_for(seq, 20)
out["load_node_accepted"] = acc1 - acc0
out["load"] = lat(first, last)
out["dups"] = sum(len(v) - 1 for v in seen.values())
out["total_written"], out["total_seen"] = seq, len(seen)
print(json.dumps(out))
PY

echo "bench: $runs runs of: idle ${idle} s, ${trickle} s at 10 records/s, ${load} s at ${rate} records/s"
for ((r = 1; r <= runs; r++)); do
	d=$T/run$r
	mkdir -p "$d/cstate" "$d/nstate" "$d/log"
	: >"$d/log/kern.log"
	start_sink "$d/sink"
	read -r C_GRPC C_HTTP C_MET C_HC N_GRPC N_HTTP N_MET N_HC <<<"$(ports 8)"
	shipped "$OTEL/central.env" "$OTEL/central-collector-config.yaml" "$d/central.log" \
		OTEL_CENTRAL_GRPC_ENDPOINT=127.0.0.1:$C_GRPC OTEL_CENTRAL_HTTP_ENDPOINT=127.0.0.1:$C_HTTP \
		OTEL_METRICS_PORT=$C_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$C_HC STATE_DIRECTORY="$d/cstate" \
		TEMPO_ENDPOINT="$SINK_HTTP" LOKI_OTLP_ENDPOINT="$SINK_HTTP"
	CENTRAL_PID=$COL_PID
	healthy "$CENTRAL_PID" "http://127.0.0.1:$C_HC/" "$d/central.log"
	shipped "$OTEL/node.env" "$OTEL/node-collector-config.yaml" "$d/node.log" \
		OTEL_NODE_GRPC_ENDPOINT=127.0.0.1:$N_GRPC OTEL_NODE_HTTP_ENDPOINT=127.0.0.1:$N_HTTP \
		OTEL_METRICS_PORT=$N_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$N_HC STATE_DIRECTORY="$d/nstate" \
		OTEL_UPSTREAM_ENDPOINT=127.0.0.1:$C_GRPC \
		"OTEL_KERNEL_LOG_FILES=[$d/log/kern.log]" "OTEL_NVIDIA_LOG_FILES=[$d/log/nvidia-installer.log]"
	NODE_PID=$COL_PID
	healthy "$NODE_PID" "http://127.0.0.1:$N_HC/" "$d/node.log"
	agent_env "$d" 2
	mkfifo "$d/kmsg"
	exec 7<>"$d/kmsg" # a reader for the FIFO's life: no write blocks before the agent opens it
	export GPUTEL_KMSG=$d/kmsg
	start_agent "$B/gputel" "$d/agent" --control-socket "" --otlp-endpoint "http://127.0.0.1:$N_HTTP"
	python3 "$T/driver.py" "$d/kmsg" "$d/sink/logs.json" "$NODE_PID" "$AGENT_PID" "$CENTRAL_PID" \
		"$idle" "$trickle" "$load" "$rate" "http://127.0.0.1:$N_MET/metrics" 3 >"$d/result.json" || exit 1
	exec 7<&-
	stop_all
	python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("bench: run %s: node idle %.3f %% CPU, %d KiB; at %.0f/s %.2f %% CPU, %d KiB; latency p50 %.0f / p99 %.0f ms" % (sys.argv[2], r["idle_node_cpu_pct"], r["idle_node"]["VmRSS"], r["load_rate"], r["load_node_cpu_pct"], r["load_node_rss_max"], r["load"]["p50"], r["load"]["p99"]))' "$d/result.json" "$r"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "bench/otel_node.sh $runs $idle $trickle $load $rate: $((SECONDS - started)) s; medians of $runs runs (each run's figures in brackets)"
echo
python3 - "$T" "$runs" "$rate" <<'PY'
import json, sys
T, runs, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rs = [json.load(open("%s/run%d/result.json" % (T, i))) for i in range(1, runs + 1)]
def med(v):
    v = sorted(v)
    return v[(len(v) - 1) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
def row(name, get, fmt):
    v = [get(r) for r in rs]
    print("| %s | %s | %s |" % (name, fmt % med(v), ", ".join(fmt % x for x in v)))
print("| the node collector | median | runs |")
print("|---|---|---|")
row("idle: CPU (% of one core)", lambda r: r["idle_node_cpu_pct"], "%.3f")
row("idle: VmRSS (KiB)", lambda r: r["idle_node"]["VmRSS"], "%d")
row("idle: RssAnon (KiB)", lambda r: r["idle_node"]["RssAnon"], "%d")
row("idle: RssFile (KiB)", lambda r: r["idle_node"]["RssFile"], "%d")
row("load: records/s written (target %s)" % rate, lambda r: r["load_rate"], "%.0f")
row("load: records/s accepted by the node (its otelcol_receiver_accepted_log_records_total)", lambda r: r["load_node_accepted"] / (r["load"]["n"] / r["load_rate"]), "%.0f")
row("load: CPU (% of one core)", lambda r: r["load_node_cpu_pct"], "%.2f")
row("load: VmRSS, highest of the 0.5 s samples (KiB)", lambda r: r["load_node_rss_max"], "%d")
row("load: VmRSS at the end (KiB)", lambda r: r["load_node"]["VmRSS"], "%d")
row("load: VmHWM (KiB)", lambda r: r["load_node"]["VmHWM"], "%d")
row("load: RssAnon at the end (KiB)", lambda r: r["load_node"]["RssAnon"], "%d")
row("load: RssFile at the end (KiB)", lambda r: r["load_node"]["RssFile"], "%d")
row("load, beside it: the gputel agent's CPU (%)", lambda r: r["load_agent_cpu_pct"], "%.2f")
row("load, beside it: the central collector's CPU (%)", lambda r: r["load_central_cpu_pct"], "%.2f")
print()
print("| latency, kernel record written -> in the sink's logs.json (ms) | records (arrived) | p50 | p90 | p99 | max |")
print("|---|---|---|---|---|---|")
for key, name in (("trickle", "at 10 records/s"), ("load", "at %s records/s" % rate)):
    v = [r[key] for r in rs]
    print("| %s | %s | %.0f | %.0f | %.0f | %.0f |" % (name, ", ".join("%d (%d)" % (x["n"], x["got"]) for x in v),
          med([x["p50"] for x in v]), med([x["p90"] for x in v]), med([x["p99"] for x in v]), med([x["max"] for x in v])))
    for i, x in enumerate(v):
        print("|   run %d | | %.0f | %.0f | %.0f | %.0f |" % (i + 1, x["p50"], x["p90"], x["p99"], x["max"]))
print()
print("records written %s, arrived %s, duplicates %s (per run)" % (
    ", ".join(str(r["total_written"]) for r in rs), ", ".join(str(r["total_seen"]) for r in rs), ", ".join(str(r["dups"]) for r in rs)))
PY
echo "load average (1, 5, 15 min) before $load_before, after $load_after"
machine_line
