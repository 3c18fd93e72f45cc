"""Core-seconds per learned move: self-play CPU per env move + trainer CPU per env move, two checkouts side by side.

For each checkout (a folder holding muzero_lite/, e.g. a git worktree of an older commit, and this
one), through its own command line so that any version can be measured:
  self-play: `muzero-lite selfplay --games G` with the seed run's games and a checkpoint of the
    checkout's own (110 steps on those games) in the run folder (so the networks play, not the uniform
    model of the first games); CPU seconds (user + system, from the finished child) over the env moves
    in the game files it wrote, less the CPU of the same command with --games 0 (start-up).
  trainer: `muzero-lite train` on a folder of those games, run for S steps and for S/3 steps: the
    CPU of the difference over its steps (a step's cost in a long run: start-up and the first steps'
    one-time warm-up, ~0.8 s of oneDNN set-up, cancel out; before 2026-11-30 (late) it was the CPU of S
    steps less that of --steps 0), times the env moves one step stands for at the config's replay
    ratio: batch_size / train.replay_ratio (a step trains batch_size samples; the ratio is samples per move).
core-seconds per learned move = self-play CPU per move + trainer CPU per step * replay_ratio / batch_size.
The checkouts are measured alternately, --rounds times, and each figure is the median; the last line
is the ratio of each checkout's figure to the first one's.

    .venv/bin/python benchmarks/core_seconds.py --checkouts /tmp/before . [--config configs/mario.yaml]
        [--games 6] [--steps 120] [--rounds 3] [--set selfplay.envs=8]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from common import ROOT

from muzero_lite.config import load_config
from muzero_lite.data.gamefile import list_game_files, read_game


def child_cpu(argv: list[str], cwd: Path) -> float:
    """CPU seconds (user + system) of one command run to its end as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if done.returncode:
        sys.exit(f"core_seconds: {' '.join(argv[2:])} in {cwd} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def seed_checkpoints(checkout: Path, config: Path, seed_run: Path) -> Path:
    """A checkpoints/ folder for this checkout and config: 110 steps trained on the seed run's games
    (its own networks: a --set that changes their shapes cannot play the seed run's checkpoint)."""
    run = Path(tempfile.mkdtemp(prefix="core_seconds_ckpt_"))
    shutil.copytree(seed_run / "games", run / "games")
    child_cpu([sys.executable, "-m", "muzero_lite", "train", "--config", str(config), "--run-dir", str(run),
               "--steps", "110"], checkout)
    return run / "checkpoints"


def measure(checkout: Path, config: Path, seed_run: Path, games: int, steps: int, checkpoints: Path) -> dict:
    """One round in one checkout: self-play and trainer CPU per env move (see the module doc)."""
    cmd = [sys.executable, "-m", "muzero_lite"]
    work = Path(tempfile.mkdtemp(prefix="core_seconds_"))
    try:
        play = work / "play"
        shutil.copytree(checkpoints, play / "checkpoints")
        # the seed games too: past selfplay.random_games, so that the networks play, not the uniform model
        shutil.copytree(seed_run / "games", play / "games")
        seeded = set(list_game_files(play / "games"))
        start = child_cpu(cmd + ["selfplay", "--config", str(config), "--run-dir", str(play), "--games", "0"], checkout)
        cpu = child_cpu(cmd + ["selfplay", "--config", str(config), "--run-dir", str(play), "--games", str(games)], checkout)
        moves = sum(read_game(p).length for p in list_game_files(play / "games") if p not in seeded)
        train = work / "train"
        shutil.copytree(seed_run / "games", train / "games")
        few = steps // 3
        t_cpu = {}
        for n in (few, steps):
            shutil.rmtree(train / "checkpoints", ignore_errors=True)     # each run starts at step 0
            t_cpu[n] = child_cpu(cmd + ["train", "--config", str(config), "--run-dir", str(train), "--steps", str(n)], checkout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"selfplay_per_move": (cpu - start) / moves, "train_per_step": (t_cpu[steps] - t_cpu[few]) / (steps - few),
            "moves": moves}


def seed_run(config: Path, games: int) -> Path:
    """A run folder with games enough to train on, made by this checkout."""
    run = Path(tempfile.mkdtemp(prefix="core_seconds_seed_"))
    cmd = [sys.executable, "-m", "muzero_lite"]
    cfg = load_config(config)
    while sum(read_game(p).length for p in list_game_files(run / "games")) < cfg.train.min_buffer_moves + 1:
        child_cpu(cmd + ["selfplay", "--config", str(config), "--run-dir", str(run), "--games", str(games)], ROOT)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkouts", type=Path, nargs="+", required=True, help="folders holding muzero_lite/")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "mario.yaml")
    ap.add_argument("--games", type=int, default=6)
    ap.add_argument("--steps", type=int, default=120, help="trainer steps of the long run (the short one: a third)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed-run", type=Path, default=None,
                    help="a run folder with games to use (default: made first, then deleted)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="config values for the newest checkout only (the last of --checkouts), e.g. selfplay.envs=8")
    args = ap.parse_args()
    cfg = load_config(args.config)
    rr, batch = cfg.train.replay_ratio, cfg.train.batch_size
    if not rr:
        ap.error(f"{args.config}: train.replay_ratio is 0; core-seconds per learned move needs a replay ratio")
    checkouts = [c.resolve() for c in args.checkouts]
    # each checkout reads the config of the same name in its own tree (key names change between versions)
    name = args.config.resolve().relative_to(ROOT)
    configs = {c: (c / name if (c / name).is_file() else args.config.resolve()) for c in checkouts}
    if args.set:
        data = yaml.safe_load(configs[checkouts[-1]].read_text())
        for item in args.set:
            key, value = item.split("=", 1)
            section, name = key.split(".")
            data.setdefault(section, {})[name] = yaml.safe_load(value)
        newest = Path(tempfile.mkdtemp(prefix="core_seconds_cfg_")) / "config.yaml"
        newest.write_text(yaml.safe_dump(data))
        configs[checkouts[-1]] = newest
    if args.seed_run:
        run = args.seed_run
    else:
        print(f"making a seed run folder with {args.config} ...", flush=True)
        run = seed_run(args.config.resolve(), args.games)
    ckpts = {c: seed_checkpoints(c, configs[c], run) for c in checkouts}
    rows = {c: [] for c in checkouts}
    for r in range(args.rounds):
        for c in (checkouts if r % 2 == 0 else checkouts[::-1]):
            m = measure(c, configs[c], run, args.games, args.steps, ckpts[c])
            core = m["selfplay_per_move"] + m["train_per_step"] * rr / batch
            rows[c].append((m["selfplay_per_move"], m["train_per_step"], core))
            print(f"round {r} {c}: self-play {1000 * m['selfplay_per_move']:.2f} ms/move ({m['moves']} moves), "
                  f"trainer {1000 * m['train_per_step']:.1f} ms/step -> {1000 * core:.2f} core-ms per learned move",
                  flush=True)
    if not args.seed_run:
        shutil.rmtree(run, ignore_errors=True)
    for folder in ckpts.values():
        shutil.rmtree(folder.parent, ignore_errors=True)
    print(f"\nreplay ratio {rr:g} samples a move, batch {batch}: a step stands for {batch / rr:g} moves")
    print(f"{'checkout':40s} {'self-play ms/move':>18} {'trainer ms/step':>16} {'core-ms/learned move':>21} {'x first':>8}")
    first = None
    for c in checkouts:
        sp, tr, core = (float(np.median([row[i] for row in rows[c]])) for i in range(3))
        first = core if first is None else first
        print(f"{str(c)[-40:]:40s} {1000 * sp:18.2f} {1000 * tr:16.1f} {1000 * core:21.2f} {core / first:8.2f}")


if __name__ == "__main__":
    main()
