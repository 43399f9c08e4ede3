#!/bin/bash
# ThreadSanitizer over the threaded parts: the exporter's HTTP thread
# answering a burst of plain and gzip scrapes while the loop publishes a
# page every 50 ms; then the agent's GPU worker thread, through begins and
# ends that wait for fresh samples and a driver call that hangs.  Builds
# its own -fsanitize=thread copy of the tree.
. "$(dirname "$0")/lib.sh"

if ! make -s -C "$ROOT" BUILD="$T/tsan" SANITIZE=thread "$T/tsan/gputel" "$T/tsan/libnvidia-ml-sim.so" >"$T/build.log" 2>&1; then
	not_ok "thread-sanitizer build"
	tail -n 20 "$T/build.log" | sed 's/^/# /'
	exit 1
fi
use_sim 4 "$SCN/steady.scn" intel
export GPUTEL_NVML_LIBRARY="$T/tsan/libnvidia-ml-sim.so"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$T/tsan/gputel" exporter --bind 127.0.0.1 --port "$PORT" --interval 0.05 >"$T/tsan.log" 2>&1 &
EXP=$!
PIDS+=("$EXP")
for ((i = 0; i < 50; i++)); do curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics" && break; sleep 0.1; done
pids=()
for ((i = 0; i < 100; i++)); do
	curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics" &
	pids+=($!)
	curl -s -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT/metrics" &
	pids+=($!)
	curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" &
	pids+=($!)
done
wait "${pids[@]}"
kill -TERM "$EXP"
wait "$EXP"
rc=$?
check "tsan: the exporter exits 0 after the burst" test "$rc" -eq 0
check "tsan: no data race reported" test "$(grep -c 'WARNING: ThreadSanitizer' "$T/tsan.log")" -eq 0
check "tsan: the requests were served" grep -qE 'http: [1-9][0-9]{2,} requests served' "$T/tsan.log"
grep -A 15 'WARNING: ThreadSanitizer' "$T/tsan.log" | head -n 30 | sed 's/^/# /'

# The agent: the GPU worker samples while the loop serves allocations, then a
# call hangs; meanwhile the OTLP exporter's thread sends each ended
# allocation's span while /metrics reads its counters.
cat >"$T/hang.scn" <<'SCN'
gpus 2
at 0 all util=3 power_w=80
at 4 0 latency_ms=30000
SCN
use_sim 2 "$T/hang.scn" intel
export GPUTEL_NVML_LIBRARY="$T/tsan/libnvidia-ml-sim.so"
mkdir -p "$T/run" "$T/state" "$T/out"
SOCK="$T/run/control.sock"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/stub"
python3 "$ROOT/tests/tools/otlp_stub.py" --dir "$T/stub" --max-seconds 60 &
PIDS+=("$!")
for ((i = 0; i < 50; i++)); do [ -s "$T/stub/port" ] && break; sleep 0.1; done
"$T/tsan/gputel" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$SOCK" \
	--exporter-bind 127.0.0.1 --exporter-port "$PORT" --poll-interval 0.05 --idle-sample-seconds 0.5 \
	--otlp-endpoint "http://127.0.0.1:$(cat "$T/stub/port")" >"$T/agent.log" 2>&1 &
AG=$!
PIDS+=("$AG")
control_ready "$SOCK" 100
n=0
for ((i = 0; i < 40; i++)); do
	curl -s --unix-socket "$SOCK" -o /dev/null -X POST -d '{"id": "t'$i'"}' http://x/v1/allocations &&
		curl -s --unix-socket "$SOCK" -o /dev/null -X DELETE "http://x/v1/allocations/t$i" && n=$((n + 1))
	curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics"
	sleep 0.15
done
kill -TERM "$AG"
wait "$AG"
rc=$?
check "tsan: the agent exits 0 after allocations and a hang" test "$rc" -eq 0
check "tsan: $n of 40 begin+end pairs answered" test "$n" -eq 40
check "tsan: the agent saw the hang" grep -q 'driver has not answered' "$T/agent.log"
check "tsan: the allocations' spans were sent by the exporter's thread" grep -q '"/v1/traces"' "$T/stub/requests.jsonl"
check "tsan: no data race in the agent" test "$(grep -c 'WARNING: ThreadSanitizer' "$T/agent.log")" -eq 0
grep -A 15 'WARNING: ThreadSanitizer' "$T/agent.log" | head -n 30 | sed 's/^/# /'
finish
