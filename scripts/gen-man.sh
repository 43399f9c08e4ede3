#!/bin/sh
# scripts/gen-man.sh GPUTEL OUTDIR - writes OUTDIR/gputel.8 and
# OUTDIR/justnews-gpu-telemetry.5 from the templates in packaging/man/,
# with the parts that must follow the code taken from the built binary
# GPUTEL, so that they come from the same tables as the program's help:
#
#   gputel.8                  the command list ('gputel --help', main.c's
#                             table), each command's usage lines ('gputel
#                             CMD --help'), the agent's key flags
#   justnews-gpu-telemetry.5  every key: type, allowed values, default, flag,
#                             how a change takes effect, help ('gputel
#                             config show --json', config.c's config_keys[])
#
# The prose, and the description of every command and option, is written
# by hand in the templates.  A command that the binary lists but the
# template does not describe still gets its usage and summary here (with a
# warning); tests/integration/test_man.sh fails on it, and on an option
# without an entry.  Needs python3 (scripts/deps.sh).
set -eu
if [ $# -ne 2 ]; then
	echo "usage: scripts/gen-man.sh GPUTEL_BINARY OUTDIR" >&2
	exit 2
fi
TEMPLATES=${GEN_MAN_TEMPLATES:-$(cd "$(dirname "$0")/.." && pwd)/packaging/man}
exec python3 - "$1" "$2" "$TEMPLATES" <<'PYTHON'
import datetime, json, os, re, subprocess, sys

gputel, outdir, tdir = sys.argv[1:4]
PROG = "gen-man"


def die(msg):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.exit(1)


def warn(msg):
    sys.stderr.write("%s: warning: %s\n" % (PROG, msg))


def run(args):
    # A clean environment: no JN_*, no GPUTEL_CONFIG, no file of this host.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    try:
        r = subprocess.run([gputel] + args, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    except OSError as e:
        die("cannot run %s: %s" % (gputel, e))
    if r.returncode != 0:
        die("'%s %s' exited with %d: %s" % (gputel, " ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout


# ---- troff ----

def esc(s):
    """Text for a troff text line or macro argument: backslashes and minus signs escaped."""
    return s.replace("\\", "\\e").replace("-", "\\-")


def line(s):
    """A text line: one that would start with . or ' is protected."""
    return "\\&" + s if s[:1] in (".", "'") else s


def text(s, width=68):
    """Text lines of at most width bytes where the spaces allow; troff fills them again."""
    out, cur = [], ""
    for w in s.split(" "):
        if cur and len(cur) + 1 + len(w) > width:
            out.append(line(cur))
            cur = w
        else:
            cur = cur + " " + w if cur else w
    if cur:
        out.append(line(cur))
    return out


def bold(s):
    return "\\fB" + esc(s) + "\\fR"


def ital(s):
    return "\\fI" + esc(s) + "\\fR"


def fmt_word(w):
    """One word of a usage line: options bold, PLACEHOLDERS italic, literal words bold."""
    if w in ("|", "..."):
        return w.replace("...", "\\&...")
    if w.endswith("...") and len(w) > 3:     # ARGS...
        return fmt_word(w[:-3]) + "\\&..."
    m = re.match(r"^(--?)([A-Z][A-Z0-9_]*)$", w)
    if m:                               # --KEY: a placeholder option
        return "\\fB" + esc(m.group(1)) + "\\fI" + m.group(2) + "\\fR"
    if w.startswith("-"):
        return bold(w)
    if "=" in w:                        # KEY=VALUE
        return "=".join(fmt_word(p) for p in w.split("="))
    if "|" in w:                        # always|active, begin|end
        return "|".join(fmt_word(p) for p in w.split("|"))
    if re.match(r"^[A-Z][A-Z0-9_]*$", w):
        return ital(w)
    return bold(w)


def fmt_usage(rest):
    """The arguments of one usage form; spaces inside [ ] do not break."""
    out, depth, word = [], 0, ""

    def flush():
        nonlocal word
        if word:
            out.append(fmt_word(word))
            word = ""

    for c in rest:
        if c in "[]":
            flush()
            out.append(c)
            depth += 1 if c == "[" else -1
        elif c == " ":
            flush()
            if out and out[-1] not in (" ", "\\~"):
                out.append("\\~" if depth > 0 else " ")
        else:
            word += c
    flush()
    s = "".join(out).strip()
    # "[--quiet | --verbose]": no break just inside the brackets either.
    return s.replace("[\\~", "[").replace("\\~]", "]")


# ---- the binary's tables ----

def commands():
    out, seen = [], False
    for l in run(["--help"]).splitlines():
        if l.strip() == "commands:":
            seen = True
            continue
        m = re.match(r"^  (\S+)\s+(.*)$", l)
        if seen and m:
            out.append((m.group(1), m.group(2).strip()))
        elif seen and out and not l.strip():
            break
    if not out:
        die("'gputel --help' lists no commands")
    return out


def usage_forms(cmd):
    """The usage lines of 'gputel CMD --help', one string per form, without 'gputel'."""
    forms = []
    for l in run([cmd, "--help"]).splitlines():
        s = l.strip()
        if not s:
            break
        if s.startswith("usage:"):
            s = s[len("usage:"):].strip()
        if s.startswith("gputel "):
            forms.append(s[len("gputel "):])
        elif forms:
            forms[-1] += " " + s
    if not forms:
        die("'gputel %s --help' has no usage line" % cmd)
    return [re.sub(r"\s+", " ", f) for f in forms]


def synopsis(forms):
    out = []
    for f in forms:
        words = f.split(" ")
        # The command, and a subcommand word, stay together after "gputel".
        head = [words.pop(0)]
        if words and re.match(r"^[a-z]+$", words[0]):
            head.append(words.pop(0))
        out += [".SY gputel"] + text(bold(" ".join(head)) + (" " + fmt_usage(" ".join(words)) if words else "")) + [".YS"]
    return out


def config_keys():
    try:
        d = json.loads(run(["config", "show", "--json", "--config", "/dev/null"]))
    except ValueError as e:
        die("'gputel config show --json' is not JSON: %s" % e)
    keys = d.get("keys") or die("'gputel config show --json' lists no keys")
    for k in keys:
        for f in ("key", "type", "bounds", "default", "flag", "help"):
            if f not in k:
                die("'gputel config show --json': key %s has no %s" % (k.get("key"), f))
        if "applied" not in k:          # an older binary
            k["applied"] = "reloaded on SIGHUP" if k.get("reloadable") else "needs a restart"
    return keys


def sentence(s):
    s = s.strip()
    return (s[:1].upper() + s[1:]).rstrip(".") + "."


def key_entries(keys):
    out = []
    for k in keys:
        d = bold(k["default"]) if k["default"] else "empty"
        out += [".TP", ".B " + esc(k["key"])] + text(esc(sentence(k["help"]))) + [".br"]
        out += text("Type: %s (%s); default: %s; flag: %s; %s." % (
            esc(k["type"]), esc(k["bounds"]), d, bold(k["flag"]), esc(k["applied"])))
    return out


def key_flags(keys):
    out = []
    for k in keys:
        arg = {"percent": "PCT", "seconds": "S", "int": "N", "path": "PATH", "enum": "WORD",
               "list": "LIST", "gpu list": "LIST", "command": "CMD", "address": "ADDR",
               "string": "NAME"}.get(k["type"], "VALUE")
        out += [".TP", line(bold(k["flag"]) + " " + ital(arg))]
        out += text("Sets %s: %s" % (bold(k["key"]), esc(sentence(k["help"]))))
    return out


def applied_groups(keys):
    hint = {"reloaded on SIGHUP": "systemctl reload justnews\\-gpu\\-telemetry",
            "needs a restart": "systemctl restart justnews\\-gpu\\-telemetry"}
    groups = {}
    for k in keys:
        groups.setdefault(k["applied"], []).append(k["key"])
    out = []
    rank = list(hint)
    for how, names in sorted(groups.items(), key=lambda g: rank.index(g[0]) if g[0] in rank else len(rank)):
        tag = esc(sentence(how)).rstrip(".")
        if how in hint:
            tag += " (\\fB" + hint[how] + "\\fR)"
        out += [".TP", line(tag)] + text(", ".join(bold(n) for n in names) + ".")
    return out


# ---- templates ----

def version():
    v = run(["--version"]).strip()
    return v.split()[-1] if v else "unknown"


def date():
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde and sde.isdigit():
        return datetime.datetime.fromtimestamp(int(sde), datetime.timezone.utc).strftime("%Y-%m-%d")
    try:
        r = subprocess.run(["git", "-C", tdir, "log", "-1", "--format=%cs"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, universal_newlines=True, timeout=10)
        if r.returncode == 0 and re.match(r"^\d{4}-\d\d-\d\d$", r.stdout.strip()):
            return r.stdout.strip()
    except OSError:
        pass
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def read_template(name):
    try:
        with open(os.path.join(tdir, name)) as f:
            return f.read().split("\n")
    except OSError as e:
        die("cannot read the template: %s" % e)


def fill(lines, blocks, common):
    out = []
    for l in lines:
        if l.startswith('.\\"'):            # a comment: kept as written
            out.append(l)
            continue
        m = re.match(r"^@([A-Z_]+)@$", l)
        if m:
            if m.group(1) not in blocks:
                die("unknown placeholder @%s@" % m.group(1))
            out += blocks[m.group(1)]
            continue
        for name, value in common.items():
            l = l.replace("@%s@" % name, value)
        if re.search(r"@[A-Z_]+@", l):
            die("unknown placeholder in: %s" % l)
        out.append(l)
    return out


def gen_gputel8(cmds, keys, common):
    lines = read_template("gputel.8.in")
    names = [c for c, _ in cmds]
    forms = {c: usage_forms(c) for c in names}
    # Split the template into the text and the command blocks.
    head, blocks, tail, cur, seen_block = [], {}, [], None, False
    for l in lines:
        m = re.match(r'^\.\\" @COMMAND (\S+)\s*$', l)
        if m:
            if cur is not None:
                die("@COMMAND %s inside @COMMAND %s" % (m.group(1), cur))
            cur = m.group(1)
            blocks[cur] = []
            seen_block = True
            continue
        if re.match(r'^\.\\" @END\s*$', l):
            if cur is None:
                die("@END without @COMMAND")
            cur = None
            continue
        if cur is not None:
            blocks[cur].append(l)
        elif seen_block:
            tail.append(l)
        else:
            head.append(l)
    if cur is not None:
        die("@COMMAND %s has no @END" % cur)
    for b in blocks:
        if b not in names:
            sys.stderr.write("%s: note: gputel has no command '%s'; its section is left out\n" % (PROG, b))
    body = []
    for c, summary in cmds:
        fl = {"USAGE": synopsis(forms[c]), "KEY_FLAGS": key_flags(keys)}
        if c in blocks:
            body += fill(blocks[c], fl, common)
        else:
            warn("command '%s' has no section in %s/gputel.8.in; write one" % (c, tdir))
            body += ['.SS "gputel %s"' % esc(c)] + fl["USAGE"] + [".PP"] + text(esc(sentence(summary)))
    cmd_list = []
    for c, summary in cmds:
        cmd_list += [".TP", ".B " + esc(c)] + text(esc(sentence(summary)))
    syn = [".SY gputel", ".B \\-\\-help", ".YS", ".SY gputel", ".B \\-\\-version", ".YS"]
    for c in names:
        syn += synopsis(forms[c])
    top = {"SYNOPSIS": syn, "COMMAND_LIST": cmd_list}
    return fill(head, top, common) + body + fill(tail, top, common)


def gen_config5(keys, common):
    return fill(read_template("justnews-gpu-telemetry.5.in"),
                {"KEYS": key_entries(keys), "APPLIED": applied_groups(keys)}, common)


def nohyphen(lines):
    """\\% before paths and identifiers (a - / or _ inside), so that no line
    break puts a hyphen into something a reader would copy."""
    out, nofill = [], False
    for l in lines:
        if l.startswith(".EX") or l.startswith(".nf"):
            nofill = True
        elif l.startswith(".EE") or l.startswith(".fi"):
            nofill = False
        if nofill or l.startswith('.\\"') or re.match(r"^\.(TH|SH|SS|SY)\b", l):
            out.append(l)
            continue
        words = l.split(" ")
        # .BR and the like join their arguments: only the first starts a word.
        joined = re.match(r"^\.(BR|RB|BI|IB|IR|RI)$", words[0])
        def ident(w):
            core = re.sub(r"\\f[BIRP]", "", w)
            return re.search(r"\w(\\-|/|_)\w", core) or core.startswith("/")

        if joined and len(words) > 1 and '"' not in l and "\\%" not in l and any(ident(w) for w in words[1:]):
            words[1] = "\\%" + words[1]
        for i, w in enumerate(words):
            if (i == 0 and w.startswith(".")) or joined or '"' in w or "\\%" in w:
                continue
            if ident(w):
                words[i] = "\\%" + w
        out.append(" ".join(words))
    return out


def write(name, lines):
    text = "\n".join(nohyphen(lines)).rstrip("\n") + "\n"
    # Drop the template's own comment header (the lines before .TH).
    tl = text.split("\n")
    th = next((i for i, l in enumerate(tl) if l.startswith(".TH ")), 0)
    text = '.\\" Generated by scripts/gen-man.sh from packaging/man/%s.in; edit that.\n' % name + "\n".join(tl[th:])
    os.makedirs(outdir, exist_ok=True)
    tmp = os.path.join(outdir, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(outdir, name))


common = {"VERSION": esc(version()), "DATE": date()}
cmds = commands()
keys = config_keys()
write("gputel.8", gen_gputel8(cmds, keys, common))
write("justnews-gpu-telemetry.5", gen_config5(keys, common))
PYTHON
