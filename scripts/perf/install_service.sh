#!/bin/bash
# scripts/perf/install_service.sh - installs gputel and its systemd service.
# See usage() below and scripts/perf/common.sh for the design.
set -eu

usage() {
	cat <<'EOF'
Usage: scripts/perf/install_service.sh [--dry-run] [--root DIR] [--prefix P]
       scripts/perf/install_service.sh --uninstall [--purge] [--dry-run] [--root DIR] [--prefix P]

Installs gputel and the justnews-gpu-telemetry service, from this checkout
(it runs "make install" into a staging directory, then copies what differs):
  PREFIX/bin/gputel, PREFIX/lib/libgputel.*, PREFIX/include/gputel.h,
  PREFIX/lib/pkgconfig/gputel.pc, the man pages, the bash completion,
  PREFIX/lib/systemd/system/justnews-gpu-telemetry.service,
  PREFIX/lib/sysusers.d/gputel.conf, /etc/default/justnews-gpu-telemetry;
then creates the service user and group (systemd-sysusers), the log
directory (JN_LOGDIR) and state directory (JN_STATE_DIR), mode 0750, owned
by JN_USER:JN_GROUP, and enables and (re)starts the service (only when
systemd runs; with --root it is only enabled).

JN_USER, JN_GROUP, JN_LOGDIR and JN_STATE_DIR come from
/etc/default/justnews-gpu-telemetry of the target (the packaged defaults on
a first install): edit it and rerun to apply them.  An edited defaults file
is never overwritten; the new version goes beside it as *.gputel-new.

Options:
  -n, --dry-run   print what would change; change nothing
  --root DIR      install into DIR instead of / (the DESTDIR variable too);
                  no service is started, systemctl --root only enables it
  --prefix P      installation prefix (default /usr/local)
  --uninstall     stop and disable the service, remove what was installed
                  (an edited configuration file is kept); logs, state and
                  the service account are kept
  --purge         with --uninstall: also remove the log and state directories
  -h, --help      this help
Exit status: 0 done, 1 failed, 2 usage error or not root.
EOF
}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
parse_opts "$@"
load_manifest service

uid_of() {
	if [ -n "$ROOT" ]; then
		awk -F: -v n="$1" '$1 == n { print $3; exit }' "$ROOT/etc/passwd" 2>/dev/null || true
	else
		getent passwd "$1" | cut -d: -f3 || true
	fi
}
gid_of() {
	if [ -n "$ROOT" ]; then
		awk -F: -v n="$1" '$1 == n { print $3; exit }' "$ROOT/etc/group" 2>/dev/null || true
	else
		getent group "$1" | cut -d: -f3 || true
	fi
}

# systemctl, with --root in --root mode; its output one line per action.
sysctl() {
	local out rc=0
	# shellcheck disable=SC2046
	out=$(systemctl $(root_opt) "$@" 2>&1) || rc=$?
	printf '%s\n' "$out" | grep -v -e '^$' -e 'as a dependency to a non-existent unit' | sed "s/^/$TAG: systemctl: /" || true
	return "$rc"
}

# The service user and group, from the installed sysusers file.
setup_accounts() {
	local conf=$1 out had_lock=0
	if [ -n "$(uid_of "$CFG_USER")" ] && [ -n "$(gid_of "$CFG_GROUP")" ] &&
		id_in_group; then
		return 0
	fi
	if [ "$DRY" -eq 1 ]; then
		act "create user $CFG_USER and group $CFG_GROUP (systemd-sysusers${ROOT:+ --root=$ROOT} $ROOT$conf)" ""
		return 0
	fi
	command -v systemd-sysusers >/dev/null ||
		die "systemd-sysusers is missing (apt-get install systemd); it creates user $CFG_USER and group $CFG_GROUP"
	[ -e "$ROOT/etc/.pwd.lock" ] && had_lock=1
	[ -z "$ROOT" ] || ensure_dir /etc
	# shellcheck disable=SC2046
	if ! out=$(systemd-sysusers $(root_opt) "$ROOT$conf" 2>&1); then
		printf '%s\n' "$out" | sed "s/^/$TAG: systemd-sysusers: /" >&2
		if [ "$IS_ROOT" -eq 0 ]; then
			warn "systemd-sysusers failed (not root): user $CFG_USER and group $CFG_GROUP were not created"
			return 0
		fi
		die "systemd-sysusers failed (above): user $CFG_USER and group $CFG_GROUP were not created"
	fi
	printf '%s\n' "$out" | grep -v '^$' | sed "s/^/$TAG: systemd-sysusers: /" || true
	say "created the service account: user $CFG_USER (uid $(uid_of "$CFG_USER")), group $CFG_GROUP (gid $(gid_of "$CFG_GROUP"))"
	changed
	if [ -n "$ROOT" ] && [ "$had_lock" -eq 0 ] && [ -e "$ROOT/etc/.pwd.lock" ]; then
		record x - /etc/.pwd.lock
	fi
}

# Whether JN_USER is a member of JN_GROUP (or has it as primary group).
id_in_group() {
	local g members
	g=$(gid_of "$CFG_GROUP")
	if [ -n "$ROOT" ]; then
		[ "$(awk -F: -v n="$CFG_USER" '$1 == n { print $4; exit }' "$ROOT/etc/passwd" 2>/dev/null)" = "$g" ] && return 0
		members=$(awk -F: -v n="$CFG_GROUP" '$1 == n { print $4; exit }' "$ROOT/etc/group" 2>/dev/null || true)
	else
		[ "$(getent passwd "$CFG_USER" | cut -d: -f4)" = "$g" ] && return 0
		members=$(getent group "$CFG_GROUP" | cut -d: -f4 || true)
	fi
	[[ ",$members," == *",$CFG_USER,"* ]]
}

# A log or state directory: 0750, JN_USER:JN_GROUP.
data_dir() {
	local rel=$1 dst="$ROOT$1" uid gid want have
	uid=$(uid_of "$CFG_USER")
	gid=$(gid_of "$CFG_GROUP")
	record D - "$rel"
	want=750
	[ "$IS_ROOT" -eq 0 ] || [ -z "$uid" ] || [ -z "$gid" ] || want="750 $uid $gid"
	if [ ! -d "$dst" ]; then
		ensure_dir "$(dirname "$rel")"
		if [ "$DRY" -eq 0 ]; then
			mkdir -m 0750 "$dst"
			[ "$want" = 750 ] || chown "$uid:$gid" "$dst"
		fi
		act "create $dst (0750 $CFG_USER:$CFG_GROUP)" "created $dst (0750 $CFG_USER:$CFG_GROUP)"
		[ "$want" != 750 ] || [ "$DRY" -eq 1 ] || say "note: $dst is not owned by $CFG_USER:$CFG_GROUP (not root, or no such account)"
		return 0
	fi
	if [ "$want" = 750 ]; then have=$(stat -c %a "$dst"); else have=$(stat -c '%a %u %g' "$dst"); fi
	local shown
	shown=$(stat -c '0%a %u:%g' "$dst")
	if [ "$have" = "$want" ]; then
		N_SAME_DIRS=$((N_SAME_DIRS + 1))
		return 0
	fi
	if [ "$DRY" -eq 0 ]; then
		chmod 0750 "$dst"
		[ "$want" = 750 ] || chown "$uid:$gid" "$dst"
	fi
	act "set $dst to 0750 $CFG_USER:$CFG_GROUP (it was $shown)" "set $dst to 0750 $CFG_USER:$CFG_GROUP (it was $shown)"
}

# Enables the unit (offline in --root mode, or without a running systemd),
# recording the directories systemctl creates for the symlink.
enable_service() {
	local state d missing=()
	# shellcheck disable=SC2046
	state=$(systemctl $(root_opt) is-enabled "$UNIT" 2>/dev/null) || true
	case "$state" in
	enabled)
		N_SAME_FILES=$((N_SAME_FILES + 1))
		return 0
		;;
	masked)
		say "$UNIT is masked: not enabled, not started (systemctl unmask $UNIT, then rerun)"
		MASKED=1
		return 0
		;;
	esac
	if [ "$DRY" -eq 1 ]; then
		act "enable $UNIT (systemctl${ROOT:+ --root=$ROOT} enable)" ""
		return 0
	fi
	for d in /etc /etc/systemd /etc/systemd/system /etc/systemd/system/multi-user.target.wants; do
		[ -d "$ROOT$d" ] || missing+=("$d")
	done
	sysctl enable "$UNIT" || die "systemctl${ROOT:+ --root=$ROOT} enable $UNIT failed (above)"
	for d in "${missing[@]}"; do
		[ ! -d "$ROOT$d" ] || CREATED_DIRS+=("$d")
	done
	say "enabled $UNIT"
	changed
}

# After a change, the dynamic linker learns of libgputel.so.1 (client
# programs link it; gputel itself does not need it).  Not with --root.
refresh_ld_cache() {
	[ -z "$ROOT" ] && [ "$1" -gt 0 ] && command -v ldconfig >/dev/null || return 0
	if [ "$DRY" -eq 1 ]; then
		say "would run ldconfig"
		return 0
	fi
	if ldconfig; then
		say "refreshed the linker cache (ldconfig)"
	else
		say "ldconfig failed: client programs may not find libgputel.so.1 until it runs"
	fi
}

# After a change, systemd rereads the units (systemd only).
reload_systemd() {
	systemd_running && [ "$N_CHANGED" -gt 0 ] || return 0
	if [ "$DRY" -eq 1 ]; then
		say "would run systemctl daemon-reload"
		return 0
	fi
	sysctl daemon-reload || die "systemctl daemon-reload failed (above)"
	say "reloaded systemd (systemctl daemon-reload)"
}

# Starts the service, or restarts it after a change (systemd only).
start_service() {
	local was_changed=$1
	[ -z "$ROOT" ] && [ "$MASKED" -eq 0 ] || return 0
	if ! systemd_running; then
		say "systemd is not running here (no /run/systemd/system): $UNIT was not started"
		return 0
	fi
	if [ "$DRY" -eq 1 ]; then
		if ! systemctl is-active --quiet "$UNIT"; then
			act "start $UNIT" ""
		elif [ "$was_changed" -gt 0 ]; then
			act "restart $UNIT" ""
		fi
		return 0
	fi
	if ! systemctl is-active --quiet "$UNIT"; then
		if sysctl start "$UNIT"; then
			say "started $UNIT"
		else
			START_FAILED=1
			warn "$UNIT did not start: see systemctl status $UNIT and journalctl -u $UNIT"
		fi
		changed
	elif [ "$was_changed" -gt 0 ]; then
		if sysctl restart "$UNIT"; then
			say "restarted $UNIT (the changes above apply now)"
		else
			START_FAILED=1
			warn "$UNIT did not restart: see systemctl status $UNIT and journalctl -u $UNIT"
		fi
		changed
	else
		say "$UNIT runs; nothing changed, so it was not restarted"
	fi
}

do_install() {
	local unit_rel sysusers_rel changes
	load_config
	stage_install
	unit_rel=$(staged_files service | grep "/systemd/system/$UNIT\$" | head -n1)
	sysusers_rel=$(staged_files service | grep '/sysusers.d/' | head -n1)
	if [ -z "$unit_rel" ] || [ -z "$sysusers_rel" ]; then
		die "make install staged no unit or sysusers file; is the Makefile's installation section intact?"
	fi
	[ "$CONFIG_FILE" = "$PACKAGED_DEFAULTS" ] || say "settings from $CONFIG_FILE: user $CFG_USER, group $CFG_GROUP, logs $CFG_LOGDIR, state $CFG_STATEDIR"
	[ "$CONFIG_FILE" != "$PACKAGED_DEFAULTS" ] || say "settings from the packaged defaults: user $CFG_USER, group $CFG_GROUP, logs $CFG_LOGDIR, state $CFG_STATEDIR"
	install_part service
	if [ "$DRY" -eq 1 ] && [ ! -f "$ROOT$sysusers_rel" ]; then
		act "create user $CFG_USER and group $CFG_GROUP (systemd-sysusers)" ""
	else
		setup_accounts "$sysusers_rel"
	fi
	[ -z "${OLD["x /etc/.pwd.lock"]+x}" ] || [ -n "${NEWK["x /etc/.pwd.lock"]:-}" ] || record x - /etc/.pwd.lock
	data_dir "$CFG_LOGDIR"
	data_dir "$CFG_STATEDIR"
	remove_stale
	changes=$N_CHANGED
	refresh_ld_cache "$changes"
	reload_systemd
	enable_service
	start_service "$changes"
	save_manifest
	summary
}

do_uninstall() {
	local state line t p user='' group='' datadirs=()
	if [ "${#OLD_LINES[@]}" -eq 0 ]; then
		say "nothing to remove: no manifest at $MANIFEST (not installed by this script with --prefix $PREFIX)"
		if [ "$PURGE" -eq 1 ]; then
			# Logs and state kept by an earlier --uninstall: the directories
			# the settings name.
			if [ -x "$GPUTEL_BIN" ]; then
				load_config
			else
				CONFIG_FILE="$ROOT$DEFAULTS_REL"
				[ -f "$CONFIG_FILE" ] || CONFIG_FILE=$PACKAGED_DEFAULTS
				CFG_LOGDIR=$(sed -n 's/^JN_LOGDIR=//p' "$CONFIG_FILE" | tail -n1)
				CFG_STATEDIR=$(sed -n 's/^JN_STATE_DIR=//p' "$CONFIG_FILE" | tail -n1)
			fi
			for p in "$CFG_LOGDIR" "$CFG_STATEDIR"; do
				if [ -n "$p" ] && safe_path "$p" && [ -d "$ROOT$p" ]; then
					purge_dir "$p"
				fi
			done
		fi
		summary
		return 0
	fi
	# The account named in the installed sysusers file, for the closing note.
	for line in "${OLD_LINES[@]}"; do
		read -r t _ p <<<"$line"
		case "$t $p" in
		"f "*/sysusers.d/*)
			if [ -f "$ROOT$p" ]; then
				user=$(awk '$1 == "u" { print $2; exit }' "$ROOT$p")
				group=$(awk '$1 == "g" { print $2; exit }' "$ROOT$p")
			fi
			;;
		"D "*) datadirs+=("$ROOT$p") ;;
		esac
	done
	# shellcheck disable=SC2046
	state=$(systemctl $(root_opt) is-enabled "$UNIT" 2>/dev/null) || true
	if systemd_running && { [ "$state" = enabled ] || systemctl is-active --quiet "$UNIT"; }; then
		if [ "$DRY" -eq 1 ]; then
			act "stop and disable $UNIT" ""
		else
			sysctl disable --now "$UNIT" || die "systemctl disable --now $UNIT failed (above)"
			say "stopped and disabled $UNIT"
			changed
		fi
	elif [ "$state" = enabled ]; then
		if [ "$DRY" -eq 1 ]; then
			act "disable $UNIT (systemctl${ROOT:+ --root=$ROOT} disable)" ""
		else
			sysctl disable "$UNIT" || die "systemctl${ROOT:+ --root=$ROOT} disable $UNIT failed (above)"
			say "disabled $UNIT"
			changed
		fi
	fi
	remove_stale
	if systemd_running && [ "$DRY" -eq 0 ]; then
		sysctl daemon-reload || true
		say "reloaded systemd (systemctl daemon-reload)"
	fi
	if [ "$PURGE" -eq 0 ] && [ "${#datadirs[@]}" -gt 0 ]; then
		say "kept the logs and state: ${datadirs[*]} (--uninstall --purge removes them)"
	fi
	if [ -n "$user" ]; then
		if [ -n "$ROOT" ]; then
			say "note: user $user and group $group are left in place; remove them, if nothing else uses them, with: userdel --root $ROOT $user; groupdel --root $ROOT $group"
		else
			say "note: user $user and group $group are left in place; remove them, if nothing else uses them, with: userdel $user; groupdel $group"
		fi
	fi
	save_manifest
	prune_dirs
	summary
}

START_FAILED=0
MASKED=0
if [ "$UNINSTALL" -eq 1 ]; then
	do_uninstall
else
	do_install
fi
[ "$START_FAILED" -eq 0 ] || exit 1
