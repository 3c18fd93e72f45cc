"""How well `muzero-lite run` fills the machine: env moves/s and the cores kept busy, by checkout, side by side.

Starts `python -m muzero_lite run` on a fresh folder for --seconds (the config's own plan: workers,
trainer threads and batch as that checkout decides them), and measures over the steady part of the
run (from the trainer's first status row --skip seconds or more after the start): env moves/s from the
trainer's train_metrics.csv, and the share of the cores this script may use (taskset is respected) that the
run's processes kept busy (by process: trainer, self-play, the supervisor), from their CPU time in
/proc (a process that waits sleeps, so waits and polls count as idle), over that window and over the
whole run. With --base REV the same is run with a git worktree of REV (its own configs/), alternating
with this checkout round by round, and the ratio of moves/s is printed: a machine whose speed drifts
slows both alike.

    .venv/bin/python benchmarks/run_balance.py [--config configs/mario.yaml] [--seconds 180] [--skip 60]
        [--base REV] [--rounds 1] [--set train.batch_size=128 ...] [--workers N] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from common import ROOT, parse_sets, print_columns, process_tree, stop_on_signals, worktree, write_run_config

from muzero_lite.reporting.metrics import TRAIN_CSV, cell_number, read_rows

TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root_pid: int) -> dict[str, float]:
    """User + system CPU seconds of root_pid and every process below it now alive (from /proc), by role:
    "run" (the supervisor), "train", "selfplay" (all workers) and "all"."""
    out = {"run": 0.0, "train": 0.0, "selfplay": 0.0, "all": 0.0}
    for pid in process_tree(root_pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline") as f:
                argv = f.read().split("\0")
        except (OSError, IndexError, ValueError):
            continue
        seconds = (int(fields[11]) + int(fields[12])) / TICKS       # utime, stime (fields 14 and 15 of stat)
        role = next((r for r in ("selfplay", "train") if r in argv), "run")
        out[role] += seconds
        out["all"] += seconds
    return out


def one_run(checkout: Path, config: Path, changes: dict, folder: Path, seconds: float, skip: float,
            workers: int | None) -> dict:
    """One run of `seconds` from checkout's package on a fresh folder; its steady-window figures."""
    folder.mkdir(parents=True)
    cfg_path = write_run_config(config, folder, changes)
    argv = [sys.executable, "-m", "muzero_lite", "run", "--config", str(cfg_path), "--run-dir", str(folder),
            "--status-every", "10"] + (["--workers", str(workers)] if workers else [])
    samples = []                                          # (time, cpu seconds of the tree by role)
    with open(folder / "run.log", "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=checkout,
                                env=dict(os.environ, PYTHONPATH=str(checkout)))
        try:
            start = time.time()
            while time.time() - start < seconds and proc.poll() is None:
                time.sleep(2.0)
                samples.append((time.time(), tree_cpu_seconds(proc.pid)))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    rows = read_rows(folder / "checkpoints" / TRAIN_CSV)
    points = [(cell_number(r, "time"), cell_number(r, "env_moves"), cell_number(r, "train/step")) for r in rows]
    steady = [p for p in points if p[0] is not None and p[0] >= start + skip]
    if len(steady) < 2:
        raise SystemExit(f"{folder}: fewer than 2 trainer status rows after {skip:g} s (see {folder / 'run.log'})")
    (t0, m0, s0), (t1, m1, s1) = steady[0], steady[-1]
    cpu = [s for s in samples if t0 <= s[0] <= t1 + 2.0]
    cores = len(os.sched_getaffinity(0))
    if len(cpu) < 2:
        raise SystemExit(f"{folder}: no CPU figures in the window")
    span = (cpu[-1][0] - cpu[0][0]) * cores
    busy = {role: (cpu[-1][1][role] - cpu[0][1][role]) / span for role in cpu[0][1]}
    whole = samples[-1][1]["all"] / ((samples[-1][0] - start) * cores)
    pace = {}
    pace_file = folder / "checkpoints" / "pace.json"
    if pace_file.exists():
        pace = json.loads(pace_file.read_text())
    plan = next((line.strip() for line in (folder / "run.log").read_text().splitlines() if "[run] plan" in line), "")
    return {"moves_per_s": (m1 - m0) / (t1 - t0), "steps_per_s": (s1 - s0) / (t1 - t0), "busy": busy["all"],
            "busy_by_role": busy, "whole_busy": whole, "window_s": t1 - t0,
            "trainer_wait": pace.get("trainer_wait_share"), "selfplay_wait": pace.get("selfplay_wait_share"),
            "ratio": pace.get("samples", float("nan")) / max(pace.get("env_moves", 1), 1), "plan": plan}


def _share(v) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/mario.yaml", help="config, relative to each checkout")
    p.add_argument("--seconds", type=float, default=180.0, help="length of each run")
    p.add_argument("--skip", type=float, default=0.0, help="seconds left out at each run's start (default: none; "
                                                            "the window starts at the trainer's first status row)")
    p.add_argument("--base", default=None, help="git revision to run side by side with this checkout")
    p.add_argument("--rounds", type=int, default=1, help="runs of each checkout, alternating")
    p.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE", help="config changes (both checkouts)")
    p.add_argument("--workers", type=int, default=None, help="--workers of each run (default: the run's own)")
    p.add_argument("--keep", type=Path, default=None, help="make the run folders in this (new) folder and keep them")
    args = p.parse_args()
    stop_on_signals()
    changes = parse_sets(args.set)
    print(f"{len(os.sched_getaffinity(0))} cores; {args.config} {args.set or ''}; {args.seconds:g} s runs, "
          f"the first {args.skip:g} s left out", flush=True)
    with tempfile.TemporaryDirectory(prefix="run_balance_") as tmp:
        tmp = Path(tmp)
        runs = args.keep or tmp
        with worktree(args.base, tmp / "base") as base:
            checkouts = [("this", ROOT)] + ([(f"base {args.base}", base)] if base else [])
            results: dict = {name: [] for name, _ in checkouts}
            for r in range(args.rounds):
                for name, checkout in (checkouts if r % 2 == 0 else checkouts[::-1]):
                    res = one_run(checkout, checkout / args.config, changes, runs / f"{name.split()[0]}_{r}",
                                  args.seconds, args.skip, args.workers)
                    results[name].append(res)
                    print(f"round {r} {name}: {res['moves_per_s']:.1f} moves/s, {res['steps_per_s']:.1f} train steps/s, "
                          f"cores busy {100 * res['busy']:.0f}% (trainer {100 * res['busy_by_role']['train']:.0f}%, self-play "
                          f"{100 * res['busy_by_role']['selfplay']:.0f}%, run {100 * res['busy_by_role']['run']:.0f}%) "
                          f"(whole run {100 * res['whole_busy']:.0f}%), "
                          f"ratio {res['ratio']:.2f}, trainer waits {_share(res['trainer_wait'])}, self-play waits "
                          f"{_share(res['selfplay_wait'])} ({res['window_s']:.0f} s window) {res['plan']}", flush=True)
    rows = [[name, f"{median(x['moves_per_s'] for x in rs):.1f}", f"{100 * median(x['busy'] for x in rs):.0f}%",
             f"{100 * median(x['whole_busy'] for x in rs):.0f}%"]
            for name, rs in results.items()]
    print_columns(["checkout", "moves/s (median)", "cores busy (median)", "whole run"], rows)
    if args.base:
        this, other = (median(x["moves_per_s"] for x in results[n]) for n, _ in checkouts)
        print(f"this checkout makes {this / other:.2f}x the moves/s of {args.base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
