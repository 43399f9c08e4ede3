#!/bin/bash
# A full disk during collection: sampling goes on, the failure is logged
# once, rows wait in memory and reach the file when space returns, as many
# whole rows as fit, oldest first; past the in-memory backlog rows are
# dropped and counted.  Uses a small tmpfs when
# this machine lets us mount one, else a file-size limit (prlimit), which
# the kernel reports as EFBIG, and raises it again to recover.
. "$(dirname "$0")/lib.sh"

disk="$T/disk"
mkdir -p "$disk"
if mount -t tmpfs -o size=16m tmpfs "$disk" 2>/dev/null; then
	MODE=tmpfs
else
	MODE=prlimit
fi
echo "# full disk simulated with: $MODE"

fill() { # leaves (almost) no free space
	if [ "$MODE" = tmpfs ]; then
		dd if=/dev/zero of="$disk/filler" bs=4k 2>/dev/null
	fi
}
unfill() {
	if [ "$MODE" = tmpfs ]; then
		rm -f "$disk/filler"
	else
		prlimit --pid "$COLLECT_PID" --fsize=unlimited
	fi
}

# Starts collect into a directory of the small disk. Args: log dir interval fsize-limit
start_on_disk() {
	mkdir -p "$2"
	start_collect "$1" --out-dir "$2" --interval "$3"
	# Only the soft limit: raising it again needs no privilege.
	[ "$MODE" = prlimit ] && prlimit --pid "$COLLECT_PID" --fsize="$4:unlimited"
	return 0
}

# 1) A short outage: every row survives (the backlog holds it).
use_sim 4
start_on_disk "$T/a.log" "$disk/a" 0.05 20000
sleep 0.5
fill
sleep 1.5
unfill
sleep 0.7
kill -TERM "$COLLECT_PID"
wait "$COLLECT_PID"
rc=$?
f=$(csv_in "$disk/a")
check "short outage: collect exits 0" test "$rc" -eq 0
check "short outage: the failure is logged once" test "$(grep -c 'cannot write .*: \(No space left on device\|File too large\)' "$T/a.log")" -eq 1
check "short outage: the recovery is logged with 0 rows dropped" grep -q "writing to .* again; 0 rows were dropped" "$T/a.log"
check "short outage: no torn rows" test "$(bad_rows "$f")" -eq 0
last=$(awk -F, -v s="$(col "$f" seq)" 'END { print $s }' "$f")
have=$(($(wc -l <"$f") - 1))
skipped=$(grep -oE '\(([0-9]+) skipped\)' "$T/a.log" | grep -oE '[0-9]+')
check "short outage: all rows of $last ticks are in the file ($have rows, $skipped ticks skipped)" test "$have" -eq $(((last - skipped) * 4))

# 2) A long outage with many GPUs at 10 ms: the backlog fills, rows are dropped and counted.
[ "$MODE" = tmpfs ] && rm -f "$disk/a"/*
use_sim 64
start_on_disk "$T/b.log" "$disk/b" 0.01 200000
sleep 0.5
fill
sleep 2.5
unfill
sleep 0.5
kill -TERM "$COLLECT_PID"
wait "$COLLECT_PID"
rc=$?
f=$(csv_in "$disk/b")
dropped=$(grep -oE '[0-9]+ rows were dropped' "$T/b.log" | grep -oE '^[0-9]+')
check "long outage: rows beyond the backlog are dropped and counted ($dropped)" test "${dropped:-0}" -gt 0
check "long outage: collect reports the loss with exit status 1" test "$rc" -eq 1
check "long outage: sampling went on and writing resumed" test "$(grep -c "again;" "$T/b.log")" -eq 1
check "long outage: no torn rows" test "$(bad_rows "$f")" -eq 0

# 3) Space comes back, but less than the backlog: the rows that fit are
#    written, whole and oldest first; the rest waits in memory and, when it
#    never fits, is counted as dropped.  A disk that fills up while about
#    200 KB of rows wait, then 100 KiB freed: about 100 KiB of rows must go
#    out, not nothing because the whole backlog does not fit.
[ "$MODE" = tmpfs ] && rm -rf "$disk/b" "$disk/filler"
use_sim 4
mkdir -p "$disk/c"
start_collect "$T/c.log" --out-dir "$disk/c" --interval 0.01
wait_for "$T/c.log" "collect: writing" 5
sleep 0.5
f=$(csv_in "$disk/c")
if [ "$MODE" = tmpfs ]; then
	dd if=/dev/zero of="$disk/hundred_k" bs=4k count=25 2>/dev/null
	fill
else
	prlimit --pid "$COLLECT_PID" --fsize="$(stat -c %s "$f"):unlimited"
fi
wait_for "$T/c.log" "cannot write" 5
# About 200 KB of rows a second (4 GPUs every 10 ms): 1.5 s is more than 100 KiB will take.
sleep 1.5
before=$(stat -c %s "$f")
if [ "$MODE" = tmpfs ]; then
	rm -f "$disk/hundred_k"
else
	prlimit --pid "$COLLECT_PID" --fsize=$((before + 102400)):unlimited
fi
sleep 0.5
after=$(stat -c %s "$f")
rows_in_file=$(($(wc -l <"$f") - 1))
kill -TERM "$COLLECT_PID"
wait "$COLLECT_PID"
rc=$?
gained=$((after - before))
echo "# the file grew by $gained bytes once 100 KiB was freed"
check "space back for part of the backlog: about 100 KiB of rows are written (got $gained bytes)" test "$gained" -ge 92160 -a "$gained" -le $((102400 + 4096))
check "the file ends with a whole row" test "$(tail -c1 "$f" | od -An -c | tr -d ' ')" = '\n'
check "no torn rows" test "$(bad_rows "$f")" -eq 0
# Oldest first: the ticks in the file follow each other, none skipped for a newer one.
skipped=$(grep -oE '\(([0-9]+) skipped\)' "$T/c.log" | grep -oE '[0-9]+')
missing=$(col_values "$f" seq 0 | awk 'NR > 1 && $1 <= prev { bad = 1 } { prev = $1; if (NR == 1) first = $1; n++ } END { print bad ? -1 : prev - first + 1 - n }')
check "the rows written are the oldest that waited, in order ($missing ticks missing, $skipped skipped)" test "$missing" -ge 0 -a "$missing" -le "${skipped:-0}"
read -r ticks in_file dropped < <(sed -nE 's/.*stopped after ([0-9]+) ticks? \([0-9]+ skipped\); ([0-9]+) rows? in .*, ([0-9]+) dropped.*/\1 \2 \3/p' "$T/c.log")
echo "# collect: $ticks ticks, $in_file rows in the file, $dropped dropped"
check "the rows the file has are the rows collect counts as written" test "$in_file" -eq "$rows_in_file"
check "collect reports the rows that never fit with exit status 1" test "$rc" -eq 1
# "N ticks" counts the ticks taken; the skipped ones are not among them.
check "every row of every tick is either in the file or counted as dropped" test $((in_file + dropped)) -eq $((ticks * 4))
[ "$MODE" = tmpfs ] && umount "$disk"

# 4) The agent: an active period whose rows do not all fit says so where it
# ends, in the line the operator reads, with the rows in the file and those
# dropped.  A file-size limit is enough here, whatever the mode above.
cat >"$T/busy.scn" <<'SCN'
gpus 2
at 0 all util=90 power_w=600
at 2 all util=2 power_w=70
SCN
use_sim 2 "$T/busy.scn" intel
mkdir -p "$T/agent-out" "$T/agent-st"
prlimit --fsize=3000:unlimited "$GPUTEL" agent --config /dev/null --start-util 20 --start-seconds 0.2 \
	--stop-util 10 --stop-seconds 0.5 --poll-interval 0.1 --out-dir "$T/agent-out" --state-dir "$T/agent-st" \
	--control-socket "$T/agent.sock" --exporter-bind 127.0.0.1 --exporter-port "$(free_port)" --duration 4 \
	>"$T/d.log" 2>&1
read -r period_rows period_dropped < <(sed -nE 's/.*telemetry off, ([0-9]+) rows in .*, ([0-9]+) dropped$/\1 \2/p' "$T/d.log")
af=$(csv_in "$T/agent-out")
echo "# agent: $period_rows rows in the file, $period_dropped dropped"
check "agent: the period's end names the rows written and dropped" test "${period_dropped:-0}" -gt 0
check "agent: ... as a warning" grep -q "warning: agent: gpu idle .* dropped$" "$T/d.log"
check "agent: the rows it says were written are in the file" test "$(($(wc -l <"$af") - 1))" -eq "${period_rows:--1}"
finish
