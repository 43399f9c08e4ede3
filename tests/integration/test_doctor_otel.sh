#!/bin/bash
# gputel doctor --otel, on real collectors on loopback: the shipped node
# and central configurations installed into a temp "etc" (their env files
# moving every port to a free one), their units rendered into a temp unit
# directory, both collectors run as the units would run them, with a sink
# collector standing in for Tempo and Loki, and the agent exporting Xid
# events from a kernel log fixture to the node:
# - all good: validate, self-metrics, flow (records grow while gputel
#   exports), queues and endpoint pass; with nothing exported, the flow
#   passes and says so;
# - the central collector stopped: the node's queue warns, naming the
#   upstream; the node stopped: its self-metrics fail with the fix;
# - a broken env value or configuration: validate fails naming the
#   problem; a missing or hung collector: fails, the hung one killed in time;
# - gputel exporting elsewhere, to the gRPC port, or not at all: the
#   endpoint warns with the JN_OTLP_ENDPOINT line;
# - nothing installed: --otel fails "not installed", plain doctor says
#   nothing of collectors; installed, plain doctor adds their lines.
. "$(dirname "$0")/lib.sh"

bin=${GPUTEL_OTELCOL:-$("$ROOT/scripts/otelcol.sh" --print 2>/dev/null | tail -n1)}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	not_ok "no OpenTelemetry Collector${bin:+ at $bin}: run scripts/otelcol.sh (it builds one and prints its path) or set GPUTEL_OTELCOL to a collector binary"
	exit 1
fi
OTEL="$ROOT/packaging/otel"
use_sim 2 "$SCN/steady.scn" intel

# A port not in use, and not one handed out before in this test.
USED=" "
port() {
	local p
	p=$(free_port)
	while [[ "$USED" == *" $p "* ]]; do p=$(free_port); done
	USED+="$p "
	echo "$p"
}
N_GRPC=$(port) N_HTTP=$(port) N_MET=$(port) N_HC=$(port)
C_GRPC=$(port) C_HTTP=$(port) C_MET=$(port) C_HC=$(port)
AG_PORT=$(port)

check "the sink collector starts" start_otelcol "$T/sink" || exit 1
SINK_PID=$OTELCOL_PID

# ---- the installed files, as an operator tunes them ----
ETC="$T/etc"
UNITS="$T/units"
mkdir -p "$ETC" "$UNITS" "$T/empty-etc" "$T/empty-units" "$T/nstate" "$T/cstate" "$T/log" "$T/out" "$T/state"
: >"$T/log/kern.log"
cp "$OTEL/node-collector-config.yaml" "$OTEL/central-collector-config.yaml" "$ETC/"
# set_env FILE KEY=VALUE...: the key's line changed in place, as an operator edits it.
set_env() {
	local f=$1 kv
	shift
	for kv; do
		grep -q "^${kv%%=*}=" "$f" || { echo "# set_env: no ${kv%%=*} in $f"; return 1; }
		KV=$kv perl -pi -e 'my ($k) = $ENV{KV} =~ /^([^=]+)/; $_ = "$ENV{KV}\n" if /^\Q$k\E=/' "$f"
	done
}
cp "$OTEL/node.env" "$ETC/node.env"
set_env "$ETC/node.env" OTEL_NODE_GRPC_ENDPOINT=127.0.0.1:$N_GRPC OTEL_NODE_HTTP_ENDPOINT=127.0.0.1:$N_HTTP \
	OTEL_METRICS_PORT=$N_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$N_HC OTEL_UPSTREAM_ENDPOINT=127.0.0.1:$C_GRPC \
	"OTEL_KERNEL_LOG_FILES=[$T/log/kern.log]" "OTEL_NVIDIA_LOG_FILES=[$T/log/nvidia-installer.log]"
cp "$OTEL/central.env" "$ETC/central.env"
set_env "$ETC/central.env" OTEL_CENTRAL_GRPC_ENDPOINT=127.0.0.1:$C_GRPC OTEL_CENTRAL_HTTP_ENDPOINT=127.0.0.1:$C_HTTP \
	OTEL_METRICS_PORT=$C_MET OTEL_HEALTH_ENDPOINT=127.0.0.1:$C_HC TEMPO_ENDPOINT="$OTELCOL_HTTP" \
	LOKI_OTLP_ENDPOINT="$OTELCOL_HTTP"
for u in node central; do
	sed "s|@OTELCOL@|$bin|g" "$OTEL/justnews-otel-$u.service.in" >"$UNITS/justnews-otel-$u.service"
done

# start_collector TIER: as its unit runs it (the env file's variables, the
# state directory systemd would make); waits up to 30 s for its health check.
start_collector() {
	local tier=$1 hc pid
	[ "$tier" = node ] && hc=$N_HC || hc=$C_HC
	env -i PATH="$PATH" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$ETC/$tier.env" \
		env STATE_DIRECTORY="$T/${tier:0:1}state" "$bin" --config="$ETC/$tier-collector-config.yaml" \
		>>"$T/$tier.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	eval "${tier^^}_PID=$pid"
	for ((i = SECONDS + 30; SECONDS < i; )); do
		curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$hc/" && return 0
		pid_alive "$pid" || break
		sleep 0.1
	done
	echo "# the $tier collector did not come up; the end of its log:"
	tail -n 5 "$T/$tier.log" | cut -c1-300 | sed 's/^/#   /'
	return 1
}
check "the central collector starts on the installed configuration" start_collector central
check "the node collector starts on the installed configuration" start_collector node

# ---- the agent, exporting to the node ----
settings() { # FILE [JN_OTLP_ENDPOINT line]
	cat >"$1" <<EOF
JN_LOGDIR=$T/out
JN_STATE_DIR=$T/state
JN_EXPORTER_BIND=127.0.0.1
JN_EXPORTER_PORT=$AG_PORT
JN_CONTROL_SOCKET=$T/c.sock
JN_POLL_INTERVAL=0.1
JN_START_UTIL=90
EOF
	[ -z "${2:-}" ] || echo "$2" >>"$1"
}
settings "$T/defaults" "JN_OTLP_ENDPOINT=http://127.0.0.1:$N_HTTP"
: >"$T/kmsg"
GPUTEL_KMSG="$T/kmsg" "$GPUTEL" agent --config "$T/defaults" >"$T/agent.log" 2>&1 &
AG=$!
PIDS+=("$AG")
check "the agent answers" control_ready "$T/c.sock" 100

SEQ=100
# Microseconds since boot, as the kernel stamps its records (no child process: the feed is killed at any moment).
now_us() {
	local up _
	read -r up _ </proc/uptime
	echo $((10#${up/./} * 10000))
}
# xids N: N Xid lines appended to the agent's kernel log.
xids() {
	local i
	for ((i = 0; i < $1; i++)); do
		SEQ=$((SEQ + 1))
		printf '3,%s,%s,-;NVRM: Xid (PCI:0000:18:00): 13, pid=%s, name=trainer, Graphics Exception\n' \
			"$SEQ" "$(now_us)" "$SEQ" >>"$T/kmsg"
	done
}
# feed SECONDS: an Xid every 0.2 s, in the background (FEED_PID); the
# sequence numbers go on from the last line's, as the kernel's do.
feed() {
	local n=$(($1 * 5))
	(
		for ((j = 1; j <= n; j++)); do
			printf '3,%s,%s,-;NVRM: Xid (PCI:0000:28:00): 31, pid=%s, name=loader, MMU Fault\n' \
				"$((SEQ + j))" "$(now_us)" "$j" >>"$T/kmsg"
			sleep 0.2
		done
	) &
	FEED_PID=$!
	PIDS+=("$FEED_PID")
	SEQ=$((SEQ + n))
}
gputel_exported() { curl -s --max-time 2 "http://127.0.0.1:$AG_PORT/metrics" | awk '$1 ~ /^gputel_otlp_exported_total/ { n += $2 } END { print n + 0 }'; }
xids 3
for ((i = 0; i < 100; i++)); do [ "$(gputel_exported)" -ge 3 ] && break; sleep 0.1; done
check "the agent exports its Xid events to the node" test "$(gputel_exported)" -ge 3

# ---- the doctor ----
# doc NAME [ARGS...]: gputel doctor --otel --json on the installed files, into $T/NAME.json (exit status in $T/NAME.rc).
doc() {
	local name=$1 t0=$SECONDS
	shift
	"$GPUTEL" doctor --otel --json --config "$T/defaults" --otel-dir "$ETC" --unit-dir "$UNITS" "$@" \
		>"$T/$name.json" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
	echo $((SECONDS - t0)) >"$T/$name.secs"
	python3 -c 'import json, sys
for c in json.load(open(sys.argv[1]))["checks"]:
    print("# %s %s: %s%s" % (c["status"], c["check"], c["message"][:400], "; fix: " + c["fix"] if c["fix"] else ""))' \
		"$T/$name.json" 2>/dev/null || sed 's/^/# /' "$T/$name.json" "$T/$name.err"
}
# is NAME CHECK VERDICT [MESSAGE-REGEX [FIX-REGEX]]: the line of CHECK in run NAME.
is() {
	python3 - "$T/$1.json" "$2" "$3" "${4:-}" "${5:-}" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
c = [c for c in d["checks"] if c["check"] == sys.argv[2]]
assert len(c) == 1, "%s: %d lines" % (sys.argv[2], len(c))
c = c[0]
assert c["status"] == sys.argv[3], c
assert re.search(sys.argv[4], c["message"]), c
assert (c["fix"] is None) == (c["status"] == "PASS"), c
assert not sys.argv[5] or re.search(sys.argv[5], c["fix"]), c
PY
}
rc_is() { test "$(cat "$T/$1.rc")" -eq "$2"; }

feed 6
doc good
stop_process "$FEED_PID"
check "all good: exit 0, in under 15 s" bash -c "[ $(cat "$T/good.rc") -eq 0 ] && [ $(cat "$T/good.secs") -lt 15 ]"
if [ -d /run/systemd/system ]; then
	check "all good: the node's unit line is there" python3 -c "import json, sys; assert any(c['check'] == 'otel-node-unit' for c in json.load(open(sys.argv[1]))['checks'])" "$T/good.json"
else
	check "all good: without systemd the unit warns and says so" is good otel-node-unit WARN "systemd is not running" "$bin --config=$ETC/node-collector-config.yaml"
fi
check "all good: validate passes, with the unit's collector and the env file's variables" \
	is good otel-node-config PASS "^$bin validate accepts $ETC/node-collector-config.yaml under the [0-9]+ variables of $ETC/node.env"
check "all good: the node's self-metrics answer on the env file's port" \
	is good otel-node-metrics PASS "^http://127.0.0.1:$N_MET/metrics answers: version [0-9][^,]*, up [0-9]+ s, 1 exporter$"
check "all good: records grow while gputel exports" \
	is good otel-node-flow PASS "^records flow: [1-9][0-9]* accepted and [1-9][0-9]* sent upstream in [0-9.]+ s \(gputel exported [1-9]"
check "all good: the node's exporter sends, fails nothing, queues little" \
	is good otel-node-queue PASS "^otlp_grpc/upstream to 127.0.0.1:$C_GRPC: [1-9][0-9]* records sent, none failed, queue [0-9]+ of 5000"
central_ok() {
	is good otel-central-config PASS "validate accepts $ETC/central-collector-config.yaml" &&
		is good otel-central-metrics PASS "^http://127.0.0.1:$C_MET/metrics answers" &&
		is good otel-central-queue PASS "otlp_http/loki to $OTELCOL_HTTP: [1-9][0-9]* records sent, none failed"
}
check "all good: the central collector validates, answers, and sends to Loki (the sink)" central_ok
check "all good: gputel's endpoint is the node's receiver" \
	is good otel-endpoint PASS "^gputel sends logs to http://127.0.0.1:$N_HTTP/v1/logs, traces to http://127.0.0.1:$N_HTTP/v1/traces: the node collector's OTLP/HTTP receiver \(127.0.0.1:$N_HTTP\)"
check "--otel: only the collectors' lines" python3 -c "import json, sys; n = [c['check'] for c in json.load(open(sys.argv[1]))['checks']]; assert all(x.startswith('otel') for x in n), n" "$T/good.json"

# Nothing exported: the flow passes, and says so.
sleep 2.5
doc quiet
check "nothing exported: the flow passes and says nothing was sent" \
	is quiet otel-node-flow PASS "^nothing to forward in [0-9.]+ s: gputel exported nothing"

# The text form: the same lines.
"$GPUTEL" doctor --otel --config "$T/defaults" --otel-dir "$ETC" --unit-dir "$UNITS" >"$T/text.out" 2>&1
check "text: one line per check and the summary" bash -c "grep -qE '^PASS  otel-node-config ' '$T/text.out' &&
	grep -qE '^PASS  otel-endpoint ' '$T/text.out' && grep -qE '^[0-9]+ passed, [0-9]+ warnings?, 0 failed$' '$T/text.out'"

# ---- the central collector away: the node's queue holds what it cannot send ----
check "the central collector stops" stop_process "$CENTRAL_PID"
feed 10
# Until batches wait in the node's queue (at most 15 s), so that the doctor's first reading sees them.
queued() { curl -s --max-time 1 "http://127.0.0.1:$N_MET/metrics" | awk '$1 ~ /^otelcol_exporter_queue_size\{/ { n += $2 } END { print n + 0 }'; }
for ((i = 0; i < 150; i++)); do [ "$(queued)" -ge 1 ] && break; sleep 0.1; done
check "central away: batches wait in the node's queue" test "$(queued)" -ge 1
doc upstream-down
stop_process "$FEED_PID"
check "central away: the node's queue warns, naming the upstream" \
	is upstream-down otel-node-queue WARN "^otlp_grpc/upstream to 127.0.0.1:$C_GRPC: .*(batches wait and none left|of 5000 batches)" \
	"check 127.0.0.1:$C_GRPC"
check "central away: the flow warns that accepted records have not left" \
	is upstream-down otel-node-flow WARN "records accepted before the check have not left" "otel-node-queue"
check "central away: its self-metrics fail" is upstream-down otel-central-metrics FAIL "127.0.0.1:$C_MET"
check "the central collector starts again" start_collector central

# ---- the node stopped ----
check "the node collector stops" stop_process "$NODE_PID"
doc node-down
check "node stopped: exit 1" rc_is node-down 1
check "node stopped: its self-metrics fail with the fix" \
	is node-down otel-node-metrics FAIL "^http://127.0.0.1:$N_MET/metrics: Connection refused: the collector is not running" \
	"(systemctl restart justnews-otel-node.service|start it: $bin --config=$ETC/node-collector-config.yaml)"
check "node stopped: no flow or queue line for it" python3 -c "import json, sys; n = [c['check'] for c in json.load(open(sys.argv[1]))['checks']]; assert 'otel-node-flow' not in n and 'otel-node-queue' not in n, n" "$T/node-down.json"
check "node stopped: the configuration still validates" is node-down otel-node-config PASS "validate accepts"

# ---- broken configurations ----
cp -r "$ETC" "$T/bad-env"
set_env "$T/bad-env/node.env" OTEL_MEMORY_LIMIT_MIB=lots
doc bad-env --otel-dir "$T/bad-env"
check "a bad env value: validate fails, naming the setting" \
	is bad-env otel-node-config FAIL "validate refuses $T/bad-env/node-collector-config.yaml under .*'limit_mib' expected type 'uint32'" \
	"correct $T/bad-env/node.env or $T/bad-env/node-collector-config.yaml"
check "a bad env value: exit 1" rc_is bad-env 1
cp -r "$ETC" "$T/bad-cfg"
sed -i 's/processors: \[memory_limiter, resourcedetection/processors: [memory_limit, resourcedetection/' "$T/bad-cfg/node-collector-config.yaml"
doc bad-cfg --otel-dir "$T/bad-cfg"
check "a broken configuration: validate fails, naming the processor" \
	is bad-cfg otel-node-config FAIL "references processor \"memory_limit\" which is not configured"
doc no-collector --otelcol "$T/no-such-otelcol"
check "no collector: validate fails, saying so" \
	is no-collector otel-node-config FAIL "the collector $T/no-such-otelcol is not an executable file" "--otelcol PATH"
# A collector that never answers: killed after 10 s.  The node alone, so that one validate hangs.
mkdir -p "$T/node-only"
cp "$ETC/node-collector-config.yaml" "$ETC/node.env" "$T/node-only/"
printf '#!/bin/sh\necho $$ >"%s"\nexec sleep 60\n' "$T/hung.pid" >"$T/hung-otelcol"
chmod +x "$T/hung-otelcol"
doc hung --otelcol "$T/hung-otelcol" --otel-dir "$T/node-only" --unit-dir "$T/empty-units"
check "a hung collector: validate fails, killed after 10 s" is hung otel-node-config FAIL "did not finish in 10 s and was killed"
check "a hung collector: the doctor ends in under 20 s" test "$(cat "$T/hung.secs")" -lt 20
check "a hung collector: it is not left running" bash -c "[ -s '$T/hung.pid' ] && ! kill -0 \$(cat '$T/hung.pid') 2>/dev/null"

# ---- where gputel sends ----
OTHER=$(port)
settings "$T/elsewhere" "JN_OTLP_ENDPOINT=http://127.0.0.1:$OTHER"
doc elsewhere --config "$T/elsewhere"
check "gputel sending elsewhere: the endpoint warns with the line to set" \
	is elsewhere otel-endpoint WARN "gputel sends logs and traces to http://127.0.0.1:$OTHER/v1/logs, not to the node collector's OTLP/HTTP receiver on 127.0.0.1:$N_HTTP$" \
	"set JN_OTLP_ENDPOINT=http://127.0.0.1:$N_HTTP in $T/elsewhere"
settings "$T/grpc" "JN_OTLP_ENDPOINT=http://127.0.0.1:$N_GRPC"
doc grpc --config "$T/grpc"
check "gputel sending to the gRPC port: the endpoint warns and says why" \
	is grpc otel-endpoint WARN "that is its gRPC port; gputel speaks OTLP/HTTP"
settings "$T/off"
doc off --config "$T/off"
check "gputel's export off: the endpoint warns" \
	is off otel-endpoint WARN "OTLP export is off" "add JN_OTLP_ENDPOINT=http://127.0.0.1:$N_HTTP to $T/off"
settings "$T/localhost" "JN_OTLP_ENDPOINT=http://localhost:$N_HTTP/"
doc localhost --config "$T/localhost"
check "gputel sending to localhost: the same receiver" is localhost otel-endpoint PASS "OTLP/HTTP receiver"

# ---- nothing installed ----
doc none --otel-dir "$T/empty-etc" --unit-dir "$T/empty-units"
check "nothing installed: --otel has one line" python3 -c "import json, sys; d = json.load(open(sys.argv[1])); assert len(d['checks']) == 1, d" "$T/none.json"
check "nothing installed: the line says so" is none otel FAIL "no OpenTelemetry Collector is installed" "install_otel_node_collector.sh"
check "nothing installed: exit 1" rc_is none 1
"$GPUTEL" doctor --json --config "$T/defaults" --otel-dir "$T/empty-etc" --unit-dir "$T/empty-units" >"$T/plain-none.json" 2>&1
check "nothing installed: plain doctor has no collector line" python3 -c "import json, sys; n = [c['check'] for c in json.load(open(sys.argv[1]))['checks']]; assert n and not [x for x in n if x.startswith('otel-') or x == 'otel'], n" "$T/plain-none.json"
check "the node collector starts again" start_collector node
t0=$SECONDS
"$GPUTEL" doctor --json --config "$T/defaults" --otel-dir "$ETC" --unit-dir "$UNITS" >"$T/plain.json" 2>&1
check "installed: plain doctor adds the collectors' lines, waiting at most a few seconds" \
	python3 -c "import json, sys; n = [c['check'] for c in json.load(open(sys.argv[1]))['checks']]
assert 'gpus' in n and 'otel-node-config' in n and 'otel-node-flow' in n and 'otel-endpoint' in n, n
assert int(sys.argv[2]) < 12, sys.argv[2]" "$T/plain.json" "$((SECONDS - t0))"

# ---- the end ----
stop_pid() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
stop_pid "$AG"
check "the node collector stops" stop_process "$NODE_PID"
check "the central collector stops" stop_process "$CENTRAL_PID"
check "the sink stops" stop_process "$SINK_PID"
check "no collector of this test is left running" bash -c "! pgrep -f -- '[-]-config=$ETC/' >/dev/null"
finish
