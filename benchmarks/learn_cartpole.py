"""Learning benchmark: wall-clock seconds until CartPole-v1's greedy eval mean first reaches 475.

For each seed, one after another: `muzero-lite run` on an empty run folder with the shipped
config (default workers: fits the machine), while this script (at low CPU priority, so it takes
little from the run) evaluates every new checkpoint that is at least --eval-every seconds newer
than the last one evaluated, with 20 greedy episodes. The time of a point is when its checkpoint
was written (seconds after the run started); env moves are the self-play moves written by then.
An eval stops early once 475 is out of reach. Prints each seed's time, the curve as CSV, and the
median and worst last.

    .venv/bin/python benchmarks/learn_cartpole.py [--seeds 0 1 2] [--budget 600] [--config configs/cartpole.yaml]
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from muzero_lite.checkpoints import list_checkpoints, load_checkpoint  # noqa: E402
from muzero_lite.config import load_config  # noqa: E402
from muzero_lite.envs import make_env  # noqa: E402
from muzero_lite.gamefile import list_game_files, read_game  # noqa: E402
from muzero_lite.selfplay import build_networks, play_game  # noqa: E402

TARGET = 475.0
EPISODES = 20


def eval_mean(cfg, networks, step: int, seed: int) -> float:
    """Mean greedy return over EPISODES, or a value below TARGET as soon as TARGET is out of reach."""
    env = make_env(cfg.env, seed)
    rng = np.random.default_rng(seed)
    total = 0.0
    try:
        for i in range(EPISODES):
            rec, _ = play_game(env, networks, cfg, rng, training_step=step, greedy=True, render=False)
            total += rec.meta["return"]
            if total + (EPISODES - i - 1) * cfg.env.max_moves < TARGET * EPISODES:
                return total / (i + 1) if total / (i + 1) < TARGET else TARGET - 1e-3
    finally:
        env.close()
    return total / EPISODES


class MoveCounter:
    """Self-play moves written by a given time, from the game files' lengths and mtimes."""

    def __init__(self, folder: Path):
        self.folder, self.seen, self.stamps = folder, set(), []

    def moves_by(self, t: float) -> int:
        for p in list_game_files(self.folder):
            if p.name not in self.seen:
                self.seen.add(p.name)
                try:
                    self.stamps.append((p.stat().st_mtime, read_game(p).length))
                except (OSError, ValueError):
                    pass
        return sum(n for m, n in self.stamps if m <= t)


def _normal_priority() -> None:
    """In the child: undo this script's nice(10), so the measured run gets normal priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass


def one_seed(config: Path, seed: int, budget: float, eval_every: float, workers, rows: list) -> tuple:
    """Run one seed until TARGET or budget; returns (seconds, env moves) or (None, moves at the end)."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"learn_cartpole_{seed}_"))
    data = yaml.safe_load(config.read_text())
    data["seed"] = seed
    data.setdefault("train", {})["keep_checkpoints"] = 1000
    cfg_path = run_dir / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(data))
    cfg = load_config(cfg_path)
    argv = [sys.executable, "-m", "muzero_lite", "run", "--config", str(cfg_path), "--run-dir", str(run_dir)]
    if workers:
        argv += ["--workers", str(workers)]
    log = open(run_dir / "run.log", "w")
    start = time.time()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=_normal_priority)
    env = make_env(cfg.env, 0)
    networks = build_networks(cfg, env).eval()
    env.close()
    counter = MoveCounter(run_dir / cfg.paths.games)
    last_t, result = -1e9, (None, 0)
    try:
        while time.time() - start < budget:
            ckpts = list_checkpoints(run_dir / cfg.paths.checkpoints)
            todo = None
            for step, path in ckpts:               # newest first
                try:
                    t = path.stat().st_mtime - start
                except FileNotFoundError:
                    continue
                if t - last_t >= eval_every:
                    todo = (step, path, t)
                break
            if todo is None:
                time.sleep(1.0)
                continue
            step, path, t = todo
            try:
                networks.load_state_dict(load_checkpoint(path)["networks"])
            except Exception:
                continue
            last_t = t
            mean = eval_mean(cfg, networks, step, seed + 12345)
            moves = counter.moves_by(start + t)
            rows.append({"seed": seed, "seconds": round(t, 1), "step": step, "env_moves": moves, "eval_mean": round(mean, 1)})
            print(f"  seed {seed}: t {t:6.1f} s  step {step:5d}  env moves {moves:7d}  eval mean {mean:6.1f}", flush=True)
            if mean >= TARGET:
                result = (t, moves)
                break
        else:
            result = (None, counter.moves_by(time.time()))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "cartpole.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budget", type=float, default=600.0, help="seconds per seed before it counts as a failure")
    ap.add_argument("--eval-every", type=float, default=10.0, help="seconds between evaluated checkpoints")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "out" / "learn_cartpole.csv")
    args = ap.parse_args()
    os.nice(10)                      # the run being measured gets the CPU first
    torch.set_num_threads(1)
    rows, results = [], []
    for seed in args.seeds:
        print(f"seed {seed}: running (budget {args.budget:.0f} s)", flush=True)
        secs, moves = one_seed(args.config, seed, args.budget, args.eval_every, args.workers, rows)
        results.append((seed, secs, moves))
        print(f"seed {seed}: " + (f"reached {TARGET:.0f} at {secs:.1f} s after {moves} env moves" if secs is not None
                                  else f"did not reach {TARGET:.0f} within {args.budget:.0f} s ({moves} env moves)"), flush=True)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["seed", "seconds", "step", "env_moves", "eval_mean"])
        w.writeheader()
        w.writerows(rows)
    times = [s if s is not None else float("inf") for _, s, _ in results]
    print(f"\ncurve written to {args.csv}")
    for seed, secs, moves in results:
        print(f"seed {seed}: {'%.1f s' % secs if secs is not None else 'FAILED'}  ({moves} env moves)")
    print(f"median seconds to eval mean >= {TARGET:.0f}: {np.median(times):.1f}")
    print(f"worst seed: {max(times):.1f} s (budget {args.budget:.0f} s)")


if __name__ == "__main__":
    main()
