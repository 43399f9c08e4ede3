#!/bin/bash
# The agent's footprint with OTLP export off and on, and the collector it
# replaces, side by side in each run: four processes started together,
# watching 8 simulated idle GPUs (1 % utilisation, 1 s polling, the Intel
# host fixture, a control socket as installed, an empty kernel log):
#   prev       gputel agent of PREV_REV (default d8ce0bb, before OTLP), built
#              in a temp git worktree (removed at exit) unless PREV_BIN names
#              a built binary;
#   off        this tree's agent, no endpoint;
#   on         this tree's agent, --otlp-endpoint a running collector (the
#              sink); no events, so nothing is sent (libcurl is not loaded
#              until the first send);
#   sent       the same, after it has sent one allocation's span (libcurl
#              and its TLS library loaded);
#   guide      the guide's node collector (bench/otelcol-guide-node.yaml:
#              filelog on a kern.log, regex parsing, memory_limiter,
#              resource, batch, an OTLP exporter to the same sink), after it
#              has read GUIDE_LINES NVRM Xid lines appended to its kern.log.
# After 5 s of start-up (and the guide's lines delivered), CPU over IDLE
# seconds (schedstat of every thread: ns, not clock ticks) as % of one core,
# then VmRSS, VmHWM and its two parts RssAnon (the process's own memory) and
# RssFile (mapped binaries and libraries).  RUNS runs, medians.
# Usage: bench/otlp_footprint.sh [IDLE_SECONDS] [RUNS] [GUIDE_LINES]
. "$(dirname "$0")/otlp_lib.sh"
idle=${1:-45}
runs=${2:-3}
glines=${3:-1000}
prev_rev=${PREV_REV:-d8ce0bb}

if [ -z "${PREV_BIN:-}" ]; then
	echo "building $prev_rev in a temp worktree (PREV_BIN=BINARY skips this)..." >&2
	git worktree add --detach "$T/prev" "$prev_rev" >"$T/prev-build.log" 2>&1 || {
		cat "$T/prev-build.log" >&2
		exit 1
	}
	BENCH_WORKTREE=$T/prev
	make -C "$T/prev" -j2 BUILD=build >>"$T/prev-build.log" 2>&1 || {
		tail -n 20 "$T/prev-build.log" >&2
		exit 1
	}
	PREV_BIN=$T/prev/build/gputel
fi
prev_desc=$(git rev-parse --short "$prev_rev" 2>/dev/null || echo "$PREV_BIN")

load_before=$(load1)
start_sink "$T/sink"
cat >"$T/idle.scn" <<'SCN'
gpus 8
at 0 all util=1 power_w=60 temp_c=30
SCN
SIM_SCENARIO=$T/idle.scn
# The guide's node.env, plus what the benchmark places (bench/otelcol-guide-node.yaml).
# HOSTNAME: the config upserts host.id from it and the collector refuses to
# start with it empty (as under systemd, which does not set it).
export OTEL_MEMORY_LIMIT_MIB=512 OTEL_SERVICE_NAME=justnews-node DEPLOYMENT_ENVIRONMENT=dev \
	OTEL_UPSTREAM_ENDPOINT=$SINK_HTTP OTEL_UPSTREAM_INSECURE=true OTEL_UPSTREAM_AUTH='' OTEL_LOG_LEVEL=info \
	HOSTNAME=$(hostname)
guide_records() { grep -o '"log.file.name"' "$T/sink/logs.json" 2>/dev/null | wc -l; }

for ((r = 1; r <= runs; r++)); do
	R=$T/run$r
	mkdir -p "$R/log"
	agent_env "$R" 8
	# The sink's endpoint is only for "on": the others see no OTLP setting at all.
	start_agent "$PREV_BIN" "$R/prev" --control-socket "$R/prev/c.sock"
	p_prev=$AGENT_PID
	start_agent "$B/gputel" "$R/off" --control-socket "$R/off/c.sock"
	p_off=$AGENT_PID
	start_agent "$B/gputel" "$R/on" --control-socket "$R/on/c.sock" --otlp-endpoint "$SINK_HTTP"
	p_on=$AGENT_PID
	start_agent "$B/gputel" "$R/sent" --control-socket "$R/sent/c.sock" --otlp-endpoint "$SINK_HTTP"
	p_sent=$AGENT_PID
	"$B/gputel" alloc begin bench-span --socket "$R/sent/c.sock" >/dev/null &&
		"$B/gputel" alloc end bench-span --socket "$R/sent/c.sock" >/dev/null ||
		{ echo "bench: no allocation on the 'sent' agent" >&2; exit 1; }
	: >"$R/log/kern.log"
	GUIDE_OTLP_GRPC=127.0.0.1:$(free_port) GUIDE_OTLP_HTTP=127.0.0.1:$(free_port) GUIDE_LOG_DIR=$R/log \
		GUIDE_METRICS_PORT=$(free_port) "$OTELCOL" --config bench/otelcol-guide-node.yaml >"$R/guide.log" 2>&1 &
	p_guide=$!
	PIDS+=("$p_guide")
	sleep 5
	kill -0 "$p_guide" 2>/dev/null || { echo "bench: the guide's collector did not start:" >&2; tail -n 5 "$R/guide.log" >&2; exit 1; }
	grep -q "otlp: logs go to" "$R/on/agent.log" || { echo "bench: the 'on' agent does not export" >&2; exit 1; }
	[ "$(metric "$AGENT_METRICS" 'gputel_otlp_exported_total{signal="traces"}')" -ge 1 ] ||
		{ echo "bench: the 'sent' agent has not exported its span" >&2; exit 1; }
	guide_rss_before=$(status_kib "$p_guide" VmRSS)
	# The guide's job: NVRM Xid lines in kern.log, as rsyslog writes them; wait for them at the sink (5 s batch).
	g0=$(guide_records)
	python3 - "$R/log/kern.log" "$glines" <<'PY'
import sys, time
path, n = sys.argv[1], int(sys.argv[2])
codes = [13, 31, 43, 45, 48, 63, 74, 94]
with open(path, "a") as f:
    for i in range(n):
        t = time.localtime()
        f.write("%s %2d %s gpu-node-01 kernel: [%6d.%06d] NVRM: Xid (PCI:0000:%s:00): %d, pid=%d, name=python3, Graphics Exception: ESR 0x405040=0x%x\n"
                % (time.strftime("%b", t), t.tm_mday, time.strftime("%H:%M:%S", t), 1000 + i, i,
                   "18" if i % 2 else "28", codes[i % len(codes)], 2000 + i % 100, i))
PY
	for ((i = 0; i < 200; i++)); do [ $(($(guide_records) - g0)) -ge "$glines" ] && break; sleep 0.1; done
	gdone=$(($(guide_records) - g0))
	for p in $p_prev $p_off $p_on $p_sent $p_guide; do echo "$p $(cpu_ns "$p")"; done >"$R/cpu0"
	sleep "$idle"
	for p in $p_prev $p_off $p_on $p_sent $p_guide; do echo "$p $(cpu_ns "$p")"; done >"$R/cpu1"
	for name in prev off on sent guide; do
		eval p=\$p_$name
		c0=$(awk -v p="$p" '$1 == p { print $2 }' "$R/cpu0")
		c1=$(awk -v p="$p" '$1 == p { print $2 }' "$R/cpu1")
		echo "$name $(awk -v a="$c0" -v b="$c1" -v s="$idle" 'BEGIN { printf "%.4f", (b - a) / 1e9 / s * 100 }') $(status_kib "$p" VmRSS) $(status_kib "$p" VmHWM)" \
			"$(status_kib "$p" RssAnon) $(status_kib "$p" RssFile)"
	done >"$R/figures"
	echo "guide_before $guide_rss_before $gdone" >>"$R/figures"
	echo "run $r: $(tr '\n' ' ' <"$R/figures")" >&2
	for p in $p_prev $p_off $p_on $p_sent $p_guide; do kill "$p" 2>/dev/null; done
	for p in $p_prev $p_off $p_on $p_sent $p_guide; do wait "$p" 2>/dev/null; done
done

cat "$T"/run*/figures >"$T/all"
med() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$T/all" | median; }
echo "8 simulated idle GPUs, 1 s polling, control socket on; $runs runs of ${idle} s idle, all four processes side by side in each run; medians"
echo
echo "| process | CPU idle (% of one core) | VmRSS (KiB) | VmHWM (KiB) | RssAnon / RssFile (KiB) |"
echo "|---|---|---|---|---|"
row() { echo "| $2 | $(med "$1" 2) | $(med "$1" 3) | $(med "$1" 4) | $(med "$1" 5) / $(med "$1" 6) |"; }
row prev "gputel agent $prev_desc (before OTLP)"
row off "gputel agent, export off"
row on "gputel agent, export on, nothing sent yet (libcurl not loaded)"
row sent "gputel agent, export on, after its first export (libcurl loaded)"
row guide "the guide's node collector, after $glines kern.log lines"
echo
awk -v pr="$(med prev 3)" -v off="$(med off 3)" -v on="$(med sent 3)" -v g="$(med guide 3)" -v gb="$(med guide_before 2)" -v gl="$(med guide_before 3)" -v n="$glines" 'BEGIN {
	printf "RSS: off / %s %+.1f %%; on (after a send) / off %+.1f %% (%+d KiB); guide collector / gputel on %.1fx (%d KiB more)\n", "prev", (off / pr - 1) * 100, (on / off - 1) * 100, on - off, g / on, g - on
	printf "the guide collector before its kern.log lines: VmRSS %d KiB; lines delivered to the sink: %d of %d (median)\n", gb, gl, n
}'
echo
echo "load average (1 min) before $load_before, after $(load1)"
machine_line
