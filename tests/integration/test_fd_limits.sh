#!/bin/bash
# File descriptors: with systemd's soft limit of 1024 (and a hard limit
# barely above it, so that raising the limit cannot hide the caps), a crowd
# of TCP connections to the exporter must not cost the agent its CSV, its
# scrapes or its allocation API; and a CSV that cannot be opened for a few
# ticks is opened as soon as it can be, the rows in between counted as
# dropped.  Every connection is on loopback: the crowd comes from 127.0.0.1
# (or 127.0.0.10 and up), the scraper from 127.0.0.2.
. "$(dirname "$0")/lib.sh"

SOFT=1024
HARD=1100

# hold.py HOST PORT SRC... -n N [--batch B --pause S] [--slow] [--life S] OUT:
# opens N connections (from the SRC addresses in turn), B at a time with S
# seconds between batches, writes how many were established to OUT, then
# holds them until killed or --life runs out.  --slow sends half a request
# on each, as a slow client does.
cat >"$T/hold.py" <<'PY'
import argparse, os, resource, selectors, socket, time
a = argparse.ArgumentParser()
a.add_argument("host"); a.add_argument("port", type=int); a.add_argument("src", nargs="+")
a.add_argument("-n", type=int, required=True); a.add_argument("--batch", type=int, default=100000)
a.add_argument("--pause", type=float, default=0.0); a.add_argument("--slow", action="store_true")
a.add_argument("--life", type=float, default=30.0); a.add_argument("--out", required=True)
o = a.parse_args()
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
end = time.monotonic() + o.life
held, pending, sel = [], set(), selectors.DefaultSelector()
def settle(wait):
    t = time.monotonic() + wait
    while pending and time.monotonic() < t:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            sel.unregister(s); pending.discard(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                if o.slow:
                    try: s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                    except OSError: pass
                held.append(s)
            else:
                s.close()
    if wait == 0 or not pending:
        time.sleep(wait if not pending else 0)
made = 0
while made < o.n and time.monotonic() < end:
    for _ in range(min(o.batch, o.n - made)):
        s = socket.socket()
        s.bind((o.src[made % len(o.src)], 0))
        s.setblocking(False)
        s.connect_ex((o.host, o.port))
        pending.add(s); sel.register(s, selectors.EVENT_WRITE)
        made += 1
    settle(o.pause)
settle(3)
with open(o.out + ".tmp", "w") as f:
    f.write(f"{len(held)}\n")
os.rename(o.out + ".tmp", o.out)
while time.monotonic() < end:
    time.sleep(0.2)
PY

# Idle until 4 s, busy from 4 s to 8 s: the crowd is in place before telemetry turns on.
cat >"$T/load.scn" <<'SCN'
gpus 2
at 0 all util=0 power_w=70
at 4 all util=95 power_w=600
at 8 all util=0 power_w=70
SCN
use_sim 2 "$T/load.scn" intel

# start_agent NAME [agent args...]: the agent under the low limits, its log in $T/NAME.log.
start_agent() {
	local name=$1
	shift
	mkdir -p "$T/$name/out" "$T/$name/state"
	PORT=$(free_port)
	SOCK="$T/$name/control.sock"
	export GPUTEL_SIM_EPOCH=$(date +%s.%N)
	(ulimit -Sn "$SOFT" && ulimit -Hn "$HARD" && exec "$GPUTEL" agent --config /dev/null \
		--out-dir "$T/$name/out" --state-dir "$T/$name/state" --control-socket "$SOCK" \
		--exporter-bind 127.0.0.1 --exporter-port "$PORT" --start-util 20 --start-seconds 0.5 \
		--stop-util 10 --stop-seconds 0.5 --poll-interval 0.1 "$@") >"$T/$name.log" 2>&1 &
	AG=$!
	PIDS+=("$AG")
	wait_for "$T/$name.log" "agent: watching" 10
}

# hold NAME ARGS...: the connection helper in the background; HOLD its pid.
hold() {
	local name=$1
	shift
	python3 "$T/hold.py" "$@" --out "$T/$name.held" &
	HOLD=$!
	PIDS+=("$HOLD")
}

# scrape_ok: /metrics answers a client at 127.0.0.2 within 2 s.
scrape_ok() { curl -s -m 2 --interface 127.0.0.2 -o "$T/scrape" "http://127.0.0.1:$PORT/metrics" && grep -q '^gputel_telemetry_active ' "$T/scrape"; }
metric() { awk -v m="$1" '$1 == m { print $2 }' "$T/scrape" 2>/dev/null; }
closing_dropped() { grep -oE 'written, [0-9]+ dropped' "$1" | grep -oE '[0-9]+'; }
data_rows() { echo $(($(wc -l <"$1") - 1)); }

# 1) 1100 idle connections from one address, then a load.
start_agent idle --duration 10
hold idle 127.0.0.1 "$PORT" 127.0.0.1 -n 1100 --life 20
wait_for "$T/idle.held" . 15
check "the crowd: 1100 connections established (got $(cat "$T/idle.held" 2>/dev/null))" test "$(cat "$T/idle.held" 2>/dev/null)" -eq 1100
check "the agent raised its soft limit to the hard one ($HARD)" grep -q "^Max open files  *$HARD  *$HARD " "/proc/$AG/limits"
wait_for "$T/idle.log" "telemetry on" 10
check "with 1100 idle connections, telemetry on writes a CSV" grep -q "telemetry on, writing $T/idle/out/gpu_telemetry_" "$T/idle.log"
t0=$(date +%s.%N)
check "a scrape from another address answers within 2 s" scrape_ok
echo "# scrape took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }') s"
check "gputel_csv_rows_dropped_total is 0 (got '$(metric gputel_csv_rows_dropped_total)')" test "$(metric gputel_csv_rows_dropped_total)" = 0
"$GPUTEL" alloc begin fd-1 --socket "$SOCK" >"$T/alloc.out" 2>&1
check "an allocation begin succeeds (control socket)" test $? -eq 0
"$GPUTEL" alloc end fd-1 --socket "$SOCK" >/dev/null 2>&1
wait "$AG"
kill "$HOLD" 2>/dev/null
f=$(csv_in "$T/idle/out")
check "the period's CSV has rows ($(data_rows "${f:-/dev/null}"))" test -n "$f" -a "$(data_rows "${f:-/dev/null}")" -ge 60
check "the closing line counts 0 rows dropped" test "$(closing_dropped "$T/idle.log")" = 0
check "the caps are logged once" test "$(grep -c 'http: the open files limit is 1100: at most [0-9]* connections at once, [0-9]* per client address' "$T/idle.log")" -eq 1

# 2) One client opens 4300 slow connections, 100 every 0.1 s: scrapes from elsewhere still answer.
start_agent slow --duration 12
hold slow 127.0.0.1 "$PORT" 127.0.0.1 -n 4300 --batch 100 --pause 0.1 --slow --life 20
fails=0 tries=0
for ((i = 0; i < 12; i++)); do
	tries=$((tries + 1))
	scrape_ok || fails=$((fails + 1))
	sleep 0.4
done
wait_for "$T/slow.held" . 15
check "the slow client: 4300 connections established (got $(cat "$T/slow.held" 2>/dev/null))" test "$(cat "$T/slow.held" 2>/dev/null)" -ge 4000
check "every scrape from 127.0.0.2 answered within 2 s meanwhile ($fails of $tries failed)" test "$fails" -eq 0
check "a scrape after the slow client's connections answers within 2 s" scrape_ok
kill "$HOLD" 2>/dev/null
kill -TERM "$AG"
wait "$AG"

# 3) 1100 connections from 50 addresses, each under the per-address cap: the
#    total cap keeps descriptors for the agent's own files.
start_agent many --duration 10
srcs=()
for ((i = 10; i < 60; i++)); do srcs+=("127.0.0.$i"); done
hold many 127.0.0.1 "$PORT" "${srcs[@]}" -n 1100 --life 20
wait_for "$T/many.held" . 15
echo "# from 50 addresses: $(cat "$T/many.held" 2>/dev/null) connections established"
wait_for "$T/many.log" "telemetry on" 10
check "with 1100 connections from 50 addresses, telemetry on writes a CSV" grep -q "telemetry on, writing $T/many/out/gpu_telemetry_" "$T/many.log"
"$GPUTEL" alloc begin fd-2 --socket "$SOCK" >"$T/alloc.out" 2>&1
check "an allocation begin succeeds" test $? -eq 0
"$GPUTEL" alloc end fd-2 --socket "$SOCK" >/dev/null 2>&1
wait "$AG"
kill "$HOLD" 2>/dev/null
f=$(csv_in "$T/many/out")
check "the period's CSV has rows ($(data_rows "${f:-/dev/null}"))" test -n "$f" -a "$(data_rows "${f:-/dev/null}")" -ge 60
check "the closing line counts 0 rows dropped" test "$(closing_dropped "$T/many.log")" = 0

# 4) The CSV cannot be opened for a few ticks, then can: the limit is
#    lowered under the running agent to 3 (standard input, output and error),
#    below every descriptor it holds, the spare one included, and raised again.
start_agent lowered --duration 10
sleep 3.2
prlimit --pid "$AG" --nofile=3:"$HARD"
wait_for "$T/lowered.log" "telemetry on" 10
sleep 1
prlimit --pid "$AG" --nofile="$HARD:$HARD"
wait_for "$T/lowered.log" "at last" 5
scrape_ok
wait "$AG"
f=$(csv_in "$T/lowered/out")
dropped=$(grep -oE 'at last; [0-9]+ rows? w' "$T/lowered.log" | grep -oE '[0-9]+')
check "the failure is logged once, naming the limit and the fix" test "$(grep -c 'no CSV: cannot open a file in out-dir .*: Too many open files (the limit is 3); raise LimitNOFILE' "$T/lowered.log")" -eq 1
check "the recovery is logged once, with the rows dropped meanwhile (${dropped:-none})" test "$(grep -c 'at last' "$T/lowered.log")" -eq 1 -a "${dropped:-0}" -gt 0
check "the rows after the recovery are in the file ($(data_rows "${f:-/dev/null}"))" test -n "$f" -a "$(data_rows "${f:-/dev/null}")" -ge 40
# The ticks missing from the file are the ones whose rows were counted as dropped.
gap=$(col_values "$f" seq 0 | awk 'NR == 1 { first = $1 } { last = $1; n++ } END { print last - first + 1 - n }')
check "the dropped rows are the rows of the ticks missing from the file (2 x $gap)" test "$((gap * 2))" -eq "${dropped:-0}"
check "/metrics counts them (gputel_csv_rows_dropped_total $(metric gputel_csv_rows_dropped_total))" test "$(metric gputel_csv_rows_dropped_total)" = "${dropped:-0}"
check "the closing line counts them" test "$(closing_dropped "$T/lowered.log")" = "${dropped:-0}"
check "no torn rows" test "$(bad_rows "$f")" -eq 0

# 5) A period that never gets its file: every row of it counts as dropped,
#    the rows of the hold before telemetry turned on (the pre-roll) too.
#    Busy from 4 s to 8 s: on at 4.5 s, off at 8.5 s, rows from 4 s: about
#    45 ticks of 2 GPUs.
start_agent never --duration 11
sleep 3.2
prlimit --pid "$AG" --nofile=3:"$HARD"
wait_for "$T/never.log" "ended without a CSV file" 8
prlimit --pid "$AG" --nofile="$HARD:$HARD"
sleep 0.3
scrape_ok
wait "$AG"
lost=$(grep -oE 'ended without a CSV file: [0-9]+' "$T/never.log" | grep -oE '[0-9]+$')
check "the period's end says no file was written and how many rows were lost (${lost:-none})" test "$(grep -c 'ended without a CSV file' "$T/never.log")" -eq 1
check "the rows lost include the pre-roll: about 90, not 80 (got ${lost:-none})" test "${lost:-0}" -ge 85 -a "${lost:-0}" -le 96
check "/metrics counts them (gputel_csv_rows_dropped_total $(metric gputel_csv_rows_dropped_total))" test "$(metric gputel_csv_rows_dropped_total)" = "${lost:-0}"
check "the closing line counts them" test "$(closing_dropped "$T/never.log")" = "${lost:-0}"
check "no CSV file was left behind" test -z "$(csv_in "$T/never/out")"
finish
