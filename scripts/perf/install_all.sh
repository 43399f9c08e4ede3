#!/bin/bash
# scripts/perf/install_all.sh - installs everything: the program and the
# service (install_service.sh), the logrotate policy (install_logrotate.sh)
# and the RAPL access files; then runs gputel doctor.
# See usage() below and scripts/perf/common.sh for the design.
set -eu

usage() {
	cat <<'EOF'
Usage: scripts/perf/install_all.sh [--dry-run] [--root DIR] [--prefix P]
       scripts/perf/install_all.sh --uninstall [--purge] [--dry-run] [--root DIR] [--prefix P]

Runs scripts/perf/install_service.sh, then scripts/perf/install_logrotate.sh,
then installs the RAPL access files, which let the service group (JN_GROUP)
read the CPU and DRAM energy counters:
  PREFIX/lib/udev/rules.d/60-gputel-rapl.rules and PREFIX/lib/tmpfiles.d/gputel.conf
On a real system (no --root) it then applies them (udevadm control
--reload-rules && udevadm trigger --subsystem-match=powercap;
systemd-tmpfiles --create), each when the tool exists, and runs
"gputel doctor" and prints its report.

Options (passed on to both installers):
  -n, --dry-run   print what would change; change nothing
  --root DIR      install into DIR instead of / (the DESTDIR variable too)
  --prefix P      installation prefix (default /usr/local)
  --uninstall     remove all three parts; edited configuration files, the
                  logs, the state and the service account are kept
  --purge         with --uninstall: also remove the log and state directories
  -h, --help      this help
Exit status: 0 done, 1 failed, 2 usage error or not root.
EOF
}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
parse_opts "$@"
export GPUTEL_INSTALL_REPORT="$WORK/report"
: >"$GPUTEL_INSTALL_REPORT"

sub() {
	local s=$1 rc=0
	shift
	bash "$PERF_DIR/$s" "$@" || rc=$?
	[ "$rc" -eq 0 ] || die "$s failed (exit $rc); stopping"
}

# The grand total over the three parts.
total() {
	local c s d tc=0 ts=0 td=0
	while read -r c s d; do
		tc=$((tc + c))
		ts=$((ts + s))
		td=$((td + d))
	done <"$GPUTEL_INSTALL_REPORT"
	N_CHANGED=$tc
	N_SAME_FILES=$ts
	N_SAME_DIRS=$td
	GPUTEL_INSTALL_REPORT=
	summary
}

rapl_install() {
	local changes_before
	load_manifest rapl
	load_config
	stage_install
	changes_before=$N_CHANGED
	install_part rapl
	remove_stale
	save_manifest
	[ -n "$ROOT" ] || [ "$DRY" -eq 1 ] || [ "$N_CHANGED" -eq "$changes_before" ] || rapl_apply
	echo "$N_CHANGED $N_SAME_FILES $N_SAME_DIRS" >>"$GPUTEL_INSTALL_REPORT"
}

# Applies the new rule and tmpfiles line now (real system only).
rapl_apply() {
	local tmpfiles
	if command -v udevadm >/dev/null; then
		if udevadm control --reload-rules && udevadm trigger --subsystem-match=powercap; then
			say "applied the udev rule (udevadm control --reload-rules && udevadm trigger --subsystem-match=powercap)"
		else
			warn "udevadm failed (above); the rule applies from the next boot"
		fi
	else
		say "udevadm not found: the udev rule applies from the next boot"
	fi
	tmpfiles=$(staged_files rapl | grep '/tmpfiles.d/' | head -n1)
	if command -v systemd-tmpfiles >/dev/null && [ -n "$tmpfiles" ]; then
		if systemd-tmpfiles --create "$tmpfiles"; then
			say "applied $tmpfiles (systemd-tmpfiles --create)"
		else
			warn "systemd-tmpfiles --create $tmpfiles failed (above); it applies from the next boot"
		fi
	fi
	if systemd_running && systemctl is-active --quiet "$UNIT"; then
		systemctl restart "$UNIT" && say "restarted $UNIT (RAPL access changed)"
	fi
}

rapl_uninstall() {
	load_manifest rapl
	if [ "${#OLD_LINES[@]}" -eq 0 ]; then
		say "RAPL access files: nothing to remove (no manifest at $MANIFEST)"
		return 0
	fi
	remove_stale
	save_manifest
	prune_dirs
	if [ -z "$ROOT" ] && [ "$DRY" -eq 0 ] && command -v udevadm >/dev/null; then
		udevadm control --reload-rules && say "reloaded the udev rules (RAPL counters stay readable by the group until the next boot)"
	fi
	echo "$N_CHANGED $N_SAME_FILES $N_SAME_DIRS" >>"$GPUTEL_INSTALL_REPORT"
}

# gputel doctor of the installed program (real system only); an older
# gputel without the command is skipped.
doctor() {
	local bin="$PREFIX/bin/gputel" out rc=0
	[ -z "$ROOT" ] && [ "$DRY" -eq 0 ] || return 0
	[ -x "$bin" ] || return 0
	out=$("$bin" doctor 2>&1) || rc=$?
	if [ "$rc" -eq 2 ] && grep -q 'unknown command' <<<"$out"; then
		say "gputel doctor: not in this version of gputel; skipped"
		return 0
	fi
	say "gputel doctor:"
	printf '%s\n' "$out"
	[ "$rc" -eq 0 ] || say "gputel doctor exited $rc: see its report above"
}

if [ "$UNINSTALL" -eq 1 ]; then
	rapl_uninstall
	sub install_logrotate.sh "$@"
	sub install_service.sh "$@"
else
	sub install_service.sh "$@"
	sub install_logrotate.sh "$@"
	rapl_install
fi
total
[ "$UNINSTALL" -eq 1 ] || doctor
