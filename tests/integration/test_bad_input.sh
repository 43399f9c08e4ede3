#!/bin/bash
# Bad input: exit 2 with one line that names the problem and the fix.
. "$(dirname "$0")/lib.sh"

use_sim 2
mkdir -p "$T/out"

# expect_usage "desc" pattern command...: exit 2, exactly one stderr line matching pattern.
expect_usage() {
	local d=$1 pat=$2
	shift 2
	"$@" >"$T/stdout" 2>"$T/stderr"
	local rc=$?
	if [ "$rc" -eq 2 ] && [ "$(wc -l <"$T/stderr")" -eq 1 ] && grep -qE -- "$pat" "$T/stderr"; then
		ok "$d"
	else
		not_ok "$d (rc=$rc, stderr: $(head -c 300 "$T/stderr"))"
	fi
}

for bad in 0 -1 abc "" 0.001 1e3 nan 3601 "1 s"; do
	expect_usage "interval '$bad' is refused" "bad --interval .*give seconds" "$GPUTEL" collect --out-dir "$T/out" --interval "$bad" --duration 1
done
expect_usage "duration 0 is refused" "bad --duration" "$GPUTEL" collect --out-dir "$T/out" --duration 0
expect_usage "a missing option value is refused" "needs a value" "$GPUTEL" collect --interval
expect_usage "an unknown collect flag is refused" "unknown option '--frobnicate'; see 'gputel collect --help'" "$GPUTEL" collect --frobnicate
expect_usage "an unknown gpus flag is refused" "unknown option '--xml'" "$GPUTEL" gpus --xml
expect_usage "an unknown command is refused" "unknown command 'colect'" "$GPUTEL" colect
touch "$T/file"
expect_usage "an out-dir that cannot be created is refused" "cannot create out-dir $T/file/sub: Not a directory; create it by hand \\(install -d $T/file/sub\\)" "$GPUTEL" collect --out-dir "$T/file/sub" --duration 1
expect_usage "an out-dir that is a file is refused" "is not a directory" "$GPUTEL" collect --out-dir "$T/file" --duration 1
mkdir -p "$T/ro" && chmod 755 "$T/ro"
if [ "$(id -u)" -eq 0 ]; then
	expect_usage "an unwritable out-dir is refused (as nobody)" "not writable by this user" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$GPUTEL" collect --out-dir "$T/ro" --duration 1
else
	chmod 555 "$T/ro"
	expect_usage "an unwritable out-dir is refused" "not writable by this user" "$GPUTEL" collect --out-dir "$T/ro" --duration 1
fi
check "no CSV was created by refused runs" test -z "$(ls "$T/out")"

GPUTEL_NVML_LIBRARY="$T/none.so" expect_usage "a GPUTEL_NVML_LIBRARY that does not exist" \
	"GPUTEL_NVML_LIBRARY=$T/none.so does not exist.*unset it" "$GPUTEL" gpus
GPUTEL_NVML_LIBRARY=libc.so.6 expect_usage "a GPUTEL_NVML_LIBRARY that is not NVML" \
	"libc.so.6 is not an NVML library \(it lacks nvmlInit_v2\)" "$GPUTEL" collect --out-dir "$T/out" --duration 1
printf 'garbage\n' >"$T/notelf.so"
GPUTEL_NVML_LIBRARY="$T/notelf.so" expect_usage "a GPUTEL_NVML_LIBRARY that is not a library" \
	"GPUTEL_NVML_LIBRARY $T/notelf.so is not a complete shared library \(not an ELF file\); point it at libnvidia-ml.so.1 or unset it" "$GPUTEL" gpus

# Not a regular file: refused before dlopen, which would block for good on a FIFO.
mkfifo "$T/fifo.so"
mkdir "$T/dir.so"
for what in "fifo.so:a FIFO" "dir.so:a directory" "/dev/null:a character device"; do
	path=${what%%:*}
	case "$path" in /*) ;; *) path="$T/$path" ;; esac
	for cmd in gpus "collect --out-dir $T/out --duration 1"; do
		GPUTEL_NVML_LIBRARY="$path" expect_usage "a GPUTEL_NVML_LIBRARY that is ${what#*:} is refused at once (${cmd%% *})" \
			"GPUTEL_NVML_LIBRARY=$path is ${what#*:}, not a regular file; point it at libnvidia-ml.so.1 or unset it" \
			timeout -s KILL 10 $GPUTEL $cmd
	done
done

# A truncated library: refused with the reason, where dlopen died of SIGBUS (rc 135).
size=$(stat -c %s "$SIM_LIB")
for cut in 0 40 64 7000 20000 $((size / 2)) $((size - 1)); do
	head -c "$cut" "$SIM_LIB" >"$T/cut-$cut.so"
	GPUTEL_NVML_LIBRARY="$T/cut-$cut.so" expect_usage "a library cut to $cut of its $size bytes is refused" \
		"GPUTEL_NVML_LIBRARY $T/cut-$cut.so is not a complete shared library \(.+\); point it at libnvidia-ml.so.1 or unset it" \
		"$GPUTEL" gpus
done
GPUTEL_NVML_LIBRARY="$T/cut-7000.so" expect_usage "the reason names the size and what lies beyond it" \
	"\(7000 bytes, but a loadable segment ends at byte [0-9]+\)" "$GPUTEL" collect --out-dir "$T/out" --duration 1
check "the whole library still loads" bash -c '"$1" gpus --json | grep -q "\"backend\": \"nvml\""' _ "$GPUTEL"

# The default libnvidia-ml.so.1, found through the loader's search path, cut short:
# a broken driver install, so nvidia-smi stands in and the reason is shown.
mkdir -p "$T/ld"
head -c 7000 "$SIM_LIB" >"$T/ld/libnvidia-ml.so.1"
out=$(env -u GPUTEL_NVML_LIBRARY LD_LIBRARY_PATH="$T/ld" GPUTEL_NVIDIA_SMI="$FAKE_SMI_DIR/nvidia-smi" "$GPUTEL" gpus 2>&1)
check "a truncated default libnvidia-ml.so.1 falls back to nvidia-smi, saying why" \
	grep -q "^backend: nvidia-smi (nvml: $T/ld/libnvidia-ml.so.1 is not a complete shared library (7000 bytes, .*); using nvidia-smi" <<<"$out"
cp "$SIM_LIB" "$T/ld/libnvidia-ml.so.1"
out=$(env -u GPUTEL_NVML_LIBRARY LD_LIBRARY_PATH="$T/ld" GPUTEL_NVIDIA_SMI="$FAKE_SMI_DIR/nvidia-smi" "$GPUTEL" gpus 2>&1)
check "a whole default libnvidia-ml.so.1 on LD_LIBRARY_PATH is the one loaded" \
	grep -q "^backend: nvml (nvml loaded ($T/ld/libnvidia-ml.so.1, " <<<"$out"
GPUTEL_GPU_BACKEND=cuda expect_usage "an unknown GPUTEL_GPU_BACKEND" "GPUTEL_GPU_BACKEND='cuda' is not a backend" "$GPUTEL" gpus

printf 'gpus 2\nat 0 all utl=5\n' >"$T/bad.scn"
GPUTEL_SIM_SCENARIO="$T/bad.scn" expect_usage "a malformed scenario names file, line and the fix" \
	"bad.scn:2: .*utl" "$GPUTEL" collect --out-dir "$T/out" --duration 1
printf 'gpus 2\nat -3 all util=5\n' >"$T/neg.scn"
GPUTEL_SIM_SCENARIO="$T/neg.scn" expect_usage "a negative scenario time is refused" "neg.scn:2:" "$GPUTEL" gpus
GPUTEL_SIM_SCENARIO="$T/missing.scn" expect_usage "a missing scenario file is refused" "missing.scn" "$GPUTEL" gpus
check "still no CSV after scenario errors" test -z "$(ls "$T/out")"

"$GPUTEL" collect --help >"$T/help" 2>&1
check "collect --help exits 0 and documents the flags" bash -c "grep -q -- '--interval S' '$T/help' && grep -q -- '--out-dir DIR' '$T/help'"
finish
