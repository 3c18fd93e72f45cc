"""Greedy eval of chosen checkpoints of a Mario run, by training step (how noisy one checkpoint's eval is).

    .venv/bin/python benchmarks/eval_checkpoints.py RUN_DIR STEP [STEP ...] [--average HALF_LIFE | --newest]

The benchmarks' eval (`common.eval_checkpoint`: 20 greedy games on 1-1 from seeded no-op starts, with the
weights eval plays: the checkpoint's average where it has one), so a checkpoint always gives the
same figures. One line per checkpoint. --newest plays the checkpoint's newest weights instead.

--average H replays the run's checkpoints, oldest first from the first one, through an exponential
moving average with a half-life of H training steps and evaluates the average at each STEP: what
eval.ema_half_life H would have played, for runs made without it (averaged over checkpoints,
every checkpoint_interval steps, where the trainer averages every step).
"""
import argparse
from pathlib import Path
from typing import Iterable, Iterator

from common import eval_checkpoint, eval_loaded, eval_summary, run_networks

from muzero_lite.algorithm.learner import ema_decay, ema_init, ema_update
from muzero_lite.algorithm.networks import configure_torch
from muzero_lite.data.checkpoints import checkpoint_at, list_checkpoints, load_checkpoint


def replay_average(snapshots: Iterable[tuple[int, dict]], half_life: float, at: set[int]) -> Iterator[tuple[int, dict]]:
    """(step, average) at each step in `at` of the (step, state dict) snapshots, oldest first: the average
    starts at the first snapshot and decays by 0.5 every half_life steps between snapshots."""
    average, previous = None, None
    for step, state in snapshots:
        if average is None:
            average = ema_init(state)
        else:
            ema_update(average, state, ema_decay(half_life) ** (step - previous))
        previous = step
        if step in at:
            yield step, average


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("steps", type=int, nargs="+")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--average", type=float, default=0.0, metavar="HALF_LIFE")
    mode.add_argument("--newest", action="store_true", help="the newest weights, not the checkpoint's average")
    args = ap.parse_args()
    run, steps = args.run_dir, sorted(set(args.steps))
    if args.average < 0:
        ap.error(f"--average must be >= 0 training steps, got {args.average}")
    folder = run / "checkpoints"
    try:
        paths = [checkpoint_at(folder, step)[1] for step in steps]
    except ValueError as e:
        ap.error(str(e))
    configure_torch(threads=1)
    cfg, net = run_networks(run)
    if args.average:
        snapshots = ((step, load_checkpoint(path)["networks"])
                     for step, path in reversed(list_checkpoints(folder)) if step <= steps[-1])
        rows = ((step, eval_loaded(cfg, net, average, step))
                for step, average in replay_average(snapshots, args.average, set(steps)))
    elif args.newest:
        rows = ((step, eval_loaded(cfg, net, load_checkpoint(path)["networks"], step)) for step, path in zip(steps, paths))
    else:
        rows = ((step, eval_checkpoint(cfg, net, path, step)) for step, path in zip(steps, paths))
    label = f" average half-life {args.average:g}" if args.average else " newest weights" if args.newest else ""
    for step, row in rows:
        print(f"{run.name} step {step}{label} {eval_summary(row)}", flush=True)


if __name__ == "__main__":
    main()
