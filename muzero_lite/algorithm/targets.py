"""Training targets of a game (docs/algorithm.md §4): n-step values, and the value / reward /
policy / action targets of one unroll of K model steps from sampled positions.

Pure numpy functions of one game's arrays. Indexing follows types.GameRecord: position t is the
state before move t; a_t is the move taken there, r_t its reward, v_t the search's root value and
pi_t its target policy. Past the end of the game (t >= T) the game is treated as absorbing: value
and reward 0, policy uniform, actions random.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class UnrollTargets(NamedTuple):
    """Targets of B samples unrolled K steps from their positions (one game)."""
    # [B, K] int64: actions applied by unroll steps 1..K (a_{t+k} for k < K; random past the end)
    actions: np.ndarray
    # [B, K+1] float32: z_{t+k} (0 past the end)
    target_values: np.ndarray
    # [B, K+1] float32: column 0 is 0; column k >= 1 is r_{t+k-1} (0 past the end)
    target_rewards: np.ndarray
    # [B, K+1, A] float32: pi_{t+k} (uniform past the end)
    target_policies: np.ndarray
    # [B, K+1] float32: 1 where position t+k is inside the game (t+k < T), else 0
    mask: np.ndarray


def value_targets(r_t: np.ndarray, v_t: np.ndarray, discount: float, td_steps: int,
                  end_value: float = 0.0) -> np.ndarray:
    """n-step bootstrapped value targets of every position of one game (computed once when it is loaded).

    z_t = sum_{i < n, t+i < T} discount^i r_{t+i} + discount^n v_{t+n}        if t+n < T
    z_t = sum_{t+i < T}        discount^i r_{t+i} + discount^(T-t) end_value  otherwise

    end_value is the value after the game's last move: 0 for a game that really ended, an estimate
    for one cut short by a time limit.

    Args:
      r_t: [T] reward of the move taken at each position.
      v_t: [T] search root value at each position.
      discount: gamma in (0, 1].
      td_steps: n >= 1.
      end_value: the value of the state after the last move.
    Returns:
      z_t: [T] float32.
    """
    r_t = np.asarray(r_t, dtype=np.float64)
    v_t = np.asarray(v_t, dtype=np.float64)
    if r_t.ndim != 1 or v_t.shape != r_t.shape:
        raise ValueError(f"rewards {r_t.shape} and root_values {v_t.shape} must both be [T]")
    if td_steps < 1:
        raise ValueError(f"td_steps = {td_steps}: must be >= 1")
    t_len = r_t.shape[0]
    # zero padding past the end makes r_{t+i} and v_{t+n} vanish there without masks
    r_pad = np.concatenate([r_t, np.zeros(td_steps)])                  # [T+n]
    v_pad = np.concatenate([v_t, np.zeros(td_steps)])                  # [T+n]
    z_t = np.zeros(t_len)                                              # [T]
    for i in range(td_steps):
        z_t += discount ** i * r_pad[i:i + t_len]
    z_t += discount ** td_steps * v_pad[td_steps:td_steps + t_len]
    if end_value:
        to_end = t_len - np.arange(t_len)                              # [T] moves left: T - t
        z_t += np.where(to_end <= td_steps, discount ** to_end * end_value, 0.0)
    return z_t.astype(np.float32)


def bootstrap_discounts(remaining: np.ndarray, num_unroll_steps: int, discount: float,
                        td_steps: int) -> np.ndarray:
    """The weight of the fresh value at position t+k+n in the target of step k (train.value_bootstrap: fresh).

    With fresh bootstrapping the stored targets hold only the rewards part of value_targets (its
    v_t all 0), and the trainer adds discount^n v(t+k+n) with v from its target network:

    weight_k = discount^n   if t+k+n < T (the bootstrap position is inside the game)
    weight_k = 0            otherwise (the target ends with the game, as in value_targets)

    Args:
      remaining: [B] moves from each sample's position to its game's end (T - t).
      num_unroll_steps: K >= 0.
      discount: gamma in (0, 1].
      td_steps: n >= 1.
    Returns:
      [B, K+1] float32.
    """
    remaining = np.asarray(remaining, dtype=np.int64)
    steps = np.arange(num_unroll_steps + 1)[None, :]                               # [1, K+1]
    inside = steps + td_steps < remaining[:, None]                                 # [B, K+1] t+k+n < T
    return np.where(inside, discount ** td_steps, 0.0).astype(np.float32)


def unroll_targets(z_t: np.ndarray, r_t: np.ndarray, pi_t: np.ndarray, a_t: np.ndarray,
                   positions: np.ndarray, num_unroll_steps: int,
                   rng: np.random.Generator, remaining: np.ndarray | None = None) -> UnrollTargets:
    """Everything the trainer needs for samples of one game: value, reward and policy targets of
    steps k = 0..K from positions t, and the K actions.

    value_k  = z_{t+k}                       if t+k < T else 0
    reward_k = r_{t+k-1}  (k >= 1)           if t+k-1 < T else 0;   reward_0 = 0
    policy_k = pi_{t+k}                      if t+k < T else 1/A
    action_k = a_{t+k}    (k < K)            if t+k < T else uniform random in [0, A)
    mask_k   = 1[t+k < T]

    Args:
      z_t: [N] value targets (value_targets of the game).
      r_t: [N] rewards.
      pi_t: [N, A] target policies.
      a_t: [N] actions.
      positions: [B] sample positions in [0, N).
      num_unroll_steps: K >= 0.
      rng: draws the actions past the end of the game (always B*K draws, so results depend only
        on the seed and the arguments).
      remaining: None when the arrays are one game (N = T, remaining = T - t); for ring storage of
        many games back to back, [B] moves from each position to its game's end (T - t), and
        indices wrap modulo N.
    Returns:
      UnrollTargets with actions [B, K], target_values / target_rewards / mask [B, K+1],
      target_policies [B, K+1, A].
    """
    z_t = np.asarray(z_t)
    r_t = np.asarray(r_t)
    pi_t = np.asarray(pi_t)
    a_t = np.asarray(a_t)
    positions = np.asarray(positions, dtype=np.int64)
    if z_t.ndim != 1 or pi_t.ndim != 2 or positions.ndim != 1:
        raise ValueError(f"expected z_t [T], pi_t [T, A], positions [B]; got {z_t.shape}, {pi_t.shape}, {positions.shape}")
    n, num_actions = pi_t.shape
    if r_t.shape != (n,) or a_t.shape != (n,) or z_t.shape != (n,):
        raise ValueError(f"z_t {z_t.shape}, r_t {r_t.shape}, a_t {a_t.shape} must all be [T] = [{n}]")
    if positions.size and (positions.min() < 0 or positions.max() >= n):
        raise ValueError(f"positions must be in [0, {n}); got min {positions.min()}, max {positions.max()}")
    remaining = n - positions if remaining is None else np.asarray(remaining, dtype=np.int64)
    k_len = num_unroll_steps
    b = positions.shape[0]

    steps = np.arange(k_len + 1)[None, :]                                          # [1, K+1]
    idx = (positions[:, None] + steps) % n                                         # [B, K+1] storage of t+k
    inside = steps < remaining[:, None]                                            # [B, K+1] t+k < T

    target_values = np.where(inside, z_t[idx], 0.0).astype(np.float32)             # [B, K+1]

    # step k >= 1 is rewarded for the move it applied, a_{t+k-1}
    rewards = np.where(inside[:, :k_len], r_t[idx[:, :k_len]], 0.0)                # [B, K]
    target_rewards = np.concatenate([np.zeros((b, 1)), rewards], axis=1).astype(np.float32)  # [B, K+1]

    uniform = np.full(num_actions, 1.0 / num_actions)
    target_policies = np.where(inside[:, :, None], pi_t[idx], uniform).astype(np.float32)  # [B, K+1, A]

    random_actions = rng.integers(0, num_actions, size=(b, k_len))                 # [B, K]
    actions = np.where(inside[:, :k_len], a_t[idx[:, :k_len]], random_actions).astype(np.int64)  # [B, K]

    return UnrollTargets(actions=actions, target_values=target_values, target_rewards=target_rewards,
                         target_policies=target_policies, mask=inside.astype(np.float32))
