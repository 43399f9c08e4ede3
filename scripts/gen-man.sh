#!/bin/sh
# scripts/gen-man.sh GPUTEL OUTDIR - writes gputel.8 and justnews-gpu-telemetry.5.
# (First cut: being replaced by the generator from the command and key tables.)
set -eu
mkdir -p "$2"
printf '.TH GPUTEL 8\n.SH NAME\ngputel \\- GPU telemetry\n' >"$2/gputel.8"
printf '.TH JUSTNEWS-GPU-TELEMETRY 5\n.SH NAME\njustnews-gpu-telemetry \\- settings\n' >"$2/justnews-gpu-telemetry.5"
