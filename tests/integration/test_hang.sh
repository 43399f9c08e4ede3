#!/bin/bash
# A driver call that hangs (a GSP timeout, Xid 119): GPU sampling is off the
# loop's thread, so while every call on GPU 0 takes 30 s the agent keeps
# serving /metrics, the control socket and SIGTERM; its ticks go on with
# the GPUs marked stale and their values empty (never the old ones, never
# 0), /healthz turns 503, and sampling resumes when the driver answers.
. "$(dirname "$0")/lib.sh"

SOCK="$T/run/control.sock"
mkdir -p "$T/run" "$T/state" "$T/out"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"

start_agent() {
	export GPUTEL_SIM_EPOCH=$(date +%s.%N)
	"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$SOCK" \
		--exporter-bind 127.0.0.1 --exporter-port "$PORT" --poll-interval 0.5 --stop-seconds 30 \
		>"$1" 2>&1 &
	AG=$!
	PIDS+=("$AG")
	control_ready "$SOCK"
}
# rtt METHOD PATH [BODY]: "HTTP-code seconds" of one request on the control socket.
rtt() {
	curl -s --unix-socket "$SOCK" -X "$1" ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
		-o /dev/null -w '%{http_code} %{time_total}' "http://x$2"
}
below() { awk -v x="$1" -v lim="$2" 'BEGIN { exit !(x < lim) }'; }

# ---- a hang that outlasts the test: every call on GPU 0 takes 30 s from t=3 ----
cat >"$T/hang.scn" <<'SCN'
gpus 2
at 0 all util=3 power_w=80
at 3 0 latency_ms=30000
SCN
use_sim 2 "$T/hang.scn" intel
check "the agent starts" start_agent "$T/hang.log"
r=$(rtt POST /v1/allocations '{"id": "before", "gpus": [1]}')
check "before the hang, a begin answers 201" test "${r%% *}" = 201
sleep 6
# The driver has been silent since t=3: the hang is seen after 1 s, /healthz after 3 s.
check "the hang is logged once" test "$(grep -c 'driver has not answered' "$T/hang.log")" -eq 1
worst=0
for i in 1 2 3 4 5; do
	b=$(rtt POST /v1/allocations '{"id": "during-'$i'", "gpus": [1], "owner": "test"}')
	e=$(rtt DELETE "/v1/allocations/during-$i")
	[ "${b%% *}" = 201 ] && [ "${e%% *}" = 200 ] || worst=99
	for t in "${b#* }" "${e#* }"; do below "$t" "$worst" || worst=$t; done
done
check "during the hang, begin and end answer 201/200 within 50 ms (worst $worst s)" below "$worst" 0.05
m=$(curl -s -m 2 -w '\n%{time_total}' "$URL/metrics")
check "during the hang, /metrics answers at once ($(tail -n1 <<<"$m") s)" below "$(tail -n1 <<<"$m")" 0.5
check "during the hang, both GPUs are down in gputel_gpu_up" test "$(grep -c '^gputel_gpu_up{.*} 0$' <<<"$m")" -eq 2
check "during the hang, no GPU power is served (never the old value, never 0)" bash -c "! grep -q '^gputel_gpu_power_watts{' <<<\"\$1\"" _ "$m"
check "during the hang, the host is still sampled" grep -q '^gputel_host_temperature_celsius{role="cpu_pkg"}' <<<"$m"
check "during the hang, /healthz is 503" test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 503
st=$(curl -s "$URL/status")
check "during the hang, /status counts 2 stale GPUs and ticks go on" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["gpus_stale"] == 2 and d["gpus_up"] == 0 and d["seq"] >= 11, d' "$st"
f=$(csv_in "$T/out")
check "the CSV rows of the hang say stale, with empty GPU cells and host cells filled" python3 - "$f" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["gpu_status"] == "stale"]
assert len(rows) >= 8, len(rows)
assert all(r["power_draw_w"] == "" and r["util_gpu_percent"] == "" for r in rows)
assert all(r["cpu_pkg_temp_c"] != "" for r in rows)
PY
t0=$(date +%s%N)
kill -TERM "$AG"
wait "$AG"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "SIGTERM during the hang stops the agent within 2 s (${ms} ms, rc $rc)" test "$ms" -lt 2000 -a "$rc" -eq 0
check "the exit says the driver call is left running" grep -q 'driver call is still running' "$T/hang.log"
check "the live allocation is saved for the next start" grep -q '"before"' "$T/state/allocations.json"

# ---- a hang that ends: calls between t=3 and t=3.2 take 2.5 s ----
rm -f "$T/state/allocations.json" "$T/out"/*
cat >"$T/blip.scn" <<'SCN'
gpus 2
at 0 all util=3 power_w=80
at 3 0 latency_ms=2500
at 3.2 0 latency_ms=0
SCN
use_sim 2 "$T/blip.scn" intel
check "the agent starts again" start_agent "$T/blip.log"
sleep 8
m=$(curl -s "$URL/metrics")
check "after the hang ends, sampling resumes (power served again)" grep -q '^gputel_gpu_power_watts{gpu="0".*} 80.000$' <<<"$m"
check "after the hang ends, /healthz is 200" test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200
check "the recovery is logged" grep -q 'driver answered again after' "$T/blip.log"
kill -TERM "$AG"
wait "$AG"
check "then it stops cleanly" test $? -eq 0
finish
