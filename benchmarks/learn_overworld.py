"""Learning benchmark of the original's setting: configs/mario_overworld.yaml (a random overworld level per
game), one table row per level by env moves, held-out levels (never played in self-play) as their own rows.

Each seed runs `muzero-lite run` with the replay ratio pinned (`curves.run_seeds`, as learn_mario.py), with a
curve checkpoint every --every env moves. Each curve checkpoint plays --games greedy games on every level
of env.levels and env.held_out_levels (the averaged weights, no-op starts drawn from EVAL_SEED, sticky
actions: `muzero-lite eval`'s protocol), and so does a random agent, in the same script. Each (checkpoint,
level) row is kept beside its checkpoint, so that an --eval-only stopped half-way and started again plays only
the rest. Prints mean max-x and flags per level and point, and writes <out>.csv (one row per seed, point and
level).

    .venv/bin/python benchmarks/learn_overworld.py [--moves 300000] [--every 100000] [--seeds 0]
        [--config configs/mario_overworld.yaml] [--games 20] [--root DIR] [--eval-only] [--out PREFIX]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
from common import EVAL_SEED, ROOT, process_pool, run_networks, stop_on_signals
from curves import add_curve_arguments, check_curve_arguments, kept_or_played, ratio_report, run_dir_of, run_seeds

from muzero_lite.algorithm.networks import configure_torch
from muzero_lite.config import load_config
from muzero_lite.data.checkpoints import eval_weights, list_curve_checkpoints, load_checkpoint
from muzero_lite.processes.evaluate import HELD_OUT, evaluate

FIELDS = ["seed", "mark", "env_moves", "step", "level", "held_out", "games", "mean_max_x", "max_max_x", "flags",
          "mean_return", "mean_moves"]


def levels_of(run_dir: Path) -> list[str]:
    """The levels a run is evaluated on: its env.levels, then its env.held_out_levels."""
    cfg = load_config(Path(run_dir) / "config.yaml")
    return list(cfg.env.levels) + list(cfg.env.held_out_levels)


def level_cache(run_dir: str, path: Optional[str], level: str, games: int) -> tuple[Path, dict]:
    """Where one (checkpoint, level) eval row is kept, and what it depends on: beside the checkpoint
    (<name>.<level>.g<games>.eval.json), or for the random agent in the run folder."""
    key = {"protocol": {"games": games, "seed": EVAL_SEED, "level": level, "version": 1}}
    if path is None:
        return Path(run_dir) / f"random.{level}.g{games}.eval.json", key
    return Path(f"{path}.{level}.g{games}.eval.json"), {**key, "checkpoint_mtime": os.stat(path).st_mtime}


def play_level(task: tuple) -> dict:
    """(seed, run folder, mark, checkpoint path or None for the random agent, level, games) -> a table row;
    the row is kept (level_cache), so that a second --eval-only plays only what it has not played."""
    seed, run_dir, mark, path, level, games = task
    row = kept_or_played(*level_cache(run_dir, path, level, games), lambda: _play_level(task))
    return {**row, "seed": seed, "mark": mark}


def _play_level(task: tuple) -> dict:
    """The eval of one (checkpoint, level) pair."""
    seed, run_dir, mark, path, level, games = task
    configure_torch(threads=1)
    cfg, net = run_networks(Path(run_dir))
    step, env_moves = 0, None
    if path is not None:
        payload = load_checkpoint(path)
        net.load_state_dict(eval_weights(payload))
        step, env_moves = int(payload["step"]), payload.get("env_moves")
    row = evaluate(cfg, net, level, games, np.random.default_rng(EVAL_SEED), step, random_agent=path is None)
    return {"seed": seed, "mark": mark, "env_moves": env_moves, "step": step, "level": level,
            "held_out": level in cfg.env.held_out_levels, **{k: row[k] for k in FIELDS[6:]}}


def evaluate_levels(seeds: list[int], dirs: list[Path], games: int, procs: int) -> list[dict]:
    """Every level at every curve checkpoint of every run, and the random agent's row per level (seed
    "random", mark 0), `procs` evals at a time; rows in task order."""
    levels = levels_of(dirs[0])
    tasks = [("random", str(dirs[0]), 0, None, level, games) for level in levels]
    tasks += [(s, str(d), mark, str(p), level, games) for s, d in zip(seeds, dirs)
              for mark, p in list_curve_checkpoints(d / "checkpoints") for level in levels]
    print(f"evaluating {len(tasks)} (checkpoint, level) pairs, {games} games each, {procs} at a time", flush=True)
    rows = []
    with process_pool(procs) as pool:
        for row in pool.map(play_level, tasks):
            rows.append(row)
            print(f"  seed {row['seed']} at {row['mark']:,} moves, {row['level']}: mean max-x "
                  f"{row['mean_max_x']:.1f}, flags {row['flags']}", flush=True)
    return rows


def level_table(rows: list[dict]) -> str:
    """Mean max-x (flags) per level: one line per level (training levels first, held-out marked), one
    column for the random agent and one per (seed, point)."""
    columns = [("random", 0)] + sorted({(r["seed"], r["mark"]) for r in rows if r["seed"] != "random"})
    cells = {(r["seed"], r["mark"], r["level"]): r for r in rows}
    levels = list(dict.fromkeys(r["level"] for r in rows))
    held = {r["level"] for r in rows if r["held_out"]}
    head = ["level"] + ["random" if s == "random" else f"seed {s} @ {m:,}" for s, m in columns]
    lines = [head]
    for level in levels:
        name = f"{level}{HELD_OUT}" if level in held else level
        lines.append([name] + [(f"{c['mean_max_x']:.0f} ({c['flags']})" if (c := cells.get((s, m, level))) else "-")
                               for s, m in columns])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines)


def write_csv(path: Path, rows: list[dict]) -> None:
    """One row per (seed, point, level); the random agent's rows have seed "random"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)


def main(argv: Optional[list[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_curve_arguments(ap, ROOT / "configs" / "mario_overworld.yaml", 300_000, 100_000, [0],
                        ROOT / "benchmarks" / "out" / "learn_overworld")
    ap.add_argument("--games", type=int, default=20, help="eval games per level and point")
    args = ap.parse_args(argv)
    check_curve_arguments(ap, args)
    if args.games < 1:
        ap.error(f"--games must be >= 1; got {args.games}")
    stop_on_signals()
    root = args.root or Path(tempfile.mkdtemp(prefix="learn_overworld_"))
    if args.eval_only:
        dirs = [run_dir_of(root, s) for s in args.seeds]
    else:
        print(f"runs in {root}: seeds {args.seeds} at once, to {args.moves:,} env moves, a curve point every "
              f"{args.every:,}", flush=True)
        dirs = run_seeds(args.config, args.seeds, args.moves, args.every, root, args.workers)
    for s, d in zip(args.seeds, dirs):
        print(f"seed {s}: {ratio_report(d, args.every)}", flush=True)
    rows = evaluate_levels(args.seeds, dirs, args.games, args.eval_procs or os.cpu_count() or 1)
    write_csv(Path(f"{args.out}.csv"), rows)
    print(f"\nmean max-x (flags of {args.games}) per level by env moves, {args.config.name}:")
    print(level_table(rows))
    print(f"\nwritten: {args.out}.csv")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("learn_overworld: stopped (the runs were stopped with it; their folders keep what they wrote)")
