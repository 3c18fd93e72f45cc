"""The speeds `run`'s plan is made from, measured in a few seconds at its start (`plan.make_plan`).

- self-play: one worker's moves/s on one thread, its selfplay.games_in_flight games moved together
  with fresh networks (the speed does not depend on the weights), on selfplay.device;
- the trainer: samples/s of sample + train step + priority update, on synthetic games of the
  config's shapes (random frames: the speed does not depend on their content), on train.device, at a
  given batch and thread count.
Each measurement runs for about `seconds` after a warm-up; torch's thread count is restored after.
"""
from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np
import torch

from ..algorithm.learner import Learner
from ..algorithm.networks import acting_networks, build_networks, pick_device
from ..algorithm.types import GameRecord, GameSpec
from ..config import BASE_BATCH, Config
from ..data.replay import ReplayBuffer
from ..envs.make import game_spec, make_env
from .acting import Game, play_moves
from .plan import BATCH_FACTORS, Plan, Speeds, cores_for, make_plan, needs

# synthetic games put in the probe's replay buffer, and their length (at most the config's max_moves)
PROBE_GAMES, PROBE_GAME_MOVES = 4, 200


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to n while the block runs (0: unchanged)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def synthetic_game(spec: GameSpec, t: int, rng: np.random.Generator) -> GameRecord:
    """A game of t moves of the spec's shapes: random frames, actions, rewards, root values and policies."""
    shape, a = tuple(spec.frame_shape), spec.num_actions
    frames = (rng.integers(0, 256, (t,) + shape, dtype=np.uint8) if spec.frame_dtype == np.uint8
              else rng.random((t,) + shape).astype(np.float32))
    pol = rng.random((t, a)).astype(np.float32)
    return GameRecord(frames, rng.integers(0, a, t), rng.normal(size=t).astype(np.float32),
                      rng.normal(size=t).astype(np.float32), pol / pol.sum(1, keepdims=True), {})


def selfplay_moves_per_s(cfg: Config, seconds: float = 2.0) -> float:
    """One worker's moves/s on one thread: selfplay.games_in_flight games moved together, gifs left out."""
    with torch_threads(1):
        device = pick_device(cfg.selfplay.device)
        _, model = acting_networks(cfg, game_spec(cfg.env), device)
        envs = [make_env(cfg.env, i) for i in range(cfg.selfplay.games_in_flight)]
        try:
            rng = np.random.default_rng(0)
            games = [Game(env, model, cfg, rng, render=False) for env in envs]
            play_moves(games)                                     # warm-up: the first calls are slower
            moves, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                play_moves(games)
                moves += len(games)
                games = [Game(g.env, model, cfg, rng, render=False) if g.over else g for g in games]
            return moves / (time.perf_counter() - start)
        finally:
            for env in envs:
                env.close()


def trainer_samples_per_s(cfg: Config, batches: list[int], threads: int, seconds: float = 1.0) -> dict[int, float]:
    """The trainer's samples/s at each batch size, on train.device with `threads` torch threads (CPU)."""
    spec = game_spec(cfg.env)
    device = pick_device(cfg.train.device)
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer.of(cfg, spec.num_actions, rng)
    for _ in range(PROBE_GAMES):
        buffer.add(synthetic_game(spec, min(cfg.env.max_moves, PROBE_GAME_MOVES), rng))
    out = {}
    with torch_threads(threads):
        for batch in batches:
            learner = Learner(cfg.train, build_networks(cfg, spec).to(device), cfg.network.support_size, device,
                              frame_size=int(np.prod(spec.frame_shape)))
            k = cfg.train.num_unroll_steps

            def step() -> None:
                b = buffer.sample(batch, k)
                _, priorities = learner.train_step(b)
                buffer.update_priorities(b.game_ids, b.positions, priorities)
            step()                                                # warm-up
            step()
            steps, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds or steps < 2:
                step()
                steps += 1
            out[batch] = steps * batch / (time.perf_counter() - start)
    return out


def plan_for_machine(cfg: Config, workers: Optional[int], cores: int, gpu: bool, kept: Optional[int] = None) -> Plan:
    """Measure what the plan for cfg on this machine needs (`plan.needs`), and make it; kept: the batch a
    resumed run keeps (`plan.kept_batch`)."""
    split, by_batch = needs(cfg, gpu, workers, kept)
    speeds = Speeds()
    if split:
        base = BASE_BATCH if cfg.train.batch_size == "auto" else cfg.train.batch_size
        speeds = Speeds(selfplay_moves_per_s(cfg), trainer_samples_per_s(cfg, [base], threads=1)[base])
    if by_batch:
        threads = cores_for(cfg, cores, gpu, speeds, workers)[1]
        speeds = dataclasses.replace(speeds, batch_samples_per_s=trainer_samples_per_s(
            cfg, [BASE_BATCH * k for k in BATCH_FACTORS], threads))
    return make_plan(cfg, cores, gpu, speeds, workers, kept)
