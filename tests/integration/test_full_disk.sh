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

# Starts collect into a directory of the small disk. Args: log dir interval fsize-limit
start_on_disk() {
	mkdir -p "$2"
	start_collect "$1" --out-dir "$2" --interval "$3"
	[ "$MODE" = prlimit ] && prlimit --pid "$COLLECT_PID" --fsize="$4"
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
[ "$MODE" = tmpfs ] && umount "$disk"
finish
