#!/bin/bash
# A full disk during collection: sampling goes on, the failure is logged
# once, rows wait in memory and reach the file when space returns; past the
# in-memory backlog rows are dropped and counted.  Uses a small tmpfs when
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

# 1) A short outage: every row survives (the backlog holds it).
use_sim 4
mkdir -p "$disk/a"
if [ "$MODE" = tmpfs ]; then
	start_collect "$T/a.log" --out-dir "$disk/a" --interval 0.05
else
	"$GPUTEL" collect --out-dir "$disk/a" --interval 0.05 >"$T/a.log" 2>&1 &
	COLLECT_PID=$!
	PIDS+=("$COLLECT_PID")
	prlimit --pid "$COLLECT_PID" --fsize=20000
fi
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
mkdir -p "$disk/b"
if [ "$MODE" = tmpfs ]; then
	start_collect "$T/b.log" --out-dir "$disk/b" --interval 0.01
else
	"$GPUTEL" collect --out-dir "$disk/b" --interval 0.01 >"$T/b.log" 2>&1 &
	COLLECT_PID=$!
	PIDS+=("$COLLECT_PID")
	prlimit --pid "$COLLECT_PID" --fsize=200000
fi
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
[ "$MODE" = tmpfs ] && umount "$disk"
finish
