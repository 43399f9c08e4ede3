# shellcheck shell=bash disable=SC2034
# scripts/perf/common.sh - the code install_service.sh, install_logrotate.sh
# and install_all.sh share (sourced, never run).
#
# Design:
# - "make install" installs into a private staging directory (DESTDIR), with
#   the service account, directories and rotation limits of the target's
#   /etc/default/justnews-gpu-telemetry (the packaged one when the target has
#   none).  Each installer then copies its own part of the staging tree into
#   the target, file by file, and only where the target differs.
# - A manifest per installer, PREFIX/share/gputel/<part>.manifest, lists what
#   it installed with the sha256 of each file.  A configuration file (under
#   /etc) whose content differs from the recorded hash was edited: it is never
#   overwritten, the new version goes beside it as FILE.gputel-new.
#   PREFIX/share/gputel/created-dirs lists the directories the installers
#   created, so that --uninstall removes them again once they are empty.
# - Manifest lines: "TYPE VALUE PATH", PATH relative to the root:
#     f SHA256 PATH   a file             l TARGET PATH  a symbolic link
#     c SHA256 PATH   a configuration file, with the hash of what was
#                     installed ("-": found there, not installed by us)
#     n SHA256 PATH   a FILE.gputel-new written beside an edited one
#     x - PATH        a file created as a side effect (/etc/.pwd.lock)
#     D - PATH        a data directory (logs, state): removed by --purge only

PROG=$(basename "$0")
TAG=${PROG%.sh}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PERF_DIR="$REPO/scripts/perf"
BUILD=${BUILD:-build}
case "$BUILD" in
/*) BUILD_ABS=$BUILD ;;
*) BUILD_ABS="$REPO/$BUILD" ;;
esac
GPUTEL_BIN="$BUILD_ABS/gputel"
UNIT=justnews-gpu-telemetry.service
DEFAULTS_REL=/etc/default/justnews-gpu-telemetry
POLICY_REL=/etc/logrotate.d/justnews-perf
PACKAGED_DEFAULTS="$REPO/packaging/justnews-gpu-telemetry.default"

DRY=0
UNINSTALL=0
PURGE=0
PREFIX=/usr/local
ROOT=
IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1
N_CHANGED=0
N_SAME_FILES=0
N_SAME_DIRS=0
umask 022

say() { printf '%s: %s\n' "$TAG" "$*"; }
warn() { printf '%s: warning: %s\n' "$TAG" "$*" >&2; }
die() {
	printf '%s: %s\n' "$TAG" "$*" >&2
	exit 1
}
usage_error() {
	printf '%s: %s; see %s --help\n' "$PROG" "$1" "$PROG" >&2
	exit 2
}
changed() { N_CHANGED=$((N_CHANGED + 1)); }
# One change: prints "would DO" in a dry run, "DONE" otherwise.
act() {
	if [ "$DRY" -eq 1 ]; then say "would $1"; else say "$2"; fi
	changed
}

# The options every installer takes.  install_*.sh define usage().
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
	case "$PREFIX" in
	/*) ;;
	*) usage_error "--prefix needs an absolute path, not '$PREFIX'" ;;
	esac
	PREFIX=$(realpath -m -- "$PREFIX")
	[ "$PREFIX" != / ] || usage_error "--prefix / is not supported; give /usr or /usr/local"
	safe_path "$PREFIX" || usage_error "--prefix '$PREFIX' has characters other than A-Z a-z 0-9 . _ + - /"
	if [ -n "$ROOT" ]; then
		case "$ROOT" in /*) ;; *) ROOT="$PWD/$ROOT" ;; esac
		ROOT=$(realpath -m -- "$ROOT")
		[ "$ROOT" != / ] || ROOT=
		[ ! -e "$ROOT" ] || [ -d "$ROOT" ] || usage_error "--root $ROOT is not a directory"
	fi
	if [ -z "$ROOT" ] && [ "$IS_ROOT" -eq 0 ]; then
		echo "$PROG: must run as root: sudo scripts/perf/$PROG, or --root DIR to install into a directory" >&2
		exit 2
	fi
	MAN_DIR_REL="$PREFIX/share/gputel"
	CREATED_LIST="$ROOT$MAN_DIR_REL/created-dirs"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/gputel-install.XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
}

# Absolute paths and names that are safe in sed, make and the files.
safe_path() { [[ "$1" =~ ^/[A-Za-z0-9._+/-]*$ ]] && [[ "$1" != *..* ]]; }
safe_name() { [[ "$1" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]]; }

sha() { sha256sum <"$1" | cut -d' ' -f1; }

# "-- root" in --root mode, for the systemd tools.
root_opt() { [ -z "$ROOT" ] || printf -- '--root=%s' "$ROOT"; }

systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

# make in the checkout.  Keeps the caller's make variables (SANITIZE=, CC=
# from make check) but not its jobserver, which this make cannot reach.
run_make() {
	local mf
	mf=$(printf '%s' "${MAKEFLAGS:-}" | sed -E 's/(^| )--jobserver-(auth|fds)=[^ ]*//g')
	if ! MAKEFLAGS=$mf make --no-print-directory -C "$REPO" BUILD="$BUILD" "$@" >"$WORK/make.log" 2>&1; then
		tail -n 20 "$WORK/make.log" | sed "s/^/$TAG: make: /" >&2
		die "make $1 failed (above): fix the build ('make' in $REPO) and rerun"
	fi
}

# The settings the installers use, from the target's defaults file or, when
# it has none yet, the packaged one; parsed by the built gputel itself.
# JN_* variables of the environment are ignored: the file is the one source.
load_config() {
	local f out k
	[ -x "$GPUTEL_BIN" ] || run_make all
	f="$ROOT$DEFAULTS_REL"
	[ -f "$f" ] || f=$PACKAGED_DEFAULTS
	CONFIG_FILE=$f
	if ! out=$(env -i PATH="$PATH" "$GPUTEL_BIN" config show --config "$f" 2>"$WORK/config.err"); then
		sed "s/^/$TAG: /" "$WORK/config.err" >&2
		die "$f has errors (above): fix them (gputel config check --config $f) and rerun"
	fi
	[ ! -s "$WORK/config.err" ] || sed "s/^/$TAG: note: /" "$WORK/config.err"
	cfg() { printf '%s\n' "$out" | sed -n "s/^$1=\([^[:space:]]*\).*/\1/p" | head -n1; }
	CFG_USER=$(cfg JN_USER)
	CFG_GROUP=$(cfg JN_GROUP)
	CFG_LOGDIR=$(cfg JN_LOGDIR)
	CFG_STATEDIR=$(cfg JN_STATE_DIR)
	CFG_SIZE_MB=$(cfg JN_ROTATE_SIZE_MB)
	CFG_KEEP_DAYS=$(cfg JN_ROTATE_KEEP_DAYS)
	for k in JN_USER JN_GROUP JN_LOGDIR JN_STATE_DIR JN_ROTATE_SIZE_MB JN_ROTATE_KEEP_DAYS; do
		[ -z "${!k+x}" ] || say "note: $k from the environment is ignored; the installers read it from $f"
	done
	safe_name "$CFG_USER" || die "JN_USER='$CFG_USER' in $f: give a user name of a-z 0-9 _ - (32 at most)"
	safe_name "$CFG_GROUP" || die "JN_GROUP='$CFG_GROUP' in $f: give a group name of a-z 0-9 _ - (32 at most)"
	for k in CFG_LOGDIR CFG_STATEDIR; do
		if ! safe_path "${!k}" || [ "${!k}" = / ]; then
			die "JN_${k#CFG_}='${!k}' in $f: give an absolute path of A-Z a-z 0-9 . _ + - /"
		fi
	done
	[[ "$CFG_SIZE_MB" =~ ^[0-9]+$ ]] || die "JN_ROTATE_SIZE_MB='$CFG_SIZE_MB' in $f is not a number"
	[[ "$CFG_KEEP_DAYS" =~ ^[0-9]+$ ]] || die "JN_ROTATE_KEEP_DAYS='$CFG_KEEP_DAYS' in $f is not a number"
}

# make install into $STAGE, with the settings of load_config.
stage_install() {
	STAGE="$WORK/stage"
	run_make install DESTDIR="$STAGE" DIST="$WORK/dist" PREFIX="$PREFIX" \
		SERVICE_USER="$CFG_USER" SERVICE_GROUP="$CFG_GROUP" LOG_DIR="$CFG_LOGDIR" \
		STATE_DIR="$CFG_STATEDIR" ROTATE_SIZE_MB="$CFG_SIZE_MB" ROTATE_KEEP_DAYS="$CFG_KEEP_DAYS"
}

# Which installer owns a staged path: rapl (install_all.sh), logrotate or
# service (everything else make install installs).
part_of() {
	case "$1" in
	*/udev/rules.d/* | */tmpfiles.d/*) echo rapl ;;
	*/logrotate.d/*) echo logrotate ;;
	# The collectors' files: scripts/ops/install_otel_*_collector.sh's.
	*/justnews/monitoring/otel/* | */systemd/system/justnews-otel-*) echo otel ;;
	*) echo service ;;
	esac
}

# The staged files (and links) of one part, as root-relative paths.
staged_files() {
	local p
	(cd "$STAGE" && find . -mindepth 1 \( -type f -o -type l \) | sed 's|^\.||' | LC_ALL=C sort) |
		while read -r p; do
			[ "$(part_of "$p")" != "$1" ] || echo "$p"
		done
}

# ---- manifest ----

declare -A OLD=()   # "TYPE PATH" -> VALUE of the manifest as found
OLD_LINES=()
NEW_LINES=()
declare -A NEWK=()  # "TYPE PATH" of what this run keeps
CREATED_DIRS=()

load_manifest() {
	PART=$1
	MANIFEST="$ROOT$MAN_DIR_REL/$PART.manifest"
	local t v p
	[ -f "$MANIFEST" ] || return 0
	while read -r t v p; do
		case "$t" in '' | '#'*) continue ;; esac
		[ -n "$p" ] || continue
		OLD["$t $p"]=$v
		OLD_LINES+=("$t $v $p")
	done <"$MANIFEST"
}

record() {
	NEW_LINES+=("$1 $2 $3")
	NEWK["$1 $3"]=1
}

# Writes the manifest when it changed (so a rerun touches nothing), and
# appends the directories this run created to the shared list.
save_manifest() {
	local new="$WORK/$PART.manifest" d
	[ "$DRY" -eq 0 ] || return 0
	if [ "${#NEW_LINES[@]}" -eq 0 ]; then
		rm -f "$MANIFEST"
	else
		{
			echo "# what scripts/perf/$PROG installed (see scripts/perf/common.sh); do not edit"
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

# Removes the directories the installers created that are empty now,
# deepest first; the list itself goes with the last manifest.
prune_dirs() {
	local d dirs=() keep=() others
	[ -f "$CREATED_LIST" ] || return 0
	if [ "$DRY" -eq 1 ]; then
		# Said by the last installer to go only.
		[ -n "$(find "$ROOT$MAN_DIR_REL" -maxdepth 1 -name '*.manifest' ! -name "$PART.manifest" | head -n1)" ] ||
			say "would remove the directories the installers created, where empty ($CREATED_LIST)"
		return 0
	fi
	mapfile -t dirs < <(awk 'NF { print length($0) " " $0 }' "$CREATED_LIST" | sort -rn | cut -d' ' -f2-)
	others=$(find "$ROOT$MAN_DIR_REL" -maxdepth 1 -name '*.manifest' | head -n1)
	[ -n "$others" ] || rm -f "$CREATED_LIST"
	for d in "${dirs[@]}"; do
		[ -d "$ROOT$d" ] || continue
		if rmdir "$ROOT$d" 2>/dev/null; then
			say "removed empty directory $ROOT$d"
		else
			keep+=("$d")
		fi
	done
	if [ -n "$others" ]; then
		if [ "${#keep[@]}" -gt 0 ]; then
			printf '%s\n' "${keep[@]}" | LC_ALL=C sort >"$CREATED_LIST"
		else
			rm -f "$CREATED_LIST"
		fi
	fi
}

# ---- installing ----

# Creates a directory and its missing parents (0755), remembering each.
ensure_dir() {
	local rel=$1 cur='' part parts
	[ -d "$ROOT$rel" ] && return 0
	if [ -n "$ROOT" ] && [ ! -d "$ROOT" ] && [ "$DRY" -eq 0 ]; then
		mkdir -p "$ROOT"
		say "created $ROOT (the --root directory)"
	fi
	IFS=/ read -ra parts <<<"${rel#/}"
	for part in "${parts[@]}"; do
		[ -n "$part" ] || continue
		cur="$cur/$part"
		[ ! -d "$ROOT$cur" ] || continue
		# In a dry run, the files and directories to create say it.
		[ "$DRY" -eq 0 ] || continue
		mkdir -m 0755 "$ROOT$cur"
		CREATED_DIRS+=("$cur")
		say "created directory $ROOT$cur"
	done
}

owner_opts() { [ "$IS_ROOT" -eq 0 ] || printf -- '-o 0 -g 0'; }

# Copies SRC to the root-relative path REL atomically (mode MODE, root's).
copy_in() {
	local src=$1 dst="$ROOT$2" mode=$3 tmp
	ensure_dir "$(dirname "$2")"
	tmp="$(dirname "$dst")/.$(basename "$dst").gputel-tmp"
	# shellcheck disable=SC2046
	install -m "$mode" $(owner_opts) "$src" "$tmp"
	mv -f -T "$tmp" "$dst"
}

# Sets mode (and root ownership, as root) of an installed file when they
# differ.  Returns 1 when something had to change.
fix_attrs() {
	local dst=$1 mode=$2 want have
	want=$mode
	have=$(stat -c %a "$dst")
	if [ "$IS_ROOT" -eq 1 ]; then
		want="$mode 0 0"
		have=$(stat -c '%a %u %g' "$dst")
	fi
	[ "$have" != "$want" ] || return 0
	if [ "$DRY" -eq 0 ]; then
		chmod "$mode" "$dst"
		[ "$IS_ROOT" -eq 0 ] || chown 0:0 "$dst"
	fi
	act "fix mode/owner of $dst ($have -> $want)" "fixed mode/owner of $dst ($have -> $want)"
	return 1
}

# A program or data file: replaced whenever it differs.
put_file() {
	local src=$1 rel=$2 dst="$ROOT$2" mode action=install done=installed
	mode=$(stat -c %a "$src")
	record f "$(sha "$src")" "$rel"
	if [ -f "$dst" ] && [ ! -L "$dst" ]; then
		if cmp -s "$src" "$dst"; then
			fix_attrs "$dst" "$mode" && N_SAME_FILES=$((N_SAME_FILES + 1))
			return 0
		fi
		action=update done=updated
	elif [ -e "$dst" ] || [ -L "$dst" ]; then
		action=replace done=replaced
		[ ! -d "$dst" ] || die "$dst is a directory; move it away and rerun"
	fi
	[ "$DRY" -eq 1 ] || copy_in "$src" "$rel" "$mode"
	act "$action $dst (0$mode)" "$done $dst (0$mode)"
}

put_link() {
	local target=$1 rel=$2 dst="$ROOT$2" tmp
	record l "$target" "$rel"
	if [ -L "$dst" ] && [ "$(readlink "$dst")" = "$target" ]; then
		N_SAME_FILES=$((N_SAME_FILES + 1))
		return 0
	fi
	[ ! -d "$dst" ] || [ -L "$dst" ] || die "$dst is a directory; move it away and rerun"
	if [ "$DRY" -eq 0 ]; then
		ensure_dir "$(dirname "$rel")"
		tmp="$(dirname "$dst")/.$(basename "$dst").gputel-tmp"
		ln -sfn "$target" "$tmp"
		mv -f -T "$tmp" "$dst"
	fi
	act "link $dst -> $target" "linked $dst -> $target"
}

# A configuration file (under /etc): installed when absent, updated only
# when it is still what was installed; an edited one is kept, and the new
# version is written beside it as FILE.gputel-new, once per new version.
put_config() {
	local src=$1 rel=$2 dst="$ROOT$2" h cur base offered newf="$ROOT$2.gputel-new"
	h=$(sha "$src")
	base=${OLD["c $rel"]:-}
	offered=${OLD["n $rel.gputel-new"]:-}
	if [ ! -e "$dst" ]; then
		[ "$DRY" -eq 1 ] || copy_in "$src" "$rel" 0644
		act "install $dst (0644)" "installed $dst (0644)"
		record c "$h" "$rel"
		drop_offered "$newf" "$offered"
		return 0
	fi
	[ -f "$dst" ] || die "$dst is not a regular file; move it away and rerun"
	cur=$(sha "$dst")
	if [ "$cur" = "$h" ]; then
		N_SAME_FILES=$((N_SAME_FILES + 1))
		record c "$h" "$rel"
		drop_offered "$newf" "$offered"
		return 0
	fi
	if [ -n "$base" ] && [ "$cur" = "$base" ]; then
		[ "$DRY" -eq 1 ] || copy_in "$src" "$rel" 0644
		act "update $dst (not edited since it was installed)" "updated $dst (not edited since it was installed)"
		record c "$h" "$rel"
		drop_offered "$newf" "$offered"
		return 0
	fi
	# Edited by the operator, or not installed by us: keep it.
	record c "${base:--}" "$rel"
	if [ -f "$newf" ] && [ "$(sha "$newf")" = "$h" ]; then
		record n "$h" "$rel.gputel-new"
		say "kept edited $dst; $newf waits to be merged (diff -u $dst $newf)"
		N_SAME_FILES=$((N_SAME_FILES + 1))
	elif [ "$h" = "$offered" ]; then
		record n "$h" "$rel.gputel-new"
		say "kept edited $dst (its new version was offered before as $newf)"
		N_SAME_FILES=$((N_SAME_FILES + 1))
	else
		[ "$DRY" -eq 1 ] || copy_in "$src" "$rel.gputel-new" 0644
		record n "$h" "$rel.gputel-new"
		act "keep edited $dst and write the new version to $newf" \
			"kept edited $dst; wrote the new version to $newf: merge them (diff -u $dst $newf), then delete $newf"
	fi
}

# Removes a FILE.gputel-new this installer wrote once FILE no longer needs it.
drop_offered() {
	local newf=$1 offered=$2
	[ -n "$offered" ] && [ -f "$newf" ] && [ "$(sha "$newf")" = "$offered" ] || return 0
	[ "$DRY" -eq 1 ] || rm -f "$newf"
	act "remove $newf (no longer needed)" "removed $newf (no longer needed)"
}

# ---- removing ----

# Removes one manifest entry (TYPE VALUE PATH).
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
		elif [ "$t" = c ]; then
			say "kept $dst: it was edited (delete it yourself if it is no longer wanted)"
		else
			say "kept $dst: it was edited"
		fi
		;;
	D)
		purge_dir "$rel"
		;;
	esac
}

# rm -rf of a data directory, with a sanity check on the path.
purge_dir() {
	local rel=$1
	[ "$PURGE" -eq 1 ] && [ -d "$ROOT$rel" ] || return 0
	case "$rel" in
	/ | /etc | /etc/* | /usr | /usr/* | /var | /var/log | /var/lib | /home | /root | /tmp | /run | /srv | /opt | /bin | /sbin | /lib | /lib64 | /boot | /dev | /proc | /sys)
		warn "not purging $ROOT$rel: that is a system directory"
		return 0
		;;
	esac
	[ "$DRY" -eq 1 ] || rm -rf -- "$ROOT$rel"
	act "purge $ROOT$rel and what it holds" "purged $ROOT$rel and what it holds"
}

# Removes what the old manifest lists and this run did not keep: after an
# install, what the new version no longer ships; with --uninstall, all.
remove_stale() {
	local line t v p
	for line in "${OLD_LINES[@]}"; do
		read -r t v p <<<"$line"
		[ -z "${NEWK["$t $p"]:-}" ] || continue
		if [ "$t" = D ] && [ "$UNINSTALL" -eq 0 ]; then
			say "note: $ROOT$p is no longer the configured directory; it is kept"
			continue
		fi
		remove_entry "$t" "$v" "$p"
	done
}

# "N things", singular or plural.
count() { if [ "$1" -eq 1 ]; then echo "1 $2"; else echo "$1 $3"; fi; }

# The closing line.
summary() {
	local what
	what="unchanged: $(count "$N_SAME_FILES" file files)"
	[ "$N_SAME_DIRS" -eq 0 ] || what="$what, $(count "$N_SAME_DIRS" directory directories)"
	if [ "$DRY" -eq 1 ]; then
		say "dry run: $(count "$N_CHANGED" change changes) would be made, nothing was written ($what)"
	elif [ "$N_CHANGED" -eq 0 ]; then
		say "nothing to do: $what"
	else
		say "done: $(count "$N_CHANGED" change changes); $what"
	fi
	[ -z "${GPUTEL_INSTALL_REPORT:-}" ] || echo "$N_CHANGED $N_SAME_FILES $N_SAME_DIRS" >>"$GPUTEL_INSTALL_REPORT"
}

# Installs every staged file of a part; config files (under /etc) keep edits.
install_part() {
	local p
	while read -r p; do
		if [ -L "$STAGE$p" ]; then
			put_link "$(readlink "$STAGE$p")" "$p"
		else
			case "$p" in
			/etc/*) put_config "$STAGE$p" "$p" ;;
			*) put_file "$STAGE$p" "$p" ;;
			esac
		fi
	done < <(staged_files "$1")
}

# ---- the logrotate check ----

# logrotate -d on a policy; prints logrotate's errors and returns 1 on any.
# In --root mode the service account exists in ROOT/etc/passwd only: the
# check then runs in a private mount namespace where ROOT's passwd and group
# are the system's, or, where that is not possible, on a copy whose "su"
# line names the user running this.
check_policy() {
	local f=$1 u g mode=direct rc=0
	command -v logrotate >/dev/null || {
		warn "logrotate is not installed, so $f was not checked (apt-get install logrotate)"
		return 0
	}
	read -r u g < <(sed -n 's/^[[:space:]]*su[[:space:]]\+\([^[:space:]]*\)[[:space:]]\+\([^[:space:]]*\).*/\1 \2/p' "$f" | head -n1)
	if [ -n "$ROOT" ] && [ -n "${u:-}" ] && ! { getent passwd "$u" >/dev/null && getent group "$g" >/dev/null; }; then
		mode=copy
		if [ "$IS_ROOT" -eq 1 ] && [ -f "$ROOT/etc/passwd" ] && [ -f "$ROOT/etc/group" ] &&
			command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
			mode=namespace
		fi
	fi
	case "$mode" in
	direct)
		logrotate -d -s "$WORK/logrotate.state" "$f" >"$WORK/logrotate.out" 2>&1 || rc=$?
		;;
	namespace)
		# shellcheck disable=SC2016
		unshare -m sh -c 'mount --bind "$1/etc/passwd" /etc/passwd && mount --bind "$1/etc/group" /etc/group &&
			exec logrotate -d -s "$2" "$3"' sh "$ROOT" "$WORK/logrotate.state" "$f" >"$WORK/logrotate.out" 2>&1 || rc=$?
		;;
	copy)
		sed "s/^\([[:space:]]*\)su[[:space:]].*/\1su $(id -un) $(id -gn)/" "$f" >"$WORK/policy.check"
		chmod 0644 "$WORK/policy.check"
		logrotate -d -s "$WORK/logrotate.state" "$WORK/policy.check" >"$WORK/logrotate.out" 2>&1 || rc=$?
		say "note: $u:$g are not accounts of this system: checked with 'su $(id -un) $(id -gn)' in place of 'su $u $g'"
		;;
	esac
	if [ "$rc" -ne 0 ] || grep -q '^error:' "$WORK/logrotate.out"; then
		grep '^error:' "$WORK/logrotate.out" | sed "s/^/$TAG: logrotate: /" >&2
		return 1
	fi
	return 0
}
