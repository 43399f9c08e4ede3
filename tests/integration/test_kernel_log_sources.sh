#!/bin/bash
# GPU events from the kernel log's fallbacks, where /dev/kmsg cannot be
# read (klog.h): the systemd journal's kernel transport (journal files
# made here by systemd-journal-remote, read through GPUTEL_JOURNAL_DIR)
# and /var/log/kern.log (GPUTEL_KERN_LOG, a file written here in both
# syslog time stamp forms).  Each is followed while the agent runs, and a
# restart neither repeats nor loses a line; kern.log also across its
# rotation, while running and while stopped, and a truncation.  Then the
# order of the sources, a broken libsystemd, and the doctor's kernel-log
# check for each source.
. "$(dirname "$0")/lib.sh"

JREMOTE=/lib/systemd/systemd-journal-remote
use_sim 2 "$SCN/steady.scn" intel
mkdir -p "$T/proc/sys/kernel/random" "$T/journal" "$T/out" "$T/state"
cp "$FIX/intel/proc/stat" "$FIX/intel/proc/meminfo" "$T/proc/"
BOOT1=11111111-2222-3333-4444-555555555555
BOOT2=99999999-8888-7777-6666-555555555555
echo "$BOOT1" >"$T/proc/sys/kernel/random/boot_id"
export GPUTEL_PROCFS_ROOT="$T/proc"
# Not GPUTEL_KMSG (it would replace every other source): the sources are named instead.
unset GPUTEL_KMSG
export GPUTEL_JOURNAL_DIR="$T/journal"
export GPUTEL_KERN_LOG="$T/kern.log"
# RFC 3164 time stamps are local time: the test's and the agent's the same.
export TZ=UTC
EVENTS="$T/out/events.jsonl"
PORT=$(free_port)

start_agent() {
	"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$T/c.sock" \
		--exporter-bind 127.0.0.1 --exporter-port "$PORT" --poll-interval 0.1 >>"$T/agent.log" 2>&1 &
	AG=$!
	PIDS+=("$AG")
}
stop_agent() {
	kill "$AG" 2>/dev/null
	wait "$AG" 2>/dev/null
}
lines() { { wc -l <"$EVENTS"; } 2>/dev/null || echo 0; }
# Waits up to 5 s for events.jsonl to hold $1 lines.
wait_lines() {
	for ((i = 0; i < 50; i++)); do
		[ "$(lines)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
scrape() { curl -s "http://127.0.0.1:$PORT/metrics" >"$T/m.txt"; }
metric() { awk -v n="$1" '$1 == n { print $2 }' "$T/m.txt"; }
# The codes of the Xid events in events.jsonl, in order, space-separated.
codes() { python3 -c 'import json, sys; print(" ".join(str(json.loads(l).get("code", "-")) for l in open(sys.argv[1])))' "$EVENTS"; }

# ---- the journal ----

if [ ! -x "$JREMOTE" ]; then
	echo "ok - the journal # SKIP $JREMOTE is not installed (scripts/deps.sh: systemd-journal-remote)"
else
	# jentry BOOT TRANSPORT PRIORITY MONO_US MESSAGE: one entry in the journal's export format.
	RT=$(date +%s%6N)
	jentry() {
		RT=$((RT + 1000))
		printf '__REALTIME_TIMESTAMP=%s\n__MONOTONIC_TIMESTAMP=%s\n_BOOT_ID=%s\n_TRANSPORT=%s\nPRIORITY=%s\n' \
			"$RT" "$4" "${1//-/}" "$2" "$3"
		[ "$2" = kernel ] && printf 'SYSLOG_IDENTIFIER=kernel\n_SOURCE_MONOTONIC_TIMESTAMP=%s\n' "$4"
		printf 'MESSAGE=%s\n\n' "$5"
	}
	# jwrite FILE: appends the entries in FILE to the journal file, as journald would.
	jwrite() { timeout 20 "$JREMOTE" --output="$T/journal/system.journal" "$1" >>"$T/jremote.log" 2>&1; }
	{
		jentry "$BOOT2" kernel 3 1000 'NVRM: Xid (PCI:0000:18:00): 48, another boot'"'"'s fault'
		jentry "$BOOT1" kernel 6 2000 'NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15'
		jentry "$BOOT1" kernel 3 2100 'NVRM: Xid (PCI:0000:18:00): 13, pid=2413, name=python3, Graphics Exception'
		jentry "$BOOT1" syslog 3 2150 'NVRM: Xid (PCI:0000:18:00): 74, not the kernel but a program'
		jentry "$BOOT1" kernel 3 2200 'NVRM: Xid (PCI:0000:28:00 GPU-I:01 GPU-CI:02): 95, pid=7062, Uncontained: LTC TAG'
		jentry "$BOOT1" kernel 4 2300 'NVRM: GPU 0000:28:00.0: RmInitAdapter failed! (0x26:0x56:1474)'
	} >"$T/j1.export"
	jwrite "$T/j1.export"
	check "systemd-journal-remote made a journal file" test -s "$T/journal/system.journal"
	export GPUTEL_KERNEL_LOG_SOURCES=journal,kern.log

	# 1) A first start: this boot's kernel records, from the start.
	start_agent
	wait_lines 3
	sleep 0.3
	scrape
	check "journal: 3 events, this boot's kernel ones ($(codes))" test "$(codes)" = "13 95 -"
	check "journal: the log names the source once" \
		test "$(grep -c "events: reading GPU events from the kernel messages of the journal in $T/journal" "$T/agent.log")" -eq 1
	check "journal: the metrics name the source" grep -qx 'gputel_kernel_log_source_info{source="journal"} 1' "$T/m.txt"
	check "journal: 4 records read (the other boot's and a program's are not)" test "$(metric gputel_kernel_log_records_read_total)" = 4
	check "journal: each event has the kernel's text and level, and no kernel_seq" python3 - "$EVENTS" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert ev[0]["gpu"] == 0 and ev[0]["pid"] == 2413 and ev[0]["text"].startswith("NVRM: Xid (PCI:0000:18:00): 13"), ev[0]
assert ev[1]["gpu"] == 1 and ev[1]["gpu_instance"] == 1, ev[1]
assert ev[2]["kind"] == "driver_message" and "RmInitAdapter" in ev[2]["text"], ev[2]
assert all("kernel_seq" not in e and e["source"] == "kernel" for e in ev), ev
PY

	# 2) Followed: an entry journald adds while the agent runs.
	jentry "$BOOT1" kernel 3 2400 'NVRM: Xid (PCI:0000:28:00): 79, pid='"'"'<unknown>'"'"', name=<unknown>, GPU has fallen off the bus.' >"$T/j2.export"
	jwrite "$T/j2.export"
	check "journal: an entry added while running becomes an event" wait_lines 4
	stop_agent
	check "journal: the position is saved: this boot and a cursor" grep -qE "^$BOOT1 s=[0-9a-f]+;i=" "$T/state/journal.position"

	# 3) A restart goes on after the saved entry: only what came while stopped.
	{
		jentry "$BOOT1" kernel 3 2500 'NVRM: Xid (PCI:0000:18:00): 48, An uncorrectable double bit error'
		jentry "$BOOT1" kernel 3 2600 'NVRM: Xid (PCI:0000:18:00): 31, Ch 00000009'
	} >"$T/j3.export"
	jwrite "$T/j3.export"
	start_agent
	wait_lines 6
	sleep 0.5
	check "journal: after a restart, only the 2 new entries ($(codes))" test "$(codes)" = "13 95 - 79 48 31"
	check "journal: ... and the log says it resumed" grep -q "journal in $T/journal, resumed where it left off" "$T/agent.log"
	stop_agent

	# 4) A new boot: its own records from the start, not the saved boot's.
	echo "$BOOT2" >"$T/proc/sys/kernel/random/boot_id"
	start_agent
	wait_lines 7
	sleep 0.5
	stop_agent
	check "journal: a new boot reads that boot's records ($(codes))" test "$(codes)" = "13 95 - 79 48 31 48"
	check "journal: ... and says so" grep -q "a new boot since $T/state/journal.position was saved" "$T/agent.log"
	echo "$BOOT1" >"$T/proc/sys/kernel/random/boot_id"

	# 5) A broken libsystemd: one line, and the next source.
	mkdir -p "$T/badlib"
	echo "not a library" >"$T/badlib/libsystemd.so.0"
	: >"$T/kern.log"
	LD_LIBRARY_PATH="$T/badlib" start_agent
	sleep 1
	check "journal: kern.log is read instead of a broken libsystemd.so.0, and the log line says why" \
		grep -q "events: reading GPU events from $T/kern.log; passed over: cannot read the journal: $T/badlib/libsystemd.so.0: " "$T/agent.log"
	check "journal: ... and the agent runs on" kill -0 "$AG"
	stop_agent
	rm -f "$T/state/kern-log.position"
fi

# ---- kern.log ----

export GPUTEL_KERNEL_LOG_SOURCES=kern.log
: >"$EVENTS"
mv "$T/agent.log" "$T/agent-journal.log" 2>/dev/null
now3164() { date -u +'%b %e %H:%M:%S'; }
now3339() { date -u +'%Y-%m-%dT%H:%M:%S.%6N+00:00'; }
{
	# An earlier boot's line: history on a first start, not an event.
	echo "2020-01-02T03:04:05.000000+00:00 node1 kernel: [ 99.000001] NVRM: Xid (PCI:0000:18:00): 48, an old boot"
	echo "$(now3164) node1 kernel: [ 1234.567890] NVRM: Xid (PCI:0000:18:00): 13, pid=2413, name=python3, Graphics Exception"
	echo "$(now3339) node1 sshd[412]: NVRM: Xid (PCI:0000:18:00): 74, a program's line, not the kernel's"
	echo "$(now3339) node1 kernel: NVRM: Xid (PCI:0000:28:00 GPU-I:01 GPU-CI:02): 95, pid=7062, Uncontained: LTC TAG"
	head -c 200 /dev/urandom | tr -d '\n'
	echo
	python3 -c 'print("A" * 10240)'
	echo "$(now3339) node1 kernel: [ 1240.000000] NVRM: GPU 0000:28:00.0: RmInitAdapter failed! (0x26:0x56:1474)"
} >"$T/kern.log"
klog() { echo "$(now3339) node1 kernel: [ 1300.000000] NVRM: Xid (PCI:0000:$1:00): $2, $3" >>"${4:-$T/kern.log}"; }

# 1) A first start: this boot's kernel lines; the rest skipped or counted.
start_agent
wait_lines 2
sleep 0.3
scrape
check "kern.log: 2 events, both forms of time stamp ($(codes))" test "$(codes)" = "13 95"
check "kern.log: the log names the source once" test "$(grep -c "events: reading GPU events from $T/kern.log\$" "$T/agent.log")" -eq 1
check "kern.log: the metrics name the source" grep -qx 'gputel_kernel_log_source_info{source="kern.log"} 1' "$T/m.txt"
check "kern.log: binary junk and a 10 KiB line are counted" test "$(metric gputel_kernel_log_records_malformed_total)" = 2
check "kern.log: 3 kernel lines read (not the old boot's, not the program's)" test "$(metric gputel_kernel_log_records_read_total)" = 3
check "kern.log: the event has the text without the kernel's time stamp, and the syslog time" python3 - "$EVENTS" <<'PY'
import json, sys, time, calendar
ev = [json.loads(l) for l in open(sys.argv[1])]
assert ev[0]["text"].startswith("NVRM: Xid (PCI:0000:18:00): 13") and ev[0]["pid"] == 2413, ev[0]
at = calendar.timegm(time.strptime(ev[1]["at"][:19], "%Y-%m-%dT%H:%M:%S"))
assert abs(at - time.time()) < 60, ev[1]
assert "kernel_seq" not in ev[0]
PY

# 2) Followed: a line appended, then a rotation (rename, a late line to the old file, a new file).
klog 18 48 "appended"
check "kern.log: an appended line becomes an event" wait_lines 3
mv "$T/kern.log" "$T/kern.log.1"
klog 28 63 "written to the old file after its rename" "$T/kern.log.1"
klog 28 74 "another before rsyslog's HUP" "$T/kern.log.1"
klog 18 31 "the new file's first line"
check "kern.log: across a rotation, the old file's last lines and the new file's" wait_lines 6
sleep 0.5
check "kern.log: ... each once, in order ($(codes))" test "$(codes)" = "13 95 48 63 74 31"
stop_agent
check "kern.log: the position is saved: inode, offset, head" grep -qE "^$(stat -c %i "$T/kern.log") [0-9]+ [0-9]+ [0-9a-f]{16}\$" "$T/state/kern-log.position"

# 3) A restart goes on after the last line: only what came while stopped.
klog 18 119 "while stopped"
start_agent
wait_lines 7
sleep 0.5
check "kern.log: after a restart, only the new line ($(codes))" test "$(codes)" = "13 95 48 63 74 31 119"
check "kern.log: ... and the log says it resumed" grep -q "from $T/kern.log, resumed where it left off" "$T/agent.log"
stop_agent

# 4) Rotated while stopped: the saved file, now kern.log.1, is finished first.
klog 18 43 "before the rotation"
mv "$T/kern.log" "$T/kern.log.1"
klog 28 45 "the new file"
start_agent
wait_lines 9
sleep 0.5
check "kern.log: rotated while stopped, both files' new lines, once ($(codes))" test "$(codes)" = "13 95 48 63 74 31 119 43 45"
check "kern.log: ... and says it finished the old one first" grep -q "finishing $T/kern.log.1 first" "$T/agent.log"

# 5) Truncated in place (copytruncate): read again from the start.
: >"$T/kern.log"
sleep 0.3
klog 18 62 "after a truncation"
check "kern.log: a truncated file is read again from its start" wait_lines 10
stop_agent

# ---- the order of the sources, and the doctor ----

# kernel_log_line [ENV=VALUE...]: the doctor's kernel-log line, with that environment.
kernel_log_line() { env "$@" "$GPUTEL" doctor --config /dev/null 2>/dev/null | grep -E '^(PASS|WARN|FAIL)  kernel-log '; }
out=$(kernel_log_line GPUTEL_KERNEL_LOG_SOURCES=kern.log)
check "doctor: kern.log is WARN, with the better sources as the fix" \
	grep -q "^WARN  kernel-log   reading $T/kern.log (group adm).*fix: grant CAP_SYSLOG.*systemd-journal" <<<"$out"
out=$(kernel_log_line GPUTEL_KERNEL_LOG_SOURCES=nothing)
check "doctor: a bad GPUTEL_KERNEL_LOG_SOURCES is WARN, and named" grep -q "^WARN  kernel-log   GPUTEL_KERNEL_LOG_SOURCES=nothing" <<<"$out"
out=$(kernel_log_line GPUTEL_KERNEL_LOG_SOURCES=journal,kern.log GPUTEL_JOURNAL_DIR="$T/none" GPUTEL_KERN_LOG="$T/none")
check "doctor: none readable is WARN, with each reason and a fix for each" \
	grep -q "^WARN  kernel-log   cannot read the journal in $T/none: .*; cannot read $T/none: .*fix: the service unit grants CAP_SYSLOG.*systemd-journal.*adm" <<<"$out"
if [ -x "$JREMOTE" ]; then
	out=$(kernel_log_line GPUTEL_KERNEL_LOG_SOURCES=journal)
	check "doctor: the journal is PASS, and says /dev/kmsg would be cheaper" \
		grep -q "^PASS  kernel-log   reading the kernel messages of the journal in $T/journal .*/dev/kmsg would be cheaper: grant CAP_SYSLOG" <<<"$out"
	# The default order, as an account /dev/kmsg is closed to (kernel.dmesg_restrict=1, no CAP_SYSLOG).
	NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	if [ "$(id -u)" -ne 0 ]; then
		echo "ok - the default order for an account without /dev/kmsg # SKIP not root"
	elif [ "$(cat /proc/sys/kernel/dmesg_restrict 2>/dev/null)" != 1 ]; then
		echo "ok - the default order for an account without /dev/kmsg # SKIP /dev/kmsg is open to every account here"
	else
		chmod 0755 "$T/journal"
		chmod 0644 "$T/journal"/*.journal
		out=$(cd / && timeout 60 env -u GPUTEL_KERNEL_LOG_SOURCES "${NOBODY[@]}" "$GPUTEL" doctor --config /dev/null 2>/dev/null |
			grep -E '^(PASS|WARN|FAIL)  kernel-log ')
		check "doctor as an account without /dev/kmsg: the journal comes next" \
			grep -q '^PASS  kernel-log   reading the kernel messages of the journal' <<<"$out"
	fi
fi

finish
