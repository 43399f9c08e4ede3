#!/bin/sh
# Runs every benchmark; figures and how to read them: docs/benchmarks.md.
set -eu
cd "$(dirname "$0")/.."
make --no-print-directory build/bench/tick_floor build/bench/nvml_calls >/dev/null
python3 bench/collect_cost.py "$@"
