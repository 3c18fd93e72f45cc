"""Prioritized replay over a window of loaded games, and training batch assembly (docs/algorithm.md §4).

Each position of a game has a priority; a game's priority is the sum of its position priorities
(= their mean times the game's length). A sample draws a game with P(g) proportional to its
priority, then a position in it with P(p|g) proportional to the position's priority. Its
importance weight is 1 / (P(g) P(p|g)), normalised by the batch maximum, raised to priority_beta.

Since P(g) P(p|g) = priority_p / total priority, the two draws are done as one: a position of the
whole buffer, drawn by its priority. Games are stored back to back in ring arrays (one slot a
move), so a batch is assembled with array indexing alone, whatever the number of games in it.
Games get increasing ids 0, 1, 2, ... and leave oldest first, so the ids in the buffer are the
contiguous range [first_id, next_id). Frames stay as stored (uint8 for images); network inputs
are stacked only for the samples of a batch.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .config import Config
from .observations import stack_observations
from .targets import unroll_targets, value_targets
from .types import Batch, GameRecord


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

    @classmethod
    def of(cls, cfg: Config) -> "ReplaySettings":
        """The settings of a run's config."""
        t = cfg.train
        return cls(t.window_size, cfg.env.discount, t.td_steps, t.new_priority, t.priority_beta, t.bootstrap_truncated)


class ReplayBuffer:
    """A window of the most recent cfg.window_size moves, sampled by priority."""

    def __init__(self, cfg: ReplaySettings, stack_moves: int, num_actions: int, rng: np.random.Generator):
        if stack_moves < 1 or num_actions < 1:
            raise ValueError(f"stack_moves = {stack_moves}, num_actions = {num_actions}: both must be >= 1")
        self.cfg = cfg
        self.stack_moves = stack_moves
        self.num_actions = num_actions
        self.rng = rng
        self._cap = 0                   # ring slots; storage is made at the first add
        self._head = 0                  # slot of the next move written
        self._starts: list[int] = []    # slot of each live game's first move, oldest first
        self._lengths: list[int] = []   # each live game's length
        self._first_id = 0
        self._num_moves = 0
        self._total_moves_added = 0

    # ------------------------------------------------------------------ size

    @property
    def num_games(self) -> int:
        """Games now in the buffer."""
        return len(self._starts)

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
        return range(self._first_id, self._first_id + len(self._starts))

    # ------------------------------------------------------------------ storage

    def _allocate(self, record: GameRecord, cap: int) -> None:
        """(Re)make the ring arrays with cap slots, keeping the live games in order."""
        old = None
        if self._cap and self._starts:
            order = (self._starts[0] + np.arange(self._num_moves)) % self._cap              # live slots, oldest first
            old = {name: arr[order] for name, arr in self._arrays().items()}
        self.frames = np.zeros((cap,) + record.frames.shape[1:], dtype=record.frames.dtype)   # [N, *frame]
        self.actions = np.zeros(cap, dtype=np.int64)                                        # [N]
        self.rewards = np.zeros(cap, dtype=np.float32)                                      # [N]
        self.policies = np.zeros((cap, self.num_actions), dtype=np.float32)                 # [N, A]
        self.z = np.zeros(cap, dtype=np.float32)                                            # [N] value targets
        self.priorities = np.zeros(cap, dtype=np.float64)                                   # [N] 0 = empty slot
        self.move_number = np.zeros(cap, dtype=np.int64)                                    # [N] t within its game
        self.remaining = np.zeros(cap, dtype=np.int64)                                      # [N] T - t
        self.game_of = np.zeros(cap, dtype=np.int64)                                        # [N] game id
        self.absorbing = np.zeros(cap, dtype=bool)                                          # [N] game really ended
        if old is not None:
            n = self._num_moves
            for name, arr in old.items():
                getattr(self, name)[:n] = arr
            shift = self._starts[0]
            self._starts = [(s - shift) % self._cap for s in self._starts]
        self._head = self._num_moves
        self._cap = cap

    def _arrays(self) -> dict:
        """The ring arrays by name."""
        names = ("frames", "actions", "rewards", "policies", "z", "priorities", "move_number", "remaining", "game_of",
                 "absorbing")
        return {n: getattr(self, n) for n in names}

    # ------------------------------------------------------------------ adding

    def add(self, record: GameRecord) -> int:
        """Store a game with new_priority at every position; returns its game id.

        Older games leave whole while the window is over its size (the new one always stays).
        """
        t_len = record.length
        if t_len < 1:
            raise ValueError("cannot add a game with no moves")
        if record.num_actions != self.num_actions:
            raise ValueError(f"game has {record.num_actions} actions in its policies; the buffer was made for {self.num_actions}")
        for name in ("frames", "rewards", "root_values", "policies"):
            n = getattr(record, name).shape[0]
            if n != t_len:
                raise ValueError(f"game {name} has {n} entries; expected one per move ({t_len})")
        if self._cap and record.frames.shape[1:] != self.frames.shape[1:]:
            raise ValueError(f"game frames {record.frames.shape[1:]} differ from the buffer's {self.frames.shape[1:]}")
        # the oldest games leave whole until the new one fits the window (the new one always stays)
        drop = 0
        while drop < len(self._starts) and self._num_moves + t_len > self.cfg.window_size:
            self._free(drop)
            drop += 1
        if drop:
            del self._starts[:drop], self._lengths[:drop]
            self._first_id += drop
        need = self._num_moves + t_len
        if need > self._cap:
            self._allocate(record, max(need, self.cfg.window_size + t_len, 2 * self._cap))
        slots = (self._head + np.arange(t_len)) % self._cap                         # [T]
        game_id = self._first_id + len(self._starts)
        self.frames[slots] = record.frames
        self.actions[slots] = record.actions
        self.rewards[slots] = record.rewards
        self.policies[slots] = record.policies
        # a game cut short by a time limit goes on past its end: bootstrap from its last root value
        cut_short = self.cfg.bootstrap_truncated and not record.meta.get("terminated", True)
        end_value = float(record.root_values[-1]) if cut_short else 0.0
        self.z[slots] = value_targets(record.rewards, record.root_values, self.cfg.discount, self.cfg.td_steps, end_value)
        self.absorbing[slots] = not cut_short
        self.priorities[slots] = self.cfg.new_priority
        self.move_number[slots] = np.arange(t_len)
        self.remaining[slots] = t_len - np.arange(t_len)
        self.game_of[slots] = game_id
        self._starts.append(self._head)
        self._lengths.append(t_len)
        self._head = (self._head + t_len) % self._cap
        self._num_moves += t_len
        self._total_moves_added += t_len
        return game_id

    def _free(self, i: int) -> None:
        """Empty the slots of the i-th oldest live game (priority 0: never sampled)."""
        slots = (self._starts[i] + np.arange(self._lengths[i])) % self._cap
        self.priorities[slots] = 0.0
        self._num_moves -= self._lengths[i]

    # ------------------------------------------------------------------ priorities

    def _index(self, game_id: int) -> Optional[int]:
        """Index of a game id among the live games, or None for an evicted (or never added) game."""
        i = int(game_id) - self._first_id
        return i if 0 <= i < len(self._starts) else None

    def position_priorities(self, game_id: int) -> np.ndarray:
        """[T] copy of a game's position priorities (KeyError if it is not in the buffer)."""
        i = self._index(game_id)
        if i is None:
            raise KeyError(f"game {game_id} is not in the buffer (ids {self._first_id}..{self._first_id + len(self._starts) - 1})")
        return self.priorities[(self._starts[i] + np.arange(self._lengths[i])) % self._cap].copy()

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
        live = (game_ids >= self._first_id) & (game_ids < self._first_id + len(self._starts))     # [B]
        if not live.any():
            return
        index = np.where(live, game_ids - self._first_id, 0)
        starts = np.asarray(self._starts, dtype=np.int64)[index]                    # [B]
        lengths = np.asarray(self._lengths, dtype=np.int64)[index]                  # [B]
        t_k = positions[:, None] + np.arange(k1)[None, :]                           # [B, K+1]
        sel = keep & live[:, None] & (t_k < lengths[:, None])                       # [B, K+1]
        values = new_priorities[sel]
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"new priorities must be finite and > 0; got {values[~(np.isfinite(values) & (values > 0))][:5]}")
        self.priorities[((starts[:, None] + t_k) % max(self._cap, 1))[sel]] = values

    # ------------------------------------------------------------------ sampling

    def sample(self, batch_size: int, num_unroll_steps: int) -> Batch:
        """B samples drawn by position priority (= game by game priority, then position), with their
        network inputs, targets and importance weights; see the module doc."""
        if not self._starts:
            raise ValueError("cannot sample from an empty replay buffer")
        if batch_size < 1 or num_unroll_steps < 0:
            raise ValueError(f"batch_size = {batch_size}, num_unroll_steps = {num_unroll_steps}: need >= 1 and >= 0")
        p = self.priorities / self.priorities.sum()                                # [N] = P(g) P(p|g)
        slots = self.rng.choice(self._cap, size=batch_size, p=p)                    # [B]
        t = self.move_number[slots]
        observations = stack_observations(self.frames, self.actions, slots, self.stack_moves, self.num_actions,
                                          game_positions=t)
        tg = unroll_targets(self.z, self.rewards, self.policies, self.actions, slots, num_unroll_steps, self.rng,
                            remaining=self.remaining[slots])
        raw = 1.0 / p[slots]                                                        # [B]
        weights = (raw / raw.max()) ** self.cfg.priority_beta                       # [B] in (0, 1]
        mask = np.maximum(tg.mask, self.absorbing[slots][:, None])                  # [B, K+1]
        return Batch(observations=observations, actions=tg.actions, target_values=tg.target_values,
                     target_rewards=tg.target_rewards, target_policies=tg.target_policies,
                     weights=weights.astype(np.float32), game_ids=self.game_of[slots].copy(), positions=t,
                     mask=mask.astype(np.float32))
