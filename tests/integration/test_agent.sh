#!/bin/bash
# gputel agent on the simulated driver: a load spike switches telemetry on
# after start-seconds and off after stop-seconds, with a new CSV file for
# each active period that begins at the load's first busy tick; the
# exporter tells the state and keeps every family while idle; bad
# settings exit 2.
. "$(dirname "$0")/lib.sh"

metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

# Two spikes: 1.5-4.5 s and 7-9 s; holds of 1 s each at 0.1 s polling.
cat >"$T/spike.scn" <<'SCN'
gpus 2
at 0 all util=3 power_w=70
at 1.5 all util=90 power_w=600
at 4.5 all util=2 power_w=70
at 7 0 util=95 power_w=650
at 9 0 util=1 power_w=70
SCN
use_sim 2 "$T/spike.scn" intel
mkdir -p "$T/out"
PORT=$(free_port)
epoch=$(date +%s.%N)
export GPUTEL_SIM_EPOCH=$epoch
"$GPUTEL" agent --start-util 20 --start-seconds 1 --stop-util 10 --stop-seconds 1 \
	--poll-interval 0.1 --out-dir "$T/out" --exporter-bind 127.0.0.1 --exporter-port "$PORT" \
	--metric-names gputel,dcgm --on-start "sh -c 'echo \$GPUTEL_EVENT_TIME >>$T/starts'" \
	--duration 11.5 >"$T/agent.log" 2>&1 &
AG=$!
PIDS+=("$AG")
sleep 1
a1=$(metric "$PORT" gputel_telemetry_active)
idle_scrape=$(curl -s "http://127.0.0.1:$PORT/metrics")
sleep 2.3
a2=$(metric "$PORT" gputel_telemetry_active)
busy_scrape=$(curl -s "http://127.0.0.1:$PORT/metrics")
p2=$(grep '^gputel_gpu_power_watts{gpu="0"' <<<"$busy_scrape" | awk '{ print $NF }')
d2=$(grep '^DCGM_FI_DEV_POWER_USAGE{gpu="0",' <<<"$busy_scrape" | awk '{ print $NF }')
sleep 2.7
a3=$(metric "$PORT" gputel_telemetry_active)
wait "$AG"
rc=$?
check "the agent exits 0 after --duration" test "$rc" -eq 0
check "before the spike, gputel_telemetry_active is 0 (got '$a1')" test "$a1" = 0
check "during the spike, gputel_telemetry_active is 1 (got '$a2')" test "$a2" = 1
check "during the spike, the exporter serves the simulated power (got '$p2')" test "$p2" = "600.000"
check "the agent's --metric-names dcgm serves DCGM_FI_DEV_POWER_USAGE too (got '$d2')" test "$d2" = "600.000"
check "the agent serves every hwmon channel while active" grep -q '^gputel_hwmon_temperature_celsius{chip="coretemp",device="coretemp.0",sensor="Core 0"} ' <<<"$busy_scrape"
check "after the spike, gputel_telemetry_active is 0 (got '$a3')" test "$a3" = 0
check "while idle the utilisation is served, fresh" grep -q '^gputel_gpu_utilization_ratio{gpu="0".*} 0.03$' <<<"$idle_scrape"
check "while idle the power stays in /metrics (from the full tick)" grep -q '^gputel_gpu_power_watts{gpu="0".*} 70.000$' <<<"$idle_scrape"
check "while idle the energy counter stays in /metrics" grep -q '^gputel_gpu_energy_joules_total{gpu="0"' <<<"$idle_scrape"
check "while idle the host sensors stay in /metrics" grep -q '^gputel_host_temperature_celsius{role="cpu_pkg"}' <<<"$idle_scrape"
files=("$T/out"/gpu_telemetry_*.csv)
check "a new CSV file for each of the 2 active periods (got ${#files[@]})" test "${#files[@]}" -eq 2
# Times of the first and last row of each file, in seconds after the scenario's start.
span() {
	python3 - "$1" "$epoch" <<'PY'
import csv, sys, datetime as dt
rows = list(csv.DictReader(open(sys.argv[1])))
t = [dt.datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp() - float(sys.argv[2]) for r in rows]
print(f"{min(t):.2f} {max(t):.2f} {len(rows)}")
PY
}
read -r s1 e1 n1 <<<"$(span "${files[0]}")"
read -r s2 e2 n2 <<<"$(span "${files[1]}")"
echo "# period 1: $s1..$e1 s ($n1 rows); period 2: $s2..$e2 s ($n2 rows)"
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }
check "period 1's file begins at the load's first busy tick (1.5 s, got $s1)" within "$s1" 1.5 1.62
check "period 1 ends stop-seconds after the load ends (5.5 s, got $e1)" within "$e1" 5.2 5.7
check "period 2's file begins at the load's first busy tick (7 s, got $s2)" within "$s2" 7.0 7.12
check "period 2 ends at 10 s (got $e2)" within "$e2" 9.7 10.2
check "every tick of a period has a row for both gpus" test $((n1 % 2)) -eq 0 -a $((n2 % 2)) -eq 0
check "no torn rows" test "$(bad_rows "${files[@]}")" -eq 0
check "every row of a period is complete: power and host columns filled" test "$(for f in "${files[@]}"; do col_values "$f" power_draw_w; col_values "$f" cpu_pkg_temp_c; done | grep -c '^$')" -eq 0
check "each transition is logged once" test "$(grep -c 'telemetry on' "$T/agent.log")$(grep -c 'telemetry off' "$T/agent.log")" = 22
# The hold still decides when telemetry turns on: the start hook runs at 2.5 s, not at 1.5 s.
t_on=$(python3 - "$T/starts" "$epoch" <<'PY'
import sys, datetime as dt
first = open(sys.argv[1]).readline().strip()
print(f"{dt.datetime.strptime(first, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=dt.timezone.utc).timestamp() - float(sys.argv[2]):.2f}")
PY
)
check "telemetry turns on start-seconds after the load (2.5 s, got $t_on)" within "$t_on" 2.45 2.7
check "the closing line counts 2 active periods" grep -q "2 active periods" "$T/agent.log"

# The guide's thresholds on idle-load-idle.scn (load from t=10 s), the
# timeline shifted so that the agent starts at t=8 s: the period's file
# begins within one poll interval (1 s) of the load, not 5 s after it.
mkdir -p "$T/preroll"
export GPUTEL_SIM_EPOCH=$(python3 -c 'import time; print(f"{time.time() - 8:.3f}")')
use_sim 2 "$SCN/idle-load-idle.scn" intel
"$GPUTEL" agent --out-dir "$T/preroll" --exporter-bind 127.0.0.1 --exporter-port "$(free_port)" \
	--duration 9 >"$T/preroll.log" 2>&1
first=$(python3 - "$(csv_in "$T/preroll")" "$GPUTEL_SIM_EPOCH" <<'PY'
import csv, sys, datetime as dt
r = next(csv.DictReader(open(sys.argv[1])))
print(f"{dt.datetime.strptime(r['timestamp'], '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=dt.timezone.utc).timestamp() - float(sys.argv[2]):.2f}")
PY
)
check "idle-load-idle.scn: the CSV's first row is within one poll interval of the load's start (10 s, got $first)" within "$first" 10 11
check "idle-load-idle.scn: the first row is the load's (util 95)" test "$(col_values "$(csv_in "$T/preroll")" util_gpu_percent 0 | head -n1)" = 95
use_sim 2 "$T/spike.scn" intel

# While idle, every scrape has every family (a full tick every
# --idle-sample-seconds), and the energy counter never goes back.
cat >"$T/idle.scn" <<'SCN'
gpus 2
at 0 all util=2 power_w=60
SCN
use_sim 2 "$T/idle.scn" intel
PORT=$(free_port)
"$GPUTEL" agent --out-dir "$T/idle" --exporter-bind 127.0.0.1 --exporter-port "$PORT" --poll-interval 0.1 \
	--idle-sample-seconds 0.5 --duration 3.5 >"$T/idle.log" 2>&1 &
AG=$!
PIDS+=("$AG")
sleep 0.5
: >"$T/idle-energy"
for ((i = 0; i < 20; i++)); do
	curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^gputel_gpu_energy_joules_total\{gpu="0"/ { e = $NF } /^gputel_gpu_power_watts\{gpu="0"/ { p = $NF } END { print (e == "" ? "-" : e), (p == "" ? "-" : p) }' >>"$T/idle-energy"
	sleep 0.12
done
wait "$AG"
check "idle: every one of 20 scrapes has the energy counter and the power" test "$(grep -c -- '-' "$T/idle-energy")" -eq 0
check "idle: the energy counter never goes back from scrape to scrape" \
	awk 'NR > 1 && $1 + 0 < prev { bad = 1 } { prev = $1 + 0 } END { exit bad }' "$T/idle-energy"
check "idle: the counter moves on with the full ticks" test "$(cut -d' ' -f1 "$T/idle-energy" | sort -u | wc -l)" -ge 3
PORT=$(free_port)
"$GPUTEL" agent --out-dir "$T/idle" --exporter-bind 127.0.0.1 --exporter-port "$PORT" --poll-interval 0.1 \
	--idle-sample-seconds 0 --duration 2 >"$T/idle0.log" 2>&1 &
AG=$!
PIDS+=("$AG")
sleep 1
zero_scrape=$(curl -s "http://127.0.0.1:$PORT/metrics")
wait "$AG"
check "--idle-sample-seconds 0: while idle only utilisation is served, as before" \
	bash -c "grep -q '^gputel_gpu_utilization_ratio{gpu=\"0\"' <<<\"\$1\" && ! grep -q '^gputel_gpu_power_watts' <<<\"\$1\"" _ "$zero_scrape"
use_sim 2 "$T/spike.scn" intel

# --exporter-mode active: the port is closed while idle.
PORT=$(free_port)
export GPUTEL_SIM_EPOCH=$(date +%s.%N)
"$GPUTEL" agent --start-util 20 --start-seconds 0.5 --stop-util 10 --stop-seconds 0.5 \
	--poll-interval 0.1 --out-dir "$T/out" --exporter-bind 127.0.0.1 --exporter-port "$PORT" \
	--exporter-mode active --duration 6 >"$T/active.log" 2>&1 &
AG=$!
PIDS+=("$AG")
sleep 1
c1=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")
sleep 1.8
c2=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")
wait "$AG"
check "exporter-mode active: nothing listens while idle (got $c1)" test "$c1" = 000
check "exporter-mode active: /metrics answers while active (got $c2)" test "$c2" = 200

# Bad settings: exit 2 with one FILE:LINE or flag message.
"$GPUTEL" agent --start-util 5 --stop-util 10 --out-dir "$T/out" >/dev/null 2>"$T/err"
check "start-util below stop-util exits 2 naming both keys" bash -c "[ $? -eq 2 ] && grep -q 'JN_START_UTIL' '$T/err' && grep -q 'JN_STOP_UTIL' '$T/err'"
"$GPUTEL" agent --poll-interval 0 --out-dir "$T/out" >/dev/null 2>"$T/err"
check "a zero poll interval exits 2" test $? -eq 2
"$GPUTEL" agent --out-dir "$T/new/out" --duration 0.3 --exporter-port "$(free_port)" --exporter-bind 127.0.0.1 >/dev/null 2>"$T/err"
check "a missing out-dir is created, mode 0750 (got $(stat -c %a "$T/new/out" 2>/dev/null))" test "$(stat -c %a "$T/new/out" 2>/dev/null)" = 750
: >"$T/file"
"$GPUTEL" agent --out-dir "$T/file/out" >/dev/null 2>"$T/err"
check "an out-dir that cannot be created exits 2 with the fix" bash -c "[ $? -eq 2 ] && grep -q 'install -d' '$T/err' && [ \$(wc -l <'$T/err') -eq 1 ]"
"$GPUTEL" agent --frobnicate >/dev/null 2>"$T/err"
check "an unknown flag exits 2" test $? -eq 2
finish
