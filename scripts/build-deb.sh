#!/bin/bash
# scripts/build-deb.sh - builds gputel's Debian packages (make deb).
#
#   scripts/build-deb.sh            the packages in build/deb/
#   DEB_OUTDIR=DIR scripts/build-deb.sh
#
# The working tree as it is (uncommitted edits and new files included;
# ignored files, build/ and .git left out) is copied to OUT/gputel-VERSION,
# built there with dpkg-buildpackage -b -us -uc, and the results land in
# OUT: the .deb files (with their -dbgsym packages), the .changes and
# .buildinfo files, the source package (.dsc and .tar.xz), build.log and
# lintian.txt (lintian's findings on all of them, at the info, pedantic
# and experimental levels too).  The checkout itself is not touched.
# Needs the packages scripts/deps.sh installs (debhelper, dpkg-dev,
# lintian and the build dependencies of debian/control).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${DEB_OUTDIR:-build/deb}
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac

die() {
	echo "build-deb: $*" >&2
	exit 1
}

for tool in dpkg-buildpackage dpkg-parsechangelog dh lintian; do
	command -v "$tool" >/dev/null || die "$tool is missing: run scripts/deps.sh"
done

# The package's version is debian/changelog's; the program reports
# GPUTEL_VERSION (src/commands.h).  They must agree.
VERSION=$(dpkg-parsechangelog -l debian/changelog -S Version)
PROG_VERSION=$(sed -n 's/^#define GPUTEL_VERSION "\(.*\)"/\1/p' src/commands.h)
[ "$VERSION" = "$PROG_VERSION" ] ||
	die "debian/changelog is at $VERSION but src/commands.h at $PROG_VERSION: add a debian/changelog entry"

SRC="$OUT/gputel-$VERSION"
mkdir -p "$OUT"
rm -rf "$SRC"
rm -f "$OUT"/*.deb "$OUT"/*.ddeb "$OUT"/*.changes "$OUT"/*.buildinfo "$OUT"/*.dsc "$OUT"/*.tar.* \
	"$OUT"/build.log "$OUT"/lintian.txt
mkdir -p "$SRC"

# A clean copy of the working tree: git archive would miss uncommitted work.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			# Deleted but still in the index; and never the output itself.
			[ -e "$f" ] || [ -L "$f" ] || continue
			case "$ROOT/$f" in "$OUT"/*) continue ;; esac
			printf '%s\0' "$f"
		done | tar --null --no-recursion -T - -cf - | tar -xf - -C "$SRC"
else
	tar --exclude=./build --exclude=./.git --exclude=./.device --exclude=./debian/tmp \
		-cf - . | tar -xf - -C "$SRC"
fi

# Nothing from a surrounding make (make check SANITIZE=..., make -j) or
# from the caller's flags reaches the package build: dpkg-buildflags sets
# the flags, debian/rules the paths.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES SANITIZE BUILD OPT CC CXX \
	CFLAGS CPPFLAGS LDFLAGS LDLIBS CXXFLAGS

# nocheck: the test suite is make check, which runs apart from the package
# build; it installs its own tools with apt-get, needs minutes, and its
# tests/integration/test_deb.sh calls this script (see debian/rules).
# The nocheck profile goes with it: the unit tests' libcmocka-dev is then
# not a build dependency.
export DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}"
export DEB_BUILD_PROFILES="nocheck ${DEB_BUILD_PROFILES:-}"
echo "build-deb: building gputel $VERSION in $SRC (log: $OUT/build.log)"
if ! (cd "$SRC" && dpkg-buildpackage -b -us -uc) >"$OUT/build.log" 2>&1; then
	tail -n 40 "$OUT/build.log" >&2
	die "dpkg-buildpackage failed; the whole log is $OUT/build.log"
fi

CHANGES=$(ls "$OUT"/gputel_"$VERSION"_*.changes)

# The source package too (native: one tarball), so that lintian also
# checks debian/ itself (control, copyright, rules).
if ! { (cd "$SRC" && debian/rules clean) && (cd "$OUT" && dpkg-source -b "gputel-$VERSION"); } >>"$OUT/build.log" 2>&1; then
	tail -n 20 "$OUT/build.log" >&2
	die "dpkg-source failed; the whole log is $OUT/build.log"
fi

# lintian exits non-zero on errors; its findings are reported, not fatal
# (tests/integration/test_deb.sh fails on an error or a warning).
lintian --display-info --pedantic --display-experimental --tag-display-limit 0 \
	"$CHANGES" "$OUT/gputel_$VERSION.dsc" >"$OUT/lintian.txt" 2>&1 || true

echo "build-deb: packages in $OUT:"
(cd "$OUT" && ls -1 ./*.deb | sed 's|^\./|  |')
n=$(grep -cE '^[EW]: ' "$OUT/lintian.txt" || true)
echo "build-deb: lintian: $n error or warning findings, $(grep -cE '^[IPX]: ' "$OUT/lintian.txt" || true) other (see $OUT/lintian.txt)"
