#!/bin/bash
# SIGHUP reloads the agent's configuration: new thresholds apply with the
# activity state kept, a broken file keeps the previous configuration and
# says why, a key that needs a restart is kept with a warning, and the
# poll interval changes on the fly.
. "$(dirname "$0")/lib.sh"

cat >"$T/load.scn" <<'SCN'
gpus 1
at 0 all util=50 power_w=300
SCN
use_sim 1 "$T/load.scn" intel
mkdir -p "$T/out"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
conf="$T/agent.conf"
printf 'JN_START_UTIL=90\nJN_START_SECONDS=0.5\nJN_STOP_UTIL=10\nJN_STOP_SECONDS=0.5\nJN_POLL_INTERVAL=0.1\n' >"$conf"
"$GPUTEL" agent --config "$conf" --out-dir "$T/out" --exporter-bind 127.0.0.1 --exporter-port "$PORT" \
	>"$T/agent.log" 2>&1 &
AG=$!
PIDS+=("$AG")
active() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '$1 == "gputel_telemetry_active" { print $2 }'; }
ticks() { curl -s "http://127.0.0.1:$PORT/status" | python3 -c 'import json, sys; print(json.load(sys.stdin)["seq"])'; }
sleep 1.5
check "at 50 % with start-util 90 the agent stays idle" test "$(active)" = 0

# Lower the start threshold: the next samples turn it active.
sed -i 's/JN_START_UTIL=90/JN_START_UTIL=30/' "$conf"
kill -HUP "$AG"
sleep 1.5
check "after SIGHUP with start-util 30 it turns active" test "$(active)" = 1
check "the reload names what changed" grep -q 'reload: JN_START_UTIL 90 -> 30' "$T/agent.log"

# A broken file: the previous configuration stays, the state too.
sed -i 's/JN_START_UTIL=30/JN_START_UTIL=abc/' "$conf"
kill -HUP "$AG"
sleep 0.5
check "a broken file is reported with FILE:LINE" grep -q "$conf:1: JN_START_UTIL: 'abc'" "$T/agent.log"
check "and the previous configuration is kept" grep -q 'keeping the previous one' "$T/agent.log"
check "the agent is still active after the failed reload" test "$(active)" = 1

# A key that needs a restart is kept, with a warning; the poll interval
# changes live.  (A key also given as a flag, like --exporter-port, does not
# change at all: flags win over the file.)
printf 'JN_START_UTIL=30\nJN_START_SECONDS=0.5\nJN_STOP_UTIL=10\nJN_STOP_SECONDS=0.5\nJN_POLL_INTERVAL=0.5\nJN_GPUS=0\n' >"$conf"
kill -HUP "$AG"
sleep 0.5
check "a changed JN_GPUS needs a restart and is kept" grep -q 'JN_GPUS changed (all -> 0) but needs a restart; keeping all' "$T/agent.log"
check "the exporter still answers on its port" test "$(active)" = 1
s1=$(ticks)
sleep 2
s2=$(ticks)
check "the new poll interval (0.5 s) applies: $((s2 - s1)) ticks in 2 s" test $((s2 - s1)) -ge 3 -a $((s2 - s1)) -le 5
kill -TERM "$AG"
wait "$AG"
check "the agent exits 0 after the reloads" test $? -eq 0
finish
