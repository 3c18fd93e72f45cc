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
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from muzero_lite.checkpoints import eval_weights, list_checkpoints, load_checkpoint  # noqa: E402
from muzero_lite.config import load_config  # noqa: E402
from muzero_lite.networks import configure_torch  # noqa: E402
from muzero_lite.envs import make_env  # noqa: E402
from muzero_lite.evaluate import evaluate, format_table  # noqa: E402
from muzero_lite.runfolder import sigterm_as_interrupt  # noqa: E402
from muzero_lite.selfplay import build_networks  # noqa: E402


def run_loop(cfg_path: Path, run_dir: Path, minutes: float, workers) -> float:
    """`muzero-lite run` for `minutes`; returns its start time. Its output goes to run_dir/run.log."""
    argv = [sys.executable, "-m", "muzero_lite", "run", "--config", str(cfg_path), "--run-dir", str(run_dir)]
    if workers:
        argv += ["--workers", str(workers)]
    start, shown = time.time(), 0
    with open(run_dir / "run.log", "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            while time.time() - start < minutes * 60 and proc.poll() is None:
                time.sleep(1)
                elapsed = (time.time() - start) / 60
                if elapsed >= shown + 1:            # one progress line a minute
                    shown = int(elapsed)
                    ck = list_checkpoints(run_dir / "checkpoints")
                    print(f"  {elapsed:5.1f} / {minutes:.0f} min, newest checkpoint step {ck[0][0] if ck else '-'}", flush=True)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
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
    # stop the run (not orphan it) on SIGTERM, and on Ctrl-C even when started in the background
    # (a shell's `cmd &` starts it with SIGINT ignored)
    sigterm_as_interrupt()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    configure_torch(threads=1)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="learn_mario_"))
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / "config.yaml"
    if not args.eval_only:
        data = yaml.safe_load(args.config.read_text())
        data.setdefault("train", {})["keep_checkpoints"] = 100000
        data["env"]["levels"] = ["1-1"]
        data["seed"] = args.seed
        cfg_path.write_text(yaml.safe_dump(data))
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
    rand = random_agent(cfg, args.games)
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


def run_networks(run_dir: Path):
    """The run folder's config and networks to load its checkpoints into (eval mode)."""
    cfg = load_config(run_dir / "config.yaml")
    env = make_env(cfg.env, 0)
    net = build_networks(cfg, env).eval()
    env.close()
    return cfg, net


def checkpoint_at(run_dir: Path, step: Optional[int] = None) -> tuple[int, Path]:
    """(step, path) of the run's checkpoint at `step` (None: the newest); ValueError naming the folder if none."""
    folder = run_dir / "checkpoints"
    found = dict(list_checkpoints(folder))
    if not found:
        raise ValueError(f"{folder}: no checkpoints")
    step = max(found) if step is None else step
    if step not in found:
        raise ValueError(f"{folder}: no checkpoint at step {step}")
    return step, found[step]


def eval_checkpoint(cfg, net, path: Path, step: int, games: int) -> dict:
    """The benchmark's eval of one checkpoint (the weights eval plays: averaged where it has them)."""
    return eval_loaded(cfg, net, eval_weights(load_checkpoint(path)), step, games)


def eval_loaded(cfg, net, weights: dict, step: int, games: int) -> dict:
    """The benchmark's eval of some weights: `games` greedy games on 1-1 from no-op starts drawn
    with a fixed seed (2024), so the same weights always give the same figures."""
    net.load_state_dict(weights)
    return evaluate(cfg, net, "1-1", games, np.random.default_rng(2024), step)


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


def random_agent(cfg, games: int) -> dict:
    """Uniformly random moves after the same seeded no-op starts; the row of the table."""
    env = make_env(cfg.env, 0)
    rng = np.random.default_rng(2024)
    xs, flags, returns, moves = [], 0, [], []
    try:
        for _ in range(games):
            noops = int(rng.integers(0, cfg.selfplay.eval_noop_max + 1))
            _, info = env.reset(rng)
            done, t, total, max_x = False, 0, 0.0, info.get("x_pos", 0)
            while not done:
                _, r, done, info = env.step(0 if t < noops else int(rng.integers(env.num_actions)))
                total += r
                t += 1
                max_x = max(max_x, info["x_pos"])
            xs.append(max_x)
            flags += bool(info.get("flag"))
            returns.append(total)
            moves.append(t)
    finally:
        env.close()
    return {"level": "random", "games": games, "mean_return": float(np.mean(returns)), "min_return": float(np.min(returns)),
            "max_return": float(np.max(returns)), "mean_max_x": float(np.mean(xs)), "max_max_x": int(np.max(xs)),
            "flags": flags, "mean_moves": float(np.mean(moves)), "distinct": games}


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("learn_mario: stopped (the run was stopped with it; its folder keeps what it wrote)")
