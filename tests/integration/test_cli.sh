#!/bin/bash
# What a new operator meets first on the command line: help for every
# command (and `gputel help CMD`), the version, a "did you mean" for a
# misspelt command, every flag listed with its default, durations with
# units, collect's --gpus and --out-dir -, gputel run without an agent,
# messages that name the socket they tried, and plurals.
. "$(dirname "$0")/lib.sh"

use_sim 2 "$SCN/steady.scn" intel

# ---- help and version ----
"$GPUTEL" help collect >"$T/h1" 2>&1
"$GPUTEL" collect --help >"$T/h2" 2>&1
check "gputel help collect prints collect's help" bash -c "[ -s '$T/h1' ] && cmp -s '$T/h1' '$T/h2'"
for v in -V --version; do
	check "gputel $v prints the version" bash -c "'$GPUTEL' $v | grep -qE '^gputel [0-9]+\.[0-9]+\.[0-9]+$'"
done
"$GPUTEL" alloc end --help >"$T/h3" 2>&1
check "gputel alloc end --help prints alloc's help, exit 0 ($?)" bash -c "[ $? -eq 0 ] && grep -q 'gputel alloc end' '$T/h3' && ! grep -q 'unknown option' '$T/h3'"
"$GPUTEL" --help >"$T/h" 2>&1
check "gputel --help names help CMD and --version" bash -c "grep -q 'gputel help <command>' '$T/h' && grep -q -- '--version' '$T/h'"
"$GPUTEL" colect >/dev/null 2>"$T/err"
check "a misspelt command gets a 'did you mean', exit 2, one line" \
	bash -c "[ $? -eq 2 ] && grep -q \"unknown command 'colect'; did you mean 'collect'?\" '$T/err' && [ \$(wc -l <'$T/err') -eq 1 ]"
"$GPUTEL" help nosuch >/dev/null 2>"$T/err"
check "gputel help of an unknown command exits 2" test $? -eq 2

# Every --flag of a command's synopsis has a line of its own in its help, with its default.
check "every command's --help lists each of its flags with the default" python3 - "$GPUTEL" <<'PY'
import re, subprocess, sys
bad = []
for cmd in ["agent", "collect", "exporter", "gpus", "alloc", "run", "health", "doctor"]:
    out = subprocess.run([sys.argv[1], cmd, "--help"], capture_output=True, text=True).stdout
    synopsis, _, rest = out.partition("\n\n")
    flags = set(re.findall(r"(--[a-z][a-z-]*)", synopsis)) - {"--help"}
    for f in sorted(flags):
        # The option's own line in the list, and its text up to the next option.
        # The flag in the option column (its first 27 characters), its text running on below.
        m = re.search(r"^  (?:[^ \n][^\n]{0,25}?[ ,])?" + re.escape(f) + r"(?![a-z-]).*(?:\n {20,}.*)*", rest, re.M)
        if not m:
            bad.append(f"{cmd}: {f} has no line in the list")
        elif cmd in ("agent", "collect", "run", "alloc", "exporter") and "default" not in m.group(0):
            bad.append(f"{cmd}: {f} gives no default")
for b in bad:
    print("# " + b)
sys.exit(1 if bad else 0)
PY
"$GPUTEL" agent --help >"$T/ah"
check "agent --help lists --on-start and --on-stop" bash -c "grep -q '^  --on-start CMD' '$T/ah' && grep -q '^  --on-stop CMD' '$T/ah'"

# ---- durations with units, in flags and in the file ----
mkdir -p "$T/d"
"$GPUTEL" collect --out-dir "$T/d" --interval 250ms --duration 1s >"$T/d.log" 2>&1
check "collect --interval 250ms --duration 1s: 4 ticks" grep -q "stopped after 4 ticks" "$T/d.log"
printf 'JN_POLL_INTERVAL=500ms\nJN_STOP_SECONDS=2m\nJN_IDLE_SAMPLE_SECONDS=1h\n' >"$T/units.conf"
"$GPUTEL" config show --config "$T/units.conf" >"$T/show" 2>&1
check "the file takes durations with units (500ms, 2m, 1h)" \
	bash -c "grep -q '^JN_POLL_INTERVAL=0.5 ' '$T/show' && grep -q '^JN_STOP_SECONDS=120 ' '$T/show' && grep -q '^JN_IDLE_SAMPLE_SECONDS=3600 ' '$T/show'"
"$GPUTEL" collect --out-dir "$T/d" --interval 5min >/dev/null 2>"$T/err"
check "an unknown unit is refused with exit 2" test $? -eq 2

# ---- collect --gpus and --out-dir - ----
"$GPUTEL" collect --out-dir - --interval 0.2 --duration 0.6 --gpus 1 2>"$T/stdout.log" >"$T/stdout.csv"
check "collect --out-dir - writes the CSV to standard output: a header and 3 rows" \
	bash -c "[ \$(wc -l <'$T/stdout.csv') -eq 4 ] && head -n1 '$T/stdout.csv' | grep -q '^timestamp,'"
check "collect --gpus 1 writes GPU 1's rows only" test "$(col_values "$T/stdout.csv" gpu_index | sort -u)" = 1
"$GPUTEL" collect --out-dir - --interval 0.05 2>"$T/pipe.log" | head -n 3 >/dev/null
check "collect --out-dir - stops when its reader goes away" grep -q 'standard output was closed; stopping' "$T/pipe.log"
"$GPUTEL" collect --out-dir "$T/d" --gpus 0-x >/dev/null 2>"$T/err"
check "collect --gpus with a bad list exits 2" test $? -eq 2

# ---- gputel run when no agent answers ----
export JN_CONTROL_SOCKET="$T/none.sock"
out=$("$GPUTEL" run -- echo hello 2>"$T/err")
rc=$?
check "run without an agent still runs the command (got '$out', rc $rc)" test "$out" = hello -a "$rc" -eq 0
check "... with one warning naming the socket and --require-agent" \
	bash -c "[ \$(wc -l <'$T/err') -eq 1 ] && grep -q 'no gputel agent answers on $T/none.sock' '$T/err' && grep -q -- '--require-agent' '$T/err'"
"$GPUTEL" run -- sh -c 'exit 7' 2>/dev/null
check "... and keeps its exit status (7)" test $? -eq 7
out=$("$GPUTEL" run --require-agent -- echo hello 2>"$T/err")
rc=$?
check "run --require-agent refuses without an agent: no output, exit 1" test -z "$out" -a "$rc" -eq 1
check "... naming the socket it tried and how to choose another" \
	bash -c "grep -q '$T/none.sock' '$T/err' && grep -q -- '--socket PATH or JN_CONTROL_SOCKET' '$T/err'"
"$GPUTEL" alloc list --socket "$T/other.sock" >/dev/null 2>"$T/err"
check "alloc names the --socket it tried" bash -c "[ $? -eq 1 ] && grep -q '$T/other.sock' '$T/err'"
unset JN_CONTROL_SOCKET

# ---- GPUTEL_GPU_BACKEND names a backend that is not there ----
GPUTEL_GPU_BACKEND=nvml GPUTEL_NVML_LIBRARY= "$GPUTEL" gpus >/dev/null 2>"$T/err"
rc=$?
check "GPUTEL_GPU_BACKEND=nvml without NVML: exit 2, one line with the fix (rc $rc)" \
	bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$T/err') -eq 1 ] && grep -q 'unset GPUTEL_GPU_BACKEND' '$T/err'"

# ---- log lines carry a timestamp, except in the journal ----
GPUTEL_GPU_BACKEND=none "$GPUTEL" collect --out-dir "$T/d" --interval 1 --duration 1 >/dev/null 2>"$T/stamped.log"
check "log lines start with an ISO 8601 UTC timestamp" \
	grep -qE '^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z gputel: collect: stopped' "$T/stamped.log"
: >"$T/journal.log"
GPUTEL_GPU_BACKEND=none JOURNAL_STREAM=$(stat -c %d:%i "$T/journal.log") \
	"$GPUTEL" collect --out-dir "$T/d" --interval 1 --duration 1 >/dev/null 2>>"$T/journal.log"
check "... and none when stderr is the journal (JOURNAL_STREAM names it)" grep -q '^gputel: collect: stopped' "$T/journal.log"

# ---- the README's own examples ----
# The "Try it on simulated GPUs" block, as written (less its make), shows the job starting.
python3 - "$ROOT/README.md" >"$T/try.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
block = re.search(r"## Try it on simulated GPUs\n\n```sh\n(.*?)```", text, re.S).group(1)
print("\n".join(l for l in block.splitlines() if l.strip() != "make"))
PY
(cd "$ROOT" && sed -e "s|\$PWD/build/|$BUILD/|g" -e "s|^build/gputel|$GPUTEL|" "$T/try.sh" | env -u GPUTEL_SIM_GPUS bash) >"$T/try.out" 2>&1
check "the README's Try-it block shows GPU 0 idle, then busy at 95 %" \
	bash -c "grep -q '^20.*,68.00,33,0\$' '$T/try.out' && grep -q '^20.*,95\$' '$T/try.out'"

# make demo installs what the demo needs, not what the tests need (every package "missing" here).
mkdir -p "$T/nodpkg"
printf '#!/bin/sh\nexit 1\n' >"$T/nodpkg/dpkg-query"
chmod +x "$T/nodpkg/dpkg-query"
demo_pkgs=$(PATH="$T/nodpkg:$PATH" "$ROOT/scripts/deps.sh" --demo --print)
check "deps.sh --demo asks for the compiler and curl, not the test peers ($demo_pkgs)" \
	bash -c "grep -qw gcc <<<'$demo_pkgs' && grep -qw curl <<<'$demo_pkgs' && ! grep -qwE 'clang|prometheus|libcmocka-dev|valgrind' <<<'$demo_pkgs'"

# An interrupted demo removes its temporary directory and stops its agent.
: >"$T/demo.out"   # before the job starts: its own redirection may come after the first grep
BUILD="$BUILD" DEMO_PORT=$(free_port) "$ROOT/scripts/demo.sh" >>"$T/demo.out" 2>&1 &
DEMO=$!
for ((i = 0; i < 100; i++)); do grep -q -- '--out-dir /tmp/gputel-demo' "$T/demo.out" && break; sleep 0.1; done
demo_dir=$(grep -o -- '--out-dir /tmp/gputel-demo\.[A-Za-z0-9]*' "$T/demo.out" | cut -d' ' -f2)
sleep 1
kill -TERM "$DEMO"
wait "$DEMO"
for ((i = 0; i < 30; i++)); do pgrep -f -- "--out-dir $demo_dir" >/dev/null || break; sleep 0.1; done
check "an interrupted make demo removes its directory ($demo_dir)" bash -c "[ -n '$demo_dir' ] && [ ! -e '$demo_dir' ]"
left=$(pgrep -f -- "--out-dir $demo_dir")
check "... and stops its agent" test -z "$left"

# make check's objects are kept: a second build compiles nothing, and make's last line is not an rm.
mkdir -p "$T/tree"
cp -r "$ROOT/Makefile" "$ROOT/src" "$ROOT/include" "$ROOT/lib" "$ROOT/sim" "$ROOT/proto" "$ROOT/tests" "$T/tree/"
make -C "$T/tree" -j2 BUILD=b OPT=-O0 SANITIZE= b/tests/test_util >"$T/make1.log" 2>&1
make -C "$T/tree" BUILD=b OPT=-O0 SANITIZE= b/tests/test_util >"$T/make2.log" 2>&1
check "building a unit test leaves no rm of its object as make's last line" bash -c "! tail -n1 '$T/make1.log' | grep -q '^rm '"
check "a second build of it compiles nothing" bash -c "! grep -q ' -c ' '$T/make2.log' && grep -q 'is up to date' '$T/make2.log'"

# ---- plurals ----
GPUTEL_GPU_BACKEND=none "$GPUTEL" collect --out-dir "$T/d" --interval 1 --duration 1 >"$T/one.log" 2>&1
check "one tick, one row: singular" grep -q 'stopped after 1 tick (0 skipped); 1 row in' "$T/one.log"
finish
