"""Training steps/s of the default configs: sample + train step + priority update, on this machine.

Fills a replay buffer with synthetic games of each config's exact shapes (random frames: the speed
does not depend on their content) and times --steps steps after a warm-up. Several configs are timed
in alternating blocks of 5 steps in one process (threads of the first config), and each variant of
the first config's game is given as a ratio to it: a machine whose speed drifts slows them alike.

    .venv/bin/python benchmarks/train_speed.py [--configs configs/mario.yaml configs/cartpole.yaml] [--steps 50]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import ROOT

from muzero_lite.algorithm.learner import Learner
from muzero_lite.algorithm.networks import build_networks, configure_torch, pick_device
from muzero_lite.config import load_config
from muzero_lite.data.replay import ReplayBuffer
from muzero_lite.envs.make import game_spec
from muzero_lite.processes.plan import planned_config
from muzero_lite.processes.speed_probe import synthetic_game


class Subject:
    """One config's learner and replay buffer, filled with synthetic games of its shapes."""

    def __init__(self, path: str):
        cfg = planned_config(load_config(path))
        self.path, self.t, self.env_id = path, cfg.train, cfg.env.id
        spec = game_spec(cfg.env)
        net = build_networks(cfg, spec)
        self.device = pick_device(self.t.device)
        self.learner = Learner(self.t, net.to(self.device), cfg.network.support_size, self.device,
                               frame_size=int(np.prod(spec.frame_shape)),
                               ema_half_life=cfg.eval.ema_half_life)
        self.cfg = cfg
        rng = np.random.default_rng(0)
        self.buf = ReplayBuffer.of(cfg, spec.num_actions, rng)
        while self.buf.total_moves_added < min(self.t.window_size, 20000):   # the window evicts: count what was added
            self.buf.add(synthetic_game(spec, min(cfg.env.max_moves, 300), rng))
        self.timings = {"sample": 0.0, "train": 0.0, "update": 0.0}
        self.steps = 0

    def run(self, steps: int, timed: bool = True) -> None:
        """`steps` training steps (sample, train step, priority update), timed unless a warm-up."""
        for _ in range(steps):
            t0 = time.perf_counter()
            batch = self.buf.sample(self.t.batch_size, self.t.num_unroll_steps)     # as the trainer draws it
            t1 = time.perf_counter()
            _, pr = self.learner.train_step(batch)
            t2 = time.perf_counter()
            self.buf.update_priorities(batch.game_ids, batch.positions, pr)
            t3 = time.perf_counter()
            if timed:
                self.timings["sample"] += t1 - t0
                self.timings["train"] += t2 - t1
                self.timings["update"] += t3 - t2
                self.steps += 1

    def report(self) -> float:
        """Print the timed steps' rates and per-part times; returns the steps/s."""
        total, n, t = sum(self.timings.values()), self.steps, self.t
        print(f"{self.path}: {n / total:.1f} steps/s = {n * t.batch_size / total:.0f} samples/s "
              f"(batch {t.batch_size}, K {t.num_unroll_steps}, device {self.device}, threads {torch.get_num_threads()}); "
              f"ms/step: sample {1000 * self.timings['sample'] / n:.1f}, train {1000 * self.timings['train'] / n:.1f}, "
              f"priorities {1000 * self.timings['update'] / n:.2f}", flush=True)
        return n / total


def measure(paths: list[str], steps: int, block: int = 5) -> None:
    """Time every config's steps in alternating blocks, so a machine whose speed drifts slows all alike."""
    configure_torch(planned_config(load_config(paths[0])).train.threads)
    subjects = [Subject(p) for p in paths]
    for s in subjects:
        s.run(5, timed=False)                      # warm-up
    for r in range(-(-steps // block)):
        order = subjects if r % 2 == 0 else subjects[::-1]
        for s in order:
            s.run(min(block, steps - r * block))
    rates = [s.report() for s in subjects]
    for s, rate in zip(subjects[1:], rates[1:]):
        if s.env_id == subjects[0].env_id:         # a ratio between different games would mean nothing
            print(f"{s.path}: {rate / rates[0]:.2f}x the steps/s of {subjects[0].path} (blocks of {block}, alternating)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=[str(ROOT / "configs" / "mario.yaml"), str(ROOT / "configs" / "cartpole.yaml")])
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    measure(args.configs, args.steps)


if __name__ == "__main__":
    main()
