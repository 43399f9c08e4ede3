#!/bin/bash
# The control socket under requests that used to be served late or wrong:
# a 40 KB begin and a Connection: close request are answered as soon as
# they arrive, not at the next tick; %00 in a path is refused rather than
# ending a prefix of the id; a body that goes on after its JSON object is
# refused; and 4096 allocations with the longest ids
# and owners (owners of 128 '"') still render a /metrics that promtool
# accepts, with every owner escaped whole.
. "$(dirname "$0")/lib.sh"

SOCK="$T/run/control.sock"
mkdir -p "$T/run" "$T/state" "$T/out"
use_sim 1 "$SCN/steady.scn" intel
PORT=$(free_port)

start_agent() { # poll interval
	"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$SOCK" \
		--exporter-bind 127.0.0.1 --exporter-port "$PORT" --poll-interval "$1" >>"$T/agent.log" 2>&1 &
	AG=$!
	PIDS+=("$AG")
	control_ready "$SOCK" 100
}
stop_agent() {
	kill "$AG" 2>/dev/null
	wait "$AG" 2>/dev/null
}

# raw.py REQUEST-KIND: sends one request by hand and prints "<seconds> <status>",
# the seconds from the first byte sent to the server closing the connection.
cat >"$T/raw.py" <<'EOF'
import socket, sys, time
kind = sys.argv[2]
if kind == "big-begin":
    # A valid begin padded to 40 KB with whitespace: more than one read.
    body = b'{"id": "big", "gpus": [0]' + b" " * 40000 + b"}"
    req = b"POST /v1/allocations HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
elif kind == "close-begin":
    body = b'{"id": "small", "gpus": [0]}'
    req = (b"POST /v1/allocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body) + body)
elif kind == "nul-delete":
    req = b"DELETE /v1/allocations/big%00tail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
t = time.monotonic()
s.sendall(req)
data = b""
while True:
    if kind == "big-begin" and b"\r\n\r\n" in data:
        break          # keep-alive: the reply is what is timed
    b = s.recv(65536)
    if not b:
        break
    data += b
print("%.3f %s" % (time.monotonic() - t, data.split(b" ")[1].decode() if data else "none"))
EOF
raw() { python3 "$T/raw.py" "$SOCK" "$1"; }
fast() { awk -v s="$1" 'BEGIN { exit !(s < 2.0) }'; }

# A 5 s poll interval: a request left for the next tick waits seconds.
check "the agent starts with a 5 s poll interval" start_agent 5
sleep 0.5
read -r secs status < <(raw big-begin)
check "a 40 KB begin: 201 ($status)" test "$status" = 201
check "a 40 KB begin is answered without waiting for the next tick (${secs}s < 2s)" fast "$secs"
read -r secs status < <(raw close-begin)
check "a Connection: close begin: 201 ($status)" test "$status" = 201
check "a Connection: close request is closed at once, not at the next tick (${secs}s < 2s)" fast "$secs"
read -r secs status < <(raw nul-delete)
check "DELETE /v1/allocations/big%00tail: 400 ($status)" test "$status" = 400
check "and allocation big is still live" test "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://x/v1/allocations/big)" = 200
check "the 400 says why" bash -c "curl -s --unix-socket '$SOCK' -X DELETE 'http://x/v1/allocations/big%00' | grep -q 'NUL'"
r=$(curl -s --unix-socket "$SOCK" -X POST --data-binary '{"id": "junk", "gpus": [0]} {"id": "more"}' -w '\n%{http_code}' http://x/v1/allocations)
check "a begin with more after its JSON object: 400 naming it" bash -c "[ '$(tail -n1 <<<"$r")' = 400 ] && grep -q 'goes on after its JSON object' <<<'$r'"
check "and nothing was begun" test "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://x/v1/allocations/junk)" = 404
stop_agent

# 4096 allocations, each with a 64-character id and an owner of 128 '"'.
# They are written into the state file the agent saved (one entry copied),
# which it loads at start: 4096 begins one by one would mostly time saves.
python3 - "$T/state/allocations.json" <<'EOF'
import json, sys
path = sys.argv[1]
state = json.load(open(path))
model = state["allocations"][0]
entries = []
for i in range(4096):
    e = dict(model)
    e["id"] = ("a%04d" % i).ljust(64, "x")
    e["owner"] = '"' * 128
    entries.append(e)
state["allocations"] = entries
json.dump(state, open(path, "w"))
EOF
check "the agent loads 4096 allocations" start_agent 0.5
m="$T/metrics"
got=0
for ((i = 0; i < 100; i++)); do
	curl -s "http://127.0.0.1:$PORT/metrics" >"$m"
	got=$(grep -c '^gputel_allocation_info{' "$m")
	[ "$got" = 4096 ] && break
	sleep 0.2
done
check "/metrics lists all 4096 allocations ($got)" test "$got" = 4096
want="owner=\"$(printf '\\"%.0s' $(seq 128))\""
check "an owner of 128 '\"' is escaped whole, not rendered as owner=\"\"" grep -qF "$want" "$m"
check "promtool accepts the whole page" bash -c "promtool check metrics <'$m' >'$T/lint' 2>&1; [ ! -s '$T/lint' ] || { head -3 '$T/lint' >&2; false; }"
check "/healthz is 200: the rendering was published" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" = 200
check "no tick was skipped for size" bash -c "! grep -q 'do not fit' '$T/agent.log'"
stop_agent

finish
