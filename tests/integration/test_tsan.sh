#!/bin/bash
# ThreadSanitizer over the threaded part: the exporter's HTTP thread
# answering a burst of plain and gzip scrapes while the loop publishes a
# page every 50 ms.  Builds its own -fsanitize=thread copy of the tree.
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
check "tsan: the requests were served" grep -qE 'stopped after [0-9]+ ticks, [1-9][0-9]{2,} requests' "$T/tsan.log"
grep -A 15 'WARNING: ThreadSanitizer' "$T/tsan.log" | head -n 30 | sed 's/^/# /'
finish
