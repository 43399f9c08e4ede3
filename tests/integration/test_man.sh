#!/bin/bash
# The manual pages gputel(8) and justnews-gpu-telemetry(5) and the bash
# completion, checked against the binary's own tables:
#   - scripts/gen-man.sh builds both pages, the same twice;
#   - they are clean under groff -ww, man --warnings and mandoc -T lint, and
#     man -l renders them;
#   - every key of 'gputel config show --json' is in (5) with its type,
#     bounds, default, flag and how it takes effect;
#   - every command of 'gputel --help' has a hand-written section in (8)
#     (packaging/man/gputel.8.in), and every subcommand and option of its
#     --help has an entry (.TP) there; every key's flag is an agent option;
#   - every environment variable the code reads (getenv) is in (8);
#   - the completion offers every command, subcommand and option, and the
#     values of the enum and list keys;
#   - and these checks do fail on a binary with one more command, option or
#     key than the pages and the completion know (a wrapper that adds them).
. "$(dirname "$0")/lib.sh"

GEN="$ROOT/scripts/gen-man.sh"
TEMPLATE="$ROOT/packaging/man/gputel.8.in"
COMPLETION="$ROOT/packaging/gputel.bash-completion"
export SOURCE_DATE_EPOCH=1767225600   # reproducible: the same page twice
unset MANPAGER PAGER

# ---- what the binary says: commands, usage forms, options, keys ----
#
# extract.py GPUTEL prints, one per line, tab-separated:
#   cmd NAME
#   form CMD SUB OPT...        a usage line (SUB "-" when none) and its options
#   opt CMD OPT                an option of an option list ("  --out-dir DIR  ...")
#   key NAME FLAG DEFAULT TYPE BOUNDS APPLIED
#   choice FLAG WORD           a value of an enum or list key
cat >"$T/extract.py" <<'EOF'
import json, os, re, subprocess, sys

gputel = sys.argv[1]
env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def run(*args):
    return subprocess.run([gputel] + list(args), env=env, stdout=subprocess.PIPE, check=True,
                          universal_newlines=True).stdout


OPT = r"(?<![\w-])(--?[a-z][a-z0-9-]*)"
cmds = []
seen = False
for l in run("--help").splitlines():
    if l.strip() == "commands:":
        seen = True
        continue
    m = re.match(r"^  (\S+)\s+", l)
    if seen and m:
        cmds.append(m.group(1))
for c in cmds:
    print("cmd\t" + c)
    lines = run(c, "--help").splitlines()
    forms, i = [], 0
    for i, l in enumerate(lines):
        s = l.strip()
        if not s:
            break
        s = re.sub(r"^usage:\s*", "", s)
        if s.startswith("gputel "):
            forms.append(s[len("gputel "):])
        elif forms:
            forms[-1] += " " + s
    for f in forms:
        words = f.split()
        sub = words[1] if len(words) > 1 and re.match(r"^[a-z]+$", words[1]) else "-"
        print("\t".join(["form", c, sub] + sorted(set(re.findall(OPT, f)))))
    for l in lines[i:]:
        m = re.match(r"^\s{2,}((?:-[-\w]+)(?:,\s*-[-\w]+)*)\s", l)
        if m:
            for o in re.findall(OPT, m.group(1)):
                print("opt\t%s\t%s" % (c, o))
d = json.loads(run("config", "show", "--json", "--config", "/dev/null"))
for k in d["keys"]:
    print("\t".join(["key", k["key"], k["flag"], k["default"], k["type"], k["bounds"],
                     k.get("applied", "")]))
    if k["type"] in ("enum", "list"):
        for w in k["bounds"].split(", "):
            print("choice\t%s\t%s" % (k["flag"], w))
EOF

# ---- the pages against that ----
#
# check_pages.py DATA PAGE8 PAGE5 TEMPLATE SRCROOT: one "# ..." line per
# problem, exit 1 when there is one.
cat >"$T/check_pages.py" <<'EOF'
import re, sys

data, page8, page5, template, src = sys.argv[1:6]
problems = []
rows = [l.rstrip("\n").split("\t") for l in open(data)]


def plain(s):
    """troff source to plain text: escapes and fonts gone, quotes of arguments gone."""
    s = re.sub(r"\\f[BIRP]|\\[%&]", "", s)
    s = s.replace("\\-", "-").replace("\\~", " ").replace("\\e", "\\").replace("\\(dq", '"')
    s = s.replace("\\(aq", "'").replace("\\(lq", '"').replace("\\(rq", '"')
    m = re.match(r"^\.(B|I|BI|IB|BR|RB|IR|RI)\s+(.*)$", s)
    if m:
        args = re.findall(r'"([^"]*)"|(\S+)', m.group(2))
        args = [a or b for a, b in args]
        s = (" " if len(m.group(1)) == 1 else "").join(args)
    return s


def section(lines, start):
    """The lines of a .SS/.SH section from its header to the next header."""
    out = []
    for l in lines[start + 1:]:
        if l.startswith(".SS") or l.startswith(".SH"):
            break
        out.append(l)
    return out


def tags(lines):
    """The tags of the .TP/.TQ entries, as plain text."""
    return [plain(lines[i + 1]) for i, l in enumerate(lines[:-1]) if re.match(r"^\.T[PQ]\b", l)]


p8 = open(page8).read().split("\n")
p5 = open(page5).read().split("\n")
tmpl = open(template).read()

# (8): a section per command, an entry per subcommand and option.
cmds = [r[1] for r in rows if r[0] == "cmd"]
want = {}
for r in rows:
    if r[0] == "form":
        want.setdefault(r[1], set()).update(r[3:])
        if r[2] != "-":
            want[r[1]].add(r[2])
    elif r[0] == "opt":
        want.setdefault(r[1], set()).add(r[2])
    elif r[0] == "key" and "agent" in cmds:
        want.setdefault("agent", set()).add(r[2])
for c in cmds:
    if not re.search(r'^\.\\" @COMMAND %s\s*$' % re.escape(c), tmpl, re.M):
        problems.append("command %s has no section in packaging/man/gputel.8.in" % c)
    at = [i for i, l in enumerate(p8) if re.match(r'^\.SS "?gputel %s"?$' % re.escape(c), plain(l))]
    if not at:
        problems.append("gputel(8) has no section 'gputel %s'" % c)
        continue
    words = set()
    for t in tags(section(p8, at[0])):
        words.update(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", t))
        first = t.split()
        if first:
            words.add(first[0].rstrip(","))
    for o in sorted(want.get(c, ())):
        if o not in words:
            problems.append("gputel(8), section 'gputel %s': no entry (.TP) for %s" % (c, o))
syn_at = [i for i, l in enumerate(p8) if l.startswith(".SH SYNOPSIS")]
syn = [plain(l) for l in section(p8, syn_at[0])] if syn_at else []
for c in cmds:
    if not any(l.startswith(c + " ") or l == c for l in syn):
        problems.append("gputel(8): %s is not in the SYNOPSIS" % c)

# (8): every variable the code reads is under ENVIRONMENT.
env_at = [i for i, l in enumerate(p8) if l.startswith(".SH ENVIRONMENT")]
env_text = " ".join(plain(l) for l in section(p8, env_at[0])) if env_at else ""
names = set()
import glob
for f in glob.glob(src + "/src/*.c") + glob.glob(src + "/src/*.h") + glob.glob(src + "/lib/*.c"):
    t = open(f, errors="replace").read()
    names.update(re.findall(r'getenv\("([A-Za-z_][A-Za-z0-9_]*)"\)', t))
    names.update(re.findall(r'env_get\(env, "([A-Za-z_][A-Za-z0-9_]*)"\)', t))
    names.update(re.findall(r'#define\s+\w+_ENV\s+"([A-Za-z_][A-Za-z0-9_]*)"', t))
for n in sorted(names):
    if not re.search(r"(?<![\w$])%s(?!\w)" % re.escape(n), env_text):
        problems.append("gputel(8): ENVIRONMENT does not describe %s (read by the code)" % n)

# (5): every key, with its type, bounds, default, flag and how it applies.
keys_at = [i for i, l in enumerate(p5) if l.startswith(".SH KEYS")]
klines = section(p5, keys_at[0]) if keys_at else []
entries, cur = {}, None
for i, l in enumerate(klines):
    if re.match(r"^\.T[PQ]\b", l) and i + 1 < len(klines):
        cur = plain(klines[i + 1]).strip()
        entries[cur] = []
    elif cur is not None and l.startswith((".PP", ".SH", ".SS")):
        cur = None
    elif cur is not None and not l.startswith("."):
        entries[cur].append(plain(l))
for r in rows:
    if r[0] != "key":
        continue
    name, flag, default, typ, bounds, applied = r[1:7]
    if name not in entries:
        problems.append("justnews-gpu-telemetry(5): no entry for %s" % name)
        continue
    body = " ".join(" ".join(entries[name]).split())
    for what, s in (("type", "Type: %s (%s)" % (typ, bounds)),
                    ("default", "default: %s;" % (default or "empty")),
                    ("flag", "flag: %s;" % flag), ("how it applies", applied)):
        if s and s not in body:
            problems.append("justnews-gpu-telemetry(5), %s: %s is not '%s'" % (name, what, s))

for p in problems:
    print("# " + p)
sys.exit(1 if problems else 0)
EOF

# ---- the completion against that ----
#
# check_completion DATA: one "# ..." line per problem; fails when there is one.
cat >"$T/complete.sh" <<'EOF'
# complete_words WORD...: the completions for the command line "WORD..."
# with the cursor at the end of the last word, one per line.
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_gputel gputel "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
	printf '%s\n' "${COMPREPLY[@]}"
}
EOF
check_completion() {
	local data=$1 comp=${2:-$COMPLETION} kind a b c rest out bad=0 o
	# has EXPECTED WORD...: the completion of WORD... offers EXPECTED.
	has() {
		local want=$1
		shift
		out=$(bash -c '. "$1"; . "$0"; shift; complete_words "$@"' "$T/complete.sh" "$comp" gputel "$@")
		grep -qxF -- "$want" <<<"$out" && return 0
		echo "# completion of 'gputel $*' does not offer $want"
		bad=1
	}
	while IFS=$'\t' read -r kind a b c rest; do
		case $kind in
		cmd)
			has "$a" ""
			;;
		form)
			[ "$b" != - ] && has "$b" "$a" ""
			for o in $c $rest; do
				if [ "$b" = - ]; then has "$o" "$a" -; else has "$o" "$a" "$b" -; fi
			done
			;;
		opt)
			# An option of the option list: offered by some form of its command.
			local subs s found=0
			subs=$(awk -F'\t' -v c="$a" '$1 == "form" && $2 == c { print $3 }' "$data")
			for s in $subs; do
				if [ "$s" = - ]; then set -- "$a" -; else set -- "$a" "$s" -; fi
				out=$(bash -c '. "$1"; . "$0"; shift; complete_words "$@"' "$T/complete.sh" "$comp" gputel "$@")
				grep -qxF -- "$b" <<<"$out" && found=1
			done
			[ "$found" = 1 ] || { echo "# completion of 'gputel $a' never offers $b"; bad=1; }
			;;
		key)
			has "$b" agent -
			;;
		choice)
			has "$b" agent "$a" ""
			;;
		esac
	done <"$data"
	return "$bad"
}

# ---- the real binary ----

"$GPUTEL" --version >/dev/null 2>&1 || { echo "not ok - $GPUTEL does not run; make first"; exit 1; }
python3 "$T/extract.py" "$GPUTEL" >"$T/data"
check "the binary's help and key table are read" test -s "$T/data" -a "$(grep -c '^key' "$T/data")" -gt 0

"$GEN" "$GPUTEL" "$T/man" 2>"$T/gen.err"
check "gen-man.sh writes both pages" test -s "$T/man/gputel.8" -a -s "$T/man/justnews-gpu-telemetry.5"
check "gen-man.sh has nothing to warn about" test ! -s "$T/gen.err"
[ -s "$T/gen.err" ] && sed 's/^/# /' "$T/gen.err"
"$GEN" "$GPUTEL" "$T/man2" 2>/dev/null
check "gen-man.sh is reproducible" diff -r "$T/man" "$T/man2"
check "gen-man.sh refuses a bad usage" bash -c '! "$0" 2>/dev/null' "$GEN"

for p in gputel.8 justnews-gpu-telemetry.5; do
	f="$T/man/$p"
	out=$(groff -ww -man -z "$f" 2>&1)
	check "$p: clean under groff -ww -man" test -z "$out"
	[ -n "$out" ] && sed 's/^/# /' <<<"$out"
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$f" 2>&1 >/dev/null)
	check "$p: clean under man --warnings" test -z "$out"
	[ -n "$out" ] && sed 's/^/# /' <<<"$out"
	if command -v mandoc >/dev/null; then
		out=$(mandoc -T lint -W style "$f" 2>&1)
		check "$p: clean under mandoc -T lint" test -z "$out"
		[ -n "$out" ] && sed 's/^/# /' <<<"$out"
	else
		echo "ok - $p: mandoc -T lint # SKIP mandoc is not installed (scripts/deps.sh)"
	fi
	LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$f" 2>/dev/null | sed 's/.\x08//g' >"$T/$p.txt"
	check "$p: man -l renders it" grep -q '^NAME' "$T/$p.txt"
	check "$p: rendered without leftover placeholders or escapes" bash -c '! grep -nE "@[A-Z_]+@|\\\\f|\\\\-" "$0"' "$T/$p.txt"
done
check "gputel(8) renders NAME, SYNOPSIS, COMMANDS, SIGNALS, ENVIRONMENT, FILES, EXIT STATUS, SEE ALSO" \
	bash -c 'for s in NAME SYNOPSIS DESCRIPTION COMMANDS SIGNALS ENVIRONMENT FILES "EXIT STATUS" "SEE ALSO"; do grep -qx "$s" "$0" || exit 1; done' "$T/gputel.8.txt"
check "justnews-gpu-telemetry(5) renders its sections" \
	bash -c 'for s in NAME SYNOPSIS DESCRIPTION "FILE FORMAT" PRECEDENCE KEYS EXAMPLES FILES "SEE ALSO"; do grep -qx "$s" "$0" || exit 1; done' "$T/justnews-gpu-telemetry.5.txt"
check "gputel(8) names the files of the service" bash -c 'for f in /etc/default/justnews-gpu-telemetry /var/log/justnews-perf /var/lib/gputel/allocations.json /run/gputel/control.sock /etc/logrotate.d/justnews-perf 60-gputel-rapl.rules; do grep -qF "$f" "$0" || { echo "# no $f"; exit 1; }; done' "$T/gputel.8.txt"

python3 "$T/check_pages.py" "$T/data" "$T/man/gputel.8" "$T/man/justnews-gpu-telemetry.5" "$TEMPLATE" "$ROOT" >"$T/problems"
check "the pages describe every command, subcommand, option, key and variable" test $? -eq 0
sed -n '1,40p' "$T/problems"

check "the completion is registered for gputel" bash -c '. "$0"; complete -p gputel | grep -q -- "-F _gputel"' "$COMPLETION"
check_completion "$T/data" >"$T/cproblems"
check "the completion offers every command, subcommand, option and key value" test $? -eq 0
sed -n '1,40p' "$T/cproblems"
if [ -f /usr/share/bash-completion/bash_completion ]; then
	# With the bash-completion package's helpers (_filedir, _command_offset) loaded too.
	printf '. /usr/share/bash-completion/bash_completion\n. "%s"\n' "$COMPLETION" >"$T/with-bc.bash"
	check_completion "$T/data" "$T/with-bc.bash" >"$T/cproblems2"
	check "the completion also works with bash-completion loaded" test $? -eq 0
	sed -n '1,20p' "$T/cproblems2"
else
	echo "ok - the completion with bash-completion loaded # SKIP bash-completion is not installed"
fi
comp() { bash -c '. "$1"; . "$0"; shift; complete_words "$@"' "$T/complete.sh" "$COMPLETION" gputel "$@" | tr '\n' ' '; }
check "completion: --metric-names completes a comma list" test "$(comp agent --metric-names gputel,)" = "gputel,jn gputel,dcgm "
check "completion: --exporter-mode=a offers active and always" test "$(comp agent --exporter-mode = a)" = "always active "
mkdir -p "$T/cdir/sub" && touch "$T/cdir/file.conf"
check "completion: --config completes files" bash -c '[[ "$0" == *"$1/cdir/file.conf"* ]]' "$(comp agent --config "$T/cdir/f")" "$T"
check "completion: --out-dir completes directories only" test "$(comp collect --out-dir "$T/cdir/")" = "$T/cdir/sub "
check "completion: after run --, the command's name" bash -c '[[ " $0 " == *" bash "* ]]' "$(comp run --gpus 0 -- bas)"
check "completion: an option's value is not taken for a subcommand" test "$(comp alloc --socket /x begin ID -)" = "--gpus --owner --pid --ttl --label --traceparent --socket --json "

# ---- the checks catch what they are for ----
#
# A wrapper adds a command 'frobnicate', an option '--zz-frob-level' to agent
# and to alloc begin, and a key JN_ZZ_FROB; the pages and the completion,
# made for the real binary, must fail the checks.
mkdir -p "$T/fake"
cat >"$T/fake/gputel" <<EOF
#!/bin/bash
real="$GPUTEL"
case "\$*" in
--help) "\$real" --help | sed '/^  run /a\\  frobnicate frob every GPU' ;;
"frobnicate --help") printf 'usage: gputel frobnicate [--hard]\n' ;;
"agent --help") "\$real" agent --help | sed '1s/\$/ [--zz-frob-level N]/' ;;
"alloc --help") "\$real" alloc --help | sed '1s/\$/ [--zz-frob-level N]/' ;;
"config show --json --config /dev/null")
	"\$real" "\$@" | sed 's/^\], "warnings"/,\n  {"key": "JN_ZZ_FROB", "value": "3", "source": "default", "line": null, "type": "int", "bounds": "1..9", "default": "3", "flag": "--zz-frob", "reloadable": true, "applied": "reloaded on SIGHUP", "help": "frob"}\n], "warnings"/' ;;
*) exec "\$real" "\$@" ;;
esac
EOF
chmod +x "$T/fake/gputel"
python3 "$T/extract.py" "$T/fake/gputel" >"$T/fdata"
check "self-test: the wrapper adds a command, options and a key" \
	bash -c 'grep -q "^cmd	frobnicate" "$0" && grep -q "^form	agent	-.*--zz-frob-level" "$0" && grep -q "^key	JN_ZZ_FROB" "$0"' "$T/fdata"
# Pages regenerated from the changed binary: the hand-written parts are missing.
"$GEN" "$T/fake/gputel" "$T/fman" 2>"$T/fgen.err"
check "self-test: gen-man.sh warns about a command without a section" grep -q "frobnicate" "$T/fgen.err"
python3 "$T/check_pages.py" "$T/fdata" "$T/fman/gputel.8" "$T/fman/justnews-gpu-telemetry.5" "$TEMPLATE" "$ROOT" >"$T/fproblems"
check "self-test: a new command without a section fails" grep -q "command frobnicate has no section" "$T/fproblems"
check "self-test: a new agent option without an entry fails" grep -q "'gputel agent': no entry (.TP) for --zz-frob-level" "$T/fproblems"
check "self-test: a new alloc option without an entry fails" grep -q "'gputel alloc': no entry (.TP) for --zz-frob-level" "$T/fproblems"
check "self-test: a new key is generated into both pages" bash -c '! grep -qE "JN_ZZ_FROB|for --zz-frob\$" "$0"' "$T/fproblems"
# The pages of the real binary are stale for the changed one.
python3 "$T/check_pages.py" "$T/fdata" "$T/man/gputel.8" "$T/man/justnews-gpu-telemetry.5" "$TEMPLATE" "$ROOT" >"$T/sproblems"
check "self-test: a stale (5) without a new key fails" grep -q "no entry for JN_ZZ_FROB" "$T/sproblems"
check "self-test: a stale (8) without a new key's flag fails" grep -q "no entry (.TP) for --zz-frob\$" "$T/sproblems"
check_completion "$T/fdata" >"$T/fcproblems"
check "self-test: the completion without the new command fails" grep -q "does not offer frobnicate" "$T/fcproblems"
check "self-test: the completion without the new options fails" \
	bash -c 'grep -q "gputel agent -. does not offer --zz-frob-level" "$0" && grep -q "gputel alloc begin -. does not offer --zz-frob-level" "$0" && grep -q "does not offer --zz-frob\$" "$0"' "$T/fcproblems"
# A variable read by the code but not described.
mkdir -p "$T/src/src" && printf 'static const char *v(void) { return getenv("GPUTEL_FROB"); }\n' >"$T/src/src/x.c"
python3 "$T/check_pages.py" "$T/data" "$T/man/gputel.8" "$T/man/justnews-gpu-telemetry.5" "$TEMPLATE" "$T/src" >"$T/eproblems"
check "self-test: an undescribed environment variable fails" grep -q "does not describe GPUTEL_FROB" "$T/eproblems"

finish
