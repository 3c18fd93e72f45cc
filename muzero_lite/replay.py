"""Prioritized replay over a window of loaded games, and training batch assembly (SPEC §4).

Each position of a game has a priority; a game's priority is the sum of its position priorities
(= their mean times the game's length). A sample draws a game with P(g) proportional to its
priority, then a position in it with P(p|g) proportional to the position's priority. Its
importance weight is 1 / (P(g) P(p|g)), normalised by the batch maximum, raised to priority_beta.

Games get increasing ids 0, 1, 2, ... and leave oldest first, so the ids in the buffer are always
the contiguous range [first_id, next_id): an id's index in the buffer is id - first_id, and an id
below first_id belongs to an evicted game. Frames are kept as stored (uint8 for images); network
inputs are stacked only for the samples of a batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .config import TrainConfig
from .observations import stack_observations
from .targets import unroll_targets, value_targets
from .types import Batch, GameRecord


@dataclass
class _StoredGame:
    """A game in the buffer: the record as loaded, its value targets and position priorities."""
    record: GameRecord
    # [T] float32 n-step value targets (root values never change, so computed once)
    z_t: np.ndarray
    # [T] float64 priority of each position
    priorities: np.ndarray


class ReplayBuffer:
    """A window of the most recent cfg.window_size moves, sampled by priority."""

    def __init__(self, cfg: TrainConfig, stack_moves: int, num_actions: int, rng: np.random.Generator):
        if stack_moves < 1 or num_actions < 1:
            raise ValueError(f"stack_moves = {stack_moves}, num_actions = {num_actions}: both must be >= 1")
        self.cfg = cfg
        self.stack_moves = stack_moves
        self.num_actions = num_actions
        self.rng = rng
        self._games: list[_StoredGame] = []          # oldest first; index = game id - first_id
        self._sums = np.zeros(0, dtype=np.float64)   # [num_games] priority of each game
        self._first_id = 0
        self._num_moves = 0
        self._total_moves_added = 0

    # ------------------------------------------------------------------ size

    @property
    def num_games(self) -> int:
        return len(self._games)

    @property
    def num_moves(self) -> int:
        """Moves (positions) now in the buffer."""
        return self._num_moves

    @property
    def total_moves_added(self) -> int:
        """Moves ever added, evicted ones included."""
        return self._total_moves_added

    @property
    def game_ids(self) -> range:
        """Ids of the games now in the buffer, oldest first."""
        return range(self._first_id, self._first_id + len(self._games))

    # ------------------------------------------------------------------ adding

    # Load one finished game; older games leave whole while the window is over its size.
    def add(self, record: GameRecord) -> int:
        """Store a game with new_priority at every position; returns its game id."""
        t_len = record.length
        if t_len < 1:
            raise ValueError("cannot add a game with no moves")
        if record.num_actions != self.num_actions:
            raise ValueError(f"game has {record.num_actions} actions in its policies; the buffer was made for {self.num_actions}")
        for name in ("frames", "rewards", "root_values", "policies"):
            n = getattr(record, name).shape[0]
            if n != t_len:
                raise ValueError(f"game {name} has {n} entries; expected one per move ({t_len})")
        z_t = value_targets(record.rewards, record.root_values, self.cfg.discount, self.cfg.td_steps)
        priorities = np.full(t_len, self.cfg.new_priority, dtype=np.float64)
        self._games.append(_StoredGame(record=record, z_t=z_t, priorities=priorities))
        self._sums = np.append(self._sums, priorities.sum())
        self._num_moves += t_len
        self._total_moves_added += t_len
        game_id = self._first_id + len(self._games) - 1
        self._evict()
        return game_id

    # Drop the oldest games while over the window, never the newest (it may alone exceed it).
    def _evict(self) -> None:
        drop = 0
        moves = self._num_moves
        while moves > self.cfg.window_size and drop < len(self._games) - 1:
            moves -= self._games[drop].record.length
            drop += 1
        if drop:
            del self._games[:drop]
            self._sums = self._sums[drop:].copy()
            self._first_id += drop
            self._num_moves = moves

    # ------------------------------------------------------------------ priorities

    # Index of a game id in the buffer, or None for an evicted (or never added) game.
    def _index(self, game_id: int) -> Optional[int]:
        i = int(game_id) - self._first_id
        return i if 0 <= i < len(self._games) else None

    def position_priorities(self, game_id: int) -> np.ndarray:
        """[T] copy of a game's position priorities (KeyError if it is not in the buffer)."""
        i = self._index(game_id)
        if i is None:
            raise KeyError(f"game {game_id} is not in the buffer (ids {self._first_id}..{self._first_id + len(self._games) - 1})")
        return self._games[i].priorities.copy()

    # After a training step: the unrolled positions t+k get the trainer's new priorities.
    def update_priorities(self, game_ids: np.ndarray, positions: np.ndarray, new_priorities: np.ndarray,
                          mask: Optional[np.ndarray] = None) -> None:
        """Set the priority of position t+k of each sample's game to new_priorities[b, k].

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
        idx = positions[:, None] + np.arange(k1)[None, :]                      # [B, K+1] t+k
        for gid in np.unique(game_ids):
            i = self._index(gid)
            if i is None:
                continue
            game = self._games[i]
            rows = game_ids == gid
            sel = keep[rows] & (idx[rows] < game.record.length)                # [b_g, K+1]
            values = new_priorities[rows][sel]
            if not np.all(np.isfinite(values) & (values > 0)):
                raise ValueError(f"new priorities must be finite and > 0; got {values[~(np.isfinite(values) & (values > 0))][:5]}")
            game.priorities[idx[rows][sel]] = values
            # recomputed, not adjusted by differences, so the game sum never drifts
            self._sums[i] = game.priorities.sum()

    # ------------------------------------------------------------------ sampling

    # Draw a training batch by priority, with its network inputs, targets and importance weights.
    def sample(self, batch_size: int, num_unroll_steps: int) -> Batch:
        """B samples: game by game priority, position by position priority; see the module doc."""
        if not self._games:
            raise ValueError("cannot sample from an empty replay buffer")
        if batch_size < 1 or num_unroll_steps < 0:
            raise ValueError(f"batch_size = {batch_size}, num_unroll_steps = {num_unroll_steps}: need >= 1 and >= 0")
        b, k_len = batch_size, num_unroll_steps
        total = self._sums.sum()
        p_game = self._sums / total                                               # [G]
        game_idx = self.rng.choice(len(self._games), size=b, p=p_game)            # [B]
        positions = np.zeros(b, dtype=np.int64)                                   # [B]
        p_position = np.zeros(b, dtype=np.float64)                                # [B] P(p|g)
        observations = None
        actions = np.zeros((b, k_len), dtype=np.int64)
        target_values = np.zeros((b, k_len + 1), dtype=np.float32)
        target_rewards = np.zeros((b, k_len + 1), dtype=np.float32)
        target_policies = np.zeros((b, k_len + 1, self.num_actions), dtype=np.float32)
        # one pass per distinct game: its positions, stacked inputs and targets, put back in batch order
        for i in np.unique(game_idx):
            rows = np.flatnonzero(game_idx == i)                                  # [b_g]
            game = self._games[i]
            rec = game.record
            p_in_game = game.priorities / self._sums[i]                           # [T]
            pos = self.rng.choice(rec.length, size=rows.size, p=p_in_game)        # [b_g]
            positions[rows] = pos
            p_position[rows] = p_in_game[pos]
            obs = stack_observations(rec.frames, rec.actions, pos, self.stack_moves, self.num_actions)
            if observations is None:
                observations = np.zeros((b,) + obs.shape[1:], dtype=np.float32)
            observations[rows] = obs
            tg = unroll_targets(game.z_t, rec.rewards, rec.policies, rec.actions, pos, k_len, self.rng)
            actions[rows] = tg.actions
            target_values[rows] = tg.target_values
            target_rewards[rows] = tg.target_rewards
            target_policies[rows] = tg.target_policies
        raw = 1.0 / (p_game[game_idx] * p_position)                               # [B]
        weights = (raw / raw.max()) ** self.cfg.priority_beta                     # [B] in (0, 1]
        return Batch(observations=observations, actions=actions, target_values=target_values,
                     target_rewards=target_rewards, target_policies=target_policies,
                     weights=weights.astype(np.float32),
                     game_ids=(game_idx + self._first_id).astype(np.int64), positions=positions)
