#!/bin/bash
# GPU events from the kernel log (GPUTEL_KMSG: a file, then a FIFO, in
# /dev/kmsg's record format): every Xid line variant is counted once per
# GPU and code, joined to its GPU by bus address, written once to
# events.jsonl, and a restart -- a clean one, a kill -9, a new boot --
# neither repeats nor loses a record.
. "$(dirname "$0")/lib.sh"

use_sim 2 "$SCN/steady.scn" intel
# A procfs root of our own, so that the test decides the boot id.
mkdir -p "$T/proc/sys/kernel/random"
cp "$FIX/intel/proc/stat" "$FIX/intel/proc/meminfo" "$T/proc/"
BOOT1=11111111-2222-3333-4444-555555555555
echo "$BOOT1" >"$T/proc/sys/kernel/random/boot_id"
export GPUTEL_PROCFS_ROOT="$T/proc"
cp "$FIX/kmsg/variants.kmsg" "$T/kmsg"
export GPUTEL_KMSG="$T/kmsg"
mkdir -p "$T/out" "$T/state"
EVENTS="$T/out/events.jsonl"
PORT=$(free_port)

# --on-xid: each Xid's environment, one line per run.
cat >"$T/xid-hook.sh" <<'SH'
#!/bin/sh
echo "$GPUTEL_EVENT $GPUTEL_XID $GPUTEL_XID_NAME gpu=$GPUTEL_GPU_INDEX pid=$GPUTEL_PID process=$GPUTEL_PROCESS source=$GPUTEL_XID_SOURCE text=$GPUTEL_XID_TEXT" >>"$HOOK_OUT"
SH
chmod +x "$T/xid-hook.sh"
export HOOK_OUT="$T/hooks.txt"

start_agent() {
	"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$T/c.sock" \
		--exporter-bind 127.0.0.1 --exporter-port "$PORT" --poll-interval 0.1 --on-xid "$T/xid-hook.sh" \
		>>"$T/agent.log" 2>&1 &
	AG=$!
	PIDS+=("$AG")
}
stop_agent() {
	kill "$AG" 2>/dev/null
	wait "$AG" 2>/dev/null
}
# Waits up to 5 s for events.jsonl to hold $1 lines.
wait_lines() {
	for ((i = 0; i < 50; i++)); do
		[ "$({ wc -l <"$EVENTS"; } 2>/dev/null || echo 0)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
scrape() { curl -s "http://127.0.0.1:$PORT/metrics" >"$T/m.txt"; }
# xid_count GPU CODE: the counter's value.
xid_count() { grep -E "^gputel_gpu_xid_errors_total\{gpu=\"$1\",.*xid=\"$2\"\}" "$T/m.txt" | awk '{ print $NF }'; }

# 1) Every variant, once.
start_agent
wait_lines 9
sleep 0.3
scrape
check "9 events from the fixture: 7 Xids, 1 SXid, 1 driver warning ($(wc -l <"$EVENTS") lines)" test "$(wc -l <"$EVENTS")" -eq 9
check "Xid 13 on gpu 0 counts 2" test "$(xid_count 0 13)" = 2
check "Xid 31 (the pre-2012 form, no PCI:) on gpu 0 counts 1" test "$(xid_count 0 31)" = 1
check "an unknown code is counted too" test "$(xid_count 0 4242)" = 1
check "Xid 95 (MIG) on gpu 1 counts 1" test "$(xid_count 1 95)" = 1
check "Xid 63 with pid '<unknown>' counts 1" test "$(xid_count 1 63)" = 1
check "fallen off the bus with its Xid 79 line counts once" test "$(xid_count 1 79)" = 1
check "the SXid is counted per switch and code" \
	grep -qx 'gputel_nvswitch_sxid_errors_total{pci_bus_id="0000:05:00",sxid="12028"} 1' "$T/m.txt"
check "the line that is not a record is counted" grep -qx 'gputel_kernel_log_records_malformed_total 1' "$T/m.txt"
check "no record lost" grep -qx 'gputel_kernel_log_records_lost_total 0' "$T/m.txt"
promtool check metrics <"$T/m.txt" >"$T/lint.txt" 2>&1
check "promtool finds nothing wrong with the new families" bash -c "! grep -E 'xid|kernel_log|events_log' '$T/lint.txt'"
check "every event line is JSON with its kernel record, and each record once" python3 - "$EVENTS" "$BOOT1" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
seqs = [l["kernel_seq"] for l in lines]
assert len(seqs) == len(set(seqs)), seqs
assert all(l["boot_id"] == sys.argv[2] for l in lines)
by = {l["kernel_seq"]: l for l in lines}
x95 = by[103]
assert x95["kind"] == "xid" and x95["code"] == 95 and x95["gpu"] == 1, x95
assert x95["uuid"].startswith("GPU-") and x95["pci_bus_id"] == "0000:28:00", x95
assert x95["gpu_instance"] == 1 and x95["compute_instance"] == 2 and x95["pid"] == 7062, x95
assert x95["name"] == "UNCONTAINED_ECC_ERROR" and x95["severity"] == "error", x95
assert by[102]["process"] == "python3" and by[102]["pid"] == 2413
assert "pid" not in by[104] and "process" not in by[104]
assert by[106]["name"] == "unknown"
assert by[107]["name"] == "GPU_HAS_FALLEN_OFF_THE_BUS" and by[107]["severity"] == "fatal"
assert 108 not in by, "the companion line is the same fall"
assert by[109]["kind"] == "driver_message" and "RmInitAdapter" in by[109]["text"]
assert by[110]["kind"] == "sxid" and by[110]["fatal"] is False and by[110]["code"] == 12028
assert by[102]["text"].startswith("NVRM: Xid (PCI:0000:18:00): 13")
PY
check "each Xid is logged with its meaning" grep -q 'events: gpu 1 (GPU-[0-9a-f-]*): Xid 79 GPU_HAS_FALLEN_OFF_THE_BUS (fatal, from kernel)' "$T/agent.log"
for ((i = 0; i < 30; i++)); do [ "$({ wc -l <"$HOOK_OUT"; } 2>/dev/null)" = 7 ] && break; sleep 0.1; done
check "--on-xid ran once for each of the 7 Xids, the ones beyond 4 at once waiting their turn" test "$(wc -l <"$HOOK_OUT")" -eq 7
check "--on-xid has the event in its environment" \
	grep -qx "xid 95 UNCONTAINED_ECC_ERROR gpu=1 pid=7062 process= source=kernel text=NVRM: Xid (PCI:0000:28:00 GPU-I:01 GPU-CI:02): 95, pid=7062, Uncontained: LTC TAG (0x2, 0x1). RST: Yes, D-RST: No" "$HOOK_OUT"
check "... the process where the line names it" grep -q "^xid 13 GR_EXCEPTION gpu=0 pid=2413 process=python3 " "$HOOK_OUT"
stop_agent
check "the position is saved at stop: this boot, record 113" grep -qx "$BOOT1 113" "$T/state/kmsg.position"

# 2) A restart resumes after the last record: only the new ones.
printf '3,114,5000,-;NVRM: Xid (PCI:0000:18:00): 48, An uncorrectable double bit error\n' >>"$T/kmsg"
printf '3,115,5100,-;NVRM: Xid (PCI:0000:18:00): 13, pid=9, name=x, again\n' >>"$T/kmsg"
start_agent
wait_lines 11
sleep 0.5
scrape
check "after a restart, only the 2 new records become events ($(wc -l <"$EVENTS") lines)" test "$(wc -l <"$EVENTS")" -eq 11
check "... and the counters start from what is new" test "$(xid_count 0 13)" = 1
check "... the log says it resumed" grep -q "resumed where it left off" "$T/agent.log"

# 3) kill -9 after an event, with its position lost: events.jsonl's last record counts.
printf '3,116,5200,-;NVRM: Xid (PCI:0000:18:00): 74, NVLink error\n' >>"$T/kmsg"
wait_lines 12
kill -9 "$AG"
wait "$AG" 2>/dev/null
rm -f "$T/state/kmsg.position"
start_agent
sleep 1
check "after kill -9 and a lost position, nothing is written twice ($(wc -l <"$EVENTS") lines)" test "$(wc -l <"$EVENTS")" -eq 12
stop_agent

# 4) A new boot: the position is another boot's, this boot's buffer is news.
echo 99999999-8888-7777-6666-555555555555 >"$T/proc/sys/kernel/random/boot_id"
start_agent
wait_lines 24
sleep 0.3
stop_agent
check "a new boot reads the kernel log from its start (12 more events)" test "$(wc -l <"$EVENTS")" -eq 24
check "... and says so" grep -q "a new boot since" "$T/agent.log"

# 5) A FIFO: events come as the records are written, not at the next tick only.
mkfifo "$T/kmsg.fifo"
export GPUTEL_KMSG="$T/kmsg.fifo"
: >"$EVENTS"
start_agent
exec 7<>"$T/kmsg.fifo"
sleep 0.5
# Binary junk and a 10 KiB line are counted and skipped; the record after them is read.
head -c 300 /dev/urandom | tr -d '\n' >&7
printf '\n' >&7
python3 -c 'print("3,1,1,-;" + "A" * 10240)' >&7
printf '3,200,6000,-;NVRM: Xid (PCI:0000:28:00): 119, pid=5, name=y, Timeout after 6s of waiting for RPC response from GPU1 GSP!\n' >&7
check "a record written to the FIFO becomes an event" wait_lines 1
sleep 0.3   # the next tick's rendering
scrape
check "... Xid 119 on gpu 1" test "$(xid_count 1 119)" = 1
check "... the junk is counted, not an event" grep -qE '^gputel_kernel_log_records_malformed_total [12]$' "$T/m.txt"
# An allocation lists the Xids of its own GPUs that came while it was live
# (records stamped now, on CLOCK_MONOTONIC as the kernel stamps them).
now_us() { python3 -c 'import time; print(int(time.monotonic() * 1e6))'; }
"$GPUTEL" alloc begin job1 --gpus 1 --socket "$T/c.sock" >/dev/null
printf '3,201,%s,-;NVRM: Xid (PCI:0000:28:00): 48, An uncorrectable double bit error\n' "$(now_us)" >&7
printf '3,202,%s,-;NVRM: Xid (PCI:0000:18:00): 13, pid=1, name=z, not its GPU\n' "$(now_us)" >&7
wait_lines 3
sleep 0.3
"$GPUTEL" alloc end job1 --socket "$T/c.sock" --json >"$T/job1.json"
check "the allocation's summary lists the Xid on its GPU, with its name, and not the other GPU's" python3 - "$T/job1.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
x = a["xid_events"]
assert [(e["code"], e["name"], e["gpu"]) for e in x] == [(48, "GPU_ECC_DBE", 1)], x
assert x[0]["at"].endswith("Z") and a["xid_events_dropped"] == 0, a
PY
"$GPUTEL" alloc begin job2 --gpus 1 --socket "$T/c.sock" >/dev/null
printf '3,203,%s,-;NVRM: Xid (PCI:0000:28:00): 74, NVLink error\n' "$(now_us)" >&7
wait_lines 4
sleep 0.3
"$GPUTEL" alloc end job2 --socket "$T/c.sock" >"$T/job2.txt"
check "... and the summary for people names it" grep -q "Xid 74 NVLINK_ERROR on gpu 1 at " "$T/job2.txt"
exec 7>&-
stop_agent
check "the agent stops cleanly with a FIFO" test "$(tail -n1 "$T/agent.log" | grep -c 'stopped after')" -eq 1

# 6) No kernel log to read: the agent runs without it and says why.
export GPUTEL_KMSG="$T/no-such-kmsg"
start_agent
sleep 0.5
check "a kernel log that cannot be read is one warning, and the agent runs on" \
	bash -c "grep -q 'events: no kernel log: cannot read kernel messages from $T/no-such-kmsg' '$T/agent.log' && kill -0 $AG"
stop_agent
finish
