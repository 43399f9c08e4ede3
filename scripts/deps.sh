#!/bin/sh
# Installs the Debian packages gputel needs to build and test, if missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
# Usage: scripts/deps.sh [--demo | --bench] [--print]
#   (none)    what make, make check and make deb need
#   --demo    only what make and make demo need
#   --bench   also the peers the benchmarks in bench/ measure against
#   --print   only list what is missing
set -eu

bench=false
demo=false
print=false
for a in "$@"; do
	case $a in
	--bench) bench=true ;;
	--demo) demo=true ;;
	--print) print=true ;;
	*) echo "deps: unknown option '$a'; use --demo, --bench or --print" >&2; exit 2 ;;
	esac
done

# make: the compiler and the libraries gputel links; python3 writes the man
# pages; protoc-c compiles proto/otlp.proto; libcurl's headers describe the
# library OTLP export loads.  make demo also asks the exporter with curl.
BUILD_PACKAGES="gcc make libc6-dev libmicrohttpd-dev zlib1g-dev libcjson-dev python3 protobuf-c-compiler \
libprotobuf-c-dev libcurl4-openssl-dev"
DEMO_PACKAGES="curl"
# make check: the test frameworks and the real peers the tests run against
# (systemd-journal-remote writes the journal files the journal source reads;
# libcurl3-gnutls is the libcurl OTLP export loads first).
CHECK_PACKAGES="clang libclang-rt-14-dev libcmocka-dev logrotate valgrind time util-linux \
procps gawk prometheus curl systemd systemd-journal-remote groff-base man-db mandoc bash-completion \
debhelper dpkg-dev build-essential lintian libcurl3-gnutls"

if $demo; then
	PACKAGES="$BUILD_PACKAGES $DEMO_PACKAGES"
else
	PACKAGES="$BUILD_PACKAGES $CHECK_PACKAGES"
fi

# The OpenTelemetry Collector of the OTLP tests is no Debian package: Go
# builds it (scripts/otelcol.sh, which says what to install if go is missing).

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
