"""Learning benchmark: Mario 1-1 with the default config for a wall-clock budget, then greedy eval.

Runs `muzero-lite run` (default workers) on an empty run folder for --minutes, keeping every
checkpoint; then evaluates, with 20 greedy games from seeded random no-op starts each, the
first checkpoints at or past every --curve-every minutes (or every --every-steps training steps)
and the last one, and a random agent on the same emulator with the same no-op starts. Prints the
curve (also written as CSV), then the final eval's mean and max max-x, flags and distinct
trajectories beside the random agent's.

    .venv/bin/python benchmarks/learn_mario.py [--minutes 60] [--seed 0] [--config configs/mario.yaml] [--run-dir DIR]

--run-only and --eval-only split the two phases (the eval uses one core, so two seeds' evals can
share the machine after their runs, which each had it alone).
"""
from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

from common import (KEEP_ALL_CHECKPOINTS, ROOT, eval_checkpoint, eval_random, muzero_run, run_networks,
                    stop_on_signals, write_run_config)
from muzero_lite.checkpoints import list_checkpoints
from muzero_lite.evaluate import format_table
from muzero_lite.networks import configure_torch


def run_loop(cfg_path: Path, run_dir: Path, minutes: float, workers) -> float:
    """`muzero-lite run` for `minutes`; returns its start time. Its output goes to run_dir/run.log."""
    start, shown = time.time(), 0
    with muzero_run(cfg_path, run_dir, workers) as proc:
        while time.time() - start < minutes * 60 and proc.poll() is None:
            time.sleep(1)
            elapsed = (time.time() - start) / 60
            if elapsed >= shown + 1:            # one progress line a minute
                shown = int(elapsed)
                ck = list_checkpoints(run_dir / "checkpoints")
                print(f"  {elapsed:5.1f} / {minutes:.0f} min, newest checkpoint step {ck[0][0] if ck else '-'}", flush=True)
    return start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "mario.yaml")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--curve-every", type=float, default=10.0, help="minutes between evaluated checkpoints")
    ap.add_argument("--every-steps", type=int, default=0,
                    help="evaluate the first checkpoint at or past every N training steps instead of every "
                         "--curve-every minutes (compares runs on machines of different speeds)")
    ap.add_argument("--games", type=int, default=20)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0, help="the run's seed (config seed)")
    ap.add_argument("--run-dir", type=Path, default=None, help="default: a new temporary folder")
    ap.add_argument("--eval-only", action="store_true", help="skip the run; evaluate the run folder's checkpoints")
    ap.add_argument("--run-only", action="store_true", help="stop after the run (evaluate later with --eval-only)")
    ap.add_argument("--csv", type=Path, default=None, help="default: benchmarks/out/learn_mario_seed<seed>.csv")
    args = ap.parse_args()
    if args.curve_every <= 0 or args.every_steps < 0:
        ap.error(f"--curve-every must be > 0 and --every-steps >= 0, got {args.curve_every} and {args.every_steps}")
    stop_on_signals()
    configure_torch(threads=1)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="learn_mario_"))
    run_dir.mkdir(parents=True, exist_ok=True)
    if not args.eval_only:
        cfg_path = write_run_config(args.config, run_dir, {**KEEP_ALL_CHECKPOINTS, "env": {"levels": ["1-1"]},
                                                           "seed": args.seed})
        print(f"run folder {run_dir}; running {args.minutes:.0f} min", flush=True)
        start = run_loop(cfg_path, run_dir, args.minutes, args.workers)
        (run_dir / "start_time").write_text(str(start))
        if args.run_only:
            print(f"run done; evaluate with: --eval-only --run-dir {run_dir}")
            return
    start = float((run_dir / "start_time").read_text())
    cfg, net = run_networks(run_dir)
    ckpts = sorted(list_checkpoints(run_dir / "checkpoints"))                       # oldest first
    if not ckpts:
        sys.exit("no checkpoint was written: see run.log in the run folder")
    minutes = [(path.stat().st_mtime - start) / 60 for _, path in ckpts]
    picked = pick_checkpoints([step for step, _ in ckpts], minutes, args.curve_every, args.every_steps)
    rows = []
    for i in picked:
        step, path = ckpts[i]
        minute = minutes[i]
        row = eval_checkpoint(cfg, net, path, step, args.games)
        row.update(minute=round(minute, 1), step=step)
        rows.append(row)
        print(f"  {minute:5.1f} min  step {step:6d}  eval mean max-x {row['mean_max_x']:7.1f}  max {row['max_max_x']}"
              f"  flags {row['flags']}  distinct {row['distinct']}", flush=True)
    rand = eval_random(cfg, net, args.games)
    args.csv = args.csv or ROOT / "benchmarks" / "out" / f"learn_mario_seed{cfg.seed}.csv"
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["seed", "minute", "step", "mean_max_x", "max_max_x", "flags", "distinct",
                                          "mean_return", "random_mean_max_x"])
        w.writeheader()
        w.writerows({**{k: r[k] for k in w.fieldnames[1:-1]}, "seed": cfg.seed,
                     "random_mean_max_x": rand["mean_max_x"]} for r in rows)
    final = rows[-1]
    print(f"\ncurve written to {args.csv}; run folder {run_dir}")
    print(format_table([final, rand], True))
    print(f"after {final['minute']:.1f} min (step {final['step']}): eval mean max-x {final['mean_max_x']:.1f} "
          f"(max {final['max_max_x']}, flags {final['flags']}/{args.games}, {final['distinct']} distinct) vs random agent "
          f"{rand['mean_max_x']:.1f} (max {rand['max_max_x']})")


def pick_checkpoints(steps: list[int], minutes: list[float], curve_every: float, every_steps: int = 0) -> list[int]:
    """Indices of the checkpoints to evaluate (steps and minutes oldest first): the first one at or past
    every `every_steps` training steps when that is not 0, else every `curve_every` run minutes; the last
    checkpoint always."""
    marks, every = (steps, every_steps) if every_steps else (minutes, curve_every)
    if every <= 0:
        raise ValueError(f"the evaluation interval must be > 0, got {every}")
    picked, mark = [], every
    for i, m in enumerate(marks):
        if m >= mark:
            picked.append(i)
            while mark <= m:                   # one pick per interval, even after a gap
                mark += every
    if not picked or picked[-1] != len(steps) - 1:
        picked.append(len(steps) - 1)
    return picked


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("learn_mario: stopped (the run was stopped with it; its folder keeps what it wrote)")
