#!/bin/bash
# scripts/perf/install_logrotate.sh - installs the logrotate policy of the
# telemetry CSV files, the allocation ledger and logs.
# See usage() below and scripts/perf/common.sh for the design.
set -eu

usage() {
	cat <<'EOF'
Usage: scripts/perf/install_logrotate.sh [--dry-run] [--root DIR] [--prefix P]
       scripts/perf/install_logrotate.sh --uninstall [--dry-run] [--root DIR] [--prefix P]

Installs /etc/logrotate.d/justnews-perf, made from packaging/justnews-perf.logrotate.in
with JN_LOGDIR, JN_USER, JN_GROUP, JN_ROTATE_SIZE_MB (maxsize) and
JN_ROTATE_KEEP_DAYS (maxage) of /etc/default/justnews-gpu-telemetry (the
packaged defaults when the target has none).  Change those keys and rerun it
to change the policy.  Then checks the policy with logrotate -d and fails
when logrotate reports an error.

A policy edited by hand is never overwritten: the new version goes beside it
as /etc/logrotate.d/justnews-perf.gputel-new.

Options:
  -n, --dry-run   print what would change; change nothing
  --root DIR      install into DIR instead of / (the DESTDIR variable too)
  --prefix P      installation prefix (default /usr/local); the record of
                  what was installed lives in P/share/gputel
  --uninstall     remove the policy (kept when edited)
  --purge         accepted for symmetry with the other installers; the logs
                  belong to install_service.sh --uninstall --purge
  -h, --help      this help
Exit status: 0 done, 1 failed (logrotate rejects the policy), 2 usage error or not root.
EOF
}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
parse_opts "$@"
load_manifest logrotate

do_install() {
	local f hint
	load_config
	stage_install
	say "policy from $CONFIG_FILE: $CFG_LOGDIR/*, maxsize ${CFG_SIZE_MB}M, maxage $CFG_KEEP_DAYS days, su $CFG_USER $CFG_GROUP"
	install_part logrotate
	remove_stale
	save_manifest
	# The file logrotate will read: the one installed, or in a dry run the
	# one that would be (the staged one, unless an edited one stays).
	f="$ROOT$POLICY_REL"
	if [ "$DRY" -eq 1 ] && { [ ! -f "$f" ] || [ -z "${NEWK["n $POLICY_REL.gputel-new"]:-}" ]; }; then
		f="$STAGE$POLICY_REL"
	fi
	if check_policy "$f"; then
		say "logrotate -d accepts $f"
	else
		hint="fix it and rerun"
		[ -z "${NEWK["n $POLICY_REL.gputel-new"]:-}" ] ||
			hint="it was edited by hand: fix the edit, or take the generated $ROOT$POLICY_REL.gputel-new, and rerun"
		grep -q 'unknown user\|unknown group' "$WORK/logrotate.out" &&
			hint="$hint; the account is created by scripts/perf/install_service.sh (run it first)"
		die "logrotate -d rejects $f (errors above): $hint"
	fi
	summary
}

do_uninstall() {
	if [ "${#OLD_LINES[@]}" -eq 0 ]; then
		say "nothing to remove: no manifest at $MANIFEST (not installed by this script with --prefix $PREFIX)"
		summary
		return 0
	fi
	remove_stale
	save_manifest
	prune_dirs
	summary
}

if [ "$UNINSTALL" -eq 1 ]; then
	do_uninstall
else
	do_install
fi
