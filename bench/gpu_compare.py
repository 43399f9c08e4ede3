#!/usr/bin/env python3
"""Reads the output of bench/gpu_real.sh and prints, as markdown:
gputel's readings next to nvidia-smi's taken at the same seconds, the cost
of one NVML tick against one nvidia-smi invocation, and the nvidia-smi
fallback's rows.  Usage: bench/gpu_compare.py OUTDIR"""
import csv
import datetime as dt
import glob
import os
import re
import statistics
import sys

out = sys.argv[1]


def ts_utc(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc).timestamp()


def ts_smi(s):  # nvidia-smi prints local time; the device runs in UTC (checked below)
    return dt.datetime.strptime(s.strip(), "%Y/%m/%d %H:%M:%S.%f").replace(
        tzinfo=dt.timezone.utc).timestamp()


def num(s):
    try:
        return float(s)
    except ValueError:
        return None


rows = list(csv.DictReader(open(glob.glob(f"{out}/collect/*.csv")[0])))
smi = []
for line in open(f"{out}/nvidia-smi.csv"):
    p = [x.strip() for x in line.split(",")]
    if len(p) >= 12 and re.match(r"\d{4}/", p[0]):
        smi.append({"t": ts_smi(p[0]), "gpu": p[1], "power_draw_w": num(p[2]),
                    "temperature_c": num(p[3]), "util_gpu_percent": num(p[4]),
                    "util_mem_percent": num(p[5]), "memory_used_mb": num(p[6]),
                    "sm_clock_mhz": num(p[7]), "mem_clock_mhz": num(p[8]),
                    "power_limit_w": num(p[10])})

pairs = []
for r in rows:
    t = ts_utc(r["timestamp"])
    cands = [s for s in smi if s["gpu"] == r["gpu_index"] and abs(s["t"] - t) <= 0.5]
    if cands:
        pairs.append((r, min(cands, key=lambda s: abs(s["t"] - t))))

fields = ["power_draw_w", "temperature_c", "util_gpu_percent", "util_mem_percent",
          "memory_used_mb", "sm_clock_mhz", "mem_clock_mhz", "power_limit_w"]
print(f"gputel collect (1 s, 30 s) and nvidia-smi -lms 1000 at the same time: "
      f"{len(rows)} gputel rows, {len(smi)} nvidia-smi lines, {len(pairs)} pairs within 0.5 s\n")
print("| field | gputel median | nvidia-smi median | median abs. difference | max abs. difference |")
print("|---|---|---|---|---|")
for f in fields:
    d = [(num(r[f]), s[f]) for r, s in pairs if num(r[f]) is not None and s[f] is not None]
    if not d:
        print(f"| {f} | – | – | – | – |")
        continue
    diffs = [abs(a - b) for a, b in d]
    print(f"| {f} | {statistics.median(a for a, _ in d):g} | {statistics.median(b for _, b in d):g} "
          f"| {statistics.median(diffs):g} | {max(diffs):g} |")

fast = list(csv.DictReader(open(glob.glob(f"{out}/fast/*.csv")[0])))
ticks = {}
for r in fast:
    ticks[r["seq"]] = float(r["gpu_sample_ms"])
g = sorted(ticks.values())
inv = [tuple(map(float, l.split())) for l in open(f"{out}/smi-invocation.txt") if l.strip()]
wall = statistics.median(x[0] for x in inv) * 1000
cpu = statistics.median(x[1] + x[2] for x in inv) * 1000
print(f"\nOne NVML tick (all GPUs, every field; gputel at 10 ms for 10 s under load, {len(g)} ticks): "
      f"median {statistics.median(g):.3f} ms, p99 {g[int(len(g) * 0.99) - 1]:.3f} ms, max {g[-1]:.3f} ms.")
print(f"One `nvidia-smi --query-gpu` invocation (20 runs): median wall {wall:.1f} ms, "
      f"median CPU {cpu:.1f} ms; ratio wall/NVML tick = {wall / statistics.median(g):.0f}x.")
for log in ("collect.log", "fast.log", "smiback.log"):
    txt = open(f"{out}/{log}").read()
    m = re.search(r"collect: stopped after .*", txt)
    print(f"\n`{log}`: {m.group(0) if m else txt[-300:]}")
sb = list(csv.DictReader(open(glob.glob(f"{out}/smiback/*.csv")[0])))
print(f"\nnvidia-smi fallback on the real driver: {len(sb)} rows, backend "
      f"{sorted(set(r['backend'] for r in sb))}, power_draw_w of the last row {sb[-1]['power_draw_w']}")
