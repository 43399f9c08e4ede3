#!/bin/bash
# The installed logrotate policy (packaging/justnews-perf.logrotate.in, as
# install_logrotate.sh renders it) run by real logrotate, again and again,
# against a running agent that writes CSV rows and ends allocations into
# the ledger: afterwards every row and every ledger line is in exactly one
# of the files (plain, rotated, or rotated and compressed), every file
# starts with the CSV header, and logrotate -d finds nothing wrong.
. "$(dirname "$0")/lib.sh"

LOGROTATE=$(command -v logrotate || echo /usr/sbin/logrotate)
use_sim 2 "$SCN/steady.scn" intel
LOGS="$T/logs"
SOCK="$T/run/control.sock"
mkdir -p "$LOGS" "$T/run" "$T/state"
chmod 0750 "$LOGS"
user=$(id -un)
group=$(id -gn)

# The policy as installed, for this directory and account.  Without
# systemd there is no MainPID to look up, so the pid comes from the
# agent's pid file; the kill line is the policy's own.
sed -e "s|@LOGDIR@|$LOGS|g" -e "s|@USER@|$user|g" -e "s|@GROUP@|$group|g" \
	-e "s|@SIZE_MB@|100|g" -e "s|@KEEP_DAYS@|30|g" \
	-e "s|pid=\$(systemctl show .*|pid=\$(cat $T/agent.pid)|" \
	"$ROOT/packaging/justnews-perf.logrotate.in" >"$T/policy"
check "the policy reads the pid file in this test (the substitution took)" grep -q "pid=\$(cat $T/agent.pid)" "$T/policy"
check "the policy renames and reopens: no copytruncate" bash -c "! grep -qE '^[[:space:]]*copytruncate' '$T/policy'"
"$LOGROTATE" -d -s "$T/lr.state" "$T/policy" >"$T/lr-d.log" 2>&1
check "logrotate -d: exit 0" test $? -eq 0
check "logrotate -d: no error" bash -c "! grep -qi 'error' '$T/lr-d.log'"
grep -i error "$T/lr-d.log" | sed 's/^/# /'

# Telemetry on from the first sample (the steady load is far above 1 %), 20 ticks a second.
"$GPUTEL" agent --config /dev/null --out-dir "$LOGS" --state-dir "$T/state" --control-socket "$SOCK" \
	--exporter-bind 127.0.0.1 --exporter-port "$(free_port)" --start-util 1 --start-seconds 0 \
	--stop-util 0 --poll-interval 0.05 >"$T/agent.log" 2>&1 &
AG=$!
PIDS+=("$AG")
echo "$AG" >"$T/agent.pid"
for ((i = 0; i < 50; i++)); do [ -S "$SOCK" ] && break; sleep 0.1; done
check "the agent serves its control socket" test -S "$SOCK"

# Rotate eight times while rows are written and allocations end.
ids=()
for ((r = 1; r <= 8; r++)); do
	for ((k = 0; k < 3; k++)); do
		id="rot-$r-$k"
		"$GPUTEL" alloc begin "$id" --socket "$SOCK" >/dev/null 2>&1 && ids+=("$id")
		sleep 0.05
		"$GPUTEL" alloc end "$id" --socket "$SOCK" >/dev/null 2>&1
	done
	sleep 0.3
	"$LOGROTATE" -f -s "$T/lr.state" "$T/policy" >>"$T/lr.log" 2>&1 || echo "# logrotate run $r exited $?"
	sleep 0.2
done
sleep 0.3
kill -TERM "$AG"
wait "$AG" 2>/dev/null
check "the agent exits cleanly after the rotations" test $? -eq 0
grep -iE 'error|warn' "$T/lr.log" | sed 's/^/# logrotate: /'
check "logrotate reported no error in 8 forced runs" bash -c "! grep -qi error '$T/lr.log'"

shopt -s nullglob
csv_files=("$LOGS"/*.csv "$LOGS"/*.csv.[0-9]*)
gz=("$LOGS"/*.csv.*.gz)
plain=("$LOGS"/*.csv.1)
check "rotated files exist, the older ones compressed (delaycompress keeps .1 plain)" \
	test "${#gz[@]}" -ge 1 -a "${#plain[@]}" -ge 1
echo "# files: $(cd "$LOGS" && ls | tr '\n' ' ')"
cat_any() { case "$1" in *.gz) zcat "$1" ;; *) cat "$1" ;; esac; }

# Every file starts with the header: the agent wrote it into each new file.
bad_head=0
for f in "${csv_files[@]}"; do
	cat_any "$f" | head -n1 | grep -q '^timestamp,' || { bad_head=$((bad_head + 1)); echo "# no header: $f"; }
done
check "every CSV file, rotated or not, starts with the header" test "$bad_head" -eq 0

# Every (seq, gpu) row exactly once across all files, from 1 to the last.
for f in "${csv_files[@]}"; do cat_any "$f"; done | awk -F, '
	/^timestamp,/ { for (i = 1; i <= NF; i++) { if ($i == "seq") s = i; if ($i == "gpu_index") g = i }; next }
	{ print $s "," $g }' >"$T/rows"
last=$(cut -d, -f1 "$T/rows" | sort -n | tail -n1)
dups=$(sort "$T/rows" | uniq -d | wc -l)
want=$(for ((q = 1; q <= ${last:-0}; q++)); do echo "$q,0"; echo "$q,1"; done | sort)
check "rows written: $(wc -l <"$T/rows") over ${last:-0} ticks" test "${last:-0}" -ge 40
check "no row twice" test "$dups" -eq 0
check "no row missing" bash -c "[ \"\$(sort -u '$T/rows')\" = \"$want\" ]"

# Every allocation's ledger line exactly once.
ledger=("$LOGS"/allocations.jsonl* )
for f in "${ledger[@]}"; do cat_any "$f"; done | python3 -c '
import json, sys
for line in sys.stdin:
    print(json.loads(line)["id"])' | sort >"$T/ledger-ids"
check "allocations begun: ${#ids[@]}" test "${#ids[@]}" -eq 24
check "the ledger was rotated too" test "${#ledger[@]}" -ge 2
check "every allocation's ledger line exactly once across the rotated ledgers" \
	bash -c "[ \"\$(cat '$T/ledger-ids')\" = \"$(printf '%s\n' "${ids[@]}" | sort)\" ]"
finish
