#!/bin/bash
# The allocation table against the faults of issue 11: invalid UTF-8 and
# NULs from the control socket, an end whose state save fails and a kill -9
# after it (one ledger line per allocation), a ledger that cannot be
# written (500, nothing changed), kill -9 at random points, a GPU lost for
# part of an allocation (partial energy), a link planted at the state
# file's temporary name, and a state file with one damaged entry.
. "$(dirname "$0")/lib.sh"

SOCK="$T/run/control.sock"
mkdir -p "$T/run" "$T/state" "$T/out"
use_sim 2 "$SCN/steady.scn" intel
export GPUTEL_SIM_EPOCH=$(date +%s.%N)
PORT=$(free_port)
LEDGER="$T/out/allocations.jsonl"
STATE="$T/state/allocations.json"

start_agent() {
	"$GPUTEL" agent --config /dev/null --out-dir "$T/out" --state-dir "$T/state" --control-socket "$SOCK" \
		--exporter-bind 127.0.0.1 --exporter-port "$PORT" --start-util 90 --stop-seconds 1 \
		--poll-interval 0.2 "$@" >>"$T/agent.log" 2>&1 &
	AG=$!
	PIDS+=("$AG")
	control_ready "$SOCK"
}
kill9() {
	kill -9 "$AG" 2>/dev/null
	wait "$AG" 2>/dev/null
}
# req METHOD PATH [BODY]: the body, then the status code on its own line.
req() {
	if [ $# -ge 3 ]; then
		curl -s -m 10 --unix-socket "$SOCK" -X "$1" --data-binary "$3" -w '\n%{http_code}' "http://x$2"
	else
		curl -s -m 10 --unix-socket "$SOCK" -X "$1" -w '\n%{http_code}' "http://x$2"
	fi
}
code() { tail -n1 <<<"$1"; }
body() { sed '$d' <<<"$1"; }
lines_for() { grep -c "^{\"id\": \"$1\"" "$LEDGER" 2>/dev/null; }
scrape_ok() { curl -s "http://127.0.0.1:$PORT/metrics" | promtool check metrics >"$T/lint" 2>&1 && [ ! -s "$T/lint" ]; }

check "the agent serves the control socket" start_agent

# ---- item 1: strings that are not clean UTF-8 text ----
r=$(req POST /v1/allocations "$(printf '{"id":"evil","gpus":[1],"owner":"x\xff"}')")
check "a raw 0xff in owner: 400 naming owner (got $(code "$r"))" \
	bash -c "[ '$(code "$r")' = 400 ] && grep -q 'owner: invalid UTF-8 at byte 2' <<<'$(body "$r")'"
r=$(req POST /v1/allocations "$(printf '{"id":"evil","labels":{"team":"\xed\xa0\x80"}}')")
check "a UTF-8 surrogate in a label value: 400 naming labels.team" \
	bash -c "[ '$(code "$r")' = 400 ] && grep -q 'labels.team: invalid UTF-8' <<<'$(body "$r")'"
r=$(req POST /v1/allocations '{"id":"evil","gpus":["GPU-\u0000"]}')
check "\\u0000 in a gpus entry: 400 naming gpus" \
	bash -c "[ '$(code "$r")' = 400 ] && grep -q 'gpus: control character' <<<'$(body "$r")'"
r=$(req POST /v1/allocations '{"id":"ev\u0000il"}')
check "\\u0000 in an id: 400, not an allocation named \"ev\"" \
	bash -c "[ '$(code "$r")' = 400 ] && grep -q 'id: control character at byte 3' <<<'$(body "$r")'"
r=$(req POST /v1/allocations '{"id":"evil","owner":"\ud800"}')
check "an escaped lone surrogate: 400" test "$(code "$r")" = 400
check "... none of them is live" test "$(code "$(req GET /v1/allocations/evil)")$(code "$(req GET /v1/allocations/ev)")" = 404404
r=$(req POST /v1/allocations "$(printf '{"id":"utf8-ok","gpus":[1],"owner":"Zo\xc3\xab \\u6771\\u4eac"}')")
check "valid UTF-8 in owner is taken: 201" test "$(code "$r")" = 201
sleep 0.5
check "the scrape stays valid (promtool) with it live" scrape_ok
req DELETE /v1/allocations/utf8-ok >/dev/null
check "the ledger is valid UTF-8 JSON" python3 -c "
import json, sys
for l in open(sys.argv[1], encoding='utf-8', errors='strict'): json.loads(l)" "$LEDGER"

# ---- item 2: an end whose state save fails, then kill -9 ----
r=$(req POST /v1/allocations '{"id": "sv1", "gpus": [0]}')
check "begin sv1: 201" test "$(code "$r")" = 201
sleep 0.5
# A directory where the temporary state file goes: every save fails.
mkdir "$STATE.tmp"
r=$(req DELETE /v1/allocations/sv1)
check "the end is answered 200 although the state cannot be saved (got $(code "$r"))" test "$(code "$r")" = 200
check "... with one ledger line" test "$(lines_for sv1)" = 1
check "... and the saved state still holds it (the save failed)" grep -q '"sv1"' "$STATE"
check "the failed save is logged, naming what to remove" wait_for "$T/agent.log" "cannot replace $STATE.tmp" 5
kill9
rmdir "$STATE.tmp"
check "restart after kill -9" start_agent
check "sv1 is not restored: the ledger has ended it" test "$(code "$(req GET /v1/allocations/sv1)")" = 404
check "... and says so in the log" grep -q 'alloc: sv1 was ended before the restart' "$T/agent.log"
check "ending it again: 404" test "$(code "$(req DELETE /v1/allocations/sv1)")" = 404
check "still one ledger line for sv1" test "$(lines_for sv1)" = 1
sleep 0.6
check "the state file no longer holds it" bash -c "! grep -q '\"sv1\"' '$STATE'"

# A reused id after a restart is another allocation: it is restored and ended once more.
req POST /v1/allocations '{"id": "sv1"}' >/dev/null
sleep 0.5
kill9
check "restart with a reused id live" start_agent
check "the reused sv1 is restored" test "$(code "$(req GET /v1/allocations/sv1)")" = 200
req DELETE /v1/allocations/sv1 >/dev/null
check "... and its end is a second, different line" test "$(lines_for sv1)" = 2

# ---- item 2: a ledger that cannot be written: 500, and nothing happened ----
r=$(req POST /v1/allocations '{"id": "lg1", "gpus": [1]}')
check "begin lg1: 201" test "$(code "$r")" = 201
mv "$LEDGER" "$LEDGER.kept"
mkdir "$LEDGER"
r=$(req DELETE /v1/allocations/lg1)
check "the end cannot be recorded: 500 (got $(code "$r"))" test "$(code "$r")" = 500
check "... saying it is still live" grep -q 'it is still live' <<<"$(body "$r")"
check "... and it is still live" test "$(code "$(req GET /v1/allocations/lg1)")" = 200
rmdir "$LEDGER"
mv "$LEDGER.kept" "$LEDGER"
check "no ledger line was written" test "$(lines_for lg1)" = 0
r=$(req DELETE /v1/allocations/lg1)
check "with the ledger back, the end is 200 and written once" \
	bash -c "[ '$(code "$r")' = 200 ] && [ $(lines_for lg1) = 1 ]"

# ---- item 2: kill -9 at random points of 20 begin/end cycles ----
for ((n = 1; n <= 20; n++)); do
	( req POST /v1/allocations "{\"id\": \"burst-$n\", \"gpus\": [$((n % 2))]}" >/dev/null
	  req DELETE "/v1/allocations/burst-$n" >/dev/null ) &
	CL=$!
	sleep "0.$((RANDOM % 30))"
	kill9
	wait "$CL" 2>/dev/null
	start_agent || break
	# An allocation the kill left live is ended now (the "end again after a restart").
	req DELETE "/v1/allocations/burst-$n" >/dev/null
done
check "kill -9 burst: the agent came back every time" test "$n" = 21
check "kill -9 burst: no allocation is left" bash -c "[ \"\$(curl -s --unix-socket '$SOCK' http://x/v1/allocations)\" = '{\"allocations\": []}' ]"
check "kill -9 burst: no id twice in the ledger" bash -c "[ -z \"\$(grep -o '^{\"id\": \"burst-[0-9]*\"' '$LEDGER' | sort | uniq -d)\" ]"
check "kill -9 burst: every line is whole JSON" python3 -c "
import json, sys
for l in open(sys.argv[1]): json.loads(l)" "$LEDGER"

# ---- item 4: a link planted at the temporary state file ----
echo precious >"$T/outside"
ln -s "$T/outside" "$STATE.tmp"
r=$(req POST /v1/allocations '{"id": "linked"}')
check "a begin with a link planted at allocations.json.tmp: 201" test "$(code "$r")" = 201
check "... the link's target is untouched" test "$(cat "$T/outside")" = precious
check "... and the state is saved, as a file" bash -c "[ -f '$STATE' ] && [ ! -L '$STATE' ] && grep -q '\"linked\"' '$STATE' && [ ! -e '$STATE.tmp' ]"
req DELETE /v1/allocations/linked >/dev/null

# ---- item 6: one damaged entry costs that entry only ----
req POST /v1/allocations '{"id": "keep-1"}' >/dev/null
req POST /v1/allocations '{"id": "spoil"}' >/dev/null
req POST /v1/allocations '{"id": "keep-2"}' >/dev/null
kill -TERM "$AG"
wait "$AG"
# The UBSan report of issue 11: an energy of INT64_MAX in one entry.
python3 - "$STATE" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for a in d["allocations"]:
    if a["id"] == "spoil":
        a["gpus"][0]["energy_uj"] = "9223372036854775807"
json.dump(d, open(sys.argv[1], "w"))
PY
check "restart with one damaged entry" start_agent
check "the good entries are restored" test "$(code "$(req GET /v1/allocations/keep-1)")$(code "$(req GET /v1/allocations/keep-2)")" = 200200
check "the damaged one is not" test "$(code "$(req GET /v1/allocations/spoil)")" = 404
check "one log line names it and what is wrong" \
	bash -c "[ \$(grep -c 'allocation 2 (\"spoil\") is damaged and not restored: energy_uj 9223372036854775807 is out of range' '$T/agent.log') = 1 ]"
check "the damaged file is kept aside" bash -c "ls '$T'/state/allocations.json.damaged-* >/dev/null && grep -q 9223372036854775807 '$T'/state/allocations.json.damaged-*"
check "the state file holds the good ones again" bash -c "grep -q '\"keep-1\"' '$STATE' && grep -q '\"keep-2\"' '$STATE' && ! grep -q '\"spoil\"' '$STATE'"
req DELETE /v1/allocations/keep-1 >/dev/null
req DELETE /v1/allocations/keep-2 >/dev/null
kill -TERM "$AG"
wait "$AG"

# ---- item 3: a GPU lost for part of an allocation ----
cat >"$T/lost.scn" <<'SCN'
gpus 2
at 0 all util=60 power_w=400
at 1.5 1 lost
at 4.5 1 recover
SCN
use_sim 2 "$T/lost.scn" intel
export GPUTEL_SIM_EPOCH=$(date +%s.%N)
check "an agent on a GPU that will be lost" start_agent
curl -s -N -m 20 --unix-socket "$SOCK" http://x/v1/events >"$T/events" &
PIDS+=("$!")
sleep 0.2
r=$(req POST /v1/allocations '{"id": "lossy", "gpus": [1]}')
check "begin on GPU 1 before it is lost: 201" test "$(code "$r")" = 201
req POST /v1/allocations '{"id": "steady", "gpus": [0]}' >/dev/null
req POST /v1/allocations '{"id": "lossy-cli", "gpus": [1]}' >/dev/null
sleep 5.5
r=$(req DELETE /v1/allocations/lossy)
summary=$(body "$r")
check "the summary flags the energy as partial, with about 3 s unmeasured" python3 -c "
import json, sys
d = json.loads(sys.argv[1])
assert d['gpu_energy_partial'] is True, d
assert 2.5 <= d['gpu_seconds_unmeasured'] <= 4.5, d['gpu_seconds_unmeasured']" "$summary"
check "the ledger line carries the flag" bash -c "grep '^{\"id\": \"lossy\"' '$LEDGER' | grep -q '\"gpu_energy_partial\": true'"
check "so does the allocation_ended event" wait_for "$T/events" '"allocation_ended".*"lossy".*"gpu_energy_partial": true' 3
check "the end is logged as partial" grep -q 'alloc: lossy: gpu energy is partial' "$T/agent.log"
check "gputel alloc end says the GPU energy is partial and how much went unmeasured" \
	bash -c "'$GPUTEL' alloc end --socket '$SOCK' lossy-cli | grep -q 'partial: [0-9.]* GPU-seconds not measured'"
r=$(req DELETE /v1/allocations/steady)
check "an allocation on a GPU that stayed up is not partial" \
	bash -c "grep -q '\"gpu_energy_partial\": false, \"gpu_seconds_unmeasured\": 0.000' <<<'$(body "$r")'"
finish
