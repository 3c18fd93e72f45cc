"""Training steps/s of the default configs: sample + train step + priority update, on this machine.

Fills a replay buffer with synthetic games of the config's exact shapes (random frames: the speed
does not depend on their content) and times --steps steps after a warm-up.

    .venv/bin/python benchmarks/train_speed.py [--configs configs/mario.yaml configs/cartpole.yaml] [--steps 50]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from muzero_lite.config import load_config  # noqa: E402
from muzero_lite.networks import configure_torch  # noqa: E402
from muzero_lite.envs import make_env  # noqa: E402
from muzero_lite.learner import Learner  # noqa: E402
from muzero_lite.replay import ReplayBuffer  # noqa: E402
from muzero_lite.selfplay import build_networks  # noqa: E402
from muzero_lite.trainer import pick_device  # noqa: E402
from muzero_lite.types import GameRecord  # noqa: E402


def synthetic_game(shape, dtype, a: int, t: int, rng) -> GameRecord:
    frames = rng.integers(0, 256, (t,) + shape, dtype=np.uint8) if dtype == np.uint8 else rng.random((t,) + shape).astype(np.float32)
    pol = rng.random((t, a)).astype(np.float32)
    return GameRecord(frames, rng.integers(0, a, t), rng.normal(size=t).astype(np.float32),
                      rng.normal(size=t).astype(np.float32), pol / pol.sum(1, keepdims=True), {})


def measure(path: str, steps: int) -> None:
    cfg = load_config(path)
    t = cfg.train
    configure_torch(t.threads)
    env = make_env(cfg.env, 0)
    shape, dtype, a = tuple(env.frame_shape), env.frame_dtype, env.num_actions
    net = build_networks(cfg, env)
    env.close()
    device = pick_device(t.device)
    learner = Learner(t, net.to(device), cfg.network.support_size, device)
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(t, cfg.env.stack_moves, a, rng)
    while buf.total_moves_added < min(t.window_size, 20000):   # the window evicts: count what was added
        buf.add(synthetic_game(shape, dtype, a, min(cfg.env.max_moves, 300), rng))
    timings = {"sample": 0.0, "train": 0.0, "update": 0.0}
    for i in range(steps + 5):
        t0 = time.perf_counter()
        batch = buf.sample(t.batch_size, t.num_unroll_steps)
        t1 = time.perf_counter()
        _, pr = learner.train_step(batch)
        t2 = time.perf_counter()
        buf.update_priorities(batch.game_ids, batch.positions, pr)
        t3 = time.perf_counter()
        if i >= 5:
            timings["sample"] += t1 - t0
            timings["train"] += t2 - t1
            timings["update"] += t3 - t2
    total = sum(timings.values())
    print(f"{path}: {steps / total:.1f} steps/s = {steps * t.batch_size / total:.0f} samples/s "
          f"(batch {t.batch_size}, K {t.num_unroll_steps}, device {device}, threads {torch.get_num_threads()}); "
          f"ms/step: sample {1000 * timings['sample'] / steps:.1f}, train {1000 * timings['train'] / steps:.1f}, "
          f"priorities {1000 * timings['update'] / steps:.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=[str(ROOT / "configs" / "mario.yaml"), str(ROOT / "configs" / "cartpole.yaml")])
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    for path in args.configs:
        measure(path, args.steps)


if __name__ == "__main__":
    main()
