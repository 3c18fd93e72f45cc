"""Losses and optimisation of one training step (SPEC §4), with no files or envs.

Main loss, per sample, over the unroll k = 0..K (recurrent steps scaled by 1/K):
    CE(value) + CE(reward, k >= 1) + CE(policy) - exploration_weight * CE(softmax(policy) -> exploration)
optimised over every network except the exploration network; gradients into each hidden state are
halved. The exploration network has its own optimiser and learns CE(softmax(policy).detach() ->
exploration) on detached hidden states, so the policy is pushed towards moves it does not expect.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoints import eval_weights
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


def ema_decay(half_life: float) -> float:
    """Per-step decay of an exponential moving average whose weights halve every `half_life` steps."""
    return 0.5 ** (1.0 / half_life)


def ema_init(state: dict, device: Optional[torch.device] = None) -> dict:
    """A detached copy of a state dict (on `device`, else where it is) to average into."""
    return {k: v.detach().to(device=device, copy=True) for k, v in state.items()}


@torch.no_grad()
def ema_update(ema: dict, state: dict, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * state for float tensors; other tensors are copied."""
    for k, v in ema.items():
        if v.is_floating_point():
            v.lerp_(state[k], 1.0 - decay)
        else:
            v.copy_(state[k])


class Learner:
    """The networks' two optimisers and the training step."""

    def __init__(self, cfg: TrainConfig, networks: MuZeroNetworks, support_size: int, device: torch.device):
        self.cfg, self.net, self.support_size, self.device = cfg, networks, support_size, device
        self.main_params = networks.main_parameters()
        self.explore_params = list(networks.exploration.parameters())
        # foreach: one fused update over all tensors (torch picks the per-tensor loop on CPU otherwise)
        self.optimizer = torch.optim.Adam(self.main_params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
        self.exploration_optimizer = torch.optim.Adam(self.explore_params, lr=cfg.lr * cfg.exploration_lr_ratio,
                                                      foreach=True)
        self.step = 0
        # eval's weights: every float tensor of the state dict, averaged with decay 0.5 ** (1 / half-life)
        self.ema = ema_init(networks.state_dict()) if cfg.eval_ema_half_life else None

    def _tensor(self, x: np.ndarray, dtype=torch.float32) -> torch.Tensor:
        return torch.as_tensor(x, dtype=dtype, device=self.device)

    def train_step(self, batch: Batch) -> tuple[StepMetrics, np.ndarray]:
        """One update of both optimisers; returns metrics and new priorities [B, K+1] (|v - z| + eps)."""
        net, cfg = self.net, self.cfg
        net.train()
        obs = self._tensor(batch.observations)
        actions = self._tensor(batch.actions, torch.long)                      # [B, K]
        b, k_steps = actions.shape
        # [K+1, B, ...] targets, step-major like the unroll below
        z = self._tensor(batch.target_values).T                                # [K+1, B]
        u = self._tensor(batch.target_rewards).T[1:]                           # [K, B] (column 0 unused)
        pi = self._tensor(batch.target_policies).transpose(0, 1)               # [K+1, B, A]
        weights = self._tensor(batch.weights)                                  # [B]
        # [K+1, B] 0 for steps past the end of a game cut short (no target there)
        mask = torch.ones_like(z) if batch.mask is None else self._tensor(batch.mask).T

        # the dynamics are sequential; every head then runs once on all K+1 hidden states
        hiddens, reward_logits = [net.represent(obs)], []
        for k in range(k_steps):
            h, r = net.dynamics_step(scale_gradient(hiddens[-1], 0.5), actions[:, k])
            hiddens.append(h)
            reward_logits.append(r)
        hidden = torch.cat(hiddens)                                            # [(K+1)B, ...]
        value_logits, policy_logits = net.predict(hidden)                      # [(K+1)B, S], [(K+1)B, A]
        probs = torch.softmax(policy_logits, dim=-1)
        steps = k_steps + 1
        l_value = soft_ce(scalar_to_two_hot(z.reshape(-1), self.support_size), value_logits).view(steps, b)
        l_policy = soft_ce(pi.reshape(steps * b, -1), policy_logits).view(steps, b)
        l_explore = soft_ce(probs, net.exploration(hidden)).view(steps, b)     # gradient into policy and hidden
        if k_steps:
            l_reward = soft_ce(scalar_to_two_hot(u.reshape(-1), self.support_size), torch.cat(reward_logits)).view(k_steps, b)
        else:
            l_reward = torch.zeros(0, b, device=self.device)
        # step 0 counts fully, each recurrent step 1/K
        scale = torch.full((steps, 1), 1.0 / max(k_steps, 1), device=self.device)
        scale[0] = 1.0
        per_step = mask * (l_value + l_policy) - cfg.exploration_weight * l_explore   # [K+1, B]
        # the reward of step k >= 1 belongs to move t+k-1: it has a target where step k-1 has one
        per_sample = (scale * per_step).sum(0) + (scale[1:] * mask[:-1] * l_reward).sum(0)   # [B]
        loss = (per_sample * weights).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.main_params, cfg.grad_clip)
        self.optimizer.step()

        # the exploration network learns to predict the policy (both detached: only it moves)
        explore_loss = (scale * soft_ce(probs.detach(), net.exploration(hidden.detach())).view(steps, b)).sum(0).mean()
        self.exploration_optimizer.zero_grad(set_to_none=True)
        explore_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.explore_params, cfg.grad_clip)
        self.exploration_optimizer.step()
        self.step += 1
        if self.ema is not None:
            ema_update(self.ema, net.state_dict(), ema_decay(cfg.eval_ema_half_life))

        with torch.no_grad():
            predicted = logits_to_scalar(value_logits).view(steps, b)          # [K+1, B]
            priorities = ((predicted - z).abs() + cfg.priority_epsilon).T.cpu().numpy()   # [B, K+1]
            parts = torch.stack([(scale * l_value).sum(0).mean(), (scale[1:] * l_reward).sum(0).mean(),
                                 (scale * l_policy).sum(0).mean(), (scale * l_explore).sum(0).mean(), loss]).tolist()
        return StepMetrics(*parts), priorities

    def state(self) -> dict:
        """What a checkpoint holds of the learner."""
        return {"networks": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "exploration_optimizer": self.exploration_optimizer.state_dict(), "step": self.step,
                "eval_networks": self.ema}

    def load(self, payload: dict) -> None:
        """Resume from a checkpoint payload: weights, both optimiser states, the step."""
        self.net.load_state_dict(payload["networks"])
        if payload.get("optimizer"):
            self.optimizer.load_state_dict(payload["optimizer"])
        if payload.get("exploration_optimizer"):
            self.exploration_optimizer.load_state_dict(payload["exploration_optimizer"])
        self.step = int(payload["step"])
        if self.ema is not None:     # a checkpoint made without an average starts one from its weights
            self.ema = ema_init(eval_weights(payload), self.device)   # loaded on the CPU
