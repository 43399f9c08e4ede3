#!/bin/bash
# The systemd unit: systemd-analyze verify finds nothing, and the offline
# security review rates it at most 2.5 ("OK").  The unit is filled in as the
# installer fills it (binary directory, service user and group).
. "$(dirname "$0")/lib.sh"

# The defaults file the package installs is the generator's output, so it
# follows the key table, and it parses cleanly as it stands.
"$GPUTEL" config defaults >"$T/defaults"
check "packaging/justnews-gpu-telemetry.default is 'gputel config defaults' (regenerate it if not)" \
	diff -u "$ROOT/packaging/justnews-gpu-telemetry.default" "$T/defaults"
check "it lists every key once" test "$(grep -c '^JN_[A-Z_]*=' "$T/defaults")" -eq "$("$GPUTEL" config show | grep -c '^JN_')"
check "gputel config check accepts it without a warning" \
	bash -c "[ \"\$('$GPUTEL' config check --config '$T/defaults' 2>&1)\" = 'config ok: $T/defaults' ]"

if ! command -v systemd-analyze >/dev/null; then
	not_ok "systemd-analyze is missing: scripts/deps.sh installs the systemd package"
	finish
	exit
fi
user=daemon
getent passwd "$user" >/dev/null || user=$(id -un)
unit="$T/justnews-gpu-telemetry.service"
sed -e "s|@BINDIR@|$BUILD|" -e "s|@USER@|$user|" -e "s|@GROUP@|$(id -gn "$user")|" \
	-e "s|@LOGDIR@|/var/log/justnews-perf|" -e "s|@STATEDIR@|/var/lib/gputel|" \
	"$ROOT/packaging/justnews-gpu-telemetry.service.in" >"$unit"
check "the template leaves no @PLACEHOLDER@" bash -c "! grep -q '@[A-Z]*@' '$unit'"
systemd-analyze verify --man=no "$unit" >"$T/verify" 2>&1
check "systemd-analyze verify: clean" bash -c "[ $? -eq 0 ] && [ ! -s '$T/verify' ]"
sed 's/^/# /' "$T/verify"
score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
check "systemd-analyze security --offline=true: exposure $score, at most 2.5" \
	awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 2.5) }'
check "Type=notify, a watchdog, and the guide's defaults file" \
	bash -c "grep -qx 'Type=notify' '$unit' && grep -q '^WatchdogSec=' '$unit' && grep -qx 'EnvironmentFile=-/etc/default/justnews-gpu-telemetry' '$unit'"
check "no shell-style \${VAR:-default}, which systemd does not expand" bash -c "! grep -q '\${[A-Z_]*:-' '$unit'"

finish
