#!/bin/bash
# The client side: gputel alloc, gputel run (its energy against the
# scenario's integral, its exit status, CUDA_VISIBLE_DEVICES, signals),
# libgputel from C with threads, and autostart: through a systemctl, through
# the local agent when there is no systemctl, and never without the switch.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/state" "$T/out" "$T/empty"
export JN_CONTROL_SOCKET="$T/control.sock" JN_STATE_DIR="$T/state" JN_LOGDIR="$T/out"
export JN_EXPORTER_BIND=127.0.0.1 GPUTEL_CONFIG=/dev/null
# Power steps on both GPUs, different on each, so the integral is not a product.
cat >"$T/steps.scn" <<'SCN'
gpus 2
at 0   all util=50 power_w=100
at 0   1   power_w=150
at 1.3 0   power_w=420
at 2.1 1   power_w=90
at 2.9 all power_w=333
at 3.6 0   power_w=77
SCN
use_sim 2 "$T/steps.scn" intel
export GPUTEL_SIM_EPOCH=$(date +%s.%N)

# energy_matches SUMMARY: its GPU energy is within 1 % of the integral of
# steps.scn's power over the summary's own begin and end.
energy_matches() {
	python3 - "$1" "$GPUTEL_SIM_EPOCH" <<'PY'
import json, sys, datetime
d = json.load(open(sys.argv[1])); epoch = float(sys.argv[2])
def t(iso):
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp() - epoch
steps = {0: [(0, 100), (1.3, 420), (2.9, 333), (3.6, 77)], 1: [(0, 150), (2.1, 90), (2.9, 333)]}
def integral(gpu, a, b):
    s = steps[gpu] + [(1e9, 0)]
    return sum(max(0, min(b, s[i + 1][0]) - max(a, s[i][0])) * s[i][1] for i in range(len(s) - 1))
a, b = t(d["begun"]), t(d["ended"])
want = integral(0, a, b) + integral(1, a, b)
got = d["gpu_energy_joules"]
print("# run from t=%.3f to t=%.3f: %.1f J, scenario %.1f J (%.3f %%)" % (a, b, got, want, 100 * (got - want) / want))
assert abs(got - want) <= 0.01 * want
PY
}

wait_sock() {
	for ((i = 0; i < 50; i++)); do
		curl -s --unix-socket "$JN_CONTROL_SOCKET" -o /dev/null http://x/v1/status && return 0
		sleep 0.1
	done
	return 1
}

# No agent, no autostart: a clear refusal, exit 1.
"$GPUTEL" alloc begin lonely >/dev/null 2>"$T/err"
check "no agent and no GPU_TELEMETRY_AUTOSTART: exit 1 saying so" \
	bash -c "[ $? -eq 1 ] && grep -q 'no gputel agent answers' '$T/err'"
check "... and nothing was started" test ! -e "$JN_CONTROL_SOCKET"

JN_EXPORTER_PORT=$(free_port) "$GPUTEL" agent --start-util 90 --poll-interval 0.2 >"$T/agent.log" 2>&1 &
AG=$!
PIDS+=("$AG")
check "the agent is up" wait_sock

"$GPUTEL" alloc begin a1 --gpus 0 --owner ci --label team=ml --ttl 60 >"$T/o" 2>&1
check "alloc begin: exit 0" test $? -eq 0
"$GPUTEL" alloc show a1 >"$T/o" 2>&1
check "alloc show: for people, who holds it and what it used" \
	bash -c "grep -qE '^allocation a1, live since .*, owner ci, gpus 0$' '$T/o' && grep -q '^  gpu energy ' '$T/o'"
"$GPUTEL" alloc list >"$T/o" 2>&1
check "alloc list: a table with a row for a1" \
	bash -c "head -n1 '$T/o' | grep -q '^ID  *OWNER  *GPUS' && grep -qE '^a1  +ci  +0  +[0-9.]+  +[0-9.]+$' '$T/o'"
"$GPUTEL" alloc show a1 --json >"$T/o" 2>&1
check "alloc show --json: the labels and TTL" python3 -c '
import json, sys; d = json.load(open(sys.argv[1])); assert d["labels"] == {"team": "ml"} and d["ttl_seconds"] == 60 and d["owner"] == "ci", d' "$T/o"
"$GPUTEL" alloc renew a1 --ttl 120 --json >"$T/o"
check "alloc renew --ttl: the new TTL" python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["ttl_seconds"] == 120' "$T/o"
"$GPUTEL" alloc begin a1 >/dev/null 2>"$T/err"
check "alloc begin of a taken id: exit 1" bash -c "[ $? -eq 1 ] && grep -q 'already allocated' '$T/err'"
"$GPUTEL" alloc begin a2 --gpus 5 >/dev/null 2>"$T/err"
check "alloc begin on a GPU the node lacks: exit 2" bash -c "[ $? -eq 2 ] && grep -q 'is not a GPU on this node' '$T/err'"
"$GPUTEL" alloc frob x >/dev/null 2>&1
check "an unknown action: exit 2" test $? -eq 2
"$GPUTEL" alloc end a1 >"$T/o"
check "alloc end: the summary for people" grep -q '^  gpu energy .* J (.* Wh)' "$T/o"
"$GPUTEL" alloc end a1 >/dev/null 2>&1
check "alloc end of an unknown id: exit 1" test $? -eq 1

# gputel run: the energy within 1 % of the scenario's integral over the
# allocation's own begin and end instants.
"$GPUTEL" run --json -o "$T/sum.json" -- sleep 3.2
check "gputel run exits with the command's status (0)" test $? -eq 0
check "gputel run's GPU energy is within 1 % of the scenario's integral" energy_matches "$T/sum.json"
"$GPUTEL" run --gpus 1 -o "$T/sum.txt" -- sh -c 'echo "$CUDA_VISIBLE_DEVICES" >"$0"; exit 7' "$T/cvd"
check "gputel run exits with the command's status (7)" test $? -eq 7
check "--gpus sets CUDA_VISIBLE_DEVICES" test "$(cat "$T/cvd")" = 1
check "the summary names the allocation and its energy" grep -q '^  gpu energy' "$T/sum.txt"
"$GPUTEL" run -o "$T/sum2.txt" -- sh -c 'trap "exit 42" TERM; sleep 5 & wait' &
RUN=$!
sleep 0.8
kill -TERM "$RUN"
wait "$RUN"
check "SIGTERM is forwarded to the command, whose status is kept (42)" test $? -eq 42
check "... and its allocation was ended" bash -c "grep -q 'gpu energy' '$T/sum2.txt' && [ \"\$(curl -s --unix-socket '$JN_CONTROL_SOCKET' http://x/v1/allocations)\" = '{\"allocations\": []}' ]"
"$GPUTEL" run -- /nonexistent/cmd 2>"$T/err"
check "a command that does not exist: 127, allocation ended" bash -c "[ $? -eq 127 ] && [ \"\$(curl -s --unix-socket '$JN_CONTROL_SOCKET' http://x/v1/allocations)\" = '{\"allocations\": []}' ]"

# libgputel from C: 16 threads begin and end their own allocations at once.
cat >"$T/client.c" <<'C'
#include <gputel.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
static int bad;
static void *run(void *arg)
{
	char id[32], *sum = NULL;
	struct gputel_alloc_spec spec = { 0 };
	snprintf(id, sizeof id, "t%ld", (long)arg);
	spec.id = id;
	spec.gpus = "0";
	if (gputel_alloc_begin(NULL, &spec, NULL) != GPUTEL_OK) __atomic_add_fetch(&bad, 1, 0);
	if (gputel_alloc_end(NULL, id, &sum) != GPUTEL_OK || !strstr(sum, "\"gpu_energy_joules\"")) __atomic_add_fetch(&bad, 1, 0);
	gputel_free(sum);
	return NULL;
}
int main(void)
{
	pthread_t t[16];
	for (long i = 0; i < 16; i++) pthread_create(&t[i], NULL, run, (void *)i);
	for (int i = 0; i < 16; i++) pthread_join(t[i], NULL);
	if (gputel_alloc_end(NULL, "t0", NULL) != GPUTEL_E_NOTFOUND) bad++;
	puts(gputel_strerror(GPUTEL_E_NOAGENT));
	return bad != 0;
}
C
# A sanitized build (make check SANITIZE=...) needs the client built alike.
san=""
nm -D "$BUILD/libgputel.so.1" 2>/dev/null | grep -q __asan && san="-fsanitize=address,undefined"
cc -std=c11 $san -I"$ROOT/include" -o "$T/client" "$T/client.c" -L"$BUILD" -lgputel -pthread 2>"$T/cc.err"
check "a C program builds against include/gputel.h and libgputel.so" test -x "$T/client"
LD_LIBRARY_PATH="$BUILD" "$T/client" >/dev/null
check "16 threads through libgputel: every call succeeds" test $? -eq 0
cc -std=c11 $san -I"$ROOT/include" -o "$T/client-static" "$T/client.c" "$BUILD/libgputel.a" -pthread
check "... and it links statically too" bash -c "'$T/client-static' >/dev/null"

kill -TERM "$AG"
wait "$AG"

# A driver whose calls take 2 ms, so the energy counter is read only every
# 10 s between ticks: begin and end still read it afresh, and the energy
# still matches the scenario.
sed 's/^at 0   all util=50 power_w=100$/at 0   all util=50 power_w=100 latency_ms=2/' "$T/steps.scn" >"$T/slow.scn"
grep -q latency_ms "$T/slow.scn" || not_ok "the slow scenario was not made"
GPUTEL_SIM_SCENARIO="$T/slow.scn" JN_EXPORTER_PORT=$(free_port) "$GPUTEL" agent --start-util 90 >"$T/agent3.log" 2>&1 &
AG=$!
PIDS+=("$AG")
wait_sock
sleep 1.5
"$GPUTEL" run --json -o "$T/slow.json" -- sleep 3
check "with a slow energy counter the agent says it reads it every 10 s" grep -q 'reading it every 10s' "$T/agent3.log"
check "... and gputel run's energy is still within 1 % of the scenario" energy_matches "$T/slow.json"
kill -TERM "$AG"
wait "$AG"

# Autostart through systemctl: a stand-in on PATH that starts the agent.
mkdir -p "$T/bin"
cat >"$T/bin/systemctl" <<SH
#!/bin/sh
echo "\$@" >>"$T/systemctl.calls"
[ "\$1 \$2" = "start justnews-gpu-telemetry.service" ] || exit 1
JN_EXPORTER_PORT=$(free_port) setsid "$GPUTEL" agent --start-util 90 >>"$T/agent2.log" 2>&1 </dev/null &
echo \$! >"$T/agent2.pid"
exit 0
SH
chmod +x "$T/bin/systemctl"
GPU_TELEMETRY_AUTOSTART=true PATH="$T/bin:$PATH" "$GPUTEL" alloc begin via-systemd >/dev/null 2>"$T/err"
check "autostart with systemctl: begin succeeds" test $? -eq 0
check "... after 'systemctl start justnews-gpu-telemetry.service'" grep -qx 'start justnews-gpu-telemetry.service' "$T/systemctl.calls"
check "... and says once that it started the agent, whose log is in the journal" \
	bash -c "[ \$(grep -c 'started the gputel agent (GPU_TELEMETRY_AUTOSTART); its log: journalctl -u justnews-gpu-telemetry' '$T/err') -eq 1 ]"
GPU_TELEMETRY_AUTOSTART=true PATH="$T/bin:$PATH" "$GPUTEL" alloc begin via-systemd-2 >/dev/null 2>"$T/err"
check "a second begin finds the agent running and says nothing of a start" bash -c "[ $? -eq 0 ] && ! grep -q started '$T/err'"
"$GPUTEL" alloc end via-systemd-2 >/dev/null
"$GPUTEL" alloc end via-systemd >/dev/null
kill "$(cat "$T/agent2.pid")" 2>/dev/null
for ((i = 0; i < 50; i++)); do [ -e "$JN_CONTROL_SOCKET" ] || break; sleep 0.1; done

# Autostart without systemctl: the local agent, which leaves once idle.
LPORT=$(free_port)
GPU_TELEMETRY_AUTOSTART=yes GPUTEL_AGENT="$GPUTEL" PATH="$T/empty" JN_STOP_SECONDS=1 JN_START_UTIL=90 \
	JN_EXPORTER_PORT=$LPORT "$GPUTEL" alloc begin via-local >/dev/null 2>"$T/err"
check "autostart without systemctl: begin succeeds through a local agent" test $? -eq 0
LOCAL=$(pgrep -f -- "--exit-when-idle --log-to-state-dir --control-socket $JN_CONTROL_SOCKET")
check "... which runs detached with --exit-when-idle" test -n "$LOCAL"
check "... and begin says once that it started it, and where its log is" \
	bash -c "[ \$(grep -c 'started a gputel agent (GPU_TELEMETRY_AUTOSTART); its log is $JN_STATE_DIR/agent.log' '$T/err') -eq 1 ]"
"$GPUTEL" alloc end via-local >/dev/null
for ((i = 0; i < 60; i++)); do kill -0 "$LOCAL" 2>/dev/null || break; sleep 0.1; done
check "... and exits once no allocation is left and it stayed idle" bash -c "! kill -0 $LOCAL 2>/dev/null"
check "its log is in the state directory, with timestamps, up to its exit" \
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z gputel: agent: stopped after' "$JN_STATE_DIR/agent.log"
finish
