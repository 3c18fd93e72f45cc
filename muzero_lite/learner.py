"""Losses and optimisation of one training step (SPEC §4), with no files or envs.

Main loss, per sample, over the unroll k = 0..K (recurrent steps scaled by 1/K):
    CE(value) + CE(reward, k >= 1) + CE(policy) - exploration_weight * CE(softmax(policy) -> exploration)
optimised over every network except the exploration network; gradients into each hidden state are
halved. The exploration network has its own optimiser and learns CE(softmax(policy).detach() ->
exploration) on detached hidden states, so the policy is pushed towards moves it does not expect.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .config import TrainConfig
from .networks import MuZeroNetworks
from .support import logits_to_scalar, scalar_to_two_hot
from .types import Batch


class StepMetrics(NamedTuple):
    """Mean losses of one step (unweighted by importance), for status lines and CSV."""
    value: float
    reward: float
    policy: float
    exploration: float
    total: float


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity forward; multiplies the gradient flowing back by scale."""
    return x * scale + x.detach() * (1 - scale)


def soft_ce(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of target distributions [B, N] against logits [B, N] -> [B]."""
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1)


class Learner:
    """The networks' two optimisers and the training step."""

    def __init__(self, cfg: TrainConfig, networks: MuZeroNetworks, support_size: int, device: torch.device):
        self.cfg, self.net, self.support_size, self.device = cfg, networks, support_size, device
        self.optimizer = torch.optim.Adam(networks.main_parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.exploration_optimizer = torch.optim.Adam(networks.exploration.parameters(),
                                                      lr=cfg.lr * cfg.exploration_lr_ratio)
        self.step = 0

    def _tensor(self, x: np.ndarray, dtype=torch.float32) -> torch.Tensor:
        return torch.as_tensor(x, dtype=dtype, device=self.device)

    def train_step(self, batch: Batch) -> tuple[StepMetrics, np.ndarray]:
        """One update of both optimisers; returns metrics and new priorities [B, K+1] (|v - z| + eps)."""
        net, cfg = self.net, self.cfg
        net.train()
        obs = self._tensor(batch.observations)
        actions = self._tensor(batch.actions, torch.long)                      # [B, K]
        z = self._tensor(batch.target_values)                                  # [B, K+1]
        u = self._tensor(batch.target_rewards)                                 # [B, K+1]
        pi = self._tensor(batch.target_policies)                               # [B, K+1, A]
        weights = self._tensor(batch.weights)                                  # [B]
        k_steps = actions.shape[1]
        z2 = scalar_to_two_hot(z, self.support_size)                           # [B, K+1, S]
        u2 = scalar_to_two_hot(u, self.support_size)

        hidden = net.represent(obs)
        per_sample = torch.zeros_like(weights)
        parts = torch.zeros(4, device=self.device)
        hiddens, probs, values = [], [], []
        for k in range(k_steps + 1):
            if k > 0:
                hidden, reward_logits = net.dynamics_step(scale_gradient(hidden, 0.5), actions[:, k - 1])
            value_logits, policy_logits = net.predict(hidden)
            scale = 1.0 if k == 0 else 1.0 / k_steps
            l_value = soft_ce(z2[:, k], value_logits)
            l_reward = soft_ce(u2[:, k], reward_logits) if k > 0 else torch.zeros_like(l_value)
            l_policy = soft_ce(pi[:, k], policy_logits)
            p = torch.softmax(policy_logits, dim=-1)
            l_explore = soft_ce(p, net.exploration(hidden))                    # gradient into policy and hidden
            per_sample = per_sample + scale * (l_value + l_reward + l_policy - cfg.exploration_weight * l_explore)
            parts = parts + scale * torch.stack([l_value.mean(), l_reward.mean(), l_policy.mean(), l_explore.mean()]).detach()
            hiddens.append(hidden.detach())
            probs.append(p.detach())
            values.append(logits_to_scalar(value_logits.detach()))
        loss = (per_sample * weights).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.main_parameters(), cfg.grad_clip)
        self.optimizer.step()

        # the exploration network learns to predict the policy (both detached: only it moves)
        explore_loss = sum((1.0 if k == 0 else 1.0 / k_steps) * soft_ce(probs[k], net.exploration(hiddens[k])).mean()
                           for k in range(k_steps + 1))
        self.exploration_optimizer.zero_grad(set_to_none=True)
        explore_loss.backward()
        torch.nn.utils.clip_grad_norm_(net.exploration.parameters(), cfg.grad_clip)
        self.exploration_optimizer.step()
        self.step += 1

        predicted = torch.stack(values, 1)                                     # [B, K+1]
        priorities = ((predicted - z).abs() + cfg.priority_epsilon).cpu().numpy()
        v, r, pol, ex = parts.tolist()
        return StepMetrics(v, r, pol, ex, float(loss.item())), priorities

    def state(self) -> dict:
        """What a checkpoint holds of the learner."""
        return {"networks": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "exploration_optimizer": self.exploration_optimizer.state_dict(), "step": self.step}

    def load(self, payload: dict) -> None:
        """Resume from a checkpoint payload: weights, both optimiser states, the step."""
        self.net.load_state_dict(payload["networks"])
        if payload.get("optimizer"):
            self.optimizer.load_state_dict(payload["optimizer"])
        if payload.get("exploration_optimizer"):
            self.exploration_optimizer.load_state_dict(payload["exploration_optimizer"])
        self.step = int(payload["step"])
