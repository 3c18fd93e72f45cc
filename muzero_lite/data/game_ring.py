"""Ring storage of the replay window: many games back to back, one slot a move (docs/algorithm.md §4).

Each per-move quantity is one array over the N ring slots, so any set of positions, from any games,
is read with array indexing alone. A game's moves lie in consecutive slots (wrapping past the end
of the ring). Games get increasing ids 0, 1, 2, ... and leave oldest first, so the ids in the ring
are always the contiguous range [first_id, first_id + num_games).

The ring keeps the window: while the live games plus a new one hold more than window_size moves,
the oldest games leave whole; the new game always stays, even when it alone is over the window.
A slot that holds no live game has priority 0, so a draw by priority never picks it.

What a game's positions mean for training (value targets, whether it really ended, priorities) is
decided by the caller (replay.ReplayBuffer) and only stored here.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..algorithm.types import GameRecord


class GameRing:
    """The live games of a window of window_size moves, stored back to back in ring arrays.

    The ring arrays, each [N] along its first axis (N = capacity, made at the first add):
      frames [N, *frame]   the frame seen at each position, as stored (uint8 for images)
      actions [N]          the move taken there
      rewards [N]          its reward
      policies [N, A]      the search's target policy there
      z [N]                the value target there
      priorities [N]       its priority; 0 for a slot holding no live game
      move_number [N]      t, the position's index within its game
      remaining [N]        T - t, moves from there to the game's end (T the game's length)
      game_of [N]          the id of its game
      absorbing [N]        its game really ended (past the end: value and reward 0, not unknown)
    """

    # the per-move arrays, all made (and remade) together
    ARRAYS = ("frames", "actions", "rewards", "policies", "z", "priorities", "move_number", "remaining",
              "game_of", "absorbing")

    def __init__(self, window_size: int, num_actions: int):
        self.window_size = window_size
        self.num_actions = num_actions
        self._cap = 0                   # ring slots; the arrays are made at the first add
        self._head = 0                  # slot of the next move written
        self._starts: list[int] = []    # slot of each live game's first move, oldest first
        self._lengths: list[int] = []   # each live game's length, oldest first
        self._first_id = 0              # id of the oldest live game
        self._num_moves = 0
        self._total_moves_added = 0

    # ------------------------------------------------------------------ size

    @property
    def capacity(self) -> int:
        """N, the number of ring slots (0 before the first add)."""
        return self._cap

    @property
    def num_games(self) -> int:
        """Games now in the ring."""
        return len(self._starts)

    @property
    def num_moves(self) -> int:
        """Moves (positions) now in the ring."""
        return self._num_moves

    @property
    def total_moves_added(self) -> int:
        """Moves ever added, evicted ones included."""
        return self._total_moves_added

    @property
    def game_ids(self) -> range:
        """Ids of the games now in the ring, oldest first."""
        return range(self._first_id, self._first_id + len(self._starts))

    # ------------------------------------------------------------------ adding

    def check(self, record: GameRecord) -> None:
        """Raise ValueError if the game cannot be stored: no moves, another number of actions, a
        per-move array of another length, or frames of another shape than the stored games'."""
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

    def add(self, record: GameRecord, z: np.ndarray, absorbing: bool, priority: float) -> int:
        """Store a game, evicting the oldest games whole until it fits the window; returns its id.

        z: [T] value targets of its positions; absorbing: whether the game really ended;
        priority: the priority every one of its positions starts with.
        """
        self.check(record)
        t_len = record.length
        drop = 0
        while drop < len(self._starts) and self._num_moves + t_len > self.window_size:
            self._free(drop)
            drop += 1
        if drop:
            del self._starts[:drop], self._lengths[:drop]
            self._first_id += drop
        need = self._num_moves + t_len
        if need > self._cap:
            self._allocate(record, max(need, self.window_size + t_len, 2 * self._cap))
        slots = (self._head + np.arange(t_len)) % self._cap                         # [T]
        game_id = self._first_id + len(self._starts)
        self.frames[slots] = record.frames
        self.actions[slots] = record.actions
        self.rewards[slots] = record.rewards
        self.policies[slots] = record.policies
        self.z[slots] = z
        self.absorbing[slots] = absorbing
        self.priorities[slots] = priority
        self.move_number[slots] = np.arange(t_len)
        self.remaining[slots] = t_len - np.arange(t_len)
        self.game_of[slots] = game_id
        self._starts.append(self._head)
        self._lengths.append(t_len)
        self._head = (self._head + t_len) % self._cap
        self._num_moves += t_len
        self._total_moves_added += t_len
        return game_id

    def _allocate(self, record: GameRecord, cap: int) -> None:
        """Make the ring arrays with cap slots, shaped after the record's frames and empty.

        Only an empty ring grows: with other games live, the new game fits the window, and the
        first allocation already holds window_size plus the first game's moves. So a game that
        needs more slots arrives only after every other game has left for it.
        """
        assert self._num_moves == 0 and not self._starts, "the ring grows only when empty"
        self.frames = np.zeros((cap,) + record.frames.shape[1:], dtype=record.frames.dtype)   # [N, *frame]
        self.actions = np.zeros(cap, dtype=np.int64)                                        # [N]
        self.rewards = np.zeros(cap, dtype=np.float32)                                      # [N]
        self.policies = np.zeros((cap, self.num_actions), dtype=np.float32)                 # [N, A]
        self.z = np.zeros(cap, dtype=np.float32)                                            # [N]
        self.priorities = np.zeros(cap, dtype=np.float64)                                   # [N] 0 = empty slot
        self.move_number = np.zeros(cap, dtype=np.int64)                                    # [N]
        self.remaining = np.zeros(cap, dtype=np.int64)                                      # [N]
        self.game_of = np.zeros(cap, dtype=np.int64)                                        # [N]
        self.absorbing = np.zeros(cap, dtype=bool)                                          # [N]
        self._head = 0
        self._cap = cap

    def _free(self, i: int) -> None:
        """Empty the slots of the i-th oldest live game (priority 0: never drawn)."""
        slots = (self._starts[i] + np.arange(self._lengths[i])) % self._cap
        self.priorities[slots] = 0.0
        self._num_moves -= self._lengths[i]

    # ------------------------------------------------------------------ finding slots

    def _index(self, game_id: int) -> Optional[int]:
        """Index of a game id among the live games, or None for an evicted (or never added) game."""
        i = int(game_id) - self._first_id
        return i if 0 <= i < len(self._starts) else None

    def slots(self, game_id: int) -> np.ndarray:
        """[T] ring slots of a live game's positions 0..T-1 (KeyError if it is not in the ring)."""
        i = self._index(game_id)
        if i is None:
            raise KeyError(f"game {game_id} is not in the buffer (ids {self._first_id}..{self._first_id + len(self._starts) - 1})")
        return (self._starts[i] + np.arange(self._lengths[i])) % self._cap

    def locate(self, game_ids: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ring slots of positions of several games, and which of them exist.

        game_ids: [B] int64; positions: [B, K] int64 move numbers within each row's game.
        Returns slots [B, K] and inside [B, K] bool: the game is live and the position < its length.
        Slots where inside is False are meaningless.
        """
        live = (game_ids >= self._first_id) & (game_ids < self._first_id + len(self._starts))     # [B]
        if not live.any():
            return np.zeros(positions.shape, dtype=np.int64), np.zeros(positions.shape, dtype=bool)
        index = np.where(live, game_ids - self._first_id, 0)                        # [B] dead rows read game 0
        starts = np.asarray(self._starts, dtype=np.int64)[index]                    # [B]
        lengths = np.asarray(self._lengths, dtype=np.int64)[index]                  # [B]
        inside = live[:, None] & (positions < lengths[:, None])                     # [B, K]
        return (starts[:, None] + positions) % self._cap, inside
