#!/bin/bash
# The Debian packages: make deb builds gputel, libgputel1 and libgputel-dev
# with dpkg-buildpackage (here into $T), lintian finds no error or warning,
# the packages hold what they should, and they install, reinstall (keeping
# an edited conffile), remove and purge in a scratch root: dpkg --root with
# the maintainer scripts run on this machine under DPKG_ROOT
# (--force-script-chrootless), which must leave this machine untouched.
# The OpenTelemetry Collectors' configurations, env files (0640) and units
# are in gputel, the units neither enabled nor started.
. "$(dirname "$0")/lib.sh"

missing=""
for tool in dpkg-buildpackage dpkg-deb dpkg-parsechangelog dh lintian nm; do
	command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	not_ok "missing:$missing (scripts/deps.sh installs debhelper, dpkg-dev, build-essential, lintian)"
	exit 1
fi

V=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
ARCH=$(dpkg --print-architecture)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
OUT="$T/deb"
DEB="$OUT/gputel_${V}_$ARCH.deb"
LIB="$OUT/libgputel1_${V}_$ARCH.deb"
DEV="$OUT/libgputel-dev_${V}_$ARCH.deb"

# ---- the build ----
start=$SECONDS
DEB_OUTDIR="$OUT" make -C "$ROOT" --no-print-directory deb >"$T/build.out" 2>&1
status=$?
check "make deb (DEB_OUTDIR=\$T/deb) succeeds, in $((SECONDS - start)) s" test "$status" -eq 0
if [ "$status" -ne 0 ]; then
	tail -n 30 "$T/build.out" | sed 's/^/# /'
	[ -f "$OUT/build.log" ] && tail -n 30 "$OUT/build.log" | sed 's/^/# /'
	exit 1
fi
check "gputel, libgputel1 and libgputel-dev $V ($ARCH) are built" test -f "$DEB" -a -f "$LIB" -a -f "$DEV"
check "with their -dbgsym packages, the .changes and the source package" \
	test -f "$OUT/gputel-dbgsym_${V}_$ARCH.deb" -a -f "$OUT/gputel_${V}_$ARCH.changes" -a -f "$OUT/gputel_$V.dsc"
check "debian/changelog's version is the program's (src/commands.h)" \
	grep -q "^#define GPUTEL_VERSION \"$V\"" "$ROOT/src/commands.h"
check "the checkout got no build products (debian/tmp, debian/files)" \
	test ! -e "$ROOT/debian/tmp" -a ! -e "$ROOT/debian/files"

# ---- lintian ----
check "lintian ran (build/deb/lintian.txt)" test -s "$OUT/lintian.txt"
check "lintian: no error and no warning" bash -c "! grep -qE '^[EW]: ' '$OUT/lintian.txt'"
grep -E '^[EWIPX]: ' "$OUT/lintian.txt" | sed 's/^/# lintian: /'

# ---- contents ----
paths() { dpkg-deb -c "$1" | awk '{ print $6 }'; }
paths "$DEB" >"$T/gputel.paths"
paths "$LIB" >"$T/lib.paths"
paths "$DEV" >"$T/dev.paths"
has_all() {
	local list=$1 p
	shift
	for p in "$@"; do
		grep -qxF "$p" "$list" || { echo "# missing: $p"; return 1; }
	done
}
check "gputel: the program, unit, udev rule, sysusers, tmpfiles, conffiles, man pages, completion" \
	has_all "$T/gputel.paths" ./usr/bin/gputel \
	./lib/systemd/system/justnews-gpu-telemetry.service ./lib/udev/rules.d/60-gputel-rapl.rules \
	./usr/lib/sysusers.d/gputel.conf ./usr/lib/tmpfiles.d/gputel.conf \
	./etc/default/justnews-gpu-telemetry ./etc/logrotate.d/justnews-perf \
	./usr/share/man/man8/gputel.8.gz ./usr/share/man/man5/justnews-gpu-telemetry.5.gz \
	./usr/share/bash-completion/completions/gputel ./usr/share/doc/gputel/copyright
OTEL_ETC=./etc/justnews/monitoring/otel
check "gputel: the collectors' configurations, env files and units" \
	has_all "$T/gputel.paths" $OTEL_ETC/node-collector-config.yaml $OTEL_ETC/node.env \
	$OTEL_ETC/central-collector-config.yaml $OTEL_ETC/central.env \
	./lib/systemd/system/justnews-otel-node.service ./lib/systemd/system/justnews-otel-central.service
check "gputel: no collector binary is packaged" bash -c "! grep -q 'otelcol' '$T/gputel.paths'"
check "gputel: the env files are 0640 root:root, the configurations and units 0644" \
	bash -c "dpkg-deb -c '$DEB' | awk '\$6 ~ /otel.*\\.env\$/ { if (\$1 != \"-rw-r-----\" || \$2 != \"root/root\") exit 1; n++ }
		\$6 ~ /(collector-config\\.yaml|justnews-otel-.*\\.service)\$/ { if (\$1 != \"-rw-r--r--\") exit 1; m++ } END { exit !(n == 2 && m == 4) }'"
check "libgputel1: the shared library in /usr/lib/$MA" has_all "$T/lib.paths" "./usr/lib/$MA/libgputel.so.1"
check "libgputel-dev: header, static library, pkg-config file" has_all "$T/dev.paths" \
	./usr/include/gputel.h "./usr/lib/$MA/libgputel.a" "./usr/lib/$MA/pkgconfig/gputel.pc" "./usr/lib/$MA/libgputel.so"
check "libgputel-dev: libgputel.so -> libgputel.so.1" \
	bash -c "dpkg-deb -c '$DEV' | grep -q ' \./usr/lib/$MA/libgputel\.so -> libgputel\.so\.1$'"
check "no file is in two packages" \
	bash -c "cat '$T/gputel.paths' '$T/lib.paths' '$T/dev.paths' | grep -v '/$' | sort | uniq -d | grep -q . && exit 1 || exit 0"
check "no simulator, fake nvidia-smi or test program is packaged" \
	bash -c "! cat '$T'/*.paths | grep -qE 'nvidia-ml|nvml|fake|nvidia-smi|/tests?/|\\.o$'"
check "DEBIAN/conffiles: the defaults file, the logrotate policy and the collectors' four files, nothing else" \
	bash -c "[ \"\$(dpkg-deb -I '$DEB' conffiles | sort)\" = \"\$(printf '%s\n' /etc/default/justnews-gpu-telemetry \
		/etc/justnews/monitoring/otel/central-collector-config.yaml /etc/justnews/monitoring/otel/central.env \
		/etc/justnews/monitoring/otel/node-collector-config.yaml /etc/justnews/monitoring/otel/node.env \
		/etc/logrotate.d/justnews-perf)\" ]"
mkdir -p "$T/x"
for d in "$DEB" "$LIB" "$DEV"; do dpkg-deb -x "$d" "$T/x"; done
check "the unit runs /usr/bin/gputel agent as justnews:syslog" \
	bash -c "grep -qx 'ExecStart=/usr/bin/gputel agent' '$T/x/lib/systemd/system/justnews-gpu-telemetry.service' &&
		grep -qx 'User=justnews' '$T/x/lib/systemd/system/justnews-gpu-telemetry.service' &&
		grep -qx 'Group=syslog' '$T/x/lib/systemd/system/justnews-gpu-telemetry.service'"
check "the collectors' units run /usr/bin/otelcol-contrib, with their packaged configurations" \
	bash -c "for r in node central; do u='$T/x/lib/systemd/system/justnews-otel-'\$r.service
		grep -qx \"ExecStart=/usr/bin/otelcol-contrib --config=/etc/justnews/monitoring/otel/\$r-collector-config.yaml\" \$u || exit 1
		cmp -s '$T/x/etc/justnews/monitoring/otel/'\$r-collector-config.yaml '$ROOT/packaging/otel/'\$r-collector-config.yaml || exit 1
		cmp -s '$T/x/etc/justnews/monitoring/otel/'\$r.env '$ROOT/packaging/otel/'\$r.env || exit 1; done"
check "no @PLACEHOLDER@ is left in a packaged file" \
	bash -c "! grep -rlE '@[A-Z_]+@' '$T/x/etc' '$T/x/lib' '$T/x/usr/lib/sysusers.d' '$T/x/usr/lib/tmpfiles.d' '$T/x/usr/lib/$MA/pkgconfig'"
check "gputel.pc: libdir=/usr/lib/$MA, Version: $V" \
	bash -c "grep -qx 'libdir=/usr/lib/$MA' '$T/x/usr/lib/$MA/pkgconfig/gputel.pc' && grep -qx 'Version: $V' '$T/x/usr/lib/$MA/pkgconfig/gputel.pc'"

# ---- control fields ----
field() { dpkg-deb -f "$1" "$2"; }
dep=$(field "$DEB" Depends)
echo "# gputel Depends: $dep"
echo "# gputel Recommends: $(field "$DEB" Recommends); Suggests: $(field "$DEB" Suggests)"
check "gputel depends on libmicrohttpd12 (loaded with dlopen), libcjson1, libc6, and systemd for sysusers" \
	bash -c "grep -q 'libmicrohttpd12' <<<'$dep' && grep -q 'libcjson1' <<<'$dep' && grep -q 'libc6' <<<'$dep' && grep -q 'systemd' <<<'$dep'"
check "gputel recommends logrotate, and depends on no NVIDIA package" \
	bash -c "grep -qw logrotate <<<'$(field "$DEB" Recommends)' && ! grep -qi nvidia <<<'$dep'"
check "libgputel-dev depends on libgputel1 (= $V)" bash -c "grep -qF 'libgputel1 (= $V)' <<<'$(field "$DEV" Depends)'"
check "libgputel1 is Multi-Arch: same, section libs" \
	test "$(field "$LIB" Multi-Arch) $(field "$LIB" Section)" = "same libs"
dpkg-deb -I "$LIB" symbols >"$T/symbols" 2>/dev/null
nm -D --defined-only "$T/x/usr/lib/$MA/libgputel.so.1" | awk '$2 == "T" { print $3 }' | sort >"$T/exported"
check "libgputel1 has a symbols file listing each of its $(wc -l <"$T/exported") exported functions, and nothing else" \
	bash -c "[ -s '$T/exported' ] && diff <(sed -n 's/^ \([a-z_]*\)@Base .*/\1/p' '$T/symbols' | sort) '$T/exported'"
check "libgputel1 exports only gputel_* names" bash -c "! grep -qv '^gputel_' '$T/exported'"
check "libgputel1 has a shlibs file and the ldconfig trigger" \
	bash -c "dpkg-deb -I '$LIB' shlibs | grep -q '^libgputel 1 libgputel1' && dpkg-deb -I '$LIB' triggers | grep -q ldconfig"

# ---- install into a scratch root ----
if [ "$(id -u)" -ne 0 ]; then
	ok "install, reinstall, remove and purge in a scratch root # SKIP not root (dpkg --root needs it)"
	finish
	exit
fi
R="$T/root"
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers" "$R/var/lib/dpkg/alternatives" "$R/etc"
: >"$R/var/lib/dpkg/status"
: >"$R/var/lib/dpkg/available"
dpkgr() { dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null "$@"; }
status_of() { dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | tr -d ' '; }
id_in() { awk -F: -v n="$2" '$1 == n { print $3 }' "$1" 2>/dev/null; }
WANTS=etc/systemd/system/multi-user.target.wants/justnews-gpu-telemetry.service
host_before="$(getent passwd justnews) $(getent group syslog) $(ls -l "/$WANTS" 2>&1) $(ls -ld /var/lib/gputel 2>&1)"

dpkgr -i "$DEB" "$LIB" "$DEV" >"$T/install.log" 2>&1
status=$?
check "dpkg --root -i of the three packages (scripts run chrootless under DPKG_ROOT)" test "$status" -eq 0
[ "$status" -eq 0 ] || sed 's/^/# /' "$T/install.log"
check "all three are installed (ii)" \
	test "$(status_of gputel) $(status_of libgputel1) $(status_of libgputel-dev)" = "ii ii ii"
check "the installed gputel runs and accepts the installed defaults file" \
	bash -c "'$R/usr/bin/gputel' config check --config '$R/etc/default/justnews-gpu-telemetry' >/dev/null 2>&1"
uid=$(id_in "$R/etc/passwd" justnews)
gid=$(id_in "$R/etc/group" syslog)
check "sysusers made the account justnews (nologin, home /var/lib/gputel) in the root" \
	bash -c "[ -n '$uid' ] && grep -q '^justnews:x:$uid:[0-9]*:[^:]*:/var/lib/gputel:/usr/sbin/nologin$' '$R/etc/passwd'"
check "and the group syslog, with justnews in it" bash -c "[ -n '$gid' ] && grep -qE '^syslog:x:$gid:(.*,)?justnews(,|$)' '$R/etc/group'"
check "/var/log/justnews-perf and /var/lib/gputel: justnews:syslog 0750" \
	test "$(stat -c '%u:%g %a' "$R/var/log/justnews-perf" "$R/var/lib/gputel" 2>&1 | tr '\n' ' ')" = "$uid:$gid 750 $uid:$gid 750 "
check "the unit is enabled (multi-user.target.wants)" \
	test "$(readlink "$R/$WANTS")" = /lib/systemd/system/justnews-gpu-telemetry.service
check "the collectors' units are installed, neither enabled nor started" \
	bash -c "[ -f '$R/lib/systemd/system/justnews-otel-node.service' ] && [ -f '$R/lib/systemd/system/justnews-otel-central.service' ] &&
		! find '$R/etc/systemd' -name 'justnews-otel-*' 2>/dev/null | grep -q ."
check "the collectors' env files: 0640 root:root" \
	test "$(stat -c '%a %u %g' "$R/etc/justnews/monitoring/otel/node.env" "$R/etc/justnews/monitoring/otel/central.env" | tr '\n' ' ')" = "640 0 0 640 0 0 "
host_after="$(getent passwd justnews) $(getent group syslog) $(ls -l "/$WANTS" 2>&1) $(ls -ld /var/lib/gputel 2>&1)"
check "this machine is untouched: its accounts, enabled units and /var/lib" test "$host_before" = "$host_after"

# A client of the installed development files, linked both ways.
cat >"$T/client.c" <<'EOF'
#include <gputel.h>
#include <stdio.h>
int main(void) { puts(gputel_strerror(0)); return 0; }
EOF
check "a client builds against libgputel-dev and runs with libgputel1" \
	bash -c "cc -o '$T/client' '$T/client.c' -I'$R/usr/include' -L'$R/usr/lib/$MA' -lgputel &&
		LD_LIBRARY_PATH='$R/usr/lib/$MA' '$T/client' >/dev/null &&
		cc -o '$T/client-static' '$T/client.c' -I'$R/usr/include' '$R/usr/lib/$MA/libgputel.a' && '$T/client-static' >/dev/null"

# ---- reinstall with an edited conffile and an operator's mode ----
echo "JN_START_UTIL=33 # edited by the operator" >>"$R/etc/default/justnews-gpu-telemetry"
chmod 0770 "$R/var/lib/gputel"
dpkgr --force-confold -i "$DEB" >"$T/reinstall.log" 2>&1
status=$?
check "dpkg -i again (--force-confold)" test "$status" -eq 0
[ "$status" -eq 0 ] || sed 's/^/# /' "$T/reinstall.log"
check "the edited /etc/default/justnews-gpu-telemetry is kept" \
	grep -qx 'JN_START_UTIL=33 # edited by the operator' "$R/etc/default/justnews-gpu-telemetry"
check "an existing state directory keeps the operator's mode (0770)" test "$(stat -c %a "$R/var/lib/gputel")" = 770
check "the account is not made twice" test "$(grep -c '^justnews:' "$R/etc/passwd")" -eq 1

# ---- remove, then purge ----
dpkgr -r gputel >"$T/remove.log" 2>&1
check "dpkg -r gputel: the program is gone, the conffiles stay (rc)" \
	bash -c "[ ! -e '$R/usr/bin/gputel' ] && [ -f '$R/etc/default/justnews-gpu-telemetry' ] && [ \"\$(dpkg-query --admindir='$R/var/lib/dpkg' -W -f='\${db:Status-Abbrev}' gputel | tr -d ' ')\" = rc ]"
echo "gpu_index" >"$R/var/log/justnews-perf/gpu_telemetry_20260101T000000Z.csv"
# The state a started node collector leaves (DynamicUser=: the data in
# /var/lib/private, a link in /var/lib).
mkdir -p "$R/var/lib/private/justnews-otel-node"
echo x >"$R/var/lib/private/justnews-otel-node/receiver_filelog_kernel"
ln -s private/justnews-otel-node "$R/var/lib/justnews-otel-node"
dpkgr --purge gputel libgputel-dev libgputel1 >"$T/purge.log" 2>&1
status=$?
check "dpkg --purge of the three" test "$status" -eq 0
[ "$status" -eq 0 ] || sed 's/^/# /' "$T/purge.log"
check "none is left in dpkg's database" \
	test -z "$(status_of gputel)$(status_of libgputel1)$(status_of libgputel-dev)"
check "purge removed the conffiles, the unit's enablement and /var/lib/gputel" \
	test ! -e "$R/etc/default/justnews-gpu-telemetry" -a ! -e "$R/etc/logrotate.d/justnews-perf" \
	-a ! -L "$R/$WANTS" -a ! -e "$R/var/lib/gputel"
check "purge removed the collectors' configurations, env files and state" \
	test ! -e "$R/etc/justnews" -a ! -e "$R/var/lib/private/justnews-otel-node" -a ! -L "$R/var/lib/justnews-otel-node"
check "purge kept /var/log/justnews-perf with its telemetry CSV file" \
	test -f "$R/var/log/justnews-perf/gpu_telemetry_20260101T000000Z.csv"
check "purge kept the justnews account (Debian keeps system accounts)" grep -q '^justnews:' "$R/etc/passwd"
check "no packaged file is left in the root" \
	bash -c "! find '$R/usr' '$R/lib' -type f 2>/dev/null | grep -q ."

# An empty log directory goes with the purge.
rm -f "$R/var/log/justnews-perf"/*
dpkgr -i "$DEB" >"$T/install2.log" 2>&1 && dpkgr --purge gputel >>"$T/install2.log" 2>&1
status=$?
check "install and purge again: an empty /var/log/justnews-perf is removed" \
	test "$status" -eq 0 -a ! -e "$R/var/log/justnews-perf"
[ "$status" -eq 0 ] || sed 's/^/# /' "$T/install2.log"
finish
