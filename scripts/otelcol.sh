#!/bin/sh
# Builds the OpenTelemetry Collector that the integration tests run as a real
# OTLP peer on loopback, and prints the path of its binary as the last line
# of standard output (everything else goes to standard error).
#
# The collector builder (ocb) is installed at the pinned release with
# go install, and builds the components that tests/otelcol/builder-config.yaml
# lists. Both land in a cache directory outside the repository:
#   ${GPUTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gputel}/
#     ocb-<release>/builder
#     otelcol-<release>-<hash of the manifest>/otelcol-gputel
# A run that finds the binary there prints its path and does nothing else.
# The Go module and build caches are Go's own (go env GOMODCACHE GOCACHE).
#
# Usage: scripts/otelcol.sh [--print]
#   (none)    build the collector unless it is there; print its path
#   --print   only print the path; exit 1 if it is not built
set -eu

# The builder's release; the manifest pins every component at the same one.
OCB_VERSION=v0.148.0
OCB_MODULE=go.opentelemetry.io/collector/cmd/builder

usage="usage: scripts/otelcol.sh [--print]"
print=false
case $# in
0) ;;
1)
	case $1 in
	--print) print=true ;;
	-h | --help) echo "$usage"; exit 0 ;;
	*) echo "otelcol: unknown option '$1'; $usage" >&2; exit 2 ;;
	esac
	;;
*) echo "otelcol: too many arguments; $usage" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
manifest="$root/tests/otelcol/builder-config.yaml"
[ -r "$manifest" ] || { echo "otelcol: $manifest is missing" >&2; exit 2; }

if [ -n "${GPUTEL_CACHE:-}" ]; then
	cache=$GPUTEL_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
	cache=$XDG_CACHE_HOME/gputel
elif [ -n "${HOME:-}" ]; then
	cache=$HOME/.cache/gputel
else
	echo "otelcol: neither GPUTEL_CACHE, XDG_CACHE_HOME nor HOME is set; set GPUTEL_CACHE to a cache directory" >&2
	exit 2
fi
hash=$(sha256sum "$manifest" | cut -c1-12)
dir="$cache/otelcol-$OCB_VERSION-$hash"
bin="$dir/otelcol-gputel"

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
if $print; then
	echo "otelcol: the collector is not built ($bin); run scripts/otelcol.sh" >&2
	exit 1
fi

if ! command -v go >/dev/null 2>&1; then
	echo "otelcol: 'go' is not on PATH; install Go 1.25 or newer (Debian 12's golang-go is too old) and run scripts/otelcol.sh again" >&2
	exit 2
fi

start=$(date +%s)
mkdir -p "$cache"

# The builder, at the pinned release.
ocb_dir="$cache/ocb-$OCB_VERSION"
if [ ! -x "$ocb_dir/builder" ]; then
	echo "otelcol: installing the collector builder $OCB_VERSION into $ocb_dir" >&2
	GOBIN="$ocb_dir" go install "$OCB_MODULE@$OCB_VERSION" >&2
fi

# The builder writes its sources and the binary into a scratch directory
# beside the cache entry (the manifest's output_path is relative to it); the
# binary is moved into place only once it is whole, so a build that fails or
# is stopped leaves nothing that a later run would take for a collector.
work=$(mktemp -d "$cache/otelcol-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cp "$manifest" "$work/builder-config.yaml"
echo "otelcol: building the collector of $manifest (some minutes the first time)" >&2
(cd "$work" && "$ocb_dir/builder" --config builder-config.yaml) >&2
[ -x "$work/src/otelcol-gputel" ] || {
	echo "otelcol: the builder made no binary at $work/src/otelcol-gputel" >&2
	exit 1
}
mkdir -p "$dir"
cp "$manifest" "$dir/builder-config.yaml"
mv -f "$work/src/otelcol-gputel" "$bin"
echo "otelcol: built in $(($(date +%s) - start)) s" >&2
echo "$bin"
