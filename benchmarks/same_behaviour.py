"""Same seeded games and same trainer weights, bit for bit, from two checkouts of the package.

A reorganisation that is meant to change no behaviour is checked with this script: it makes a git
worktree of --base, runs the same commands with that checkout's package and with this one's, each
with its own configs/, and compares every array of every game file and every tensor of every
checkpoint. It prints one line per comparison and exits 1 if anything differs.

    .venv/bin/python benchmarks/same_behaviour.py --base HEAD~1

The commands: CartPole 30 games, 120 training steps, 5 games with the newest checkpoint (as
docs/experiments.md has checked every redesign); Mario 2 games, 20 training steps, 1 game with the
newest checkpoint. Each checkout runs its own configs/*.yaml with the trainer set to train freely
(train.replay_ratio 0: the steps asked for, not the ratio's share of so few games) and, for Mario,
small enough to start at once (min_buffer_moves 200, a checkpoint every 10 steps, random_games 2).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from common import worktree, write_run_config

REPO = Path(__file__).resolve().parents[1]
CARTPOLE = [
    ["selfplay", "--games", "30", "--seed", "5"],
    ["train", "--steps", "120"],
    ["selfplay", "--games", "5", "--seed", "6", "--worker", "w1"],
]
MARIO = [
    ["selfplay", "--games", "2", "--seed", "3"],
    ["train", "--steps", "20"],
    ["selfplay", "--games", "1", "--seed", "4", "--worker", "w1"],
]
# what each game's config changes (`common.write_run_config`: a dict updates a section)
CHANGES = {"cartpole": {"train": {"replay_ratio": 0}},
           "mario": {"train": {"replay_ratio": 0, "min_buffer_moves": 200, "checkpoint_interval": 10},
                     "selfplay": {"random_games": 2}}}


def run_commands(checkout: Path, game: str, run_dir: Path, commands: list[list[str]]) -> None:
    """Run `python -m muzero_lite CMD --config <game's> --run-dir run_dir` for each command with checkout's package."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    folder = run_dir.parent / f"{run_dir.name}_config"
    folder.mkdir(parents=True, exist_ok=True)
    config = write_run_config(checkout / "configs" / f"{game}.yaml", folder, CHANGES[game])
    for cmd in commands:
        subprocess.run([sys.executable, "-m", "muzero_lite", *cmd, "--config", str(config), "--run-dir", str(run_dir)],
                       cwd=checkout, env=env, check=True, stdout=subprocess.DEVNULL)


def game_arrays(run_dir: Path) -> list[dict[str, np.ndarray]]:
    """Every game file's arrays (meta left out: it names the time and the process), in file order."""
    games = []
    for path in sorted((run_dir / "games").glob("game-*.npz")):
        with np.load(path, allow_pickle=False) as z:
            games.append({k: z[k] for k in z.files if k != "meta"})
    return games


def checkpoint_tensors(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Each checkpoint's weights, eval weights and Adam moments, flattened to name -> tensor, by file name."""
    out = {}
    for path in sorted((run_dir / "checkpoints").glob("checkpoint-*.pt")):
        payload = torch.load(path, map_location="cpu", weights_only=True)
        flat = {}
        for part in ("networks", "eval_networks", "optimizer"):
            state = payload.get(part) or {}
            if part == "optimizer":                # Adam's moments: [param index][exp_avg, exp_avg_sq, step]
                state = {f"{i}/{k}": v for i, moments in state.get("state", {}).items()
                         for k, v in moments.items() if isinstance(v, torch.Tensor)}
            for name, t in state.items():
                flat[f"{part}/{name}"] = t
        out[path.name] = flat
    return out


def compare(label: str, a: Path, b: Path) -> int:
    """Print what differs between two run folders; returns the number of differences."""
    ga, gb = game_arrays(a), game_arrays(b)
    diffs = 0 if len(ga) == len(gb) else 1
    arrays = 0
    for x, y in zip(ga, gb):
        for k in sorted(set(x) | set(y)):
            arrays += 1
            if k not in x or k not in y or x[k].shape != y[k].shape or not np.array_equal(x[k], y[k]):
                diffs += 1
    moves = sum(len(g["actions"]) for g in ga if "actions" in g)
    print(f"{label}: {len(ga)} / {len(gb)} games, {moves} moves, {arrays} arrays compared, "
          f"{diffs} differ")
    ca, cb = checkpoint_tensors(a), checkpoint_tensors(b)
    for name in sorted(set(ca) | set(cb)):
        if name not in ca or name not in cb:
            print(f"{label}: {name} only in one run")
            diffs += 1
            continue
        keys = set(ca[name]) | set(cb[name])
        worst = 0.0
        for k in keys:
            if k not in ca[name] or k not in cb[name] or ca[name][k].shape != cb[name][k].shape:
                worst = float("inf")
                break
            worst = max(worst, float((ca[name][k].float() - cb[name][k].float()).abs().max()))
        diffs += worst != 0.0
        print(f"{label}: {name}: {len(keys)} tensors, max |difference| {worst}")
    return diffs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="git revision to compare this checkout against")
    p.add_argument("--skip-mario", action="store_true", help="CartPole only (no emulator)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="same_behaviour_") as tmp:
        tmp = Path(tmp)
        with worktree(args.base, tmp / "base") as base:
            diffs = 0
            suites = [("cartpole", CARTPOLE)] + ([] if args.skip_mario else [("mario", MARIO)])
            for label, commands in suites:
                for name, checkout in (("base", base), ("this", REPO)):
                    run_commands(checkout, label, tmp / f"{label}_{name}", commands)
                diffs += compare(label, tmp / f"{label}_base", tmp / f"{label}_this")
    print("identical" if diffs == 0 else f"{diffs} differences")
    return 0 if diffs == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
