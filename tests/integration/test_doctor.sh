#!/bin/bash
# gputel doctor: a good setup passes every check; each broken setup
# (unreadable RAPL, unwritable log directory, exporter down or serving
# garbage, wrong socket permissions, a bad settings file, a stale or
# missing logrotate policy, persistence mode off, no NVML) fails or warns
# on the right check and names the right fix.  The service account is
# nobody:nogroup, so the permission checks judge another user than the
# one running the test.
. "$(dirname "$0")/lib.sh"

SVC_USER=nobody
SVC_GROUP=nogroup
if ! getent passwd "$SVC_USER" >/dev/null || ! getent group "$SVC_GROUP" >/dev/null; then
	not_ok "this test needs the nobody user and the nogroup group"
	finish
	exit
fi
use_sim 2 "$SCN/steady.scn" intel

# The host: a copy of the Intel fixture whose RAPL counters are readable
# by the service group only, as 60-gputel-rapl.rules leaves them.
cp -r "$FIX/intel" "$T/intel"
chmod -R a+rX "$T/intel"
find "$T/intel" -name energy_uj -exec chgrp "$SVC_GROUP" {} + -exec chmod 0440 {} +
export GPUTEL_SYSFS_ROOT="$T/intel/sys" GPUTEL_PROCFS_ROOT="$T/intel/proc"

mkdir -p "$T/logs" "$T/state" "$T/run"
chown "$SVC_USER:$SVC_GROUP" "$T/logs" "$T/state"
chmod 0750 "$T/logs" "$T/state"
PORT=$(free_port)
SOCK="$T/run/control.sock"
cat >"$T/defaults" <<EOF
JN_USER=$SVC_USER
JN_GROUP=$SVC_GROUP
JN_LOGDIR=$T/logs
JN_STATE_DIR=$T/state
JN_EXPORTER_BIND=127.0.0.1
JN_EXPORTER_PORT=$PORT
JN_CONTROL_SOCKET=$SOCK
JN_POLL_INTERVAL=0.2
EOF
# The policy as the installer writes it for these settings.
sed -e "s|@LOGDIR@|$T/logs|g" -e "s|@USER@|$SVC_USER|g" -e "s|@GROUP@|$SVC_GROUP|g" \
	-e "s|@SIZE_MB@|100|g" -e "s|@KEEP_DAYS@|30|g" "$ROOT/packaging/justnews-perf.logrotate.in" >"$T/policy"

"$GPUTEL" agent --config "$T/defaults" >"$T/agent.log" 2>&1 &
AG=$!
PIDS+=("$AG")
for ((i = 0; i < 50; i++)); do
	[ -S "$SOCK" ] && curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics" && break
	sleep 0.1
done

doctor() { "$GPUTEL" doctor --config "$T/defaults" --logrotate "$T/policy" "$@"; }
# line CHECK: the doctor's line for one check, from the last run's output.
line() { grep -E "^(PASS|WARN|FAIL)  $1 " "$T/out"; }
verdict() { line "$1" | cut -c1-4; }

doctor >"$T/out" 2>&1
rc=$?
sed 's/^/# /' "$T/out"
check "good setup: exit 0" test "$rc" -eq 0
for c in config account gpus persistence rapl otlp logdir statedir disk exporter control health logrotate; do
	check "good setup: $c passes" test "$(verdict "$c")" = PASS
done
# Without systemd (a container, or this test) the service is not judged.
if [ -d /run/systemd/system ]; then
	check "good setup: the service line is there" test -n "$(verdict service)"
else
	check "good setup: without systemd the service check warns and says so" \
		bash -c "[ '$(verdict service)' = WARN ] && grep -q 'systemd is not running' '$T/out'"
fi
check "good setup: the exporter line counts the samples it validated" \
	bash -c "line() { grep -E '^PASS  exporter ' '$T/out'; }; line | grep -q 'samples of valid Prometheus text'"
check "good setup: the last line sums up" grep -qE '^[0-9]+ passed, [0-9]+ warnings?, 0 failed$' "$T/out"

doctor --json >"$T/json" 2>&1
check "--json: exit 0, valid JSON, the same checks, no failure" python3 - "$T/json" "$T/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
text = [l.split()[1] for l in open(sys.argv[2]) if l[:4] in ("PASS", "WARN", "FAIL")]
assert [c["check"] for c in d["checks"]] == text, (d["checks"], text)
assert all(c["status"] in ("PASS", "WARN", "FAIL") for c in d["checks"])
assert all((c["fix"] is None) == (c["status"] == "PASS") for c in d["checks"])
assert d["summary"]["fail"] == 0 and d["summary"]["pass"] >= 11, d["summary"]
EOF

# Each broken setup: run, then the verdict and the fix of one check.
broken() { # description check verdict fix-pattern [doctor args...]
	local desc=$1 c=$2 want=$3 fix=$4
	shift 4
	doctor "$@" >"$T/out" 2>&1
	local rc=$?
	if [ "$(verdict "$c")" = "$want" ] && line "$c" | grep -qE -- "fix: .*$fix"; then
		ok "$desc: $c is $want and names the fix"
	else
		not_ok "$desc: $c is $want and names the fix ($fix): $(line "$c")"
	fi
	if [ "$want" = FAIL ]; then
		check "$desc: exit 1" test "$rc" -eq 1
	fi
}

# Unreadable RAPL: root-only counters, as the kernel leaves them.
find "$T/intel" -name energy_uj -exec chgrp root {} + -exec chmod 0400 {} +
broken "unreadable RAPL" rapl FAIL "60-gputel-rapl.rules.*udevadm trigger --subsystem-match=powercap"
check "unreadable RAPL: the line gives the mode and owner found" bash -c "grep -E '^FAIL  rapl ' '$T/out' | grep -q 'mode 0400 root:root'"
find "$T/intel" -name energy_uj -exec chgrp "$SVC_GROUP" {} + -exec chmod 0440 {} +

# A log directory the service user cannot write.
chown root:root "$T/logs"
chmod 0755 "$T/logs"
broken "unwritable log directory" logdir FAIL "chown $SVC_USER:$SVC_GROUP $T/logs && sudo chmod 0750 $T/logs"
chown "$SVC_USER:$SVC_GROUP" "$T/logs"
chmod 0750 "$T/logs"
# Writable, but a directory above it is closed to the service user.
mkdir -p "$T/closed/logs"
chown "$SVC_USER:$SVC_GROUP" "$T/closed/logs"
chmod 0700 "$T/closed"
cp "$T/defaults" "$T/closed.conf"
echo "JN_LOGDIR=$T/closed/logs" >>"$T/closed.conf"
broken "log directory behind a closed parent" logdir FAIL "chmod o\+x $T/closed" --config "$T/closed.conf"

# Wrong socket permissions: anyone may begin allocations.
chmod 0666 "$SOCK"
broken "world-writable control socket" control FAIL "chmod 0660 $SOCK"
chmod 0660 "$SOCK"
chgrp root "$SOCK"
broken "control socket of the wrong group" control FAIL "chgrp $SVC_GROUP $SOCK"
chgrp "$SVC_GROUP" "$SOCK"

# A settings file with an error names the file and line.
cp "$T/defaults" "$T/bad.conf"
echo "JN_START_UTIL=lots" >>"$T/bad.conf"
broken "a bad settings file" config FAIL "gputel config check --config $T/bad.conf" --config "$T/bad.conf"
check "a bad settings file: the line names FILE:LINE and the key" \
	bash -c "grep -E '^FAIL  config ' '$T/out' | grep -q '$T/bad.conf:9: JN_START_UTIL'"

# The logrotate policy: stale, copytruncate, missing.
sed 's/maxsize 100M/maxsize 5M/' "$T/policy" >"$T/stale"
broken "a policy older than the settings" logrotate WARN "install_logrotate.sh" --logrotate "$T/stale"
check "a stale policy: the line says which value differs" bash -c "grep -E '^WARN  logrotate ' '$T/out' | grep -q 'maxsize 5M, the settings say JN_ROTATE_SIZE_MB=100'"
sed "s/su $SVC_USER $SVC_GROUP/su root root/" "$T/policy" >"$T/su"
broken "a policy rotating as another account" logrotate WARN "install_logrotate.sh" --logrotate "$T/su"
check "another account: the line names both" bash -c "grep -E '^WARN  logrotate ' '$T/out' | grep -q 'has su root root, the settings say JN_USER=$SVC_USER JN_GROUP=$SVC_GROUP'"
sed 's/nocreate/copytruncate/' "$T/policy" >"$T/copytruncate"
broken "a copytruncate policy" logrotate WARN "install_logrotate.sh" --logrotate "$T/copytruncate"
broken "no logrotate policy" logrotate FAIL "install_logrotate.sh" --logrotate "$T/none"

# Persistence mode off, and NVML missing (the nvidia-smi fallback).
GPUTEL_SIM_PERSISTENCE=0 broken "persistence mode off" persistence WARN "nvidia-persistenced"
# Where a real libnvidia-ml.so.1 is installed, the fallback is forced.
(
	unset GPUTEL_NVML_LIBRARY
	export GPUTEL_NVIDIA_SMI="$FAKE_SMI_DIR/nvidia-smi"
	ldconfig -p 2>/dev/null | grep -q 'libnvidia-ml\.so\.1 ' && export GPUTEL_GPU_BACKEND=nvidia-smi
	broken "NVML missing, nvidia-smi in use" gpus WARN "libnvidia-ml.so.1"
	exit "$N_FAIL"
)
N_FAIL=$((N_FAIL + $?))
GPUTEL_GPU_BACKEND=none broken "no GPU backend" gpus FAIL "install the NVIDIA driver"

# A missing service account.
cp "$T/defaults" "$T/nouser.conf"
echo "JN_USER=gputel-no-such-user" >>"$T/nouser.conf"
broken "a missing service user" account FAIL "install_service.sh creates it" --config "$T/nouser.conf"

# Something else on the port, answering text that is not Prometheus's.
GPORT=$(free_port)
python3 - "$GPORT" >"$T/garbage.log" 2>&1 <<'EOF' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"# TYPE up gauge\nup{job=\"x\" 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
PIDS+=($!)
for ((i = 0; i < 50; i++)); do curl -s -o /dev/null "http://127.0.0.1:$GPORT/" && break; sleep 0.1; done
cp "$T/defaults" "$T/garbage.conf"
echo "JN_EXPORTER_PORT=$GPORT" >>"$T/garbage.conf"
broken "invalid metrics on the port" exporter FAIL "curl -s http://127.0.0.1:$GPORT/metrics" --config "$T/garbage.conf"
check "invalid metrics: the line names the bad line" bash -c "grep -E '^FAIL  exporter ' '$T/out' | grep -q 'line 2 is not valid Prometheus text'"

# The exporter down: the agent stopped.
kill "$AG"
wait "$AG" 2>/dev/null
broken "agent stopped" exporter FAIL "systemctl start justnews-gpu-telemetry.service"
broken "agent stopped" control FAIL "systemctl start justnews-gpu-telemetry.service"
echo "JN_EXPORTER_MODE=active" >>"$T/defaults"
broken "exporter in active mode while idle" exporter WARN "JN_EXPORTER_MODE=always"

# OTLP export: a protocol it cannot speak, no libcurl, batches the collector has not taken.
JN_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
	broken "OTLP over gRPC" otlp FAIL "/etc/default/justnews-gpu-telemetry"
check "OTLP over gRPC: the line names the variable" bash -c "line() { grep -E '^FAIL  otlp ' '$T/out'; }; line | grep -q OTEL_EXPORTER_OTLP_PROTOCOL"
JN_OTLP_ENDPOINT=http://127.0.0.1:4318 GPUTEL_LIBCURL="$T/no-libcurl.so" broken "no libcurl" otlp FAIL "apt install libcurl3-gnutls"
mkdir -p "$T/state/otlp-queue"
echo x >"$T/state/otlp-queue/0000000000000007-logs-3.pb.gz"
JN_OTLP_ENDPOINT=http://127.0.0.1:4318 broken "batches wait" otlp WARN "check the collector"
check "batches wait: the line counts them" bash -c "line() { grep -E '^WARN  otlp ' '$T/out'; }; line | grep -q '1 batch (0 KiB) wait in'"
check "the doctor leaves the queue as it was" test -s "$T/state/otlp-queue/0000000000000007-logs-3.pb.gz"

"$GPUTEL" doctor --bogus >"$T/out" 2>&1
check "an unknown option exits 2" test $? -eq 2
check "and says how to get help" grep -q "see 'gputel doctor --help'" "$T/out"
finish
