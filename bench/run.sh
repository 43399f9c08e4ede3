#!/bin/sh
# Runs every benchmark; figures and how to read them: docs/benchmarks.md.
set -eu
cd "$(dirname "$0")/.."
python3 bench/collect_cost.py "$@"
