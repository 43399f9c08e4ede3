#!/bin/bash
# OTLP export throughput: RECORDS Xid records (the two simulated GPUs,
# 0000:18:00 and 0000:28:00, eight codes in turn) pushed into the agent's
# kernel log as fast as it takes them, and the log records arriving in the
# collector's file exporter output (OTLP/JSON, counted as they appear).
#
# 1. FIFO (GPUTEL_KMSG is a FIFO, read when readable, as /dev/kmsg is): a
#    writer fills it in 64 KiB writes, blocking while it is full, so the
#    agent's reading sets the pace.  Prints records/s over the full batches
#    of 512 (the last, partial one waits the 1 s batch delay), from the
#    first arrival to the last, and from the first write; the agent's CPU per
#    1000 records (utime + stime of /proc/PID/stat, every thread, before the
#    first write and after the last arrival; the main thread apart) and the
#    collector's, the agent's RSS before and after, and its own counters
#    (exported; dropped: past its 32 MiB intake).
#    RUNS runs, each with a fresh agent; medians.
# 2. Sources with no descriptor to wait on, read at each tick (1 s): a regular
#    file in record format holding FILE_RECORDS records from the start, and
#    the kern.log source (GPUTEL_KERNEL_LOG_SOURCES=kern.log, the fallback
#    where /dev/kmsg and the journal cannot be read) holding as many lines:
#    records/s read (events.jsonl lines) and arriving over FILE_SECONDS, and
#    the records each tick takes.
# Both run against one collector on loopback; the agent's event sink still
# writes events.jsonl, logs (at most 20 lines a minute) and counts, as it
# always does: that is part of the cost.
# Usage: bench/otlp_throughput.sh [RECORDS] [RUNS] [FILE_RECORDS] [FILE_SECONDS]
. "$(dirname "$0")/otlp_lib.sh"
n=${1:-100000}
runs=${2:-3}
nf=${3:-20000}
fsec=${4:-20}
hz=$(getconf CLK_TCK)

load_before=$(load1)
start_sink "$T/sink"
agent_env "$T" 2

# Records: seq from 2 (1 is a first record sent alone, so that the agent has
# its GPUs and the collector its first request before the clock starts).
gen() { # FILE FIRST_SEQ COUNT
	python3 - "$@" <<'PY'
import sys, time
path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
codes = [13, 31, 43, 45, 48, 63, 74, 94]
ts = time.monotonic_ns() // 1000
with open(path, "w") as f:
    for seq in range(first, first + count):
        pci = "0000:18:00" if seq % 2 else "0000:28:00"
        f.write("3,%d,%d,-;NVRM: Xid (PCI:%s): %d, pid=%d, name=python3, Graphics Exception: ESR 0x405040=0x%x\n"
                % (seq, ts + seq, pci, codes[seq % len(codes)], 2000 + seq % 100, seq))
PY
}
# count_seq FILE: log records with a linux.kmsg.seq in the collector's output.
count_seq() { grep -o '"linux.kmsg.seq"' "$1" 2>/dev/null | wc -l; }

# ---- 1. FIFO, RUNS runs, each with an agent of its own ----
gen "$T/records" 2 "$n"
fifo_run() { # DIR: prints "got rate_arrivals rate_e2e writer_s agent_ms_per_1000 collector_ms_per_1000 read events exported dropped rss hwm rate_full_batches main_ms other_ms rss_before"
	local d=$1 got t0 first last wdone a_ticks s_ticks m
	mkdir -p "$d"
	mkfifo "$d/kmsg"
	exec 7<>"$d/kmsg"   # a reader for the FIFO's life: the agent never sees its end
	export GPUTEL_KMSG=$d/kmsg
	start_agent "$B/gputel" "$d/a" --control-socket "" --otlp-endpoint "$SINK_HTTP"
	local base
	base=$(count_seq "$T/sink/logs.json")
	printf '3,1,%d,-;NVRM: Xid (PCI:0000:18:00): 13, pid=1, name=x, first\n' "$(($(date +%s%N) / 1000))" >&7
	for ((i = 0; i < 300; i++)); do [ "$(count_seq "$T/sink/logs.json")" -gt "$base" ] && break; sleep 0.1; done
	[ "$(count_seq "$T/sink/logs.json")" -gt "$base" ] || { echo "bench: the first record never arrived" >&2; exit 1; }
	sleep 1.5
	local rss0
	rss0=$(status_kib "$AGENT_PID" VmRSS)
	python3 - "$T/records" "$d/kmsg" "$T/sink/logs.json" "$n" "$AGENT_PID" "$SINK_PID" >"$d/out" <<'PY2' || exit 1
import os, sys, threading, time
records, fifo, logs, n, agent, sink = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]

def ticks(pid, tid=None):
    f = open("/proc/%s/%sstat" % (pid, "task/%s/" % tid if tid else "")).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])

data = open(records, "rb").read()
a0, m0, s0 = ticks(agent), ticks(agent, agent), ticks(sink)
done_writing = [None]

def writer():
    fd = os.open(fifo, os.O_WRONLY)
    for i in range(0, len(data), 65536):
        os.write(fd, data[i:i + 65536])
    os.close(fd)
    done_writing[0] = time.monotonic()

pos, count, first, last = os.path.getsize(logs), 0, None, None
full, c_first, t_full = n - n % 512, 0, None   # the last full batch of 512: the rest waits the 1 s batch delay
t0 = time.monotonic()
threading.Thread(target=writer, daemon=True).start()
deadline = t0 + 120
stall = None
while time.monotonic() < deadline:
    with open(logs, "rb") as f:
        f.seek(pos)
        chunk = f.read()
    now = time.monotonic()
    # Only whole lines: one the exporter is still writing counts once it is whole.
    chunk = chunk[:chunk.rfind(b"\n") + 1]
    if chunk:
        pos += len(chunk)
        k = chunk.count(b'"linux.kmsg.seq"')
        if k:
            if first is None:
                first, c_first = now, k
            count += k
            last = now
            if t_full is None and count >= full:
                t_full = now
            stall = None
    if count >= n:
        break
    if done_writing[0] and not chunk:
        stall = stall or now
        if now - stall > 5:
            break       # nothing new for 5 s after the last write: the rest is not coming
    time.sleep(0.005)
a1, m1, s1 = ticks(agent), ticks(agent, agent), ticks(sink)
rate_full = (full - c_first) / (t_full - first) if t_full and t_full > first else 0
print(count, n, t0, first or 0, last or 0, done_writing[0] or 0, a1 - a0, s1 - s0, "%.0f" % rate_full, m1 - m0)
PY2
	sleep 1.2  # /metrics is rendered at the tick
	read -r got _ t0 first last wdone a_ticks s_ticks rate_full m_ticks <"$d/out"
	m=$(curl -s "$AGENT_METRICS")
	awk -v got="$got" -v n="$n" -v t0="$t0" -v f="$first" -v l="$last" -v w="$wdone" -v a="$a_ticks" -v s="$s_ticks" -v hz="$hz" \
		-v rf="$rate_full" -v mt="$m_ticks" -v rss0="$rss0" -v ev="$(wc -l <"$d/a/out/events.jsonl")" -v rss="$(status_kib "$AGENT_PID" VmRSS)" -v hwm="$(status_kib "$AGENT_PID" VmHWM)" '
		$1 == "gputel_kernel_log_records_read_total" { rd = $2 }
		$1 == "gputel_otlp_exported_total{signal=\"logs\"}" { ex = $2 }
		$1 == "gputel_otlp_dropped_total{signal=\"logs\"}" { dr = $2 }
		END {
			printf "%d %.0f %.0f %.2f %.1f %.1f %d %d %d %d %d %d %d %.1f %.1f %d\n", got, (l > f ? (got - 1) / (l - f) : 0), (l > t0 ? got / (l - t0) : 0),
				(w > t0 ? w - t0 : 0), a / hz * 1000 / (n / 1000), s / hz * 1000 / (n / 1000), rd, ev, ex, dr, rss, hwm, rf,
				mt / hz * 1000 / (n / 1000), (a - mt) / hz * 1000 / (n / 1000), rss0
		}' <<<"$m"
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	exec 7>&-
}
for ((r = 1; r <= runs; r++)); do
	fifo_run "$T/fifo$r" >>"$T/fifo.all"
	echo "run $r: $(tail -n1 "$T/fifo.all")" >&2
done
col() { cut -d' ' -f"$1" "$T/fifo.all" | median; }
echo "1. FIFO: $n Xid records pushed as fast as the agent reads them; $runs runs, medians (a fresh agent each run)"
echo
echo "| figure | median | runs |"
echo "|---|---|---|"
row() { echo "| $1 | $(col "$2") | $(cut -d' ' -f"$2" "$T/fifo.all" | paste -sd' ' | sed 's/ /, /g') |"; }
row "records arrived at the collector (of $n)" 1
row "records/s over the full batches of 512 (first arrival to the last full batch)" 13
row "records/s, first to last arrival (the last, partial batch waits the 1 s batch delay)" 2
row "records/s, first write to last arrival" 3
row "writer done after (s): the FIFO empties at the agent's reading pace" 4
row "agent CPU per 1000 records (ms), utime + stime" 5
row "... of which the main thread (reads, parses, events.jsonl, builds the records)" 14
row "... of which the other threads (the OTLP exporter: encode, gzip, disk queue, POST; the GPU worker)" 15
row "collector CPU per 1000 records (ms), OTLP/JSON to a file" 6
row "agent: kernel records read (the first one included)" 7
row "agent: events.jsonl lines" 8
row "agent: log records exported" 9
row "agent: log records dropped" 10
row "agent VmRSS before the burst (KiB)" 16
row "agent VmRSS after it (KiB)" 11
row "agent VmHWM (KiB)" 12
echo "collector (sink) VmHWM: $(status_kib "$SINK_PID" VmHWM) KiB"

# ---- 2. regular files, read at each tick: GPUTEL_KMSG=FILE, and the kern.log source ----
count_xid() { grep -o '"nvidia.xid.code"' "$1" 2>/dev/null | wc -l; }
# file_run DIR: an agent reading the kernel log its environment names, over FILE_SECONDS;
# prints "read/s arrived/s median-records-per-tick median-seconds-between-reads".
file_run() {
	local d=$1 r0 r1 c0 c1 t0 t1
	start_agent "$B/gputel" "$d" --control-socket "" --otlp-endpoint "$SINK_HTTP"
	sleep 1
	c0=$(count_xid "$T/sink/logs.json")
	r0=$(wc -l <"$d/out/events.jsonl" 2>/dev/null || echo 0)
	t0=$(date +%s.%N)
	sleep "$fsec"
	t1=$(date +%s.%N)
	r1=$(wc -l <"$d/out/events.jsonl")
	c1=$(count_xid "$T/sink/logs.json")
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	python3 - "$d/out/events.jsonl" "$r0" "$r1" "$c0" "$c1" "$t0" "$t1" <<'PY2'
import datetime, json, sys
path, r0, r1, c0, c1, t0, t1 = sys.argv[1], *map(float, sys.argv[2:])
# events.jsonl's "time" is when each line was written: the lines of one tick come together.
times = [datetime.datetime.fromisoformat(json.loads(l)["time"].replace("Z", "+00:00")).timestamp() for l in open(path)]
bursts, gaps, k = [], [], 1
for a, b in zip(times, times[1:]):
    if b - a < 0.05:
        k += 1
    else:
        bursts.append(k)
        gaps.append(b - a)
        k = 1
med = lambda v: sorted(v)[(len(v) - 1) // 2] if v else 0
print("%.0f %.0f %d %.2f" % ((r1 - r0) / (t1 - t0), (c1 - c0) / (t1 - t0), med(bursts), med(gaps)))
PY2
}
gen "$T/kmsg.file" 1 "$nf"
export GPUTEL_KMSG=$T/kmsg.file
read -r f_read f_arr f_burst f_gap <<<"$(file_run "$T/f1")"
# kern.log as rsyslog writes it: the source where /dev/kmsg and the journal cannot be read.
unset GPUTEL_KMSG
python3 - "$T/kern.log" "$nf" <<'PY2'
import sys, time
codes = [13, 31, 43, 45, 48, 63, 74, 94]
t = time.localtime()
stamp = "%s %2d %s" % (time.strftime("%b", t), t.tm_mday, time.strftime("%H:%M:%S", t))
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write("%s gpu-node-01 kernel: [%6d.%06d] NVRM: Xid (PCI:0000:%s:00): %d, pid=%d, name=python3, Graphics Exception: ESR 0x405040=0x%x\n"
                % (stamp, 1000 + i // 1000, i % 1000000, "18" if i % 2 else "28", codes[i % len(codes)], 2000 + i % 100, i))
PY2
export GPUTEL_KERNEL_LOG_SOURCES=kern.log GPUTEL_KERN_LOG=$T/kern.log
read -r k_read k_arr k_burst k_gap <<<"$(file_run "$T/f2")"
unset GPUTEL_KERNEL_LOG_SOURCES GPUTEL_KERN_LOG
echo
echo "2. Sources read at each tick (no descriptor to wait on), poll interval 1 s, $nf Xid records waiting, over $fsec s"
echo
echo "| source | records read/s | arriving at the collector/s | records per tick (median) | seconds between ticks that read (median) |"
echo "|---|---|---|---|---|"
echo "| GPUTEL_KMSG=FILE (record format) | $f_read | $f_arr | $f_burst | $f_gap |"
echo "| kern.log (GPUTEL_KERNEL_LOG_SOURCES=kern.log) | $k_read | $k_arr | $k_burst | $k_gap |"
echo
echo "load average (1 min) before $load_before, after $(load1)"
machine_line
