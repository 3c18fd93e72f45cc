"""Learning benchmark: Mario 1-1 with the default config, learning curves by env moves over several seeds.

Each seed runs `muzero-lite run` (default workers) with the replay ratio pinned, all seeds at the same
time, to --moves env moves; its trainer keeps a checkpoint every --every env moves. Each of those is
evaluated with the benchmark protocol (20 greedy games on 1-1 from seeded no-op starts with sticky
actions, the averaged weights), and so is a random agent. Prints mean max-x by env moves, median and
worst over the seeds, and writes CSV and PNG (`curves`).

    .venv/bin/python benchmarks/learn_mario.py [--moves 100000] [--every 20000] [--seeds 0 1 2]
        [--config configs/mario.yaml] [--root DIR] [--eval-only] [--out benchmarks/out/learn_mario]

--eval-only evaluates the curve checkpoints already in --root's seed<N>/ folders (for example a run
stopped and looked at later, or one seed run alone: --seeds 0 --root DIR).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import ROOT, stop_on_signals
from curves import add_curve_arguments, check_curve_arguments, learn_curves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_curve_arguments(ap, ROOT / "configs" / "mario.yaml", 100_000, 20_000, [0, 1, 2],
                        ROOT / "benchmarks" / "out" / "learn_mario")
    args = ap.parse_args()
    check_curve_arguments(ap, args)
    stop_on_signals()
    root = args.root or Path(tempfile.mkdtemp(prefix="learn_mario_"))
    learn_curves(args.config, args.seeds, args.moves, args.every, root, "mean_max_x", args.out,
                 f"Mario 1-1, {args.config.name}: eval mean max-x by env moves", args.workers, args.eval_only,
                 args.eval_procs, changes={"env": {"levels": ["1-1"]}})


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("learn_mario: stopped (the runs were stopped with it; their folders keep what they wrote)")
