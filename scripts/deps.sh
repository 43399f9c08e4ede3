#!/bin/sh
# Installs the Debian packages gputel needs to build and test, if missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
# Usage: scripts/deps.sh [--bench] [--print]
#   --bench   also the peers the benchmarks in bench/ measure against
#   --print   only list what is missing
set -eu

bench=false
print=false
for a in "$@"; do
	case $a in
	--bench) bench=true ;;
	--print) print=true ;;
	*) echo "deps: unknown option '$a'; use --bench or --print" >&2; exit 2 ;;
	esac
done

PACKAGES="gcc make libc6-dev clang libclang-rt-14-dev libcmocka-dev logrotate \
valgrind time util-linux procps gawk python3 prometheus \
libmicrohttpd-dev zlib1g-dev libcjson-dev curl systemd groff-base man-db mandoc bash-completion debhelper dpkg-dev build-essential lintian"

# bench/exporter_rate.sh drives wrk against the exporter and node_exporter.
$bench && PACKAGES="$PACKAGES wrk prometheus-node-exporter"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if $print; then
	echo "$missing"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >&2
else
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run: sudo apt-get install -y$missing" >&2
	exit 1
fi
