#!/bin/bash
# The collectors' installers (scripts/ops/install_otel_node_collector.sh,
# install_otel_central_collector.sh), always into a directory under $T
# (--root), with a stand-in collector (a script that answers --version and
# validate) and, when scripts/otelcol.sh has built it, the real one:
# - the env files land 0640 root:root, the configurations and units 0644,
#   the same files as packaging/otel/ and as "make install" places; the
#   unit runs the collector it was given; systemd-analyze verify accepts the
#   units and rates them at most 2.5 in its security review; the unit is
#   enabled in the root; validate ran on the installed files with the env
#   file's variables;
# - a rerun changes nothing and says so; --dry-run writes nothing;
# - an edited env file is kept, its new version goes beside it;
# - a configuration the collector refuses: exit 1, the unit is not enabled;
# - no collector, a collector too old, a program that is not a collector:
#   exit 2 with the hint; not root without --root: exit 2, one line;
# - --uninstall keeps the edited file and the state; --uninstall --purge
#   removes them, and leaves the root empty.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

unset DESTDIR
export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
S="$ROOT/scripts/ops"
OTEL="$ROOT/packaging/otel"
R="$T/root"
PFX=/usr/local
ETC=/etc/justnews/monitoring/otel
UNITDIR=$PFX/lib/systemd/system
WANTS=/etc/systemd/system/multi-user.target.wants

if [ "$(id -u)" -ne 0 ]; then
	echo "ok - collector installers # SKIP needs root (root-owned files, setpriv)"
	finish
	exit
fi
for tool in systemctl systemd-analyze setpriv; do
	if ! command -v "$tool" >/dev/null; then
		not_ok "$tool is missing: scripts/deps.sh installs it (systemd, util-linux)"
		finish
		exit
	fi
done

# A stand-in collector: "--version" prints VERSION (default 0.148.0);
# "validate" logs its arguments and environment to $T/validate.log and
# refuses a configuration that says "reject-me".
fake_collector() {
	mkdir -p "$(dirname "$1")"
	cat >"$1" <<-EOF
		#!/bin/sh
		case "\$1" in
		--version) echo "otelcol-contrib version ${2:-0.148.0}" ;;
		validate)
			cfg=\${2#--config=}
			{ echo "validate \$*"; env | sort; } >>"$T/validate.log"
			if grep -q reject-me "\$cfg"; then echo "Error: invalid configuration: reject-me" >&2; exit 1; fi ;;
		*) exit 1 ;;
		esac
	EOF
	chmod 0755 "$1"
}
FAKE="$T/bin/otelcol-contrib"
fake_collector "$FAKE"

# run OUT script args...: runs an installer; sets RC; shows its output on failure.
run() {
	local out=$1 s=$2
	shift 2
	bash "$S/$s" "$@" >"$out" 2>&1
	RC=$?
	[ "$RC" -eq 0 ] || sed "s/^/# $s: /" "$out" | tail -n 15
}
node() { run "$1" install_otel_node_collector.sh "${@:2}"; }
central() { run "$1" install_otel_central_collector.sh "${@:2}"; }
has() {
	grep -qE -- "$2" "$1" && return 0
	echo "# $1 lacks /$2/:" && sed 's/^/#   /' "$1" | head -n 30
	return 1
}
listing() { find "$1" -printf '%p %m %u %g %s %T@ %l\n' | LC_ALL=C sort; }
same_listing() {
	cmp -s "$1" "$2" && return 0
	diff "$1" "$2" | head -n 20 | sed 's/^/# /'
	return 1
}
attrs() {
	local have
	have=$(stat -c '%a %u %g' "$1" 2>/dev/null)
	[ "$have" = "$2" ] && return 0
	echo "# $1: ${have:-missing}, want $2"
	return 1
}
files_in() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort); }
# verify_unit FILE: systemd-analyze verify (clean) and security (<= 2.5).
verify_unit() {
	local score
	systemd-analyze verify --man=no "$1" >"$T/verify.out" 2>&1 || { sed 's/^/# verify: /' "$T/verify.out"; return 1; }
	[ ! -s "$T/verify.out" ] || { sed 's/^/# verify: /' "$T/verify.out"; return 1; }
	score=$(systemd-analyze security --offline=true "$1" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	echo "# $(basename "$1"): exposure ${score:-?}"
	awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 2.5) }'
}

# What the installers would touch on this machine, were they to miss --root.
host_state() {
	find /etc/justnews /etc/systemd/system "$PFX/lib/systemd/system" "$PFX/share/gputel" -printf '%p %m %s %T@\n' 2>/dev/null |
		LC_ALL=C sort | sha256sum
}
host_before=$(host_state)

min=$(sed -n 's/^OTELCOL_MIN_VERSION=//p' "$S/common.sh")
check "the installers' minimum collector ($min) is the release both configurations name" \
	bash -c "[ -n '$min' ] && grep -q 'v$min' '$OTEL/node-collector-config.yaml' && grep -q 'v$min' '$OTEL/central-collector-config.yaml'"

# ---- a first install of both ----
start=$SECONDS
node "$T/n1" --root "$R" --otelcol "$FAKE"
nrc=$RC
central "$T/c1" --root "$R" --otelcol "$FAKE"
check "both installers --root --otelcol FAKE: exit 0 ($((SECONDS - start)) s)" test "$nrc" -eq 0 -a "$RC" -eq 0
ok_attrs=0
for r in node central; do
	attrs "$R$ETC/$r.env" "640 0 0" || ok_attrs=1
	attrs "$R$ETC/$r-collector-config.yaml" "644 0 0" || ok_attrs=1
	attrs "$R$UNITDIR/justnews-otel-$r.service" "644 0 0" || ok_attrs=1
done
check "env files 0640 root:root; configurations and units 0644 root:root" test "$ok_attrs" -eq 0
check "the env files and configurations are packaging/otel's" \
	bash -c "for f in node.env central.env node-collector-config.yaml central-collector-config.yaml; do cmp -s '$OTEL/'\$f '$R$ETC/'\$f || exit 1; done"
check "the units are the templates with @OTELCOL@ = the collector given" \
	bash -c "for r in node central; do cmp -s <(sed 's|@OTELCOL@|$FAKE|g' '$OTEL/justnews-otel-'\$r.service.in) '$R$UNITDIR/justnews-otel-'\$r.service || exit 1; done"
check "the units run it: ExecStartPre validate, then ExecStart" \
	bash -c "grep -qx 'ExecStartPre=$FAKE validate --config=$ETC/node-collector-config.yaml' '$R$UNITDIR/justnews-otel-node.service' &&
		grep -qx 'ExecStart=$FAKE --config=$ETC/central-collector-config.yaml' '$R$UNITDIR/justnews-otel-central.service'"
check "both units are enabled in the root (multi-user.target.wants)" \
	test "$(readlink "$R$WANTS/justnews-otel-node.service")" = "$UNITDIR/justnews-otel-node.service" \
	-a "$(readlink "$R$WANTS/justnews-otel-central.service")" = "$UNITDIR/justnews-otel-central.service"
check "validate ran on each installed configuration, with its env file's variables" \
	bash -c "grep -qx 'validate validate --config=$R$ETC/node-collector-config.yaml' '$T/validate.log' &&
		grep -qx 'validate validate --config=$R$ETC/central-collector-config.yaml' '$T/validate.log' &&
		grep -qx 'OTEL_UPSTREAM_ENDPOINT=127.0.0.1:4319' '$T/validate.log' && grep -qx 'TEMPO_ENDPOINT=http://127.0.0.1:4418' '$T/validate.log' &&
		grep -qx 'ELASTICSEARCH_PASSWORD=' '$T/validate.log'"
check "the output says what was done, one line each" \
	bash -c "grep -q '^install_otel_node_collector: installed $R$ETC/node.env (0640)$' '$T/n1' &&
		grep -q '^install_otel_node_collector: the collector accepts ' '$T/n1' &&
		grep -q '^install_otel_central_collector: enabled justnews-otel-central.service$' '$T/c1' &&
		grep -qE '^install_otel_central_collector: done: [0-9]+ changes; unchanged: 0 files$' '$T/c1'"
check "the env file is installed before the unit" \
	bash -c "[ \$(grep -n 'installed .*/node.env' '$T/n1' | cut -d: -f1) -lt \$(grep -n 'installed .*justnews-otel-node.service' '$T/n1' | cut -d: -f1) ]"
for r in node central; do
	check "systemd-analyze verify and security (<= 2.5): the installed justnews-otel-$r.service" \
		verify_unit "$R$UNITDIR/justnews-otel-$r.service"
done

# ---- make install places the same files ----
# The build as it is (make check's BUILD and variables, not its jobserver).
mf=$(printf '%s' "${MAKEFLAGS:-}" | sed -E 's/(^| )--jobserver-(auth|fds)=[^ ]*//g')
mk() { MAKEFLAGS=$mf make -C "$ROOT" --no-print-directory BUILD="$BUILD" DESTDIR="$T/mi" DIST="$T/dist" OTELCOL="$FAKE" "$@"; }
mk install >"$T/make.out" 2>&1
mrc=$?
[ "$mrc" -eq 0 ] || tail -n 10 "$T/make.out" | sed 's/^/# make: /'
check "make install DESTDIR OTELCOL=FAKE: the same units, configurations and env files (env 0640)" \
	bash -c "[ $mrc -eq 0 ] && for f in $ETC/node.env $ETC/central.env $ETC/node-collector-config.yaml $ETC/central-collector-config.yaml \
		$UNITDIR/justnews-otel-node.service $UNITDIR/justnews-otel-central.service; do cmp -s '$T/mi'\$f '$R'\$f || exit 1; done &&
		[ \"\$(stat -c %a '$T/mi$ETC/node.env' '$T/mi$ETC/central.env' | tr '\\n' ' ')\" = '640 640 ' ]"
echo "X=1" >>"$T/mi$ETC/node.env"
mk install uninstall >"$T/make.out" 2>&1
check "make install keeps an edited env file; make uninstall removes the units and leaves /etc" \
	bash -c "grep -qx X=1 '$T/mi$ETC/node.env' && [ ! -e '$T/mi$UNITDIR/justnews-otel-node.service' ] && [ -f '$T/mi$ETC/central.env' ]"

# ---- a rerun changes nothing; --dry-run writes nothing ----
listing "$R" >"$T/list1"
node "$T/n2" --root "$R" --otelcol "$FAKE"
nrc=$RC
central "$T/c2" --root "$R"
listing "$R" >"$T/list2"
check "second run of both (central without --otelcol: the unit's collector): exit 0, 'nothing to do'" \
	bash -c "[ $nrc -eq 0 ] && [ $RC -eq 0 ] && grep -qE '^install_otel_node_collector: nothing to do: unchanged: 4 files$' '$T/n2' &&
		grep -qE '^install_otel_central_collector: nothing to do' '$T/c2'"
check "second run: no file or directory changed (paths, modes, owners, sizes, mtimes)" same_listing "$T/list1" "$T/list2"
node "$T/n3" --root "$R" --dry-run
listing "$R" >"$T/list3"
check "--dry-run on the installed root: 0 changes, wrote nothing" \
	bash -c "[ $RC -eq 0 ] && grep -q '^install_otel_node_collector: dry run: 0 changes would be made' '$T/n3' && cmp -s '$T/list1' '$T/list3'"
central "$T/c3" --root "$T/dry" --otelcol "$FAKE" --dry-run
check "--dry-run on a fresh root: says what it would install and validates the packaged files" \
	bash -c "[ $RC -eq 0 ] && grep -q '^install_otel_central_collector: would install $T/dry$ETC/central.env (0640)$' '$T/c3' &&
		grep -q '^install_otel_central_collector: would enable justnews-otel-central.service' '$T/c3' &&
		grep -qx 'validate validate --config=$OTEL/central-collector-config.yaml' '$T/validate.log'"
check "--dry-run on a fresh root: writes nothing (not even the root directory)" test ! -e "$T/dry"
DESTDIR="$T/dest" bash "$S/install_otel_node_collector.sh" --otelcol "$FAKE" --dry-run >"$T/n4" 2>&1
check "DESTDIR=DIR is --root DIR" grep -q "would install $T/dest$ETC/node.env " "$T/n4"

# ---- edited files ----
echo "OTEL_UPSTREAM_ENDPOINT=central.example.net:4319" >>"$R$ETC/node.env"
chmod 0644 "$R$ETC/node.env"
cp -p "$R$ETC/node.env" "$T/node.env.edited"
: >"$T/validate.log"
node "$T/n5" --root "$R"
check "an edited node.env survives a rerun, the packaged one goes beside it as .gputel-new (0640)" \
	bash -c "[ $RC -eq 0 ] && cmp -s '$R$ETC/node.env' '$T/node.env.edited' && cmp -s '$R$ETC/node.env.gputel-new' '$OTEL/node.env' &&
		[ \$(stat -c %a '$R$ETC/node.env.gputel-new') = 640 ]"
check "... and the output says so, how to merge, and that the file is readable by all" \
	bash -c "grep -q '^install_otel_node_collector: kept edited $R$ETC/node.env; wrote the new version to $R$ETC/node.env.gputel-new: merge them (diff -u ' '$T/n5' &&
		grep -q 'warning: $R$ETC/node.env is readable by every user (0644) and may hold credentials: chmod 0640' '$T/n5'"
check "... and validate used the edited value" grep -qx 'OTEL_UPSTREAM_ENDPOINT=central.example.net:4319' "$T/validate.log"
chmod 0640 "$R$ETC/node.env"
listing "$R" >"$T/list1"
node "$T/n6" --root "$R"
listing "$R" >"$T/list2"
check "a rerun with the edit in place changes nothing" \
	bash -c "[ $RC -eq 0 ] && grep -q '^install_otel_node_collector: nothing to do' '$T/n6' && cmp -s '$T/list1' '$T/list2'"

# ---- a configuration the collector refuses ----
R2="$T/root2"
mkdir -p "$R2$ETC"
{ cat "$OTEL/central-collector-config.yaml"; echo "# reject-me"; } >"$R2$ETC/central-collector-config.yaml"
central "$T/c5" --root "$R2" --otelcol "$FAKE"
check "a configuration the collector refuses: exit 1, its words and the fix; the unit is not enabled" \
	bash -c "[ $RC -eq 1 ] && grep -q 'otelcol: Error: invalid configuration: reject-me' '$T/c5' &&
		grep -q '^install_otel_central_collector: the collector refuses $R2$ETC/central-collector-config.yaml .*(its new version is $R2$ETC/central-collector-config.yaml.gputel-new): fix it, then rerun' '$T/c5' &&
		[ ! -e '$R2$WANTS/justnews-otel-central.service' ] && [ -f '$R2$UNITDIR/justnews-otel-central.service' ]"
mv "$R2$ETC/central-collector-config.yaml.gputel-new" "$R2$ETC/central-collector-config.yaml"
central "$T/c6" --root "$R2" --otelcol "$FAKE" --no-start
check "fixed, then rerun with --no-start: exit 0, installed but not enabled" \
	bash -c "[ $RC -eq 0 ] && [ ! -e '$R2$WANTS/justnews-otel-central.service' ] && grep -q -- '--no-start: justnews-otel-central.service is neither enabled nor started' '$T/c6'"

# ---- no collector, a wrong one ----
bash "$S/install_otel_node_collector.sh" --root "$T/x" --otelcol "$T/bin/nothing-here" >"$T/e1" 2>&1
rc=$?
check "--otelcol PATH that does not exist: exit 2, the error and the hint, nothing written" \
	bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$T/e1') -eq 2 ] && grep -q '^install_otel_node_collector: no collector at $T/bin/nothing-here' '$T/e1' &&
		grep -q '^hint: this script downloads nothing. Get otelcol-contrib 0.144.0 or later from https://github.com/open-telemetry/opentelemetry-collector-releases/releases' '$T/e1' && [ ! -e '$T/x' ]"
sed -n 1,2p "$T/e1" | sed 's/^/# /'
if [ -e /usr/local/bin/otelcol-contrib ] || [ -e /usr/bin/otelcol-contrib ] || [ -e /bin/otelcol-contrib ]; then
	ok "no collector on PATH nor in /usr/local/bin: exit 2 # SKIP this machine has an otelcol-contrib"
else
	PATH=/usr/bin:/bin bash "$S/install_otel_central_collector.sh" --root "$T/x" >"$T/e2" 2>&1
	rc=$?
	check "no --otelcol, none on PATH nor in /usr/local/bin: exit 2, says where it looked, and the hint" \
		bash -c "[ $rc -eq 2 ] && grep -q '^install_otel_central_collector: no otelcol-contrib: not on PATH nor at /usr/local/bin/otelcol-contrib' '$T/e2' && grep -q '^hint: ' '$T/e2' && [ ! -e '$T/x' ]"
fi
R3="$T/root3"
fake_collector "$R3/usr/local/bin/otelcol-contrib"
PATH=/usr/bin:/bin bash "$S/install_otel_node_collector.sh" --root "$R3" >"$T/e3" 2>&1
rc=$?
check "with --root, a collector in DIR/usr/local/bin is found, and the unit names /usr/local/bin/otelcol-contrib" \
	bash -c "[ $rc -eq 0 ] && grep -qx 'ExecStart=/usr/local/bin/otelcol-contrib --config=$ETC/node-collector-config.yaml' '$R3$UNITDIR/justnews-otel-node.service'"
fake_collector "$T/old/otelcol-contrib" 0.103.1
bash "$S/install_otel_node_collector.sh" --root "$T/x" --otelcol "$T/old/otelcol-contrib" >"$T/e4" 2>&1
rc=$?
check "a collector older than 0.144.0 (the guide's 0.103.1): exit 2, names both versions, and the hint" \
	bash -c "[ $rc -eq 2 ] && grep -q 'is version 0.103.1; the configuration needs 0.144.0 or later' '$T/e4' && grep -q '^hint: ' '$T/e4' && [ ! -e '$T/x' ]"
bash "$S/install_otel_central_collector.sh" --root "$T/x" --otelcol /bin/ls >"$T/e5" 2>&1
rc=$?
check "a program that is not a collector (--otelcol /bin/ls): exit 2, says so" \
	bash -c "[ $rc -eq 2 ] && grep -q '/bin/ls is not an OpenTelemetry Collector' '$T/e5' && [ ! -e '$T/x' ]"
printf 'not a program\n' >"$T/bin/text"
bash "$S/install_otel_central_collector.sh" --root "$T/x" --otelcol "$T/bin/text" >"$T/e6" 2>&1
rc=$?
check "--otelcol naming a file that is not executable: exit 2, says so" \
	bash -c "[ $rc -eq 2 ] && grep -q 'is not an executable file' '$T/e6'"

# ---- not root, options ----
for s in install_otel_node_collector install_otel_central_collector; do
	setpriv --reuid=nobody --regid=nogroup --clear-groups bash "$S/$s.sh" --otelcol "$FAKE" >"$T/nr.out" 2>&1
	rc=$?
	check "$s.sh as a user without --root: exit 2, one line naming the fix" \
		bash -c "[ $rc -eq 2 ] && [ \"\$(cat '$T/nr.out')\" = '$s.sh: must run as root: sudo scripts/ops/$s.sh, or --root DIR to install into a directory' ]"
	bash "$S/$s.sh" --root "$T/x" --frobnicate >"$T/uo.out" 2>&1
	rc=$?
	check "$s.sh --frobnicate: exit 2, nothing written" \
		bash -c "[ $rc -eq 2 ] && grep -q \"unknown option '--frobnicate'\" '$T/uo.out' && [ ! -e '$T/x' ]"
done

# ---- the real collector ----
real=${GPUTEL_OTELCOL:-$("$ROOT/scripts/otelcol.sh" --print 2>/dev/null | tail -n1)}
if [ -n "$real" ] && [ -x "$real" ]; then
	R4="$T/root4"
	node "$T/r1" --root "$R4" --otelcol "$real"
	nrc=$RC
	central "$T/r2" --root "$R4" --otelcol "$real"
	check "the real collector ($("$real" --version 2>/dev/null | head -n1)): both installers validate and enable" \
		bash -c "[ $nrc -eq 0 ] && [ $RC -eq 0 ] && grep -q '^install_otel_node_collector: the collector accepts ' '$T/r1' &&
			grep -q '^install_otel_central_collector: the collector accepts ' '$T/r2' && [ -L '$R4$WANTS/justnews-otel-central.service' ]"
	for r in node central; do
		check "systemd-analyze verify and security (<= 2.5): justnews-otel-$r.service on the real collector" \
			verify_unit "$R4$UNITDIR/justnews-otel-$r.service"
	done
	echo "OTEL_MEMORY_LIMIT_MIB=lots" >>"$R4$ETC/node.env"
	node "$T/r3" --root "$R4"
	check "the real collector refuses OTEL_MEMORY_LIMIT_MIB=lots in node.env: exit 1, with its words" \
		bash -c "[ $RC -eq 1 ] && grep -q 'otelcol: .*limit_mib' '$T/r3'"
else
	ok "the installers on the real collector # SKIP not built (scripts/otelcol.sh builds it)"
fi

# ---- uninstall ----
mkdir -p "$R/var/lib/private/justnews-otel-node"
echo x >"$R/var/lib/private/justnews-otel-node/receiver_filelog_kernel"
ln -s private/justnews-otel-node "$R/var/lib/justnews-otel-node"
listing "$R" >"$T/list2"
node "$T/u0" --root "$R" --uninstall --purge --dry-run
listing "$R" >"$T/list3"
check "--uninstall --purge --dry-run: lists the removals, removes nothing" \
	bash -c "[ $RC -eq 0 ] && grep -q '^install_otel_node_collector: would remove $R$UNITDIR/justnews-otel-node.service$' '$T/u0' &&
		grep -q 'would remove $R$ETC/node.env (edited; --purge)' '$T/u0' && cmp -s '$T/list2' '$T/list3'"
node "$T/u1" --root "$R" --uninstall
check "--uninstall: exit 0, the unit and its enablement are gone" \
	bash -c "[ $RC -eq 0 ] && [ ! -e '$R$UNITDIR/justnews-otel-node.service' ] && [ ! -L '$R$WANTS/justnews-otel-node.service' ]"
check "--uninstall keeps the edited node.env and the state, and says so; removes the rest of its files" \
	bash -c "cmp -s '$R$ETC/node.env' '$T/node.env.edited' && [ -f '$R/var/lib/private/justnews-otel-node/receiver_filelog_kernel' ] &&
		grep -q '^install_otel_node_collector: kept $R$ETC/node.env: it was edited (--uninstall --purge removes it)' '$T/u1' &&
		grep -q 'kept the collector.s state' '$T/u1' && [ ! -e '$R$ETC/node-collector-config.yaml' ] && [ ! -e '$R$ETC/node.env.gputel-new' ]"
check "--uninstall of the node leaves the central collector alone" \
	test -f "$R$ETC/central.env" -a -L "$R$WANTS/justnews-otel-central.service"
node "$T/u2" --root "$R" --uninstall --purge
check "--uninstall --purge afterwards: the edited node.env and the state go" \
	bash -c "[ $RC -eq 0 ] && [ ! -e '$R$ETC/node.env' ] && [ ! -e '$R/var/lib/private/justnews-otel-node' ] && [ ! -L '$R/var/lib/justnews-otel-node' ]"
echo "TEMPO_ENDPOINT=http://tempo:4318" >>"$R$ETC/central.env"
central "$T/u3" --root "$R" --uninstall --purge
files_in "$R" >"$T/left"
check "central --uninstall --purge with an edited central.env: no file is left in the root" \
	bash -c "[ $RC -eq 0 ] && [ ! -s '$T/left' ] || { sed 's/^/# left: /' '$T/left'; exit 1; }"
check "... and no directory the installers created (only /var/lib/private, made here for the state)" \
	test "$(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')" = "./var ./var/lib ./var/lib/private "

host_after=$(host_state)
check "this machine is untouched: /etc/justnews, $PFX/lib/systemd/system, enabled units" test "$host_before" = "$host_after"
finish
