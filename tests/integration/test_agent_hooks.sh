#!/bin/bash
# The agent's hooks and its systemd notifications: --on-start/--on-stop run
# without a shell with the event in their environment, a hook that hangs
# never delays sampling and is stopped at exit; READY=1, WATCHDOG=1 and
# STOPPING=1 arrive on a NOTIFY_SOCKET the test listens on.
. "$(dirname "$0")/lib.sh"

cat >"$T/spike.scn" <<'SCN'
gpus 1
at 0 all util=3
at 1 all util=90
at 3 all util=2
SCN
use_sim 1 "$T/spike.scn" intel
mkdir -p "$T/out"
cat >"$T/hook.sh" <<'SH'
#!/bin/sh
# Records its arguments and the event it was given.
{ echo "args: $*"; env | grep '^GPUTEL_EVENT\|^GPUTEL_UTIL\|^GPUTEL_CSV' | sort; echo --; } >>"$HOOK_LOG"
SH
cat >"$T/hang.sh" <<'SH'
#!/bin/sh
echo $$ >"$HANG_PID"
exec sleep 600
SH
chmod +x "$T/hook.sh" "$T/hang.sh"
export HOOK_LOG="$T/hooks.log" HANG_PID="$T/hang.pid"

# A datagram socket standing in for systemd's.
python3 - "$T/notify.sock" "$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w") as log:
    while True:
        msg = s.recv(4096).decode()
        log.write(msg.replace("\n", " | ") + "\n")
        log.flush()
        if "STOPPING=1" in msg:
            break
PY
PIDS+=("$!")
for ((i = 0; i < 50; i++)); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export GPUTEL_SIM_EPOCH=$(date +%s.%N)
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=300000 \
	"$GPUTEL" agent --start-util 20 --start-seconds 0.5 --stop-util 10 --stop-seconds 0.5 \
	--poll-interval 0.1 --out-dir "$T/out" --exporter-bind 127.0.0.1 --exporter-port "$PORT" \
	--exporter-mode active --duration 5 \
	--on-start "$T/hook.sh 'started now' second" --on-stop "$T/hang.sh" >"$T/agent.log" 2>&1
rc=$?
check "the agent exits 0" test "$rc" -eq 0
check "the start hook ran once with its two quoted arguments" test "$(grep -c '^args: started now second$' "$T/hooks.log")" -eq 1
check "the start hook saw GPUTEL_EVENT=start" grep -qx 'GPUTEL_EVENT=start' "$T/hooks.log"
check "the start hook saw the utilisation that decided it" grep -qx 'GPUTEL_UTIL_PERCENT=90.00' "$T/hooks.log"
check "the start hook saw the period's CSV file" grep -qE "^GPUTEL_CSV=$T/out/gpu_telemetry_[0-9T]+Z\.csv$" "$T/hooks.log"
check "the hanging stop hook started" test -s "$T/hang.pid"
check "it did not delay sampling: every tick ran (50 ticks, none skipped)" grep -q "stopped after 50 ticks" "$T/agent.log"
check "it was stopped when the agent exited" bash -c "! kill -0 \$(cat '$T/hang.pid') 2>/dev/null"
wait_for "$T/notify.log" "STOPPING=1" 5
check "systemd got READY=1 first" test "$(head -n1 "$T/notify.log" | grep -c 'READY=1')" -eq 1
check "systemd got WATCHDOG=1 pings (every half period)" test "$(grep -c 'WATCHDOG=1' "$T/notify.log")" -ge 10
check "systemd got the state in STATUS=" grep -q 'STATUS=telemetry on' "$T/notify.log"
check "systemd got STOPPING=1 last" test "$(tail -n1 "$T/notify.log")" = "STOPPING=1"

finish
