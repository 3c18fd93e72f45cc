"""Greedy eval of chosen checkpoints of a Mario run, by training step (how noisy one checkpoint's eval is).

    .venv/bin/python benchmarks/eval_checkpoints.py RUN_DIR STEP [STEP ...]

learn_mario.py's eval (`eval_checkpoint`: 20 greedy games on 1-1 from seeded no-op starts), so a
checkpoint always gives the same figures. One line per checkpoint.
"""
import sys
from pathlib import Path

from learn_mario import eval_checkpoint, run_networks
from muzero_lite.networks import configure_torch


def main() -> None:
    if len(sys.argv) < 3 or not all(s.isdigit() for s in sys.argv[2:]):
        sys.exit(__doc__.splitlines()[2].strip())
    run, steps = Path(sys.argv[1]), [int(s) for s in sys.argv[2:]]
    paths = [run / "checkpoints" / f"checkpoint-{step:09d}.pt" for step in steps]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"eval_checkpoints: no checkpoint {missing[0]}")
    configure_torch(threads=1)
    cfg, net = run_networks(run)
    for step, path in zip(steps, paths):
        row = eval_checkpoint(cfg, net, path, step, 20)
        print(f"{run.name} step {step} eval mean max-x {row['mean_max_x']:.1f} max {row['max_max_x']} "
              f"flags {row['flags']}", flush=True)


if __name__ == "__main__":
    main()
