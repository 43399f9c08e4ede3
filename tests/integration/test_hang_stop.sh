#!/bin/bash
# SIGTERM and SIGINT stop `gputel collect` and `gputel gpus` (and SIGTERM the
# agent) within 2 s while
# every driver call hangs: while the driver is still starting (the GPUs'
# identities are read at start), and while it hangs in the middle of a run.
# Each stop says why on one line, and collect's rows already written stay
# whole.  (issue 11: collect ignored SIGTERM for over 64 s with 3 s calls.)
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/out"
# Every call on every GPU takes 3 s from the start: listing the GPUs at start hangs.
printf 'gpus 2\nat 0 all util=3 power_w=80 latency_ms=3000\n' >"$T/slow-from-start.scn"
# Sampling works for 3 s, then every call takes 3 s.
printf 'gpus 2\nat 0 all util=3 power_w=80\nat 3 all latency_ms=3000\n' >"$T/slow-from-3s.scn"
# A driver that blocks for 30 s from t=0.2: gputel gpus has opened it and hangs in its samples.
printf 'gpus 2\nat 0 all util=3 power_w=80\nat 0.2 all latency_ms=30000\n' >"$T/blocks.scn"

# stop_after SECONDS SIGNAL LOG CMD...: runs CMD, sends SIGNAL after SECONDS; sets RC and MS
# (milliseconds from the signal to the exit).  A process still alive 10 s later is killed (RC 137).
stop_after() {
	local delay=$1 sig=$2 log=$3 pid t0 i
	shift 3
	export GPUTEL_SIM_EPOCH=$(date +%s.%N)
	"$@" >"$log.out" 2>"$log" &
	pid=$!
	PIDS+=("$pid")
	sleep "$delay"
	t0=$(date +%s%N)
	kill "-$sig" "$pid"
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	RC=$?
	MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
lines() { wc -l <"$1"; }

use_sim 2 "$T/slow-from-start.scn" intel
for sig in TERM INT; do
	stop_after 1 "$sig" "$T/gpus-start-$sig.log" "$GPUTEL" gpus
	check "gpus: SIG$sig while the driver is starting stops it within 2 s (${MS} ms, rc $RC)" \
		test "$MS" -lt 2000 -a "$RC" -eq 1
	check "gpus: ... with one line saying why" \
		bash -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -q "gpus: stopped by SIG$2 while the gpu driver was still starting" "$1"' \
		_ "$T/gpus-start-$sig.log" "$sig"

	rm -f "$T/out"/*
	stop_after 1 "$sig" "$T/collect-start-$sig.log" "$GPUTEL" collect --out-dir "$T/out" --interval 0.5
	check "collect: SIG$sig while the driver is starting stops it within 2 s (${MS} ms, rc $RC)" \
		test "$MS" -lt 2000 -a "$RC" -eq 0
	check "collect: ... with one line saying why, and no file" \
		bash -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -q "collect: stopped by SIG$2 while the gpu driver was still starting.*no rows written" "$1" && [ -z "$(ls "$3")" ]' \
		_ "$T/collect-start-$sig.log" "$sig" "$T/out"
done

# The agent too (systemd's stop must not wait out a driver that never answers).
mkdir -p "$T/st"
stop_after 1 TERM "$T/agent-start.log" "$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/st" \
	--control-socket "$T/c.sock" --exporter-bind 127.0.0.1 --exporter-port "$(free_port)"
check "agent: SIGTERM while the driver is starting stops it within 2 s (${MS} ms, rc $RC)" \
	test "$MS" -lt 2000 -a "$RC" -eq 0
check "agent: ... with a line saying why" grep -q "agent: stopped by SIGTERM while the gpu driver was still starting" "$T/agent-start.log"

# And the standalone exporter.
stop_after 1 TERM "$T/exporter-start.log" "$GPUTEL" exporter --config /dev/null --bind 127.0.0.1 --port "$(free_port)"
check "exporter: SIGTERM while the driver is starting stops it within 2 s (${MS} ms, rc $RC)" \
	test "$MS" -lt 2000 -a "$RC" -eq 0
check "exporter: ... with a line saying why" grep -q "exporter: stopped by SIGTERM while the gpu driver was still starting" "$T/exporter-start.log"

# A start that takes long is explained while it lasts.
stop_after 6 TERM "$T/gpus-slow-start.log" "$GPUTEL" gpus
check "gpus: a start that hangs for 5 s says so, and SIGTERM still stops it (${MS} ms)" \
	bash -c '[ "$2" -lt 2000 ] && grep -q "driver has not finished starting after 5 s" "$1"' _ "$T/gpus-slow-start.log" "$MS"

use_sim 2 "$T/slow-from-3s.scn" intel
for sig in TERM INT; do
	rm -f "$T/out"/*
	stop_after 5.5 "$sig" "$T/collect-mid-$sig.log" "$GPUTEL" collect --out-dir "$T/out" --interval 0.5
	check "collect: SIG$sig while every call takes 3 s stops it within 2 s (${MS} ms, rc $RC)" \
		test "$MS" -lt 2000 -a "$RC" -eq 0
	check "collect: ... with its closing line" grep -q 'collect: stopped after' "$T/collect-mid-$sig.log"
	f=$(csv_in "$T/out")
	check "collect: the rows written before the hang are all there and whole" python3 - "$f" <<'PY'
import csv, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "the last row is cut"
rows = list(csv.reader(text.splitlines()))
head, data = rows[0], rows[1:]
assert all(len(r) == len(head) for r in data), "a torn row"
d = [dict(zip(head, r)) for r in data]
up = [r for r in d if r["gpu_status"] == "up"]
assert len(up) >= 8 and all(r["power_draw_w"] == "80.00" for r in up), len(up)
PY
done

# gputel gpus hanging in its samples rather than at start.
use_sim 2 "$T/blocks.scn" intel
stop_after 1.5 TERM "$T/gpus-blocks.log" "$GPUTEL" gpus
check "gpus: SIGTERM while a driver call blocks for 30 s stops it within 2 s (${MS} ms, rc $RC)" \
	test "$MS" -lt 2000 -a "$RC" -eq 1
# Under heavy load the start itself can reach t=0.2: then the start's line is the right one.
check "gpus: ... with one line saying why" \
	bash -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -Eq "gpus: stopped by SIGTERM while (waiting for the gpu driver|the gpu driver was still starting)" "$1"' \
	_ "$T/gpus-blocks.log"

# Without a signal, gputel gpus gives up on a hung driver after 10 s, saying so.
export GPUTEL_SIM_EPOCH=$(date +%s.%N)
t0=$(date +%s%N)
timeout -s KILL 30 "$GPUTEL" gpus >"$T/gpus-timeout.out" 2>"$T/gpus-timeout.log"
rc=$?
s=$(( ($(date +%s%N) - t0) / 1000000000 ))
check "gpus: a driver call that blocks for 30 s is given up after about 10 s (${s} s, rc $rc)" \
	test "$s" -ge 9 -a "$s" -le 15 -a "$rc" -eq 1
check "gpus: ... with one line naming the hang and what to do" \
	bash -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -q "gpus: the gpu driver has not answered for 10 s (a hung driver call.*check dmesg" "$1"' \
	_ "$T/gpus-timeout.log"
finish
