"""Why greedy eval trails self-play on Mario: one curve checkpoint played under variants of the eval protocol.

    .venv/bin/python benchmarks/eval_variants.py RUN_DIR [RUN_DIR ...] --moves MARK [--sticky 0.25 0]
        [--weights averaged newest] [--games 20] [--procs 1] [--out PREFIX]

For each run folder, its curve checkpoint at MARK env moves (checkpoints/curve/moves-<MARK>.pt) plays the
benchmarks' eval (`common.eval_loaded`: --games greedy games on 1-1 from the seeded no-op starts) once for each
pair of eval.sticky_actions in --sticky and weights in --weights: "averaged" (what eval plays, the
checkpoint's moving average) or "newest" (what self-play plays). The row with sticky 0.25 and averaged
weights is the eval as the curves run it. Prints mean max-x and flags per run and variant, the median and
worst over the runs per variant, and writes <out>.csv when --out is given.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from pathlib import Path

import numpy as np
from common import eval_loaded, print_columns, process_pool, run_networks, stop_on_signals

from muzero_lite.algorithm.networks import configure_torch
from muzero_lite.data.checkpoints import curve_checkpoint_path, eval_weights, load_checkpoint

FIELDS = ["run", "moves", "sticky", "weights", "games", "mean_max_x", "max_max_x", "flags"]
WEIGHTS = ("averaged", "newest")


def play_variant(task: tuple) -> dict:
    """(run folder, mark, sticky, weights, games) -> the variant's row."""
    run_dir, mark, sticky, weights, games = task
    configure_torch(threads=1)
    cfg, net = run_networks(Path(run_dir))
    cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, sticky_actions=sticky))
    payload = load_checkpoint(curve_checkpoint_path(Path(run_dir) / cfg.paths.checkpoints, mark))
    state = payload["networks"] if weights == "newest" else eval_weights(payload)
    row = eval_loaded(cfg, net, state, int(payload["step"]), games)
    return {"run": str(run_dir), "moves": mark, "sticky": sticky, "weights": weights, "games": row["games"],
            "mean_max_x": round(row["mean_max_x"], 1), "max_max_x": row["max_max_x"], "flags": row["flags"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+", help="run folders (each with config.yaml and checkpoints/curve/)")
    ap.add_argument("--moves", type=int, required=True, help="the curve point: env moves of its checkpoint")
    ap.add_argument("--sticky", type=float, nargs="+", default=[0.25, 0.0])
    ap.add_argument("--weights", nargs="+", choices=WEIGHTS, default=list(WEIGHTS))
    ap.add_argument("--games", type=int, default=20)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--out", type=Path, help="write <out>.csv")
    args = ap.parse_args()
    for p in args.sticky:
        if not 0 <= p < 1:
            ap.error(f"--sticky {p}: must be in [0, 1)")
    if args.games < 1 or args.procs < 1:
        ap.error("--games and --procs must be >= 1")
    for run in args.runs:
        cfg_path = run / "config.yaml"
        if not cfg_path.is_file():
            ap.error(f"{cfg_path}: file not found (pass a run folder)")
        ckpt = curve_checkpoint_path(run / "checkpoints", args.moves)
        if not ckpt.is_file():
            ap.error(f"{ckpt}: no curve checkpoint at {args.moves:,} moves")
    tasks = [(str(run), args.moves, s, w, args.games) for s in args.sticky for w in args.weights for run in args.runs]
    print(f"{len(tasks)} evals of {args.games} games, {args.procs} at a time", flush=True)
    rows = []
    stop_on_signals()
    with process_pool(args.procs) as pool:
        for row in pool.map(play_variant, tasks):
            print(f"  {row['run']}  sticky {row['sticky']}  {row['weights']}: mean max-x {row['mean_max_x']}, "
                  f"flags {row['flags']} of {row['games']}", flush=True)
            rows.append(row)
    table = []
    for s in args.sticky:
        for w in args.weights:
            mine = [r for r in rows if r["sticky"] == s and r["weights"] == w]
            xs = [r["mean_max_x"] for r in mine]
            table.append([s, w, f"{np.median(xs):.1f}", f"{min(xs):.1f}",
                          " / ".join(f"{r['mean_max_x']:.1f}" for r in mine), " / ".join(str(r["flags"]) for r in mine)])
    print()
    print_columns(["sticky", "weights", "median", "worst", "runs", "flags"], table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{args.out}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
        print(f"\nwritten: {args.out}.csv")


if __name__ == "__main__":
    sys.exit(main())
