#!/bin/bash
# Each GPU's health: a fatal Xid in the kernel log makes its GPU unhealthy
# and leaves the others healthy, on /metrics (gputel_gpu_health, one series
# per state), in /status and /v1/status, in gputel gpus and gputel health
# show, and as a failing doctor check; an application's Xid changes
# nothing.  dcgm's DCGM_FI_DEV_XID_ERRORS is the last code.  The state
# survives a restart of the same boot (saved, not read again from the
# kernel log); gputel health clear forgets it, refused to a user outside
# the socket's group and for a GPU the node does not have; a reset of the
# GPU (lost, then back) clears it; a new boot forgets it.
. "$(dirname "$0")/lib.sh"

SOCK="$T/run/control.sock"
mkdir -p "$T/run" "$T/state" "$T/out"
use_sim 2 "$SCN/steady.scn" intel
# A procfs root of our own, so that the test decides the boot id.
mkdir -p "$T/proc/sys/kernel/random"
cp "$FIX/intel/proc/stat" "$FIX/intel/proc/meminfo" "$T/proc/"
BOOT1=11111111-2222-3333-4444-555555555555
echo "$BOOT1" >"$T/proc/sys/kernel/random/boot_id"
export GPUTEL_PROCFS_ROOT="$T/proc"
export GPUTEL_KMSG="$T/kmsg"
EVENTS="$T/out/events.jsonl"
PORT=$(free_port)
# Kernel records stamped now, on CLOCK_MONOTONIC as the kernel stamps them.
now_us() { python3 -c 'import time; print(int(time.monotonic() * 1e6))'; }
# An application's Xid on gpu 0 (0000:18:00), a fatal one on gpu 1 (0000:28:00).
{
	printf '6,1,%s,-;NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15\n' "$(now_us)"
	printf '3,2,%s,-;NVRM: Xid (PCI:0000:18:00): 13, pid=2413, name=python3, Graphics Exception: ESR 0x405040=0x1\n' "$(now_us)"
	printf "3,3,%s,-;NVRM: Xid (PCI:0000:28:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n" "$(now_us)"
} >"$T/kmsg"

start_agent() {
	"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$SOCK" \
		--exporter-bind 127.0.0.1 --exporter-port "$PORT" --poll-interval 0.1 --metric-names gputel,dcgm \
		>>"$T/agent.log" 2>&1 &
	AG=$!
	PIDS+=("$AG")
	control_ready "$SOCK"
}
stop_agent() {
	kill "$AG" 2>/dev/null
	wait "$AG" 2>/dev/null
}
scrape() { curl -s "http://127.0.0.1:$PORT/metrics" >"$T/m.txt"; }
# health GPU STATE: the value of gputel_gpu_health for that GPU and state, in the last scrape.
health() { grep -E "^gputel_gpu_health\{gpu=\"$1\",.*,state=\"$2\"\}" "$T/m.txt" | awk '{ print $NF }'; }
# wait_health GPU STATE: up to 5 s for the GPU to be in that state.
wait_health() {
	local i
	for ((i = 0; i < 50; i++)); do
		scrape
		[ "$(health "$1" "$2")" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}
# ---- a fatal Xid on gpu 1 ----
check "the agent starts" start_agent
check "the fatal Xid 79 makes gpu 1 unhealthy" wait_health 1 unhealthy
check "... and only that state: gpu 1 is neither healthy nor degraded" \
	test "$(health 1 healthy)$(health 1 degraded)" = 00
check "gpu 0, with only an application's Xid 13, is healthy" \
	test "$(health 0 healthy)$(health 0 degraded)$(health 0 unhealthy)" = 100
check "all three states are served for each GPU, with the GPU's labels" \
	test "$(grep -cE '^gputel_gpu_health\{gpu="[01]",uuid="GPU-[0-9a-f-]+",pci_bus_id="[0-9A-F:.]+",name="NVIDIA H100 80GB HBM3",state="(healthy|degraded|unhealthy)"\} [01]$' "$T/m.txt")" -eq 6
check "the family says what its values mean" grep -q '^# HELP gputel_gpu_health .*1 for the GPU.s current state and 0 for the others' "$T/m.txt"
grep -E '^(# (HELP|TYPE) )?gputel_gpu_health' "$T/m.txt" | promtool check metrics >"$T/lint" 2>&1
check "promtool finds nothing wrong with gputel_gpu_health" bash -c "[ ! -s '$T/lint' ]"
check "dcgm's DCGM_FI_DEV_XID_ERRORS is the last Xid: 79 on gpu 1, 13 on gpu 0" \
	bash -c "grep -qE '^DCGM_FI_DEV_XID_ERRORS\{gpu=\"1\",UUID=\"GPU-.*\"\} 79$' '$T/m.txt' && grep -qE '^DCGM_FI_DEV_XID_ERRORS\{gpu=\"0\",.*\} 13$' '$T/m.txt'"

curl -s "http://127.0.0.1:$PORT/status" >"$T/status.json"
curl -s --unix-socket "$SOCK" http://x/v1/status >"$T/v1status.json"
for f in status v1status; do
	check "$f gives each GPU's state, and gpu 1's reason: the Xid, its time and the action" python3 - "$T/$f.json" <<'PY'
import json, re, sys
h = {g["gpu"]: g for g in json.load(open(sys.argv[1]))["health"]}
assert h[1]["state"] == "unhealthy", h
assert re.fullmatch(r"Xid 79 \(the GPU has fallen off the bus\) at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; "
                    r"action: drain the node and reboot it", h[1]["reason"]), h[1]["reason"]
assert h[1]["since"].endswith("Z") and h[1]["uuid"].startswith("GPU-") and h[1]["pci_bus_id"], h
assert h[0]["state"] == "healthy" and h[0]["reason"] is None, h
PY
done

"$GPUTEL" gpus --json --socket "$SOCK" >"$T/gpus.json" 2>"$T/gpus.err"
check "gputel gpus --json has each GPU's health, from the agent" python3 - "$T/gpus.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
h = {g["index"]: g["health"] for g in d["gpus"]}
assert h[1]["state"] == "unhealthy" and h[1]["from"] == "agent", h
assert h[1]["reason"].startswith("Xid 79 (the GPU has fallen off the bus) at "), h
assert h[0]["state"] == "healthy" and h[0]["reason"] is None, h
PY
"$GPUTEL" gpus --socket "$SOCK" >"$T/gpus.txt" 2>&1
check "gputel gpus says why under gpu 1's line" \
	bash -c "grep -A1 '^gpu 1 ' '$T/gpus.txt' | tail -n1 | grep -qE '^  unhealthy since [^:]+:[0-9:.]+Z: Xid 79 \(the GPU has fallen off the bus\)'"
check "... and sums up, naming its source" grep -q "^health: 1 healthy, 0 degraded, 1 unhealthy, as the agent judges them on $SOCK" "$T/gpus.txt"
JN_CONTROL_SOCKET="$T/run/nothing.sock" "$GPUTEL" gpus >"$T/gpus-alone.txt" 2>&1
check "without an agent, gputel gpus judges the reading alone and says so" \
	grep -q "^health: 2 healthy, 0 degraded, 0 unhealthy, from this reading alone (Xids not known: no agent answers on $T/run/nothing.sock)" "$T/gpus-alone.txt"
"$GPUTEL" health show --socket "$SOCK" >"$T/show.txt" 2>&1
check "gputel health show: a line per GPU, gpu 1 unhealthy with its reason" \
	bash -c "[ \$(wc -l <'$T/show.txt') -eq 2 ] && grep -qE '^gpu 1  GPU-[0-9a-f-]+  [0-9A-F:.]+  unhealthy since .*: Xid 79 ' '$T/show.txt' && grep -qE '^gpu 0  .*  healthy$' '$T/show.txt'"
check "the agent logs the change with the reason" \
	grep -q 'health: gpu 1 (GPU-[0-9a-f-]*) unhealthy: Xid 79 (the GPU has fallen off the bus)' "$T/agent.log"

# The doctor, on the same agent.
cat >"$T/doctor.conf" <<EOF
JN_LOGDIR=$T/out
JN_STATE_DIR=$T/state
JN_CONTROL_SOCKET=$SOCK
JN_EXPORTER_BIND=127.0.0.1
JN_EXPORTER_PORT=$PORT
EOF
doctor_line() { "$GPUTEL" doctor --config "$T/doctor.conf" --logrotate /dev/null 2>&1 | grep -E '^(PASS|WARN|FAIL)  health '; }
line=$(doctor_line)
echo "# $line"
check "gputel doctor fails the health check naming gpu 1, its reason and the clear" \
	bash -c "grep -qE '^FAIL  health +GPU 1 unhealthy: Xid 79 \(the GPU has fallen off the bus\).*; fix: .*gputel health clear 1$' <<<'$line'"
"$GPUTEL" doctor --config "$T/doctor.conf" --logrotate /dev/null >/dev/null 2>&1
check "... and exits 1" test $? -eq 1

# ---- a restart of the same boot keeps it ----
n_events=$(wc -l <"$EVENTS")
stop_agent
check "the state is saved with the boot id" grep -q "\"boot_id\": \"$BOOT1\"" "$T/state/gpu-health.json"
start_agent
sleep 0.5
scrape
check "after a restart gpu 1 is still unhealthy" test "$(health 1 unhealthy)" = 1
check "... from the saved state: the kernel log was not read again ($(wc -l <"$EVENTS") event lines)" \
	test "$(wc -l <"$EVENTS")" -eq "$n_events"
check "... and the log says it was restored" grep -q "health: gpu 1 (GPU-[0-9a-f-]*) restored from $T/state/gpu-health.json: unhealthy" "$T/agent.log"

# ---- gputel health clear ----
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$GPUTEL" health clear 1 --socket "$SOCK" >/dev/null 2>"$T/err"
	rc=$?
	check "a user outside the socket's group cannot clear (exit $rc, one line)" \
		bash -c "[ $rc -eq 1 ] && grep -q 'refuses this user' '$T/err' && [ \$(wc -l <'$T/err') -eq 1 ]"
	scrape
	check "... and gpu 1 stays unhealthy" test "$(health 1 unhealthy)" = 1
else
	ok "# SKIP the permission test needs root and setpriv"
fi
"$GPUTEL" health clear 7 --socket "$SOCK" >"$T/out7" 2>"$T/err"
rc=$?
check "clearing a GPU the node does not have: exit 2, one line naming it" \
	bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$T/err') -eq 1 ] && grep -q 'no GPU \"7\" on this node' '$T/err' && [ ! -s '$T/out7' ]"
"$GPUTEL" health clear 'gpu one' --socket "$SOCK" >/dev/null 2>"$T/err"
check "a GPU that is no index, UUID or bus id: exit 2 before asking" \
	bash -c "[ $? -eq 2 ] && grep -q \"'gpu one' is not a GPU index, UUID or PCI bus id\" '$T/err'"
"$GPUTEL" health clear --socket "$SOCK" >/dev/null 2>"$T/err"
check "clear without a GPU: exit 2" bash -c "[ $? -eq 2 ] && grep -q 'clear needs a GPU' '$T/err'"
r=$(curl -s --unix-socket "$SOCK" -w '\n%{http_code}' http://x/v1/gpus/1/health/clear)
check "GET on the clear route is a 405" test "$(tail -n1 <<<"$r")" = 405
scrape
check "... none of which cleared it" test "$(health 1 unhealthy)" = 1

# By its PCI bus id in the kernel's form.
"$GPUTEL" health clear 0000:28:00 --socket "$SOCK" >"$T/clear.txt" 2>&1
check "gputel health clear by bus id: exit 0, saying what it forgot and the state now" \
	bash -c "[ $? -eq 0 ] && grep -qE '^gpu 1 \(GPU-[0-9a-f-]+\): Xid 79 of [0-9T:.-]+Z cleared; now healthy$' '$T/clear.txt'"
check "gpu 1 is healthy again on /metrics" wait_health 1 healthy
check "... and only that" test "$(health 1 unhealthy)$(health 1 degraded)" = 00
check "the clear is saved" bash -c "! grep -q '\"xid\": 79' '$T/state/gpu-health.json'"
line=$(doctor_line)
echo "# $line"
check "gputel doctor passes the health check now" bash -c "grep -qE '^PASS  health +all 2 GPUs healthy, as the agent judges them' <<<'$line'"
r=$(curl -s --unix-socket "$SOCK" -X POST http://x/v1/gpus/1/health/clear)
check "a clear with nothing to clear says so" \
	bash -c "python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d[\"cleared\"] is None and d[\"state\"]==\"healthy\"' '$r'"
stop_agent
start_agent
sleep 0.5
scrape
check "after a restart gpu 1 stays cleared" test "$(health 1 healthy)" = 1
stop_agent

# ---- a reset: the GPU is lost, then answers again ----
cat >"$T/reset.scn" <<'SCN'
gpus 2
at 0  all  util=45 power_w=310 temp_c=55
at 3  0    lost
at 5  0    recover
SCN
export GPUTEL_SIM_SCENARIO="$T/reset.scn" GPUTEL_SIM_EPOCH=$(date +%s.%N)
start_agent
printf '3,4,%s,-;NVRM: Xid (PCI:0000:18:00): 48, An uncorrectable double bit error\n' "$(now_us)" >>"$T/kmsg"
check "an Xid 48 makes gpu 0 unhealthy" wait_health 0 unhealthy
gpu_up() { grep -E "^gputel_gpu_up\{gpu=\"0\"," "$T/m.txt" | awk '{ print $NF }'; }
for ((i = 0; i < 60; i++)); do scrape; [ "$(gpu_up)" = 0 ] && break; sleep 0.1; done
check "gpu 0 is lost (the simulated fall at t=3)" test "$(gpu_up)" = 0
check "... and unhealthy for that too" test "$(health 0 unhealthy)" = 1
curl -s "http://127.0.0.1:$PORT/status" >"$T/status.json"
check "... with the loss as the reason" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); g=d["health"][0]; assert g["reason"].startswith("GPU lost"), g' "$T/status.json"
for ((i = 0; i < 100; i++)); do scrape; [ "$(gpu_up)" = 1 ] && break; sleep 0.1; done
check "gpu 0 answers again (t=5)" test "$(gpu_up)" = 1
sleep 0.3
scrape
check "the reset cleared the Xid: gpu 0 is healthy" test "$(health 0 healthy)" = 1
check "... and the log says so" grep -q "health: gpu 0 (GPU-[0-9a-f-]*) healthy again (was unhealthy)" "$T/agent.log"

# ---- a new boot forgets ----
printf '3,5,%s,-;NVRM: Xid (PCI:0000:28:00): 95, pid=7, Uncontained: LTC TAG (0x2, 0x1). RST: Yes, D-RST: No\n' "$(now_us)" >>"$T/kmsg"
check "an Xid 95 makes gpu 1 unhealthy" wait_health 1 unhealthy
stop_agent
check "it is saved" grep -q '"xid": 95' "$T/state/gpu-health.json"
# The new boot's kernel log is its own: the old boot's records are gone.
echo 99999999-8888-7777-6666-555555555555 >"$T/proc/sys/kernel/random/boot_id"
printf '6,1,%s,-;NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15\n' "$(now_us)" >"$T/kmsg"
export GPUTEL_SIM_SCENARIO="$SCN/steady.scn"
start_agent
sleep 0.5
scrape
check "after a new boot every GPU is healthy" test "$(health 0 healthy)$(health 1 healthy)" = 11
check "... and the log says why" grep -q "health: a new boot since $T/state/gpu-health.json was saved" "$T/agent.log"
check "... and the saved state is the new boot's" grep -q '"boot_id": "99999999-8888-7777-6666-555555555555"' "$T/state/gpu-health.json"
stop_agent
finish
