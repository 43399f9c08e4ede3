#!/usr/bin/env python3
"""CPU per tick, peak RSS and tick jitter of `gputel collect`, side by side
with the guide's approach (one `nvidia-smi --query-gpu` run per tick).

Runs `gputel collect` on 8 simulated GPUs (build/libnvidia-ml-sim.so) with
each host fixture, at 1 s for 60 s and at 10 ms for 10 s, BENCH_REPS times
each, and reports medians.  Per run it records:
  - total CPU (user+sys, from wait4's rusage of that very process) / ticks,
    start-up included;
  - the steady-state CPU per tick that gputel measures with
    CLOCK_PROCESS_CPUTIME_ID over ticks 2..N (start-up excluded);
  - peak RSS (VmHWM, as gputel reports it at exit);
  - tick lateness p50/p99/max (wake-up time minus due time, from gputel's
    closing line).
The peer: the fake nvidia-smi (same scenario, 8 GPUs) started once per tick
from bash, as gpu_telemetry.sh does; CPU per invocation includes bash's fork.
The fake does no driver work, so this is a lower bound of what forking costs.

Usage: bench/collect_cost.py [--quick]   (env: BENCH_REPS, default 3)
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
GPUTEL = os.path.join(BUILD, "gputel")
SUMMARY = re.compile(
    r"stopped after (\d+) ticks \((\d+) skipped\); (\d+) rows .* (\d+) dropped; "
    r"tick lateness p50 (\d+) us, p99 (\d+) us, max (\d+) us; "
    r"cpu per tick ([\d.]+) us, peak rss (\d+) KiB")


def env_for(fixture, gpus=8):
    e = dict(os.environ)
    e.update({
        "GPUTEL_NVML_LIBRARY": os.path.join(BUILD, "libnvidia-ml-sim.so"),
        "GPUTEL_SIM_GPUS": str(gpus),
        "GPUTEL_SIM_SCENARIO": os.path.join(ROOT, "sim/scenarios/steady.scn"),
        "GPUTEL_SYSFS_ROOT": os.path.join(ROOT, "tests/fixtures", fixture, "sys"),
        "GPUTEL_PROCFS_ROOT": os.path.join(ROOT, "tests/fixtures", fixture, "proc"),
        "PATH": os.path.join(BUILD, "fake-smi") + ":" + e.get("PATH", ""),
    })
    e.pop("GPUTEL_GPU_BACKEND", None)
    return e


def run_measured(argv, env, stdout=subprocess.DEVNULL):
    """Runs argv; returns (rusage of that process, stderr text, wall seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE)
    err = p.stderr.read().decode()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"bench: {argv[0]} failed ({p.returncode}): {err[-500:]}")
    return ru, err, time.monotonic() - t0


def gputel_run(fixture, interval, duration):
    with tempfile.TemporaryDirectory() as out:
        ru, err, wall = run_measured(
            [GPUTEL, "collect", "--out-dir", out, "--interval", str(interval),
             "--duration", str(duration)], env_for(fixture))
    m = SUMMARY.search(err)
    if not m:
        sys.exit("bench: no summary line in gputel's output:\n" + err)
    ticks = int(m.group(1))
    cpu_total_us = (ru.ru_utime + ru.ru_stime) * 1e6
    return {
        "ticks": ticks, "skipped": int(m.group(2)), "dropped": int(m.group(4)),
        "late_p50_us": int(m.group(5)), "late_p99_us": int(m.group(6)),
        "late_max_us": int(m.group(7)),
        "cpu_per_tick_steady_us": float(m.group(8)),
        "cpu_per_tick_total_us": cpu_total_us / ticks,
        # gputel's own VmHWM: wait4's ru_maxrss would include the pages of
        # this Python process, which the child had until its exec.
        "peak_rss_kib": int(m.group(9)),
    }


def smi_run(ticks):
    fields = ("timestamp,power.draw,temperature.gpu,utilization.gpu,"
              "utilization.memory,memory.used,fan.speed")
    script = (f"for ((i = 0; i < {ticks}; i++)); do nvidia-smi --query-gpu={fields} "
              "--format=csv,noheader,nounits >/dev/null; done")
    ru, _, wall = run_measured(["bash", "-c", script], env_for("intel"))
    return {"cpu_per_tick_us": (ru.ru_utime + ru.ru_stime) * 1e6 / ticks,
            "wall_per_tick_us": wall * 1e6 / ticks}


def floor_run(interval, ticks):
    """CPU per tick of an empty timerfd loop at the same interval (bench/tick_floor.c)."""
    r = subprocess.run([os.path.join(BUILD, "bench", "tick_floor"), str(int(interval * 1e9)),
                        str(ticks)], capture_output=True, text=True, check=True)
    return float(r.stdout)


def med(runs, key):
    return statistics.median(r[key] for r in runs)


def main():
    quick = "--quick" in sys.argv
    reps = int(os.environ.get("BENCH_REPS", "1" if quick else "3"))
    configs = [(1, 6 if quick else 60), (0.01, 2 if quick else 10)]
    results = {"reps": reps, "gputel": {}, "nvidia_smi_per_tick": [], "floor": {}}
    for interval, duration in configs:
        ticks = min(int(duration / interval), 10 if interval >= 1 else 1000)
        results["floor"][interval] = [floor_run(interval, ticks) for _ in range(reps)]
    for fixture in ("intel", "amd"):
        for interval, duration in configs:
            runs = [gputel_run(fixture, interval, duration) for _ in range(reps)]
            results["gputel"][f"{fixture} {interval}s x {duration}s"] = runs
    results["nvidia_smi_per_tick"] = [smi_run(60) for _ in range(reps)]

    smi_cpu = med(results["nvidia_smi_per_tick"], "cpu_per_tick_us")
    smi_wall = med(results["nvidia_smi_per_tick"], "wall_per_tick_us")
    print(f"gputel collect, 8 simulated GPUs, medians of {reps} runs\n")
    print("| host fixture, interval x duration | ticks | CPU/tick steady (µs) | empty-tick floor (µs) | "
          "CPU/tick incl. start-up (µs) | peak RSS (KiB) | lateness p50 / p99 / max (µs) | skipped |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, runs), (interval, _) in zip(results["gputel"].items(), configs * 2):
        floor = statistics.median(results["floor"][interval])
        print(f"| {name} | {med(runs, 'ticks'):.0f} | {med(runs, 'cpu_per_tick_steady_us'):.1f} | "
              f"{floor:.1f} | "
              f"{med(runs, 'cpu_per_tick_total_us'):.1f} | {med(runs, 'peak_rss_kib'):.0f} | "
              f"{med(runs, 'late_p50_us'):.0f} / {med(runs, 'late_p99_us'):.0f} / "
              f"{med(runs, 'late_max_us'):.0f} | {med(runs, 'skipped'):.0f} |")
    print(f"\nPeer, same run: one fake `nvidia-smi --query-gpu` per tick from bash (8 GPUs): "
          f"CPU {smi_cpu:.0f} µs, wall {smi_wall:.0f} µs per tick (median of {reps}).")
    for name, runs in results["gputel"].items():
        print(f"- {name}: the per-tick nvidia-smi spawn costs "
              f"{smi_cpu / med(runs, 'cpu_per_tick_steady_us'):.0f}x gputel's steady CPU per tick")
    results["floor"] = {str(k): v for k, v in results["floor"].items()}
    with open(os.path.join(BUILD, "bench-collect.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nraw figures: {os.path.join(BUILD, 'bench-collect.json')}")


if __name__ == "__main__":
    main()
