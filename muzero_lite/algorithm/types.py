"""Records that cross module lines, each field with its shape.

Letters used everywhere: B batch, K unroll steps, A actions, S support size (2*support_size+1
bins), D search depth, T game length (moves), F frames per move, H x W frame size, C colour
channels of a stored frame (3 RGB, 1 grey), O size of a vector observation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

import numpy as np

GAME_FORMAT_VERSION = 1


@dataclass
class GameRecord:
    """One finished game: what self-play writes and the trainer learns from.

    Position t (0 <= t < T) is the state before move t: frames[t] is what was seen there,
    actions[t] the move taken, rewards[t] the reward of that move, root_values[t] and
    policies[t] what the search said there.
    """
    # [T, F, H, W, C] uint8 for images, [T, O] float32 for vector observations
    frames: np.ndarray
    # [T] int64, each in [0, A)
    actions: np.ndarray
    # [T] float32, the (scaled) reward of each move
    rewards: np.ndarray
    # [T] float32, the search's root value at each position
    root_values: np.ndarray
    # [T, A] float32, the search's target policy at each position (rows sum to 1)
    policies: np.ndarray
    # JSON-able facts: env, level, worker, checkpoint_step, config_digest, return, max_x, flag, ...
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        """T: the number of moves."""
        return int(self.actions.shape[0])

    @property
    def num_actions(self) -> int:
        """A: the number of actions (columns of policies)."""
        return int(self.policies.shape[1])


class GameSpec(NamedTuple):
    """What fixes the shapes of a game's stored moves and of its networks (from the config, no env started)."""
    # shape of the frames of one move: (F, H, W, C) for images, (O,) for vectors
    frame_shape: tuple
    # np.uint8 for images, np.float32 for vectors
    frame_dtype: np.dtype
    # A: the number of actions
    num_actions: int


class InferenceOutput(NamedTuple):
    """What the networks say about a batch of hidden states (B may be B*k inside the search)."""
    # [B, ...] min-max scaled hidden state: [B, channels, hw, hw] (conv) or [B, latent] (mlp)
    hidden: Any
    # [B] scalar value (inverse-transformed from the categorical support)
    value: Any
    # [B] scalar reward of the transition into this state (0 for initial inference)
    reward: Any
    # [B, A] policy logits
    policy_logits: Any


class SearchResult(NamedTuple):
    """Truncated search output for a batch of B observations (numpy)."""
    # [B, A] action values; actions not searched hold the minimum searched value
    q: np.ndarray
    # [B] mean of q over all actions (docs/algorithm.md §3): stored as the root value
    root_value: np.ndarray
    # [B, A] (q - min + 0.001)/(max - min + 0.001), then divided by its sum: the target policy
    policy: np.ndarray
    # [B, A] (q - min + 0.001)/(max - min + 0.001): what action selection softmaxes
    normalised_q: np.ndarray
    # [B, k] the searched actions, the policy's first choice first
    searched: np.ndarray


class Batch(NamedTuple):
    """A training batch of B samples unrolled K steps (numpy; the trainer moves it to torch)."""
    # [B, C_in, H, W] or [B, O_in] network input at each sample's position
    observations: np.ndarray
    # [B, K] actions applied by unroll steps 1..K (past the end of a game: random)
    actions: np.ndarray
    # [B, K+1] value targets (scalar) for steps 0..K
    target_values: np.ndarray
    # [B, K+1] reward targets; column 0 is unused (0)
    target_rewards: np.ndarray
    # [B, K+1, A] target policies (uniform past the end of a game)
    target_policies: np.ndarray
    # [B] importance-sampling weights in (0, 1]
    weights: np.ndarray
    # [B] index of each sample's game in the buffer, and [B] its position in that game
    game_ids: np.ndarray
    positions: np.ndarray
    # [B, K+1] 1 where step k has a target (inside the game, or past the end of a game that really
    # ended: an absorbing state), 0 past the end of a game cut short by a time limit; None: all 1
    mask: Optional[np.ndarray] = None
    # train.value_bootstrap fresh (else None): [B*(K+1), *input_shape] network input at each step's
    # bootstrap position t+k+n (b-major: sample b's K+1 steps together), and [B, K+1] the weight of its
    # value in the target (targets.bootstrap_discounts; target_values then hold the rewards part only)
    bootstrap_observations: Optional[np.ndarray] = None
    bootstrap_discounts: Optional[np.ndarray] = None
    # train.observation_weight > 0 (else None): [B, K+1, O] the frame observed at t+k (vector frames;
    # zeros past the end of a game: learned as the absorbing state's frame where `mask` is 1, after a game
    # that really ended, like its value 0; masked out after one cut short)
    target_frames: Optional[np.ndarray] = None
