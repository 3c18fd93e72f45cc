"""Truncated search (docs/algorithm.md §3) and action selection: pure functions, batched over B x k rollouts.

The search never sees a network, an env or a file: it is handed the root's initial inference and a
recurrent_fn(hidden [N, ...], action [N]) -> InferenceOutput callable. Each depth is one call for
all B*k rollouts.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch

from .types import InferenceOutput, SearchResult

# added to numerator and denominator of the min-max normalisation (orig)
NORM_EPS = 0.001

RecurrentFn = Callable[[torch.Tensor, torch.Tensor], InferenceOutput]
# one generator for a whole batch, or one per row (each game of a batch its own, so that a game's
# draws do not depend on the games beside it)
Rngs = Union[np.random.Generator, Sequence[np.random.Generator]]


def uniforms(rng: Rngs, rows: int, cols: int) -> np.ndarray:
    """[rows, cols] uniform draws in [0, 1): from one generator, or row i from the i-th of a sequence."""
    if isinstance(rng, np.random.Generator):
        return rng.random((rows, cols))
    if len(rng) != rows:
        raise ValueError(f"{len(rng)} generators for {rows} rows")
    return np.stack([g.random(cols) for g in rng]) if rows else np.zeros((0, cols))


def rank_actions(policy_logits: torch.Tensor, k: int) -> torch.Tensor:
    """[B, A] logits -> [B, k] the k best actions, ties broken towards the lower index."""
    return torch.argsort(policy_logits, dim=1, descending=True, stable=True)[:, :k]


def sample_actions(policy_logits: torch.Tensor, k: int, rng: Rngs) -> torch.Tensor:
    """[B, A] logits -> [B, k]: the best action, then k-1 others drawn without replacement from the policy.

    Gumbel-top-k (Kool et al. 2019, as in Gumbel MuZero): the k-1 largest of logits + Gumbel noise
    over the other actions are a sample without replacement from softmax(logits) restricted to them.
    The policy's first choice is always searched, so the target never marks it down unseen.
    """
    best = rank_actions(policy_logits, 1)                                           # [B, 1]
    u = uniforms(rng, *policy_logits.shape)                                        # [B, A]
    gumbel = torch.from_numpy(-np.log(-np.log(np.clip(u, 1e-12, 1 - 1e-12)))).to(policy_logits)
    scores = (policy_logits.detach() + gumbel).scatter(1, best, float("inf"))       # [B, A]
    return rank_actions(scores, k)


def action_values(rewards: torch.Tensor, values: torch.Tensor, discount: float, q_rule: str) -> torch.Tensor:
    """Q of each rollout from its D rewards [N, D] and D+1 values [N, D+1] (v0 at the root).

    mean (the original's, as written): mean(v0, γ^0 v1, γ^1 v2, ..., γ^(D-1) v_D) + Σ_i γ^i r_(i+1)
    nstep:                             Σ_i γ^i r_(i+1) + γ^D v_D
    """
    d = rewards.shape[1]
    powers = discount ** torch.arange(d, dtype=rewards.dtype)                      # [D]
    ret = (rewards * powers).sum(1)                                                 # [N]
    if q_rule == "mean":
        later = values[:, 1:] * powers                                              # [N, D]
        return (values[:, 0] + later.sum(1)) / (d + 1) + ret
    if q_rule == "nstep":
        return ret + discount ** d * values[:, d]
    raise ValueError(f"unknown q_rule {q_rule!r} (mean or nstep)")


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of [B, N], shifted by each row's max for stability."""
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def normalise_q(q: np.ndarray) -> np.ndarray:
    """[B, A] -> (q - min + 0.001) / (max - min + 0.001) per row."""
    lo = q.min(1, keepdims=True)
    hi = q.max(1, keepdims=True)
    return (q - lo + NORM_EPS) / (hi - lo + NORM_EPS)


# Gumbel MuZero's sigma(q) = (MAXVISIT_INIT + max visits) * VALUE_SCALE * q for q rescaled to [0, 1]
# (mctx's defaults); every searched action has one visit here
MAXVISIT_INIT = 50
VALUE_SCALE = 0.1


def policy_value(logits: np.ndarray, searched: np.ndarray, q_searched: np.ndarray) -> np.ndarray:
    """[B] the prior-weighted mean Q of the searched actions, sum_s p(s) q(s) / sum_s p(s), p = softmax(logits).

    logits [B, A] of the prior, searched [B, k] the searched actions, q_searched [B, k] their Q. What
    following the policy is worth as far as the search saw: unlike the mean over all actions, it does
    not count the unsearched ones at the worst searched Q.
    """
    p_s = np.take_along_axis(softmax(logits.astype(np.float64)), searched, axis=1)   # [B, k]
    return (p_s * q_searched).sum(1) / p_s.sum(1)


def completed_q_policy(logits: np.ndarray, searched: np.ndarray, q_searched: np.ndarray) -> np.ndarray:
    """The improved policy softmax(logits + sigma(completed Q)) [B, A] of Gumbel MuZero (Danihelka et al. 2022).

    logits [B, A] of the prior, searched [B, k] the searched actions, q_searched [B, k] their Q.
    Unsearched actions are completed with the prior-weighted mean Q of the searched ones,
    sum_s p(s) q(s) / sum_s p(s). Gumbel MuZero's v_mix also mixes in the network's root value with
    weight 1/(1+k); here that value learns from root values (unsearched actions at the minimum,
    biased low) and the orig Q rule is not a return on the value's scale, so it is left out.
    Completed Q is min-max rescaled to [0, 1] per row, then sigma = (50 + 1 visit) * 0.1 * q (mctx's
    defaults). Unlike the orig target (+0.001 in the normalisation), Q differences of any size are
    spread over the full sigma range of 5.1.
    """
    logits = logits.astype(np.float64)
    mixed = policy_value(logits, searched, q_searched)                              # [B]
    completed = np.repeat(mixed[:, None], logits.shape[1], axis=1)                  # [B, A]
    np.put_along_axis(completed, searched, q_searched, axis=1)
    lo, hi = completed.min(1, keepdims=True), completed.max(1, keepdims=True)
    rescaled = (completed - lo) / np.maximum(hi - lo, 1e-8)
    return softmax(logits + (MAXVISIT_INIT + 1) * VALUE_SCALE * rescaled)


def truncated_search(root: InferenceOutput, recurrent_fn: RecurrentFn, *, root_actions: int,
                     search_depth: int, discount: float, q_rule: str = "mean",
                     sample_rng: Optional[Rngs] = None,
                     policy_target: str = "normalised_q", root_value: str = "mean") -> SearchResult:
    """Look ahead from root_actions actions of each root; return Q, root value, target policy.

    root: initial inference of B observations (hidden [B, ...], value [B], policy_logits [B, A]).
    The searched actions are the policy's top root_actions, or, given sample_rng, its top
    action plus root_actions-1 others sampled from the policy (`sample_actions`).
    policy_target: "normalised_q" (normalised Q over its sum, the original's) or "completed_q" (`completed_q_policy`).
    root_value: "mean" (Q averaged over all A actions, unsearched at the minimum, the original's) or
    "policy" (`policy_value`).
    """
    logits = root.policy_logits
    b, a = logits.shape
    k = min(root_actions, a)
    searched = rank_actions(logits, k) if sample_rng is None else sample_actions(logits, k, sample_rng)   # [B, k]
    hidden = root.hidden.repeat_interleave(k, dim=0)                                # [B*k, ...]
    action = searched.reshape(-1)                                                   # [B*k]
    rewards, values = [], [root.value.repeat_interleave(k)]                         # v0 per rollout
    for _ in range(search_depth):
        out = recurrent_fn(hidden, action)
        rewards.append(out.reward)
        values.append(out.value)
        hidden, action = out.hidden, out.policy_logits.argmax(dim=1)
    q_searched = action_values(torch.stack(rewards, 1).float(), torch.stack(values, 1).float(),
                               discount, q_rule).view(b, k).cpu().numpy().astype(np.float64)   # [B, k]
    searched_np = searched.cpu().numpy()
    q = np.repeat(q_searched.min(1, keepdims=True), a, axis=1)                      # [B, A] unsearched = min
    np.put_along_axis(q, searched_np, q_searched, axis=1)
    norm = normalise_q(q)
    if policy_target == "normalised_q":
        policy = norm / norm.sum(1, keepdims=True)
    elif policy_target == "completed_q":
        policy = completed_q_policy(logits.detach().cpu().numpy(), searched_np, q_searched)
    else:
        raise ValueError(f"unknown policy_target {policy_target!r} (normalised_q or completed_q)")
    if root_value == "mean":
        value = q.mean(1)
    elif root_value == "policy":
        value = policy_value(logits.detach().cpu().numpy(), searched_np, q_searched)
    else:
        raise ValueError(f"unknown root_value {root_value!r} (mean or policy)")
    return SearchResult(q=q.astype(np.float32), root_value=value.astype(np.float32),
                        policy=policy.astype(np.float32), normalised_q=norm.astype(np.float32),
                        searched=searched_np)


def select_actions(normalised_q: np.ndarray, inverse_temperature: float | np.ndarray, rng: Rngs,
                   greedy: bool = False) -> np.ndarray:
    """[B, A] -> [B] actions: sampled from softmax(t * normalised q), or the argmax when greedy.

    inverse_temperature: one t for all rows, or [B] one a row.
    """
    if greedy:
        return normalised_q.argmax(1)
    t = np.asarray(inverse_temperature, dtype=np.float64).reshape(-1, 1)           # [B or 1, 1]
    return sample_policy(softmax(t * normalised_q.astype(np.float64)), rng)


def sample_policy(policy: np.ndarray, rng: Rngs) -> np.ndarray:
    """[B, A] rows of probabilities -> [B] one action drawn from each row (one uniform a row)."""
    u = uniforms(rng, policy.shape[0], 1)                                           # [B, 1]
    return np.minimum((policy.cumsum(1) < u).sum(1), policy.shape[1] - 1)
