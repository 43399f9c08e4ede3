#!/bin/bash
# The installers (scripts/perf/install_all.sh, install_service.sh,
# install_logrotate.sh), always into a directory under $T (--root):
# - every file lands with the right owner and mode, the directories are
#   0750 justnews:syslog (ids from ROOT/etc/passwd, written by sysusers);
# - the unit, sysusers file and policy carry the account and paths, and
#   systemd-analyze verify and logrotate -d accept them;
# - a rerun changes nothing and says so; --dry-run writes nothing;
# - an edited configuration file is kept, its new version goes beside it;
# - JN_ROTATE_SIZE_MB in the defaults file reaches the policy on a rerun;
# - not root without --root, or an unknown option: exit 2;
# - --uninstall keeps edited files, logs and state; --uninstall --purge
#   leaves only the account files that systemd-sysusers wrote.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

for v in $(env | grep -oE '^(JN_[A-Za-z0-9_]*|GPUTEL_CONFIG|DESTDIR)='); do unset "${v%=}"; done
export BUILD
# The installers' staging directories go under $T too.
export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
P="$ROOT/scripts/perf"
R="$T/root"
PFX=/usr/local
UNIT=justnews-gpu-telemetry.service
DEF=/etc/default/justnews-gpu-telemetry
POL=/etc/logrotate.d/justnews-perf

if [ "$(id -u)" -ne 0 ]; then
	echo "ok - installers # SKIP needs root (systemd-sysusers --root, chown)"
	finish
	exit
fi
for tool in systemd-sysusers systemctl systemd-analyze logrotate setpriv; do
	if ! command -v "$tool" >/dev/null; then
		not_ok "$tool is missing: scripts/deps.sh installs it (systemd, logrotate, util-linux)"
		finish
		exit
	fi
done

# run OUT script args...: runs an installer; sets RC; shows its output on failure.
run() {
	local out=$1 s=$2
	shift 2
	bash "$P/$s" "$@" >"$out" 2>&1
	RC=$?
	[ "$RC" -eq 0 ] || sed "s/^/# $s: /" "$out" | tail -n 15
}
# has FILE REGEX: grep -E, showing the file on failure.
has() {
	grep -qE -- "$2" "$1" && return 0
	echo "# $1 lacks /$2/:" && sed 's/^/#   /' "$1" | head -n 30
	return 1
}
listing() { find "$1" -printf '%p %m %u %g %s %T@\n' | LC_ALL=C sort; }
same_listing() {
	cmp -s "$1" "$2" && return 0
	diff "$1" "$2" | head -n 20 | sed 's/^/# /'
	return 1
}
# attrs PATH MODE UID GID: stat of ROOT/PATH, shown on mismatch.
attrs() {
	local have
	have=$(stat -c '%a %u %g' "$R$1" 2>/dev/null)
	[ "$have" = "$2 $3 $4" ] && return 0
	echo "# $1: ${have:-missing}, want $2 $3 $4"
	return 1
}
# Files and links of a tree, relative to it.
files_in() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort); }
# logrotate -d on a policy of ROOT, with ROOT's accounts (a private mount
# namespace) or, where namespaces are not allowed, with "su root root".
logrotate_check() {
	local root=$1 f=$2
	if unshare -m true 2>/dev/null; then
		# shellcheck disable=SC2016
		unshare -m sh -c 'mount --bind "$1/etc/passwd" /etc/passwd && mount --bind "$1/etc/group" /etc/group &&
			exec logrotate -d -s "$2" "$3"' sh "$root" "$T/logrotate.state" "$f" >"$T/logrotate.out" 2>&1
	else
		echo "# no mount namespace here: the policy is checked with 'su root root'"
		sed 's/^\([[:space:]]*\)su[[:space:]].*/\1su root root/' "$f" >"$T/policy.check"
		logrotate -d -s "$T/logrotate.state" "$T/policy.check" >"$T/logrotate.out" 2>&1
	fi || { sed 's/^/# /' "$T/logrotate.out" | grep error; return 1; }
	! grep -q '^error' "$T/logrotate.out" || { grep '^error' "$T/logrotate.out" | sed 's/^/# /'; return 1; }
}

host_accounts=$(cat /etc/passwd /etc/group | sha256sum)

# ---- a first install ----
run "$T/out1" install_all.sh --root "$R"
check "install_all.sh --root: exits 0" test "$RC" -eq 0
uid=$(awk -F: '$1 == "justnews" { print $3 }' "$R/etc/passwd" 2>/dev/null)
gid=$(awk -F: '$1 == "syslog" { print $3 }' "$R/etc/group" 2>/dev/null)
check "systemd-sysusers --root created justnews and syslog in ROOT/etc/passwd and group (uid ${uid:-?}, gid ${gid:-?})" \
	test -n "$uid" -a -n "$gid"
check "justnews is a member of syslog" grep -qE "^syslog:[^:]*:$gid:(.*,)?justnews(,|$)" "$R/etc/group"
check "the perf installers install none of the collectors' files (scripts/ops/ does)" \
	bash -c "! find '$R' \( -path '*/justnews/monitoring/otel*' -o -name 'justnews-otel-*' \) | grep -q ."
check "the host's /etc/passwd and /etc/group are untouched" test "$(cat /etc/passwd /etc/group | sha256sum)" = "$host_accounts"
check "the program: 0755 root:root, the built one" \
	bash -c "$(declare -f attrs); R='$R'; attrs $PFX/bin/gputel 755 0 0 && cmp -s '$R$PFX/bin/gputel' '$BUILD/gputel'"
data_ok=0
for f in $PFX/lib/libgputel.so.1 $PFX/lib/libgputel.a $PFX/include/gputel.h $PFX/lib/pkgconfig/gputel.pc \
	$PFX/share/man/man8/gputel.8 $PFX/share/man/man5/justnews-gpu-telemetry.5 \
	$PFX/share/bash-completion/completions/gputel $PFX/lib/systemd/system/$UNIT \
	$PFX/lib/sysusers.d/gputel.conf $PFX/lib/tmpfiles.d/gputel.conf $PFX/lib/udev/rules.d/60-gputel-rapl.rules \
	$DEF $POL; do
	attrs "$f" 644 0 0 || data_ok=1
done
check "the library, header, pkg-config, man pages, completion, unit, sysusers, tmpfiles, udev rule, defaults and policy: 0644 root:root" \
	test "$data_ok" -eq 0
check "libgputel.so links to libgputel.so.1" test "$(readlink "$R$PFX/lib/libgputel.so")" = libgputel.so.1
check "the log and state directories: 0750 justnews:syslog" \
	bash -c "$(declare -f attrs); R='$R'; attrs /var/log/justnews-perf 750 $uid $gid && attrs /var/lib/gputel 750 $uid $gid"
check "the defaults file is the packaged one" cmp -s "$R$DEF" "$ROOT/packaging/justnews-gpu-telemetry.default"
check "the service is enabled: multi-user.target.wants/$UNIT -> $PFX/lib/systemd/system/$UNIT" \
	test "$(readlink "$R/etc/systemd/system/multi-user.target.wants/$UNIT")" = "$PFX/lib/systemd/system/$UNIT"
unit="$R$PFX/lib/systemd/system/$UNIT"
check "the unit: ExecStart=$PFX/bin/gputel agent, User=justnews, Group=syslog" \
	bash -c "grep -qx 'ExecStart=$PFX/bin/gputel agent' '$unit' && grep -qx 'User=justnews' '$unit' && grep -qx 'Group=syslog' '$unit'"
check "the sysusers file creates justnews, home $(printf %s /var/lib/gputel), and syslog" \
	bash -c "grep -q '^u justnews .* /var/lib/gputel ' '$R$PFX/lib/sysusers.d/gputel.conf' && grep -qx 'g syslog -' '$R$PFX/lib/sysusers.d/gputel.conf'"
check "the policy: the log directory, su justnews syslog, maxsize 100M, maxage 30" \
	bash -c "grep -q '^/var/log/justnews-perf/\*.csv ' '$R$POL' && grep -qx '	su justnews syslog' '$R$POL' && grep -qx '	maxsize 100M' '$R$POL' && grep -qx '	maxage 30' '$R$POL'"
check "the udev rule and tmpfiles line grant RAPL to syslog" \
	bash -c "grep -q 'chgrp syslog ' '$R$PFX/lib/udev/rules.d/60-gputel-rapl.rules' && grep -q ' root syslog ' '$R$PFX/lib/tmpfiles.d/gputel.conf'"
check "no @PLACEHOLDER@ is left in the rendered files" \
	bash -c "! grep -l '@[A-Z_]*@' '$unit' '$R$PFX/lib/sysusers.d/gputel.conf' '$R$PFX/lib/tmpfiles.d/gputel.conf' '$R$PFX/lib/udev/rules.d/60-gputel-rapl.rules' '$R$POL' '$R$PFX/lib/pkgconfig/gputel.pc'"
check "the output has one line per action and a summary" has "$T/out1" "^install_all: done: [0-9]+ changes; unchanged: 0 files$"

# systemd-analyze verify: the installed unit, with ExecStart pointing into the root
# (verify checks that the binary exists).
exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
check "the unit's ExecStart binary exists in the root ($exe)" test -x "$R$exe"
mkdir -p "$T/verify"
sed "s|^ExecStart=/|ExecStart=$R/|" "$unit" >"$T/verify/$UNIT"
systemd-analyze verify --man=no "$T/verify/$UNIT" >"$T/verify.out" 2>&1
vrc=$?
sed 's/^/# verify: /' "$T/verify.out"
check "systemd-analyze verify accepts the installed unit" test "$vrc" -eq 0 -a ! -s "$T/verify.out"
check "logrotate -d accepts the installed policy" logrotate_check "$R" "$R$POL"

# ---- a rerun changes nothing ----
listing "$R" >"$T/list1"
run "$T/out2" install_all.sh --root "$R"
listing "$R" >"$T/list2"
check "second run: exits 0 and says it changed nothing" \
	bash -c "[ $RC -eq 0 ] && grep -qE '^install_all: nothing to do: unchanged: [0-9]+ files' '$T/out2'"
check "second run: no file or directory changed (paths, modes, owners, sizes, mtimes)" same_listing "$T/list1" "$T/list2"
run "$T/out3" install_all.sh --root "$R" --dry-run
listing "$R" >"$T/list3"
check "--dry-run on the installed root: exits 0, would change nothing, wrote nothing" \
	bash -c "[ $RC -eq 0 ] && grep -q '^install_all: dry run: 0 changes would be made' '$T/out3' && cmp -s '$T/list1' '$T/list3'"
run "$T/out3" install_all.sh --root "$R" --uninstall --purge --dry-run
listing "$R" >"$T/list3"
check "--uninstall --purge --dry-run: lists the removals, removes nothing" \
	bash -c "[ $RC -eq 0 ] && grep -q '^install_service: would remove $R$PFX/bin/gputel$' '$T/out3' && cmp -s '$T/list1' '$T/list3'"

# ---- --dry-run on a fresh root; DESTDIR; --prefix ----
run "$T/out4" install_all.sh --root "$T/dry" --dry-run
check "--dry-run on a fresh root: exits 0, says what it would install" \
	bash -c "[ $RC -eq 0 ] && grep -q '^install_service: would install $T/dry$PFX/bin/gputel (0755)$' '$T/out4' && grep -q 'would create user justnews and group syslog' '$T/out4'"
check "--dry-run on a fresh root: writes nothing (not even the root directory)" test ! -e "$T/dry"
DESTDIR="$T/dest" bash "$P/install_logrotate.sh" --dry-run >"$T/out5" 2>&1
check "DESTDIR=DIR is --root DIR" grep -q "^install_logrotate: would install $T/dest$POL " "$T/out5"
run "$T/out5" install_service.sh --root "$T/dry" --prefix /usr --dry-run
check "--prefix /usr: the program goes to /usr/bin" grep -q "would install $T/dry/usr/bin/gputel " "$T/out5"

# ---- edited configuration files ----
sed -i 's/^JN_ROTATE_SIZE_MB=100$/JN_ROTATE_SIZE_MB=250/' "$R$DEF"
cp "$R$DEF" "$T/defaults.edited"
run "$T/out6" install_service.sh --root "$R"
check "an edited defaults file survives a rerun of install_service.sh" cmp -s "$R$DEF" "$T/defaults.edited"
check "... and the packaged version is written beside it as .gputel-new" \
	cmp -s "$R$DEF.gputel-new" "$ROOT/packaging/justnews-gpu-telemetry.default"
check "... and the output says so and how to merge" \
	has "$T/out6" "^install_service: kept edited $R$DEF; wrote the new version to $R$DEF.gputel-new: merge them \(diff -u "
run "$T/out7" install_logrotate.sh --root "$R"
check "JN_ROTATE_SIZE_MB=250 in the defaults, then install_logrotate.sh: the policy says maxsize 250M" \
	bash -c "[ $RC -eq 0 ] && grep -qx '	maxsize 250M' '$R$POL' && grep -q '^install_logrotate: updated $R$POL' '$T/out7'"
echo "# a local note" >>"$R$POL"
cp "$R$POL" "$T/policy.edited"
sed -i 's/^JN_ROTATE_KEEP_DAYS=30$/JN_ROTATE_KEEP_DAYS=7/' "$R$DEF"
cp "$R$DEF" "$T/defaults.edited"
run "$T/out8" install_logrotate.sh --root "$R"
check "an edited policy is kept; the new one (maxage 7) goes to .gputel-new, and the output says so" \
	bash -c "[ $RC -eq 0 ] && cmp -s '$R$POL' '$T/policy.edited' && grep -qx '	maxage 7' '$R$POL.gputel-new' && grep -q '^install_logrotate: kept edited $R$POL; wrote' '$T/out8'"
listing "$R" >"$T/list1"
run "$T/out9" install_all.sh --root "$R"
listing "$R" >"$T/list2"
check "a rerun with the edits in place changes nothing" \
	bash -c "[ $RC -eq 0 ] && grep -q '^install_all: nothing to do' '$T/out9' && cmp -s '$T/list1' '$T/list2'"
echo "bogusdirective" >>"$R$POL"
bash "$P/install_logrotate.sh" --root "$R" >"$T/out10" 2>&1
RC=$?
check "a policy logrotate rejects: exit 1, with logrotate's error and the fix" \
	bash -c "[ $RC -eq 1 ] && grep -q 'logrotate: error: .*bogusdirective' '$T/out10' && grep -q '^install_logrotate: logrotate -d rejects $R$POL (errors above): ' '$T/out10'"
sed -i '$d' "$R$POL"

# ---- not root, unknown options ----
for s in install_all install_service install_logrotate; do
	setpriv --reuid=nobody --regid=nogroup --clear-groups bash "$P/$s.sh" >"$T/nr.out" 2>&1
	rc=$?
	check "$s.sh as a user without --root: exit 2, one line naming the fix" \
		bash -c "[ $rc -eq 2 ] && [ \"\$(cat '$T/nr.out')\" = '$s.sh: must run as root: sudo scripts/perf/$s.sh, or --root DIR to install into a directory' ]"
	bash "$P/$s.sh" --root "$T/x" --frobnicate >"$T/uo.out" 2>&1
	rc=$?
	check "$s.sh --frobnicate: exit 2, nothing written" \
		bash -c "[ $rc -eq 2 ] && grep -q \"unknown option '--frobnicate'\" '$T/uo.out' && [ ! -e '$T/x' ]"
done

# ---- another account and log directory ----
R3="$T/root3"
mkdir -p "$R3/etc/default"
sed -e 's/^JN_USER=.*/JN_USER=gpuagent/' -e 's/^JN_GROUP=.*/JN_GROUP=gpuops/' -e 's|^JN_LOGDIR=.*|JN_LOGDIR=/srv/gpulogs|' \
	"$ROOT/packaging/justnews-gpu-telemetry.default" >"$R3$DEF"
run "$T/out11" install_all.sh --root "$R3"
u3=$(awk -F: '$1 == "gpuagent" { print $3 }' "$R3/etc/passwd" 2>/dev/null)
g3=$(awk -F: '$1 == "gpuops" { print $3 }' "$R3/etc/group" 2>/dev/null)
check "JN_USER=gpuagent JN_GROUP=gpuops JN_LOGDIR=/srv/gpulogs: the unit, sysusers file and policy follow" \
	bash -c "[ $RC -eq 0 ] && grep -qx 'User=gpuagent' '$R3$PFX/lib/systemd/system/$UNIT' && grep -qx 'Group=gpuops' '$R3$PFX/lib/systemd/system/$UNIT' &&
		grep -q '^u gpuagent ' '$R3$PFX/lib/sysusers.d/gputel.conf' && grep -qx '	su gpuagent gpuops' '$R3$POL' && grep -q '^/srv/gpulogs/\*.csv ' '$R3$POL'"
check "... and /srv/gpulogs is 0750 gpuagent:gpuops" test "$(stat -c '%a %u %g' "$R3/srv/gpulogs" 2>/dev/null)" = "750 $u3 $g3"
check "... and the unit lets the service write /srv/gpulogs (ProtectSystem=strict)" \
	grep -qx 'ReadWritePaths=-/srv/gpulogs -/var/lib/gputel' "$R3$PFX/lib/systemd/system/$UNIT"

# ---- uninstall ----
echo "x" >"$R/var/log/justnews-perf/gpu_telemetry_20250101T000000Z.csv"
run "$T/out12" install_all.sh --root "$R" --uninstall
check "--uninstall: exits 0, the enable symlink is gone" \
	bash -c "[ $RC -eq 0 ] && [ ! -e '$R/etc/systemd/system/multi-user.target.wants/$UNIT' ] && [ ! -L '$R/etc/systemd/system/multi-user.target.wants/$UNIT' ]"
check "--uninstall keeps the edited defaults file and policy, and says so" \
	bash -c "cmp -s '$R$DEF' '$T/defaults.edited' && cmp -s '$R$POL' '$T/policy.edited' && grep -q '^install_service: kept $R$DEF: it was edited' '$T/out12' && grep -q '^install_logrotate: kept $R$POL: it was edited' '$T/out12'"
check "--uninstall keeps the logs and state" test -f "$R/var/log/justnews-perf/gpu_telemetry_20250101T000000Z.csv" -a -d "$R/var/lib/gputel"
files_in "$R" >"$T/left"
printf '%s\n' etc/default/justnews-gpu-telemetry etc/group etc/gshadow etc/logrotate.d/justnews-perf etc/passwd etc/shadow \
	var/log/justnews-perf/gpu_telemetry_20250101T000000Z.csv | LC_ALL=C sort >"$T/want"
check "--uninstall removes every other file (the .gputel-new ones too)" same_listing "$T/want" "$T/left"
run "$T/out13" install_all.sh --root "$R" --uninstall --purge
check "--uninstall --purge afterwards removes the logs and state" \
	bash -c "[ $RC -eq 0 ] && [ ! -e '$R/var/log/justnews-perf' ] && [ ! -e '$R/var/lib/gputel' ]"

R2="$T/root2"
run "$T/out14" install_all.sh --root "$R2"
echo "x" >"$R2/var/log/justnews-perf/gpu_telemetry_20250101T000000Z.csv"
run "$T/out15" install_all.sh --root "$R2" --uninstall --purge
files_in "$R2" >"$T/left"
printf '%s\n' etc/group etc/gshadow etc/passwd etc/shadow >"$T/want"
check "install_all.sh, then --uninstall --purge: no file left but the accounts sysusers wrote" \
	bash -c "[ $RC -eq 0 ] && $(declare -f same_listing); same_listing '$T/want' '$T/left'"
check "... and no directory the installers created (only ROOT/etc, which holds those)" \
	test "$(cd "$R2" && find . -type d | LC_ALL=C sort | tr '\n' ' ')" = ". ./etc "
check "... and the output says the account is left in place" grep -q "^install_service: note: user justnews and group syslog are left in place" "$T/out15"
finish
