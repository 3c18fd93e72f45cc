"""The training losses of docs/algorithm.md §4 as pure functions of tensors, in the style of rlax.

Holds the cross-entropy `soft_ce`, the gradient scaler `scale_gradient`, the main loss `muzero_loss`
over an unroll of K steps and the exploration network's own loss `exploration_loss`, with their
inputs `Predictions` and `Targets` and the reported `LossParts`. No networks, optimisers, files or
envs: the learner runs the networks and passes their outputs here.

Everything is step-major: [K+1, B, ...] for steps k = 0..K (step 0 is the representation's hidden
state, step k >= 1 the dynamics' k-th), [K, B, ...] for the rewards of steps 1..K. Letters: B batch,
K unroll steps, A actions, S support bins (2 * support_size + 1).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .support import scalar_to_two_hot


class Predictions(NamedTuple):
    """What the networks say along one unroll."""
    # [K+1, B, S] value logits of steps 0..K
    value_logits: torch.Tensor
    # [K, B, S] reward logits of steps 1..K (the transition into step k)
    reward_logits: torch.Tensor
    # [K+1, B, A] policy logits of steps 0..K
    policy_logits: torch.Tensor
    # [K+1, B, A] the exploration network's logits of steps 0..K, on hidden states that keep their
    # gradient: the exploration term of the main loss moves the hidden states too
    exploration_logits: torch.Tensor


class Targets(NamedTuple):
    """What the unroll learns towards (from muzero_lite.algorithm.targets via the replay batch)."""
    # [K+1, B] scalar value targets of steps 0..K
    values: torch.Tensor
    # [K, B] scalar reward targets of steps 1..K
    rewards: torch.Tensor
    # [K+1, B, A] target policies of steps 0..K (rows sum to 1)
    policies: torch.Tensor
    # [K+1, B] 1 where step k has a target, 0 past the end of a game cut short by a time limit
    mask: torch.Tensor


class LossParts(NamedTuple):
    """Scalar tensors (detached) for reports: batch means of each term's step sum, step k >= 1 scaled
    by 1/K, with no importance weights and no mask (masked steps are counted here, not in the total)."""
    value: torch.Tensor
    reward: torch.Tensor
    policy: torch.Tensor
    exploration: torch.Tensor


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity forward; multiplies the gradient flowing back by scale."""
    return x * scale + x.detach() * (1 - scale)


def soft_ce(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of target distributions [..., N] against logits [..., N] -> [...].

    CE(p, l) = -sum_i p_i log softmax(l)_i.
    """
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1)


def _step_scale(steps: int, device: torch.device) -> torch.Tensor:
    """[K+1, 1] weight of each step: 1 for step 0, 1/K for each recurrent step (K = steps - 1)."""
    scale = torch.full((steps, 1), 1.0 / max(steps - 1, 1), device=device)
    scale[0] = 1.0
    return scale


def _check_shapes(p: Predictions, t: Targets, weights: torch.Tensor) -> None:
    """Raise ValueError unless the inputs have the shapes the docstrings give."""
    steps, b, _ = p.value_logits.shape
    a = p.policy_logits.shape[-1]
    expected = {"reward_logits": (steps - 1, b, p.value_logits.shape[-1]), "policy_logits": (steps, b, a),
                "exploration_logits": (steps, b, a), "values": (steps, b), "rewards": (steps - 1, b),
                "policies": (steps, b, a), "mask": (steps, b), "weights": (b,)}
    given = {**p._asdict(), **t._asdict(), "weights": weights}
    for name, shape in expected.items():
        if name != "value_logits" and tuple(given[name].shape) != shape:
            raise ValueError(f"{name} has shape {tuple(given[name].shape)}, expected {shape}")


def muzero_loss(predictions: Predictions, targets: Targets, weights: torch.Tensor, *, support_size: int,
                exploration_weight: float) -> tuple[torch.Tensor, LossParts]:
    """The main loss of one unroll (docs/algorithm.md §4) -> (total, parts).

    predictions: Predictions ([K+1, B, S], [K, B, S], [K+1, B, A], [K+1, B, A]).
    targets: Targets ([K+1, B], [K, B], [K+1, B, A], [K+1, B]); scalar values and rewards become
        two-hot distributions over the S = 2 * support_size + 1 bins (muzero_lite.algorithm.support).
    weights: [B] importance-sampling weights.

    With c_0 = 1, c_k = 1/K for k >= 1, m the mask, p_k = softmax(policy logits of step k) and
    q_k = the exploration logits of step k, the loss of sample b is

        L_b = sum_{k=0..K}  c_k m_k (CE(two_hot(z_k), value_k) + CE(pi_k, policy_k))
            + sum_{k=1..K}  c_k m_{k-1} CE(two_hot(u_k), reward_k)
            - exploration_weight * sum_{k=0..K} c_k CE(p_k, q_k)

    The reward of step k belongs to move t+k-1, so it has a target where step k-1 has one. The
    exploration term needs no target and counts at every step; its gradient flows into the policy
    (pushing it towards moves the exploration network does not expect) and into the hidden states
    through q. total = mean_b(weights_b * L_b), a scalar tensor to backpropagate; parts are
    LossParts (unweighted, unmasked batch means of each term's c-weighted step sum).
    """
    _check_shapes(predictions, targets, weights)
    steps = predictions.value_logits.shape[0]
    scale = _step_scale(steps, predictions.value_logits.device)                       # [K+1, 1]
    mask = targets.mask
    l_value = soft_ce(scalar_to_two_hot(targets.values, support_size), predictions.value_logits)      # [K+1, B]
    l_reward = soft_ce(scalar_to_two_hot(targets.rewards, support_size), predictions.reward_logits)   # [K, B]
    l_policy = soft_ce(targets.policies, predictions.policy_logits)                                   # [K+1, B]
    probs = torch.softmax(predictions.policy_logits, dim=-1)
    l_explore = soft_ce(probs, predictions.exploration_logits)                                        # [K+1, B]
    per_step = mask * (l_value + l_policy) - exploration_weight * l_explore                          # [K+1, B]
    per_sample = (scale * per_step).sum(0) + (scale[1:] * mask[:-1] * l_reward).sum(0)              # [B]
    total = (per_sample * weights).mean()
    with torch.no_grad():
        parts = LossParts(value=(scale * l_value).sum(0).mean(), reward=(scale[1:] * l_reward).sum(0).mean(),
                          policy=(scale * l_policy).sum(0).mean(), exploration=(scale * l_explore).sum(0).mean())
    return total, parts


def observation_loss(decoded: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor,
                     weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How well each unrolled state tells the frame observed at its step (train.observation_weight) -> (total, report).

    decoded: [K+1, B, O] the decoder's output from s^0..s^K; frames: [K+1, B, O] the frames observed at
    t..t+K (their values are targets: no gradient); mask: [K+1, B] 1 where step k has a target (the
    learner passes the batch's mask: inside the game, or the absorbing state after a game that ended,
    whose frame is zeros); weights: [B] importance-sampling weights. With c_0 = 1, c_k = 1/K for k >= 1:

        L_b = sum_{k=0..K} c_k m_k mean_o (decoded_k,o - frame_k,o)^2

    total = mean_b(weights_b * L_b), to add (times observation_weight) to the main loss; report = mean_b(L_b).
    """
    if decoded.shape != frames.shape or decoded.dim() != 3 or tuple(mask.shape) != tuple(decoded.shape[:2]):
        raise ValueError(f"decoded {tuple(decoded.shape)} and frames {tuple(frames.shape)} must both be [K+1, B, O], "
                         f"mask {tuple(mask.shape)} [K+1, B]")
    scale = _step_scale(decoded.shape[0], decoded.device)                              # [K+1, 1]
    per_step = ((decoded.float() - frames.detach().float()) ** 2).mean(-1)             # [K+1, B]
    per_sample = (scale * mask * per_step).sum(0)                                      # [B]
    return (per_sample * weights).mean(), per_sample.detach().mean()


def exploration_loss(policy_logits: torch.Tensor, exploration_logits: torch.Tensor) -> torch.Tensor:
    """The exploration network's own loss (docs/algorithm.md §4): it learns to predict the policy.

    policy_logits: [K+1, B, A]; their softmax is the target and gets no gradient.
    exploration_logits: [K+1, B, A], from the exploration network on detached hidden states, so
        that only the exploration network moves.

        loss = mean_b sum_{k=0..K} c_k CE(softmax(policy_k).detach(), exploration_k)

    with c_0 = 1, c_k = 1/K for k >= 1; no importance weights and no mask. Returns a scalar tensor.
    """
    if policy_logits.shape != exploration_logits.shape or policy_logits.dim() != 3:
        raise ValueError(f"policy_logits {tuple(policy_logits.shape)} and exploration_logits "
                         f"{tuple(exploration_logits.shape)} must both be [K+1, B, A]")
    scale = _step_scale(policy_logits.shape[0], policy_logits.device)
    probs = torch.softmax(policy_logits.detach(), dim=-1)
    return (scale * soft_ce(probs, exploration_logits)).sum(0).mean()
