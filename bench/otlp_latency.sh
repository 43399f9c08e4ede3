#!/bin/bash
# OTLP log latency: from a kernel record appearing in the agent's kernel log
# (GPUTEL_KMSG, a FIFO as /dev/kmsg is a readable descriptor, or a regular
# file, read at every tick) to its log record in the collector's file
# exporter output.  A Python driver writes EVENTS Xid records for the two
# simulated GPUs (0000:18:00, 0000:28:00) at about RATE a second with jitter
# (gaps uniform in 0.2..1.8 x the mean), noting when it wrote each SEQ, and
# tails DIR/logs.json every 2 ms, noting when each linux.kmsg.seq first
# appears.  Spread out like this, a batch goes when its oldest record has
# waited the agent's 1 s batch delay, so that delay is what is measured.
# The file exporter flushes every 100 ms: a record reaches the file up to
# 100 ms after the collector took it, and that is inside the figures.
# Prints p50/p90/p99/max of write -> file, and the parts write -> read by
# the agent (its observedTimeUnixNano) and read -> file.
# Usage: bench/otlp_latency.sh [EVENTS] [RATE] [fifo|file]
. "$(dirname "$0")/otlp_lib.sh"
n=${1:-1000}
rate=${2:-25}
mode=${3:-fifo}
case $mode in fifo | file) ;; *) echo "usage: bench/otlp_latency.sh [EVENTS] [RATE] [fifo|file]" >&2; exit 2 ;; esac

load_before=$(load1)
start_sink "$T/sink"
agent_env "$T" 2
if [ "$mode" = fifo ]; then
	mkfifo "$T/kmsg"
	exec 7<>"$T/kmsg"   # a reader for the FIFO's life, so that no write ever blocks or fails
else
	: >"$T/kmsg"
fi
export GPUTEL_KMSG=$T/kmsg
start_agent "$B/gputel" "$T/agent" --control-socket "" --otlp-endpoint "$SINK_HTTP"

python3 - "$T/kmsg" "$T/sink/logs.json" "$n" "$rate" "$mode" <<'PY' || exit 1
import json, os, random, sys, time

kmsg, logs, n, rate, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
fd = os.open(kmsg, os.O_WRONLY | (os.O_APPEND if mode == "file" else 0))
codes = [13, 31, 43, 45, 48, 63, 74, 94]
written, written_wall, seen, observed, batch_sizes = {}, {}, {}, {}, []
pos, partial = 0, b""

def write(seq):
    pci = "0000:18:00" if seq % 2 else "0000:28:00"
    line = "3,%d,%d,-;NVRM: Xid (PCI:%s): %d, pid=%d, name=python3, Graphics Exception: ESR 0x405040=0x%x\n" % (
        seq, time.monotonic_ns() // 1000, pci, codes[seq % len(codes)], 2000 + seq % 100, seq)
    written_wall[seq] = time.time_ns()
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
    data = partial + data
    lines = data.split(b"\n")
    partial = lines.pop()
    for l in lines:
        if not l.strip():
            continue
        k = 0
        for rl in json.loads(l).get("resourceLogs", []):
            for sl in rl.get("scopeLogs", []):
                for r in sl.get("logRecords", []):
                    k += 1
                    for a in r.get("attributes", []):
                        if a["key"] == "linux.kmsg.seq":
                            s = int(a["value"]["intValue"])
                            if s not in seen:
                                seen[s] = now
                                observed[s] = int(r.get("observedTimeUnixNano", 0))
        batch_sizes.append(k)

# A first record, not counted: the agent takes kernel records once its first sample names the GPUs.
write(1)
deadline = time.monotonic() + 30
while 1 not in seen and time.monotonic() < deadline:
    poll()
    time.sleep(0.01)
if 1 not in seen:
    sys.exit("bench: the first record never reached the collector")
batch_sizes.clear()
time.sleep(1.5)
poll()
batch_sizes.clear()

mean = 1.0 / rate
rng = random.Random(12)
nxt = time.monotonic()
seq = 2
last = n + 1
while seq <= last:
    now = time.monotonic()
    if now >= nxt:
        write(seq)
        seq += 1
        nxt += mean * rng.uniform(0.2, 1.8)
        continue
    poll()
    time.sleep(min(0.002, max(0.0, nxt - time.monotonic())))
deadline = time.monotonic() + 15
while time.monotonic() < deadline and not all(s in seen for s in range(2, last + 1)):
    poll()
    time.sleep(0.002)
os.close(fd)

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]

got = [s for s in range(2, last + 1) if s in seen]
lat = [(seen[s] - written[s]) / 1e6 for s in got]
read = [(observed[s] - written_wall[s]) / 1e6 for s in got if observed[s]]
rest = [lat[i] - (observed[s] - written_wall[s]) / 1e6 for i, s in enumerate(got) if observed[s]]
span = (written[last] - written[2]) / 1e9
print("%d Xid records written to the %s in %.1f s (%.1f/s), %d reached the collector's file, %d missing"
      % (n, "FIFO" if mode == "fifo" else "file (read at each 1 s tick)", span, (n - 1) / span if span else 0, len(got), n - len(got)))
print("records per collector request: median %d, min %d, max %d (%d requests)"
      % (pct(batch_sizes, 50), min(batch_sizes), max(batch_sizes), len(batch_sizes)) if batch_sizes else "no requests")
print()
print("| latency (ms) | p50 | p90 | p99 | max |")
print("|---|---|---|---|---|")
for name, v in (("record written -> in the collector's logs.json", lat),
                ("record written -> read by the agent (observed time)", read),
                ("read by the agent -> in logs.json (batch delay, send, 100 ms flush)", rest)):
    if v:
        print("| %s | %.1f | %.1f | %.1f | %.1f |" % (name, pct(v, 50), pct(v, 90), pct(v, 99), max(v)))
PY
echo
sleep 1.2  # /metrics is rendered at the tick
cpu_agent=$(cpu_ticks "$AGENT_PID")
echo "exported $(metric "$AGENT_METRICS" 'gputel_otlp_exported_total{signal="logs"}'), dropped $(metric "$AGENT_METRICS" 'gputel_otlp_dropped_total{signal="logs"}'), retries $(metric "$AGENT_METRICS" 'gputel_otlp_retries_total{signal="logs"}') log records (agent /metrics); agent CPU since start $cpu_agent ticks of $(getconf CLK_TCK)/s"
echo "load average (1 min) before $load_before, after $(load1)"
machine_line
