"""Greedy eval of chosen checkpoints of a Mario run, by training step (how noisy one checkpoint's eval is).

    .venv/bin/python benchmarks/eval_checkpoints.py RUN_DIR STEP [STEP ...]

The same protocol as learn_mario.py's eval: 20 greedy games on 1-1 from no-op starts drawn with
np.random.default_rng(2024), so a checkpoint always gives the same figures. One line per checkpoint.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from muzero_lite.checkpoints import load_checkpoint  # noqa: E402
from muzero_lite.config import load_config  # noqa: E402
from muzero_lite.envs import make_env  # noqa: E402
from muzero_lite.evaluate import evaluate  # noqa: E402
from muzero_lite.networks import configure_torch  # noqa: E402
from muzero_lite.selfplay import build_networks  # noqa: E402


def main() -> None:
    if len(sys.argv) < 3 or not all(s.isdigit() for s in sys.argv[2:]):
        sys.exit(__doc__.splitlines()[2].strip())
    run, steps = Path(sys.argv[1]), [int(s) for s in sys.argv[2:]]
    paths = [run / "checkpoints" / f"checkpoint-{step:09d}.pt" for step in steps]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"eval_checkpoints: no checkpoint {missing[0]}")
    configure_torch(threads=1)
    cfg = load_config(run / "config.yaml")
    env = make_env(cfg.env, 0)
    net = build_networks(cfg, env).eval()
    env.close()
    for step, path in zip(steps, paths):
        net.load_state_dict(load_checkpoint(path)["networks"])
        row = evaluate(cfg, net, "1-1", 20, np.random.default_rng(2024), step)
        print(f"{run.name} step {step} eval mean max-x {row['mean_max_x']:.1f} max {row['max_max_x']} "
              f"flags {row['flags']}", flush=True)


if __name__ == "__main__":
    main()
