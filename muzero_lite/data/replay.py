"""Prioritized replay over a window of loaded games, and training batch assembly (docs/algorithm.md §4).

Each position of a game has a priority; a game's priority is the sum of its position priorities
(= their mean times the game's length). A sample draws a game with P(g) proportional to its
priority, then a position in it with P(p|g) proportional to the position's priority. Its
importance weight is 1 / (P(g) P(p|g)), normalised by the batch maximum, raised to priority_beta.

Since P(g) P(p|g) = priority_p / total priority, the two draws are done as one: a slot of the
whole ring (game_ring.GameRing, which stores the games back to back, one slot a move), drawn by
its priority. So a batch is assembled with array indexing alone, whatever the number of games in
it. Frames stay as stored (uint8 for images); network inputs are stacked only for the samples of
a batch.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ..algorithm.observations import stack_observations
from ..algorithm.targets import bootstrap_discounts, unroll_targets, value_targets
from ..algorithm.types import Batch, GameRecord
from ..config import Config
from .game_ring import GameRing


class ReplaySettings(NamedTuple):
    """The config values the buffer uses, each read from its one place in the config."""
    # the most recent moves kept; the oldest games leave whole
    window_size: int
    # γ and n of the n-step value targets computed when a game is added
    discount: float
    td_steps: int
    # priority of a new game's positions
    new_priority: float
    # importance weights are raised to this
    priority_beta: float
    # games cut short by a time limit bootstrap from their last root value
    bootstrap_truncated: bool
    # train.value_bootstrap == "fresh": targets store only their rewards part, and each batch carries the
    # inputs at the bootstrap positions t+k+n for the trainer's target network
    fresh_bootstrap: bool = False
    # train.observation_weight > 0: each batch carries the frames observed at t..t+K
    frame_targets: bool = False

    @classmethod
    def of(cls, cfg: Config) -> "ReplaySettings":
        """The settings of a run's config."""
        t = cfg.train
        return cls(t.window_size, cfg.env.discount, t.td_steps, t.new_priority, t.priority_beta, t.bootstrap_truncated,
                   t.value_bootstrap == "fresh", t.observation_weight > 0)


def _from_ring(name: str, doc: str) -> property:
    """A read-only property of the buffer that is the same property of its ring."""
    return property(lambda self: getattr(self.ring, name), doc=doc)


class ReplayBuffer:
    """A window of the most recent cfg.window_size moves, sampled by priority.

    Holds a GameRing (self.ring: the games, their per-move arrays and the window's eviction) and
    adds what training needs on top: value targets and priorities of new games, priority updates,
    draws by priority with importance weights, and the network inputs and targets of a batch.
    """

    def __init__(self, cfg: ReplaySettings, stack_moves: int, num_actions: int, rng: np.random.Generator,
                 action_history: bool = True):
        if stack_moves < 1 or num_actions < 1:
            raise ValueError(f"stack_moves = {stack_moves}, num_actions = {num_actions}: both must be >= 1")
        self.cfg = cfg
        self.stack_moves = stack_moves
        self.num_actions = num_actions
        self.action_history = action_history        # env.action_history: the moves in the network inputs
        self.rng = rng
        self.ring = GameRing(cfg.window_size, num_actions)

    @classmethod
    def of(cls, cfg: Config, num_actions: int, rng: np.random.Generator) -> "ReplayBuffer":
        """The buffer of a run's config: its replay settings, stack and network inputs."""
        return cls(ReplaySettings.of(cfg), cfg.env.stack_moves, num_actions, rng,
                   action_history=cfg.env.action_history)

    # ------------------------------------------------------------------ size

    num_games = _from_ring("num_games", "Games now in the buffer.")
    num_moves = _from_ring("num_moves", "Moves (positions) now in the buffer.")
    total_moves_added = _from_ring("total_moves_added", "Moves ever added, evicted ones included.")
    game_ids = _from_ring("game_ids", "Ids of the games now in the buffer, oldest first.")

    # ------------------------------------------------------------------ adding

    def add(self, record: GameRecord) -> int:
        """Store a game with new_priority at every position; returns its game id.

        Older games leave whole while the window is over its size (the new one always stays).
        """
        self.ring.check(record)        # a bad game is refused before its targets are computed
        # a game cut short by a time limit goes on past its end: bootstrap from its last root value
        cut_short = self.cfg.bootstrap_truncated and not record.meta.get("terminated", True)
        end_value = float(record.root_values[-1]) if cut_short else 0.0
        # fresh bootstrapping: the values at t+n come from the trainer at each draw, only the rewards are kept
        # (and a cut game's end value, used where t+n is past the end)
        v_t = np.zeros_like(record.root_values) if self.cfg.fresh_bootstrap else record.root_values
        z = value_targets(record.rewards, v_t, self.cfg.discount, self.cfg.td_steps, end_value)  # [T]
        return self.ring.add(record, z, absorbing=not cut_short, priority=self.cfg.new_priority)

    # ------------------------------------------------------------------ priorities

    def position_priorities(self, game_id: int) -> np.ndarray:
        """[T] copy of a game's position priorities (KeyError if it is not in the buffer)."""
        slots = self.ring.slots(game_id)                                            # [T]
        return self.ring.priorities[slots].copy()

    def update_priorities(self, game_ids: np.ndarray, positions: np.ndarray, new_priorities: np.ndarray,
                          mask: Optional[np.ndarray] = None) -> None:
        """After a training step: set the priority of position t+k of each sample's game to new_priorities[b, k].

        game_ids, positions: [B] as in the Batch; new_priorities: [B, K+1] (> 0, e.g.
        |predicted value - target value| + priority_epsilon); mask: optional [B, K+1], entries
        with mask 0 are left alone. Positions past the end of a game and games evicted since
        the batch was sampled are ignored. Where two samples cover one position, the later wins.
        """
        game_ids = np.asarray(game_ids, dtype=np.int64)
        positions = np.asarray(positions, dtype=np.int64)
        new_priorities = np.asarray(new_priorities, dtype=np.float64)
        if new_priorities.ndim == 1:
            new_priorities = new_priorities[:, None]
        b, k1 = new_priorities.shape
        if game_ids.shape != (b,) or positions.shape != (b,):
            raise ValueError(f"game_ids {game_ids.shape} and positions {positions.shape} must be [B] = [{b}]")
        keep = np.ones((b, k1), dtype=bool) if mask is None else np.asarray(mask).reshape(b, k1) > 0
        t_k = positions[:, None] + np.arange(k1)[None, :]                           # [B, K+1]
        slots, inside = self.ring.locate(game_ids, t_k)                             # [B, K+1] each
        sel = keep & inside                                                         # [B, K+1]
        values = new_priorities[sel]
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"new priorities must be finite and > 0; got {values[~(np.isfinite(values) & (values > 0))][:5]}")
        self.ring.priorities[slots[sel]] = values

    # ------------------------------------------------------------------ sampling

    def sample(self, batch_size: int, num_unroll_steps: int) -> Batch:
        """B samples drawn by position priority (= game by game priority, then position), with their
        network inputs, targets and importance weights; see the module doc."""
        if not self.ring.num_games:
            raise ValueError("cannot sample from an empty replay buffer")
        if batch_size < 1 or num_unroll_steps < 0:
            raise ValueError(f"batch_size = {batch_size}, num_unroll_steps = {num_unroll_steps}: need >= 1 and >= 0")
        slots, weights = self._draw(batch_size)
        return self._assemble(slots, weights, num_unroll_steps)

    def _draw(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Ring slots [B] drawn with P = priority / total priority, and their importance weights [B]."""
        priorities = self.ring.priorities
        p = priorities / priorities.sum()                                           # [N] = P(g) P(p|g)
        slots = self.rng.choice(self.ring.capacity, size=batch_size, p=p)           # [B]
        raw = 1.0 / p[slots]                                                        # [B]
        weights = (raw / raw.max()) ** self.cfg.priority_beta                       # [B] in (0, 1]
        return slots, weights

    def _assemble(self, slots: np.ndarray, weights: np.ndarray, num_unroll_steps: int) -> Batch:
        """The Batch of drawn ring slots [B]: stacked network inputs and the targets of K unroll steps."""
        ring = self.ring
        t = ring.move_number[slots]                                                 # [B] position in its game
        observations = stack_observations(ring.frames, ring.actions, slots, self.stack_moves, self.num_actions,
                                          game_positions=t, action_history=self.action_history)
        tg = unroll_targets(ring.z, ring.rewards, ring.policies, ring.actions, slots, num_unroll_steps, self.rng,
                            remaining=ring.remaining[slots])
        # past the end of a game that really ended, the targets are known (absorbing): train on them;
        # past the end of one cut short they are not: masked out
        mask = np.maximum(tg.mask, ring.absorbing[slots][:, None])                  # [B, K+1]
        boot_obs = boot_weight = None
        if self.cfg.fresh_bootstrap:
            n = self.cfg.td_steps
            remaining = ring.remaining[slots]                                       # [B]
            boot_weight = bootstrap_discounts(remaining, num_unroll_steps, self.cfg.discount, n)   # [B, K+1]
            ahead = np.arange(num_unroll_steps + 1)[None, :] + n                    # [1, K+1] k + n
            # a position past its game's end has weight 0; its input is read from the game's last position
            ahead = np.minimum(ahead, remaining[:, None] - 1)                       # [B, K+1]
            boot_obs = stack_observations(ring.frames, ring.actions, (slots[:, None] + ahead).ravel(),
                                          self.stack_moves, self.num_actions,
                                          game_positions=(t[:, None] + ahead).ravel(),
                                          action_history=self.action_history)            # [B*(K+1), ...]
        frames = None
        if self.cfg.frame_targets:
            idx = (slots[:, None] + np.arange(num_unroll_steps + 1)[None, :]) % ring.capacity     # [B, K+1]
            frames = (ring.frames[idx] * tg.mask[:, :, None]).astype(np.float32)                  # [B, K+1, O]
        return Batch(observations=observations, actions=tg.actions, target_values=tg.target_values,
                     target_rewards=tg.target_rewards, target_policies=tg.target_policies,
                     weights=weights.astype(np.float32), game_ids=ring.game_of[slots].copy(), positions=t,
                     mask=mask.astype(np.float32), bootstrap_observations=boot_obs, bootstrap_discounts=boot_weight,
                     target_frames=frames)
