"""Reanalysis (MuZero Reanalyze): fresh search targets for replayed positions.

A game's stored targets are what the search said with the weights of the day it was played. With
train.reanalyze = f, the first ceil(f * B) samples of each batch (the batch is drawn by priority, so
these are a random share) get new target policies at every unroll step inside their game: the
truncated search of self-play (docs/algorithm.md §3; root actions the policy's top ones, no
sampling) run with the trainer's current weights on the stored observations. With
train.reanalyze_values, their value targets also bootstrap from a fresh search's root value at
t+k+n instead of the stored one. No files or envs.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..config import Config
from ..processes.acting import search
from .types import Batch


def reanalysed(batch: Batch, model, cfg: Config, fraction: float) -> Batch:
    """The batch with fresh target policies [B, K+1, A] for its first ceil(fraction * B) samples, at the steps
    inside their games (step 0, and step k where next_mask[:, k-1] is 1); the other entries as they were.
    When the batch holds bootstrap_observations, those samples' value targets [B, K+1] also change where
    t+k+n < T: z + γ^n (fresh root value at t+k+n - stored root value there) (docs/algorithm.md §4).

    model: anything with initial_inference / recurrent_inference taking CPU tensors (`networks.acting_model`).
    The batch must hold next_observations (`ReplayBuffer.sample(..., next_observations=True)`).
    """
    b, steps = batch.target_policies.shape[:2]
    m = min(b, math.ceil(fraction * b))
    if m == 0:
        return batch
    if steps > 1 and batch.next_observations is None:
        raise ValueError("reanalysis needs batches sampled with next_observations")
    obs = batch.observations[:m, None]                                                  # [m, 1, *input_shape]
    inside = np.ones((m, 1), dtype=bool)                                                # [m, 1]
    if steps > 1:
        obs = np.concatenate([obs, batch.next_observations[:m]], axis=1)               # [m, K+1, *input_shape]
        inside = np.concatenate([inside, batch.next_mask[:m] > 0], axis=1)             # [m, K+1]
    positions = obs.reshape((m * steps,) + obs.shape[2:])[inside.reshape(-1)]          # [n, *input_shape]
    values_too = batch.bootstrap_observations is not None
    ahead = batch.bootstrap_mask[:m] > 0 if values_too else None                       # [m, K+1] t+k+n < T
    where = batch.bootstrap_observations[:m][ahead] if values_too else positions[:0]   # [n', *input_shape]
    # one batched search for the policy positions and the bootstrap positions together
    _, result = search(model, torch.from_numpy(np.concatenate([positions, where])), cfg, None)
    n = len(positions)
    policies = batch.target_policies.copy()
    policies[:m][inside] = result.policy[:n]                                            # [n, A] into the inside steps
    if not values_too:
        return batch._replace(target_policies=policies)
    values = batch.target_values.copy()
    values[:m][ahead] += (cfg.env.discount ** cfg.train.td_steps
                          * (result.root_value[n:] - batch.bootstrap_stored[:m][ahead])).astype(values.dtype)
    return batch._replace(target_policies=policies, target_values=values)
