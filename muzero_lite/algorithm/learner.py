"""One training step of docs/algorithm.md §4: the networks' two optimisers, the unroll, the update.

The learner unrolls the networks K steps from each sample (gradients into each hidden state are
halved) and hands their outputs to muzero_lite.algorithm.losses: `muzero_loss` is optimised over every
network except the exploration network, which has its own optimiser and learns `exploration_loss`
on detached hidden states. Two options add to the step: `train.value_bootstrap: fresh` (a target
network values each sample's bootstrap positions) and `train.observation_weight` (a frame decoder with
its own optimiser; `losses.observation_loss`). It also keeps the eval weights' moving average, makes the
new replay priorities and saves / loads its state. No files or envs.
"""
from __future__ import annotations

import copy
from typing import NamedTuple, Optional

import numpy as np
import torch

from ..config import TrainConfig
from .losses import Predictions, Targets, exploration_loss, muzero_loss, observation_loss, scale_gradient
from .networks import MuZeroNetworks, use_bf16
from .support import logits_to_scalar
from .types import Batch


class StepMetrics(NamedTuple):
    """The losses of one step, for status lines, CSV and TensorBoard.

    value, reward, policy, exploration: batch means of each term (`losses.LossParts`: no importance
    weights, no mask); observation: the frame decoder's term (`losses.observation_loss`; 0 when
    train.observation_weight is 0). unweighted: their total as the main loss combines them, value + reward
    + policy - exploration_weight * exploration + observation_weight * observation. total: the loss that is
    optimised, importance-weighted and masked, so it differs from `unweighted` (it is smaller when weights
    are below 1).
    """
    value: float
    reward: float
    policy: float
    exploration: float
    total: float
    unweighted: float
    observation: float = 0.0


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
    """The networks' two optimisers and the training step.

    ema_half_life: eval.ema_half_life, the half-life in steps of the eval weights' average (0: none kept).
    frame_size: O of the stored vector frames [O], for train.observation_weight's decoder (0: none).
    """

    def __init__(self, cfg: TrainConfig, networks: MuZeroNetworks, support_size: int, device: torch.device,
                 ema_half_life: float = 0.0, frame_size: int = 0):
        self.cfg, self.net, self.support_size, self.device = cfg, networks, support_size, device
        self.ema_half_life = ema_half_life
        self.main_params = networks.main_parameters()
        self.explore_params = list(networks.exploration.parameters())
        # foreach: one fused update over all tensors (torch picks the per-tensor loop on CPU otherwise)
        self.optimizer = torch.optim.Adam(self.main_params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
        self.exploration_optimizer = torch.optim.Adam(self.explore_params, lr=cfg.lr * cfg.exploration_lr_ratio,
                                                      foreach=True)
        self.bf16, self.bf16_why = use_bf16(cfg.bf16, device, networks.kind)   # why: for the trainer's first line
        self.step = 0
        # eval's weights: every float tensor of the state dict, averaged with decay 0.5 ** (1 / half-life)
        self.ema = ema_init(networks.state_dict()) if ema_half_life else None
        # train.value_bootstrap fresh: the weights that value the bootstrap positions, renewed every
        # target_interval steps (a slower copy than the one being trained keeps the targets from chasing it)
        self.target = None
        if cfg.value_bootstrap == "fresh":
            self.target = copy.deepcopy(networks).eval().requires_grad_(False)
        # train.observation_weight: a linear map from a hidden state to the frame observed there. Training
        # only (acting never reads it), with its own Adam: the main optimiser's state stays the same shape
        self.decoder = self.decoder_optimizer = None
        if cfg.observation_weight > 0:
            if networks.kind != "mlp" or frame_size < 1:
                raise ValueError(f"train.observation_weight needs an mlp network and the frame size; got "
                                 f"{networks.kind}, frame_size {frame_size}")
            self.decoder = torch.nn.Linear(networks.hidden_shape[0], frame_size).to(device)
            self.decoder_optimizer = torch.optim.Adam(self.decoder.parameters(), lr=cfg.lr, foreach=True)

    def _autocast(self):
        """The forward passes' context: bfloat16 autocast on this device when train.bf16 resolves to on."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def _tensor(self, x: np.ndarray, dtype=torch.float32) -> torch.Tensor:
        return torch.as_tensor(x, dtype=dtype, device=self.device)

    @torch.no_grad()
    def bootstrap_values(self, batch: Batch) -> torch.Tensor:
        """[B, K+1] the target network's values of the batch's bootstrap positions (value_bootstrap fresh)."""
        if self.target is None or batch.bootstrap_observations is None or batch.bootstrap_discounts is None:
            raise ValueError("fresh bootstrap values need train.value_bootstrap: fresh and a batch that has "
                             "bootstrap_observations")
        b, steps = batch.bootstrap_discounts.shape
        with self._autocast():
            value_logits, _ = self.target.predict(self.target.represent(self._tensor(batch.bootstrap_observations)))
        return logits_to_scalar(value_logits.float()).view(b, steps)          # [B, K+1] (b-major, as stacked)

    def train_step(self, batch: Batch) -> tuple[StepMetrics, np.ndarray]:
        """One update of both optimisers; returns metrics and new priorities [B, K+1] (|v - z| + eps)."""
        net, cfg = self.net, self.cfg
        net.train()
        obs = self._tensor(batch.observations)                                 # [B, *input_shape]
        actions = self._tensor(batch.actions, torch.long)                      # [B, K]
        b, k_steps = actions.shape
        steps = k_steps + 1
        z = self._tensor(batch.target_values)                                  # [B, K+1]
        if self.target is not None:
            if self.step % cfg.target_interval == 0:
                self.target.load_state_dict(net.state_dict())
            boot = self.bootstrap_values(batch)                                # [B, K+1]
            z = z + self._tensor(batch.bootstrap_discounts) * boot
        # targets step-major like the unroll below, contiguous like the logits they meet
        z = z.T.contiguous()                                                   # [K+1, B]
        mask = torch.ones_like(z) if batch.mask is None else self._tensor(batch.mask).T.contiguous()
        targets = Targets(values=z,
                          rewards=self._tensor(batch.target_rewards).T[1:].contiguous(),   # [K, B] (column 0 unused)
                          policies=self._tensor(batch.target_policies).transpose(0, 1).contiguous(),   # [K+1, B, A]
                          mask=mask)                                           # [K+1, B]

        # the dynamics are sequential; every head then runs once on all K+1 hidden states
        with self._autocast():
            hiddens, reward_logits = [net.represent(obs)], []
            for k in range(k_steps):
                h, r = net.dynamics_step(scale_gradient(hiddens[-1], 0.5), actions[:, k])
                hiddens.append(h)
                reward_logits.append(r)
            hidden = torch.cat(hiddens)                                        # [(K+1)B, ...]
            value_logits, policy_logits = net.predict(hidden)                  # [(K+1)B, S], [(K+1)B, A]
            exploration_logits = net.exploration(hidden)                       # gradient into policy and hidden
        value_logits, policy_logits = value_logits.float(), policy_logits.float()   # the losses in float32
        bins = value_logits.shape[-1]
        predictions = Predictions(
            value_logits=value_logits.view(steps, b, bins),
            reward_logits=torch.stack(reward_logits).float() if k_steps else value_logits.new_zeros(0, b, bins),
            policy_logits=policy_logits.view(steps, b, -1),
            exploration_logits=exploration_logits.float().view(steps, b, -1))
        weights = self._tensor(batch.weights)                                  # [B]
        loss, parts = muzero_loss(predictions, targets, weights,
                                  support_size=self.support_size, exploration_weight=cfg.exploration_weight)
        observed = torch.zeros((), device=self.device)
        if self.decoder is not None:
            if batch.target_frames is None:
                raise ValueError("train.observation_weight > 0 needs batches with target_frames")
            decoded = self.decoder(hidden.float()).view(steps, b, -1)          # [K+1, B, O]
            frames = self._tensor(batch.target_frames).transpose(0, 1)         # [K+1, B, O]
            term, observed = observation_loss(decoded, frames, self._tensor(batch.mask).T, weights)
            loss = loss + cfg.observation_weight * term
            self.decoder_optimizer.zero_grad(set_to_none=True)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.main_params, cfg.grad_clip)
        self.optimizer.step()
        if self.decoder is not None:
            self.decoder_optimizer.step()

        # the exploration network learns to predict the policy (both detached: only it moves)
        with self._autocast():
            explored = net.exploration(hidden.detach())
        explore_loss = exploration_loss(predictions.policy_logits, explored.float().view(steps, b, -1))
        self.exploration_optimizer.zero_grad(set_to_none=True)
        explore_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.explore_params, cfg.grad_clip)
        self.exploration_optimizer.step()
        self.step += 1
        if self.ema is not None:
            ema_update(self.ema, net.state_dict(), ema_decay(self.ema_half_life))

        with torch.no_grad():
            predicted = logits_to_scalar(value_logits).view(steps, b)          # [K+1, B]
            priorities = ((predicted - z).abs() + cfg.priority_epsilon).T.cpu().numpy()   # [B, K+1]
            unweighted = (parts.value + parts.reward + parts.policy - cfg.exploration_weight * parts.exploration
                          + cfg.observation_weight * observed)
            metrics = StepMetrics(*torch.stack([*parts, loss, unweighted, observed]).tolist())
        return metrics, priorities

    def state(self) -> dict:
        """What a checkpoint holds of the learner."""
        out = {"networks": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
               "exploration_optimizer": self.exploration_optimizer.state_dict(), "step": self.step,
               "eval_networks": self.ema}
        if self.decoder is not None:
            out["decoder"] = {"weights": self.decoder.state_dict(), "optimizer": self.decoder_optimizer.state_dict()}
        return out

    def load(self, payload: dict) -> None:
        """Resume from a checkpoint payload: weights, both optimiser states, the step."""
        self.net.load_state_dict(payload["networks"])
        if payload.get("optimizer"):
            self.optimizer.load_state_dict(payload["optimizer"])
        if payload.get("exploration_optimizer"):
            self.exploration_optimizer.load_state_dict(payload["exploration_optimizer"])
        self.step = int(payload["step"])
        if self.decoder is not None and payload.get("decoder"):     # one made without it starts a new decoder
            self.decoder.load_state_dict(payload["decoder"]["weights"])
            self.decoder_optimizer.load_state_dict(payload["decoder"]["optimizer"])
        if self.target is not None:
            self.target.load_state_dict(self.net.state_dict())
        if self.ema is not None:     # a checkpoint made without an average starts one from its weights
            # the average where the checkpoint has one, else its newest weights (as `checkpoints.eval_weights`)
            self.ema = ema_init(payload.get("eval_networks") or payload["networks"], self.device)
