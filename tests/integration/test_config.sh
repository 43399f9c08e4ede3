#!/bin/bash
# gputel config check / show: exit codes, one-line "FILE:LINE: KEY:" messages,
# sources, precedence (file < env < flag), --json, the default file.
. "$(dirname "$0")/lib.sh"

# The caller's JN_* and GPUTEL_CONFIG must not leak into the results.
for v in $(env | grep -oE '^(JN_[A-Za-z0-9_]*|GPUTEL_CONFIG)='); do unset "${v%=}"; done

# run OUT ERR command...: sets RC.
run() {
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>"$err"
	RC=$?
}
lines() { wc -l <"$1" | tr -d ' '; }
# has FILE REGEX: grep -E with the file shown on failure.
has() {
	grep -qE -- "$2" "$1" && return 0
	echo "# $1 lacks /$2/:" && sed 's/^/#   /' "$1" | head -n 20
	return 1
}

# The guide's file, plus two of gputel's keys.
cat >"$T/good.conf" <<'EOF'
# /etc/default/justnews-gpu-telemetry
JN_USER=justnews
JN_GROUP=syslog
JN_WORKDIR=/home/justnews/JustNews
JN_LOGDIR=/var/log/justnews-perf
JN_EXPORTER_PORT=9118
JN_START_UTIL=20
JN_START_SECONDS=5
JN_STOP_UTIL=10
JN_STOP_SECONDS=15
export JN_ON_START='logger -t gputel "gpu busy"'
JN_GPUS="0-1,3"   # the A100s
EOF
chmod 644 "$T/good.conf"

run "$T/out" "$T/err" "$GPUTEL" config check --config "$T/good.conf"
check "check: a good file exits 0" test "$RC" -eq 0
check "check: a good file prints 'config ok: FILE'" test "$(cat "$T/out")" = "config ok: $T/good.conf"
check "check: a good file prints nothing on stderr" test "$(lines "$T/err")" -eq 0
GPUTEL_CONFIG="$T/good.conf" run "$T/out" "$T/err" "$GPUTEL" config check
check "check: GPUTEL_CONFIG names the file" test "$RC" -eq 0 -a "$(cat "$T/out")" = "config ok: $T/good.conf"

# One bad value: exit 2, exactly one line, FILE:LINE: KEY: problem; fix.
sed 's/^JN_START_UTIL=20$/JN_START_UTIL=abc/' "$T/good.conf" >"$T/bad.conf"
run "$T/out" "$T/err" "$GPUTEL" config check --config "$T/bad.conf"
check "check: a bad value exits 2" test "$RC" -eq 2
check "check: a bad value is one line on stderr" test "$(lines "$T/err")" -eq 1
check "check: the line is FILE:LINE: KEY: problem; fix" \
	test "$(cat "$T/err")" = "$T/bad.conf:7: JN_START_UTIL: 'abc' is not a percentage; give 0..100"
check "check: nothing on stdout when it fails" test "$(lines "$T/out")" -eq 0
run "$T/out" "$T/err" "$GPUTEL" config show --config "$T/bad.conf"
check "show: a bad value exits 2 with the same line" test "$RC" -eq 2 -a "$(lines "$T/err")" -eq 1 -a "$(lines "$T/out")" -eq 0

# Every problem, not only the first; warnings do not fail.
cat >"$T/many.conf" <<'EOF'
JN_EXPORTER_PORT=70000
JN_STRT_UTIL=30
JN_POLL_INTERVAL=5sec
JN_STOP_UTIL=10
JN_STOP_UTIL=25
JN_WORKDIR=/srv/a b
EOF
run "$T/out" "$T/err" "$GPUTEL" config check --config "$T/many.conf"
check "check: several problems exit 2" test "$RC" -eq 2
check "check: every problem is reported, one line each" test "$(lines "$T/err")" -eq 6
check "check: port out of range" has "$T/err" "^$T/many.conf:1: JN_EXPORTER_PORT: 70000 is out of range; give 1..65535\$"
check "check: unknown key suggests the closest" has "$T/err" "^$T/many.conf:2: warning: unknown key JN_STRT_UTIL; did you mean JN_START_UTIL\?\$"
check "check: an unknown unit is refused with the fix" has "$T/err" "^$T/many.conf:3: JN_POLL_INTERVAL: '5sec' has a unit gputel does not know; use ms, s, m or h"
check "check: a duplicate key warns" has "$T/err" "^$T/many.conf:5: warning: JN_STOP_UTIL set again \(first on line 4\); the later value wins\$"
check "check: hysteresis names both keys" has "$T/err" "^$T/many.conf:5: JN_STOP_UTIL: 25 is not below JN_START_UTIL \(20, from default\); .*lower JN_STOP_UTIL or raise JN_START_UTIL\$"
check "check: an unquoted space says to quote" has "$T/err" "^$T/many.conf:6: JN_WORKDIR: value has a space before 'b'; put the whole value in single quotes\$"

printf 'JN_START_UTIL=30\nJN_STOP_UTIL=5\nJN_STRT_SECONDS=1\n' >"$T/warn.conf"
run "$T/out" "$T/err" "$GPUTEL" config check --config "$T/warn.conf"
check "check: warnings alone exit 0" test "$RC" -eq 0
check "check: warnings alone say ok" test "$(cat "$T/out")" = "config ok: $T/warn.conf (1 warning)"

# Files that are not there.
run "$T/out" "$T/err" "$GPUTEL" config check --config "$T/nope.conf"
check "check: a missing --config file exits 2" test "$RC" -eq 2 -a "$(lines "$T/err")" -eq 1
check "check: and says so with the fix" has "$T/err" "^$T/nope.conf: no such file; create it, or give an existing file with --config FILE"
GPUTEL_CONFIG="$T/nope.conf" run "$T/out" "$T/err" "$GPUTEL" config check
check "check: a missing GPUTEL_CONFIG file exits 2" test "$RC" -eq 2
if [ ! -e /etc/default/justnews-gpu-telemetry ]; then
	run "$T/out" "$T/err" "$GPUTEL" config check
	check "check: a missing default file is fine" test "$RC" -eq 0 -a "$(lines "$T/err")" -eq 0
	check "check: and says the defaults apply" has "$T/out" "^config ok: /etc/default/justnews-gpu-telemetry \(not found; defaults apply\)\$"
	run "$T/out" "$T/err" "$GPUTEL" config show
	check "show: a missing default file shows the defaults" has "$T/out" "^JN_START_UTIL=20 +# default\$"
else
	ok "check: a missing default file is fine # SKIP /etc/default/justnews-gpu-telemetry exists"
fi
run "$T/out" "$T/err" "$GPUTEL" config check --config "$T"
check "check: a directory is refused" test "$RC" -eq 2 -a "$(lines "$T/err")" -eq 1

# show: every key, its value and where it came from, aligned.
run "$T/out" "$T/err" "$GPUTEL" config show --config "$T/good.conf"
check "show: exits 0" test "$RC" -eq 0
check "show: one line per key (26)" test "$(lines "$T/out")" -eq 26
check "show: a file value names FILE:LINE" has "$T/out" "^JN_START_UTIL=20 +# $T/good.conf:7\$"
check "show: an unset key says default" has "$T/out" "^JN_POLL_INTERVAL=1 +# default\$"
check "show: quoted values are shown quoted" has "$T/out" "^JN_ON_START='logger -t gputel \"gpu busy\"' +# $T/good.conf:11\$"
check "show: GPU lists are normalised" has "$T/out" "^JN_GPUS=0-1,3 +# $T/good.conf:12\$"
check "show: the sources are aligned" test "$(awk '{ print index($0, "  # ") }' "$T/out" | sort -u | wc -l)" -eq 1
# The output is itself a valid file that gives the same values.
grep -v '^JN_GPUS' "$T/out" >"$T/again.conf"
run "$T/out2" "$T/err2" "$GPUTEL" config show --config "$T/again.conf"
check "show: its output reads back as the same configuration" \
	test "$RC" -eq 0 -a "$(sed 's/ *#.*//' "$T/out2" | grep -v '^JN_GPUS')" = "$(sed 's/ *#.*//' "$T/out" | grep -v '^JN_GPUS')"

# Values with quotes and '$' come back quoted, and read back the same.
cat >"$T/quotes.conf" <<'EOF'
JN_ON_START="it's \$HOME and \"q\""
JN_ON_STOP='a`b` $x'
EOF
run "$T/out" "$T/err" "$GPUTEL" config show --config "$T/quotes.conf"
check "show: a double-quoted value is shown as written" \
	test "$(grep '^JN_ON_START=' "$T/out" | sed 's/ *#.*//')" = "$(head -n1 "$T/quotes.conf")"
grep -v '^JN_GPUS' "$T/out" >"$T/quotes2.conf"
run "$T/out2" "$T/err2" "$GPUTEL" config show --config "$T/quotes2.conf"
check "show: quotes and \$ survive a round trip" \
	test "$RC" -eq 0 -a "$(lines "$T/err2")" -eq 0 -a \
	"$(grep '^JN_ON_S' "$T/out" | sed 's/ *#.*//')" = "$(grep '^JN_ON_S' "$T/out2" | sed 's/ *#.*//')"

# Precedence: flag > env > file > default.
JN_START_UTIL=40 JN_STOP_SECONDS=30 run "$T/out" "$T/err" "$GPUTEL" config show --config "$T/good.conf"
check "env: overrides the file" has "$T/out" "^JN_START_UTIL=40 +# env\$"
check "env: sets an unset key" has "$T/out" "^JN_STOP_SECONDS=30 +# env\$"
check "env: leaves the other file values" has "$T/out" "^JN_STOP_UTIL=10 +# $T/good.conf:9\$"
JN_START_UTIL=40 run "$T/out" "$T/err" "$GPUTEL" config show --config "$T/good.conf" --start-util 50 --stop-util=12.5
check "flag: overrides env and file" has "$T/out" "^JN_START_UTIL=50 +# flag\$"
check "flag: --key=value works too" has "$T/out" "^JN_STOP_UTIL=12.5 +# flag\$"
JN_EXPORTER_PORT=http run "$T/out" "$T/err" "$GPUTEL" config check --config "$T/good.conf"
check "env: a bad value exits 2 naming the environment" \
	test "$RC" -eq 2 -a "$(cat "$T/err")" = "environment: JN_EXPORTER_PORT: 'http' is not a whole number; give 1..65535"
run "$T/out" "$T/err" "$GPUTEL" config check --config "$T/good.conf" --stop-util 30
check "flag: a hysteresis break by a flag is named" has "$T/err" "^command line: JN_STOP_UTIL: 30 is not below JN_START_UTIL \(20, from $T/good.conf:7\)"
run "$T/out" "$T/err" "$GPUTEL" config show --config "$T/good.conf" --frobnicate
check "an unknown option is refused" test "$RC" -eq 2 -a "$(cat "$T/err")" = "gputel: config: unknown option '--frobnicate'; see 'gputel config --help'"
run "$T/out" "$T/err" "$GPUTEL" config
check "config without a subcommand is refused" test "$RC" -eq 2 -a "$(lines "$T/err")" -eq 1
run "$T/out" "$T/err" "$GPUTEL" config --help
check "config --help exits 0 and lists both subcommands" has "$T/out" "gputel config check"
run "$T/out" "$T/err" "$GPUTEL" --help
check "gputel --help lists config" has "$T/out" "^  config "

# --json: valid JSON with the same values and sources.
JN_LOG_LEVEL=debug run "$T/json" "$T/err" "$GPUTEL" config show --json --config "$T/warn.conf" --exporter-port 9200 --poll-interval 2 --workdir /srv --stop-util 5
check "json: exits 0" test "$RC" -eq 0
check "json: is valid JSON" python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$T/json"
check "json: values, sources, lines and warnings" python3 - "$T/json" "$T/warn.conf" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
k = {e["key"]: e for e in d["keys"]}
assert d["file"] == sys.argv[2] and d["file_found"] is True, d
assert len(d["keys"]) == 26
assert k["JN_EXPORTER_PORT"]["value"] == "9200" and k["JN_EXPORTER_PORT"]["source"] == "flag"
assert k["JN_LOG_LEVEL"]["value"] == "debug" and k["JN_LOG_LEVEL"]["source"] == "env"
assert k["JN_STOP_UTIL"]["value"] == "5" and k["JN_STOP_UTIL"]["source"] == "flag"
assert k["JN_USER"]["source"] == "default" and k["JN_USER"]["line"] is None
assert k["JN_START_UTIL"]["reloadable"] is True and k["JN_EXPORTER_PORT"]["reloadable"] is False
assert k["JN_START_UTIL"]["flag"] == "--start-util" and k["JN_START_UTIL"]["type"] == "percent"
assert any("did you mean JN_START_SECONDS" in w for w in d["warnings"]), d["warnings"]
EOF
run "$T/json" "$T/err" "$GPUTEL" config show --json --config "$T/good.conf"
check "json: file sources carry the line" python3 -c '
import json, sys
k = {e["key"]: e for e in json.load(open(sys.argv[1]))["keys"]}
assert k["JN_START_UTIL"]["source"] == "file" and k["JN_START_UTIL"]["line"] == 7
assert k["JN_ON_START"]["value"] == "logger -t gputel \"gpu busy\""' "$T/json"

# A file with CRLF line ends and a byte order mark, as Windows editors write.
printf '\xef\xbb\xbfJN_USER=svc\r\nJN_START_UTIL=35\r\n' >"$T/crlf.conf"
run "$T/out" "$T/err" "$GPUTEL" config show --config "$T/crlf.conf"
check "CRLF and BOM: read as plain lines" has "$T/out" "^JN_START_UTIL=35 +# $T/crlf.conf:2\$"

# An overlong line: an error with its line number.
{ echo "JN_USER=a"; printf 'JN_ON_START=%5000s\n' x; } >"$T/long.conf"
run "$T/out" "$T/err" "$GPUTEL" config check --config "$T/long.conf"
check "an overlong line exits 2 with FILE:LINE" test "$RC" -eq 2 -a "$(cat "$T/err")" = "$T/long.conf:2: line is longer than 4095 bytes; shorten it"

finish
