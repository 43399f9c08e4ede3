# shellcheck shell=bash disable=SC2034
# scripts/ops/common.sh - the code install_otel_node_collector.sh and
# install_otel_central_collector.sh share (sourced, never run).
#
# Built on scripts/perf/common.sh (its manifests, its file copying, its
# handling of edited configuration files and its messages), with these
# differences:
# - Nothing is built or staged: the files come straight from
#   packaging/otel/, and the unit is filled in here with the same
#   substitution "make install" makes (@OTELCOL@: the collector's path).
#   No compiler is needed on a central collector's host.
# - The collector is the operator's otelcol-contrib, never downloaded:
#   --otelcol PATH, else the one the installed unit already runs, else
#   otelcol-contrib on PATH, else /usr/local/bin/otelcol-contrib.  Its
#   "--version" must name a collector of OTELCOL_MIN_VERSION or later, and
#   its "validate" must accept the configuration under the env file before
#   the unit is enabled or (re)started.
# - The units run under DynamicUser= (justnews-otel): no account is made.
#   The env file is 0640 root:root (systemd reads it as root; it may hold
#   an upstream token or a backend's password), the configuration 0644.
# - --uninstall --purge also removes the configuration and env files when
#   they were edited, and the collector's state (the file offsets and the
#   on-disk queues in /var/lib/[private/]justnews-otel-ROLE).
#
# The manifest is PREFIX/share/gputel/otel-ROLE.manifest, beside the
# scripts/perf ones, with whom it shares created-dirs.

# shellcheck source-path=SCRIPTDIR source=../perf/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../perf/common.sh"

OTEL_SRC="$REPO/packaging/otel"
OTEL_ETC_REL=/etc/justnews/monitoring/otel
# The first release that knows the otlp_grpc and otlp_http exporter names
# the configurations use (older ones call them otlp and otlphttp).
OTELCOL_MIN_VERSION=0.144.0
OTELCOL_DEFAULT=/usr/local/bin/otelcol-contrib
OTELCOL_RELEASES=https://github.com/open-telemetry/opentelemetry-collector-releases/releases

OTELCOL_OPT=
NO_START=0

# ROLE (node | central) names everything else.
otel_role() {
	ROLE=$1
	UNIT="justnews-otel-$ROLE.service"
	UNIT_SRC="$OTEL_SRC/justnews-otel-$ROLE.service.in"
	CONFIG_SRC="$OTEL_SRC/$ROLE-collector-config.yaml"
	ENV_SRC="$OTEL_SRC/$ROLE.env"
	CONFIG_REL="$OTEL_ETC_REL/$ROLE-collector-config.yaml"
	ENV_REL="$OTEL_ETC_REL/$ROLE.env"
	STATE_REL="/var/lib/justnews-otel-$ROLE"
	PRIVATE_STATE_REL="/var/lib/private/justnews-otel-$ROLE"
}

parse_opts() {
	ROOT=${DESTDIR:-}
	while [ $# -gt 0 ]; do
		case "$1" in
		-n | --dry-run) DRY=1 ;;
		--root)
			[ $# -ge 2 ] || usage_error "--root needs a directory"
			ROOT=$2
			shift
			;;
		--root=*) ROOT=${1#--root=} ;;
		--prefix)
			[ $# -ge 2 ] || usage_error "--prefix needs a directory"
			PREFIX=$2
			shift
			;;
		--prefix=*) PREFIX=${1#--prefix=} ;;
		--otelcol)
			[ $# -ge 2 ] || usage_error "--otelcol needs the path of otelcol-contrib"
			OTELCOL_OPT=$2
			shift
			;;
		--otelcol=*) OTELCOL_OPT=${1#--otelcol=} ;;
		--no-start) NO_START=1 ;;
		--uninstall) UNINSTALL=1 ;;
		--purge) PURGE=1 ;;
		-h | --help)
			usage
			exit 0
			;;
		-*) usage_error "unknown option '$1'" ;;
		*) usage_error "unexpected argument '$1'" ;;
		esac
		shift
	done
	[ "$PURGE" -eq 0 ] || [ "$UNINSTALL" -eq 1 ] || usage_error "--purge goes with --uninstall"
	[ "$UNINSTALL" -eq 0 ] || { [ -z "$OTELCOL_OPT" ] && [ "$NO_START" -eq 0 ]; } ||
		usage_error "--otelcol and --no-start do not go with --uninstall"
	case "$PREFIX" in
	/*) ;;
	*) usage_error "--prefix needs an absolute path, not '$PREFIX'" ;;
	esac
	PREFIX=$(realpath -m -- "$PREFIX")
	[ "$PREFIX" != / ] || usage_error "--prefix / is not supported; give /usr or /usr/local"
	safe_path "$PREFIX" || usage_error "--prefix '$PREFIX' has characters other than A-Z a-z 0-9 . _ + - /"
	if [ -n "$OTELCOL_OPT" ]; then
		case "$OTELCOL_OPT" in /*) ;; *) OTELCOL_OPT="$PWD/$OTELCOL_OPT" ;; esac
		OTELCOL_OPT=$(realpath -m -s -- "$OTELCOL_OPT")
		safe_path "$OTELCOL_OPT" || usage_error "--otelcol '$OTELCOL_OPT' has characters other than A-Z a-z 0-9 . _ + - /"
	fi
	if [ -n "$ROOT" ]; then
		case "$ROOT" in /*) ;; *) ROOT="$PWD/$ROOT" ;; esac
		ROOT=$(realpath -m -- "$ROOT")
		[ "$ROOT" != / ] || ROOT=
		[ ! -e "$ROOT" ] || [ -d "$ROOT" ] || usage_error "--root $ROOT is not a directory"
	fi
	if [ -z "$ROOT" ] && [ "$IS_ROOT" -eq 0 ]; then
		echo "$PROG: must run as root: sudo scripts/ops/$PROG, or --root DIR to install into a directory" >&2
		exit 2
	fi
	MAN_DIR_REL="$PREFIX/share/gputel"
	CREATED_LIST="$ROOT$MAN_DIR_REL/created-dirs"
	UNIT_REL="$PREFIX/lib/systemd/system/$UNIT"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/gputel-install.XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
}

# scripts/perf/common.sh's, with this directory's name in the header.
save_manifest() {
	local new="$WORK/$PART.manifest" d
	[ "$DRY" -eq 0 ] || return 0
	if [ "${#NEW_LINES[@]}" -eq 0 ]; then
		rm -f "$MANIFEST"
	else
		{
			echo "# what scripts/ops/$PROG installed (see scripts/ops/common.sh); do not edit"
			printf '%s\n' "${NEW_LINES[@]}" | LC_ALL=C sort -k3 -k1,1
		} >"$new"
		if ! cmp -s "$new" "$MANIFEST"; then
			ensure_dir "$MAN_DIR_REL"
			install -m 0644 "$new" "$MANIFEST.tmp"
			mv -f -T "$MANIFEST.tmp" "$MANIFEST"
		fi
	fi
	if [ "${#CREATED_DIRS[@]}" -gt 0 ]; then
		[ -d "$ROOT$MAN_DIR_REL" ] || ensure_dir "$MAN_DIR_REL"
		for d in "${CREATED_DIRS[@]}"; do
			grep -qxF -- "$d" "$CREATED_LIST" 2>/dev/null || echo "$d" >>"$CREATED_LIST"
		done
		chmod 0644 "$CREATED_LIST"
		CREATED_DIRS=()
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

# ---- the collector ----

# The hint printed under every "no usable collector" error.
otelcol_hint() {
	local arch
	case "$(uname -m)" in
	x86_64) arch=amd64 ;;
	aarch64) arch=arm64 ;;
	ppc64le) arch=ppc64le ;;
	*) arch=ARCH ;;
	esac
	echo "hint: this script downloads nothing. Get otelcol-contrib $OTELCOL_MIN_VERSION or later from $OTELCOL_RELEASES (otelcol-contrib_VERSION_linux_$arch.tar.gz: check it against the release's checksums file, then tar -xzf it into /usr/local/bin; or the .deb, which puts it in /usr/bin), then rerun, with --otelcol PATH if it is elsewhere" >&2
}
no_collector() {
	printf '%s: %s\n' "$TAG" "$1" >&2
	otelcol_hint
	exit 2
}

# The collector the installed unit runs (empty when not installed).
unit_collector() {
	[ -f "$ROOT$UNIT_REL" ] || return 0
	sed -n 's/^ExecStart=\(\/[^[:space:]]*\).*/\1/p' "$ROOT$UNIT_REL" | head -n1
}

# Sets OTELCOL (the path the unit names) and OTELCOL_RUN (the file run
# here to check it: inside ROOT when it is there, else on this machine).
find_collector() {
	local c d cands=() where=() dirs
	if [ -n "$OTELCOL_OPT" ]; then
		cands=("$OTELCOL_OPT")
	else
		c=$(unit_collector)
		[ -z "$c" ] || ! safe_path "$c" || cands+=("$c")
		IFS=: read -ra dirs <<<"${PATH:-}"
		for d in "${dirs[@]}"; do
			case "$d" in /*) safe_path "$d/otelcol-contrib" && cands+=("${d%/}/otelcol-contrib") ;; esac
		done
		cands+=("$OTELCOL_DEFAULT")
	fi
	[ -z "$ROOT" ] || where+=("$ROOT")
	where+=("")
	for d in "${where[@]}"; do
		for c in "${cands[@]}"; do
			if [ -f "$d$c" ] && [ -x "$d$c" ]; then
				OTELCOL=$c
				OTELCOL_RUN=$d$c
				return 0
			fi
		done
	done
	if [ -n "$OTELCOL_OPT" ]; then
		if [ -e "$OTELCOL_OPT" ] || { [ -n "$ROOT" ] && [ -e "$ROOT$OTELCOL_OPT" ]; }; then
			no_collector "--otelcol $OTELCOL_OPT is not an executable file"
		fi
		no_collector "no collector at $OTELCOL_OPT${ROOT:+ (nor at $ROOT$OTELCOL_OPT)}"
	fi
	no_collector "no otelcol-contrib: not on PATH nor at $OTELCOL_DEFAULT${ROOT:+ (in $ROOT or on this machine)}; give its path with --otelcol PATH"
}

# "A.B.C" >= "X.Y.Z"
version_ge() {
	local a b i
	IFS=. read -ra a <<<"$1"
	IFS=. read -ra b <<<"$2"
	for i in 0 1 2; do
		[ "$((10#${a[i]:-0}))" -eq "$((10#${b[i]:-0}))" ] && continue
		[ "$((10#${a[i]:-0}))" -gt "$((10#${b[i]:-0}))" ]
		return
	done
	return 0
}

# "OTELCOL --version" must print "NAME version [v]X.Y.Z...", X.Y.Z at least
# OTELCOL_MIN_VERSION.  Sets OTELCOL_VERSION.
check_collector() {
	local out rc=0 first
	out=$(timeout 20 "$OTELCOL_RUN" --version </dev/null 2>&1) || rc=$?
	first=$(printf '%s\n' "$out" | grep -v '^$' | head -n1 | cut -c1-120)
	OTELCOL_VERSION=$(printf '%s\n' "$out" | sed -n 's/.*[[:space:]]version[[:space:]]\{1,\}v\{0,1\}\([0-9]\{1,\}\.[0-9]\{1,\}\.[0-9]\{1,\}\).*/\1/p' | head -n1)
	if [ "$rc" -ne 0 ] || [ -z "$OTELCOL_VERSION" ]; then
		local said=""
		[ -z "$first" ] || said="printed \"$first\" and "
		no_collector "$OTELCOL_RUN is not an OpenTelemetry Collector: \"$OTELCOL_RUN --version\" ${said}exited $rc, where a collector prints \"otelcol-contrib version X.Y.Z\""
	fi
	if ! version_ge "$OTELCOL_VERSION" "$OTELCOL_MIN_VERSION"; then
		no_collector "$OTELCOL_RUN is version $OTELCOL_VERSION; the configuration needs $OTELCOL_MIN_VERSION or later (the otlp_grpc and otlp_http exporter names): install a newer one"
	fi
	if [ "$OTELCOL_RUN" = "$OTELCOL" ]; then
		say "collector: $OTELCOL (${first:-version $OTELCOL_VERSION})"
	else
		say "collector: $OTELCOL (${first:-version $OTELCOL_VERSION}; checked as $OTELCOL_RUN)"
	fi
}

# KEY=VALUE lines of a systemd EnvironmentFile, for env(1): comments and
# blank lines dropped, spaces around the key trimmed, one pair of quotes
# around the value removed.
env_pairs() {
	local line k v
	[ -f "$1" ] || return 0
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in '' | '#'* | ';'*) continue ;; esac
		[[ "$line" =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]] || continue
		k=${BASH_REMATCH[1]}
		v=${BASH_REMATCH[2]}
		if [[ "$v" =~ ^\"(.*)\"[[:space:]]*$ ]] || [[ "$v" =~ ^\'(.*)\'[[:space:]]*$ ]]; then
			v=${BASH_REMATCH[1]}
		fi
		printf '%s=%s\n' "$k" "$v"
	done <"$1"
}

# "OTELCOL validate" on CONFIG with ENV's variables, as the unit's
# ExecStartPre runs it.  Returns 1, with the collector's words, when it
# refuses them.
validate_config() {
	local cfg=$1 envf=$2 pairs=() rc=0
	mapfile -t pairs < <(env_pairs "$envf")
	(cd / && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${pairs[@]}" \
		timeout 60 "$OTELCOL_RUN" validate --config="$cfg" </dev/null) >"$WORK/validate.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		grep -v '^$' "$WORK/validate.out" | tail -n 20 | sed "s/^/$TAG: otelcol: /" >&2
		return 1
	fi
	return 0
}

# ---- installing ----

# The unit, filled in as "make install" fills it.
render_unit() {
	local out="$WORK/$UNIT" left
	sed -e "s|@OTELCOL@|$OTELCOL|g" "$UNIT_SRC" >"$out"
	chmod 0644 "$out"
	left=$(grep -o '@[A-Z_]*@' "$out" | sort -u | tr '\n' ' ')
	[ -z "$left" ] || die "$UNIT_SRC has placeholders this script does not fill: $left(update scripts/ops/common.sh)"
	echo "$out"
}

# A configuration file (under /etc) of MODE, root's: scripts/perf's
# put_config with a mode.  Sets EFFECTIVE to the file the collector will
# read: the installed one, or in a dry run the one that would be.
put_conf() {
	local src=$1 rel=$2 mode=$3 dst="$ROOT$2" h cur base offered newf="$ROOT$2.gputel-new"
	h=$(sha "$src")
	base=${OLD["c $rel"]:-}
	offered=${OLD["n $rel.gputel-new"]:-}
	EFFECTIVE=$dst
	if [ ! -e "$dst" ]; then
		[ "$DRY" -eq 1 ] || copy_in "$src" "$rel" "$mode"
		act "install $dst (0$mode)" "installed $dst (0$mode)"
		record c "$h" "$rel"
		drop_offered "$newf" "$offered"
		[ "$DRY" -eq 0 ] || EFFECTIVE=$src
		return 0
	fi
	if [ ! -f "$dst" ] || [ -L "$dst" ]; then
		die "$dst is not a regular file; move it away and rerun"
	fi
	cur=$(sha "$dst")
	if [ "$cur" = "$h" ]; then
		fix_attrs "$dst" "$mode" && N_SAME_FILES=$((N_SAME_FILES + 1))
		record c "$h" "$rel"
		drop_offered "$newf" "$offered"
		return 0
	fi
	if [ -n "$base" ] && [ "$cur" = "$base" ]; then
		[ "$DRY" -eq 1 ] || copy_in "$src" "$rel" "$mode"
		act "update $dst (not edited since it was installed)" "updated $dst (not edited since it was installed)"
		record c "$h" "$rel"
		drop_offered "$newf" "$offered"
		[ "$DRY" -eq 0 ] || EFFECTIVE=$src
		return 0
	fi
	# Edited by the operator, or not installed by us (the guide's own
	# installer wrote these paths): keep it.
	record c "${base:--}" "$rel"
	if [ -f "$newf" ] && [ "$(sha "$newf")" = "$h" ]; then
		record n "$h" "$rel.gputel-new"
		fix_attrs "$newf" "$mode" || true
		say "kept edited $dst; $newf waits to be merged (diff -u $dst $newf)"
		N_SAME_FILES=$((N_SAME_FILES + 1))
	elif [ "$h" = "$offered" ]; then
		record n "$h" "$rel.gputel-new"
		say "kept edited $dst (its new version was offered before as $newf)"
		N_SAME_FILES=$((N_SAME_FILES + 1))
	else
		[ "$DRY" -eq 1 ] || copy_in "$src" "$rel.gputel-new" "$mode"
		record n "$h" "$rel.gputel-new"
		act "keep edited $dst and write the new version to $newf" \
			"kept edited $dst; wrote the new version to $newf: merge them (diff -u $dst $newf), then delete $newf"
	fi
	if [ "$mode" = 640 ] && [ $(($(stat -c '0%a' "$dst") & 8#007)) -ne 0 ]; then
		warn "$dst is readable by every user ($(stat -c '0%a' "$dst")) and may hold credentials: chmod 0640 $dst"
	fi
}

# The state directories systemd makes for the unit (StateDirectory= with
# DynamicUser=: the data in /var/lib/private/NAME, a link at
# /var/lib/NAME): recorded so that --purge removes them.
record_state() {
	record D - "$STATE_REL"
	record D - "$PRIVATE_STATE_REL"
}

# Notes on the target that would stop the collector or starve it.
preflight_notes() {
	local shadow="$ROOT/etc/systemd/system/$UNIT" grp
	if [ -f "$shadow" ] && [ ! -L "$shadow" ]; then
		warn "$shadow (an older installer's unit?) takes precedence over $ROOT$UNIT_REL: move it away (mv $shadow /root/), then rerun"
	fi
	[ "$ROLE" = node ] || return 0
	grp="$ROOT/etc/group"
	if [ -z "$ROOT" ]; then
		getent group adm >/dev/null || warn "there is no group adm: the unit's SupplementaryGroups=adm stops its start (groupadd --system adm)"
		[ -e /var/log/kern.log ] || say "note: no /var/log/kern.log: the node collector reads the kernel's NVIDIA lines from rsyslog's kern.log (apt-get install rsyslog); gputel's own Xid records reach it over OTLP without it"
		if systemctl is-enabled --quiet otelcol-contrib.service 2>/dev/null; then
			warn "otelcol-contrib.service (the collector package's own service) is enabled; its default configuration listens on 4317 and 4318 too: systemctl disable --now otelcol-contrib"
		fi
	elif [ -f "$grp" ] && ! grep -q '^adm:' "$grp"; then
		warn "$grp has no group adm: the unit's SupplementaryGroups=adm stops its start there"
	fi
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

# After a change, systemd rereads the units (a running systemd only).
reload_systemd() {
	systemd_running && [ "$1" -gt 0 ] || return 0
	if [ "$DRY" -eq 1 ]; then
		say "would run systemctl daemon-reload"
		return 0
	fi
	sysctl daemon-reload || die "systemctl daemon-reload failed (above)"
	say "reloaded systemd (systemctl daemon-reload)"
}

# Starts the service, or restarts it after a change (a running systemd,
# not --root, not --no-start).
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
	local unit_file env_eff cfg_eff changes
	if [ ! -f "$UNIT_SRC" ] || [ ! -f "$CONFIG_SRC" ] || [ ! -f "$ENV_SRC" ]; then
		die "packaging/otel/ lacks $(basename "$UNIT_SRC"), $(basename "$CONFIG_SRC") or $(basename "$ENV_SRC"): is the checkout whole?"
	fi
	find_collector
	check_collector
	preflight_notes
	unit_file=$(render_unit)
	# The env file first: the unit never exists without it.
	put_conf "$ENV_SRC" "$ENV_REL" 640
	env_eff=$EFFECTIVE
	put_conf "$CONFIG_SRC" "$CONFIG_REL" 644
	cfg_eff=$EFFECTIVE
	put_file "$unit_file" "$UNIT_REL"
	record_state
	remove_stale
	changes=$N_CHANGED
	if validate_config "$cfg_eff" "$env_eff"; then
		say "the collector accepts $cfg_eff with $env_eff (otelcol validate)"
	else
		save_manifest
		summary
		local hint=""
		[ -z "${NEWK["n $CONFIG_REL.gputel-new"]:-}" ] || hint=" (its new version is $ROOT$CONFIG_REL.gputel-new)"
		[ -z "${NEWK["n $ENV_REL.gputel-new"]:-}" ] || hint="$hint (the env file's new version is $ROOT$ENV_REL.gputel-new)"
		die "the collector refuses $cfg_eff with $env_eff (above)$hint: fix it, then rerun; $UNIT was neither enabled nor (re)started"
	fi
	reload_systemd "$changes"
	if [ "$NO_START" -eq 1 ]; then
		say "--no-start: $UNIT is neither enabled nor started; after tuning $ROOT$ENV_REL: systemctl enable --now $UNIT"
	else
		enable_service
		start_service "$changes"
	fi
	save_manifest
	summary
	if [ "$NO_START" -eq 0 ] && systemd_running && [ "$DRY" -eq 0 ] && [ "$N_CHANGED" -gt 0 ] &&
		[ "$START_FAILED" -eq 0 ] && [ "$MASKED" -eq 0 ]; then
		say "settings: $ENV_REL (then systemctl restart $UNIT); status: systemctl status $UNIT"
	fi
}

# --purge: removes edited configuration files too (scripts/perf keeps
# them); the rest as scripts/perf/common.sh does.
remove_entry() {
	local t=$1 v=$2 rel=$3 dst="$ROOT$3"
	case "$t" in
	f | x)
		[ -f "$dst" ] && [ ! -L "$dst" ] || return 0
		[ "$t" = f ] || [ ! -s "$dst" ] || return 0
		[ "$DRY" -eq 1 ] || rm -f "$dst"
		act "remove $dst" "removed $dst"
		;;
	l)
		[ -L "$dst" ] || return 0
		[ "$DRY" -eq 1 ] || rm -f "$dst"
		act "remove $dst" "removed $dst"
		;;
	c | n)
		[ -f "$dst" ] || return 0
		if [ "$(sha "$dst")" = "$v" ]; then
			[ "$DRY" -eq 1 ] || rm -f "$dst"
			act "remove $dst" "removed $dst"
		elif [ "$PURGE" -eq 1 ]; then
			[ "$DRY" -eq 1 ] || rm -f "$dst"
			act "remove $dst (edited; --purge)" "removed $dst (edited; --purge)"
		else
			say "kept $dst: it was edited (--uninstall --purge removes it)"
		fi
		;;
	D)
		purge_state "$rel"
		;;
	esac
}

# rm -rf of a state directory of this unit (or the link to it).
purge_state() {
	local rel=$1
	[ "$PURGE" -eq 1 ] || return 0
	case "$rel" in
	/var/lib/justnews-otel-* | /var/lib/private/justnews-otel-*) ;;
	*)
		warn "not purging $ROOT$rel: not a state directory of the collectors"
		return 0
		;;
	esac
	[ -e "$ROOT$rel" ] || [ -L "$ROOT$rel" ] || return 0
	[ "$DRY" -eq 1 ] || rm -rf -- "$ROOT$rel"
	act "purge $ROOT$rel (the collector's offsets and queue)" "purged $ROOT$rel (the collector's offsets and queue)"
}

do_uninstall() {
	local state f
	# shellcheck disable=SC2046
	state=$(systemctl $(root_opt) is-enabled "$UNIT" 2>/dev/null) || true
	if [ "${#OLD_LINES[@]}" -eq 0 ]; then
		: # not ours: left alone
	elif systemd_running && { [ "$state" = enabled ] || systemctl is-active --quiet "$UNIT"; }; then
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
	if [ "${#OLD_LINES[@]}" -eq 0 ]; then
		say "nothing to remove: no manifest at $MANIFEST (not installed by this script with --prefix $PREFIX)"
		if [ "$PURGE" -eq 1 ]; then
			# What an earlier --uninstall kept: the fixed paths.
			for f in "$ENV_REL" "$ENV_REL.gputel-new" "$CONFIG_REL" "$CONFIG_REL.gputel-new"; do
				[ -f "$ROOT$f" ] || continue
				[ "$DRY" -eq 1 ] || rm -f "$ROOT$f"
				act "remove $ROOT$f (--purge)" "removed $ROOT$f (--purge)"
			done
			purge_state "$STATE_REL"
			purge_state "$PRIVATE_STATE_REL"
			[ "$DRY" -eq 1 ] || prune_etc
		fi
		summary
		return 0
	fi
	remove_stale
	if systemd_running && [ "$DRY" -eq 0 ]; then
		sysctl daemon-reload || true
		say "reloaded systemd (systemctl daemon-reload)"
	fi
	if [ "$PURGE" -eq 0 ] && { [ -e "$ROOT$STATE_REL" ] || [ -e "$ROOT$PRIVATE_STATE_REL" ]; }; then
		say "kept the collector's state (file offsets, queue) in $ROOT$STATE_REL (--uninstall --purge removes it)"
	fi
	save_manifest
	prune_dirs
	[ "$DRY" -eq 1 ] || [ "$PURGE" -eq 0 ] || prune_etc
	summary
}

# /etc/justnews/monitoring/otel and its parents, where empty (--purge).
prune_etc() {
	local d=$OTEL_ETC_REL
	while [ "$d" != /etc ]; do
		[ -d "$ROOT$d" ] || { d=$(dirname "$d"); continue; }
		rmdir "$ROOT$d" 2>/dev/null || return 0
		say "removed empty directory $ROOT$d"
		d=$(dirname "$d")
	done
}

# The whole run of install_otel_ROLE_collector.sh.
otel_main() {
	otel_role "$1"
	shift
	parse_opts "$@"
	load_manifest "otel-$ROLE"
	START_FAILED=0
	MASKED=0
	if [ "$UNINSTALL" -eq 1 ]; then
		do_uninstall
	else
		do_install
	fi
	[ "$START_FAILED" -eq 0 ] || exit 1
}
