#!/bin/bash
# Real logrotate during collection, in both modes, and SIGHUP/SIGUSR1/SIGTERM
# at any moment: afterwards every (seq, gpu) row must be present somewhere
# and no row may be torn.
. "$(dirname "$0")/lib.sh"

use_sim 4
LOGROTATE=$(command -v logrotate || echo /usr/sbin/logrotate)

# All data rows of every file, deduplicated on (seq, gpu_index).
rows_union() {
	awk -F, 'FNR == 1 { for (i = 1; i <= NF; i++) { if ($i == "seq") s = i; if ($i == "gpu_index") g = i }; next }
		/^timestamp,/ { next } { print $s "," $g }' "$@" | sort -u
}
expected_rows() { # ticks gpus
	for ((q = 1; q <= $1; q++)); do for ((g = 0; g < $2; g++)); do echo "$q,$g"; done; done | sort -u
}
last_seq() { awk -F, -v s="$(col "$1" seq)" 'END { print $s }' "$1"; }

run_mode() { # mode: create | copytruncate
	local mode=$1 dir="$T/$1" conf="$T/$1.conf"
	mkdir -p "$dir"
	if [ "$mode" = create ]; then
		cat >"$conf" <<CONF
$dir/*.csv {
	rotate 10
	create 0640
	missingok
	postrotate
		kill -HUP \$(cat $T/$mode.pid)
	endscript
}
CONF
	else
		cat >"$conf" <<CONF
$dir/*.csv {
	rotate 10
	copytruncate
	missingok
}
CONF
	fi
	start_collect "$T/$mode.log" --out-dir "$dir" --interval 0.05
	echo "$COLLECT_PID" >"$T/$mode.pid"
	sleep 1
	for i in 1 2 3; do
		"$LOGROTATE" -f -s "$T/$mode.state" "$conf" || not_ok "$mode: logrotate run $i failed"
		sleep 0.7
	done
	kill -TERM "$COLLECT_PID"
	wait "$COLLECT_PID"
	local rc=$?
	local files=("$dir"/gpu_telemetry_*)
	check "$mode: collect exits 0 after SIGTERM" test "$rc" -eq 0
	check "$mode: logrotate made 3 rotated files (${#files[@]} files in all)" test "${#files[@]}" -eq 4
	local live
	live=$(csv_in "$dir")
	check "$mode: the live file starts with the header" test "$(head -c 10 "$live")" = "timestamp,"
	for x in "${files[@]}"; do
		[ -s "$x" ] || continue
		check "$mode: $(basename "$x") starts with the header" test "$(head -c 10 "$x")" = "timestamp,"
	done
	check "$mode: no torn rows in any file" test "$(bad_rows "${files[@]}")" -eq 0
	check "$mode: every file ends with a complete line" bash -c "for x in ${files[*]}; do [ ! -s \"\$x\" ] || [ -z \"\$(tail -c1 \"\$x\")\" ] || exit 1; done"
	local n
	n=$(awk -F, 'FNR == 1 { for (i = 1; i <= NF; i++) if ($i == "seq") s = i; next } /^timestamp,/ { next } $s > m { m = $s } END { print m }' "${files[@]}")
	local missing
	missing=$(comm -23 <(expected_rows "$n" 4) <(rows_union "${files[@]}") | wc -l)
	check "$mode: all $((n * 4)) rows of $n ticks are present across the files ($missing missing)" test "$missing" -eq 0
	[ "$missing" -eq 0 ] || comm -23 <(expected_rows "$n" 4) <(rows_union "${files[@]}") | head -n 5 | sed 's/^/# missing /'
}

run_mode create
check "create: the reopen was logged" grep -q "reopening" "$T/create.log"
run_mode copytruncate
check "copytruncate: the truncation was noticed" grep -q "was truncated (copytruncate)" "$T/copytruncate.log"

# SIGUSR1 also reopens; a burst of signals at any moment loses nothing.
mkdir -p "$T/sig"
start_collect "$T/sig.log" --out-dir "$T/sig" --interval 0.01
sleep 0.3
for i in $(seq 1 50); do kill -USR1 "$COLLECT_PID"; kill -HUP "$COLLECT_PID"; sleep 0.01; done
sleep 0.2
kill -INT "$COLLECT_PID"
wait "$COLLECT_PID"
rc=$?
f=$(csv_in "$T/sig")
check "a burst of SIGHUP/SIGUSR1 then SIGINT: exit 0" test "$rc" -eq 0
check "a burst of signals: exactly one header" test "$(grep -c '^timestamp,' "$f")" -eq 1
check "a burst of signals: no torn rows" test "$(bad_rows "$f")" -eq 0
seqs=$(col_values "$f" seq 0 | awk 'NR > 1 && $1 != p + 1 { gap += $1 - p - 1 } { p = $1 } END { print gap + 0 }')
skipped=$(grep -oE '\(([0-9]+) skipped\)' "$T/sig.log" | grep -oE '[0-9]+')
check "a burst of signals: seq gaps equal the ticks reported skipped ($seqs vs $skipped)" test "$seqs" -eq "${skipped:-0}"
check "SIGINT: the last tick's rows are all on disk" test "$(col_values "$f" seq | tail -n 4 | sort -u | wc -l)" -eq 1
finish
