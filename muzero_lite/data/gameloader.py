"""The trainer's intake: new game files in games/ read, validated and added to the replay buffer.

A bad game file (or anything named like one that is not a regular file, e.g. a symlink) is moved
to games/rejected/ with one warning, and training goes on. Files are read newest first until the
replay window is full: older ones beyond it are never read. Each game added is handed, with its
file name, meta and length, to an optional callback (the trainer counts its env moves and logs it),
oldest first.
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .gamefile import DEFAULT_MAX_BYTES, GameFileError, game_file_names, read_game
from .replay import ReplayBuffer

REJECTED = "rejected"


def max_game_bytes(max_moves: int, frame_shape: tuple, frame_dtype: np.dtype, num_actions: int) -> int:
    """Upper bound on the uncompressed bytes of one honest game file under this config.

    Reads stop there, so a decompression bomb costs at most this much: four times the longest game
    (a later run may raise max_moves) plus 16 MiB for meta.
    """
    per_move = math.prod(frame_shape) * np.dtype(frame_dtype).itemsize + 8 + 4 + 4 + 4 * num_actions
    return 4 * max_moves * per_move + (16 << 20)


# called once per game added to the buffer, oldest first: (file name, meta as read, number of moves)
OnLoad = Callable[[str, dict[str, Any], int], None]


class GameLoader:
    """Finds game files not loaded yet, validates them, feeds the buffer, moves bad ones aside.

    on_load: called right after each game is added to the buffer, oldest first, with the file's
    name, its meta (untrusted JSON values: the callee checks them) and its length; the buffer's
    counters already include that game.
    """

    def __init__(self, folder: Path, buffer: ReplayBuffer, frame_shape: tuple, num_actions: int, out=sys.stdout,
                 max_bytes: Optional[int] = None, on_load: Optional[OnLoad] = None):
        self.folder, self.buffer, self.frame_shape, self.num_actions, self.out = folder, buffer, tuple(frame_shape), num_actions, out
        self.on_load = on_load
        # bound on one file's uncompressed size (the trainer passes max_game_bytes of its config)
        self.max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
        self.seen: set[str] = set()      # names listed before (loaded, rejected or beyond the window)
        self.loaded = 0
        self.rejected = 0

    def _reject(self, path: Path, reason: str) -> None:
        """One warning line, then move path (a symlink itself, never its target) to games/rejected/."""
        self.rejected += 1
        print(f"[train] warning: rejected {path.name}: {reason}", file=self.out, flush=True)
        dest = self.folder / REJECTED
        dest.mkdir(exist_ok=True)
        try:
            os.replace(path, dest / path.name)   # same filesystem: a rename, which never follows links
        except OSError:
            try:
                path.unlink()
            except OSError:
                pass                             # e.g. a non-empty folder: left, but never listed again

    def _read(self, path: Path):
        """The record in path, or None (and the file moved aside) when it is not a valid game."""
        try:
            record = read_game(path, max_bytes=self.max_bytes, num_actions=self.num_actions)
        except GameFileError as e:
            if not os.path.lexists(path):    # deleted (by retention, by hand) between listing and reading
                return None
            self._reject(path, str(e).removeprefix(str(path)).lstrip(": "))
            return None
        if tuple(record.frames.shape[1:]) != self.frame_shape:
            self._reject(path, f"frames of shape {tuple(record.frames.shape[1:])}, the config makes {self.frame_shape}")
            return None
        return record

    def poll(self) -> int:
        """Load every new complete game file (newest first until the window is full); returns moves added."""
        # irregular: named like game files but not regular files (symlinks, folders, FIFOs): rejected so that
        # they are seen, never followed
        listed, irregular = game_file_names(self.folder)
        # names leave `seen` once their files are gone (names are never reused), so it stays small
        self.seen.intersection_update(listed + irregular)
        for name in irregular:
            if name not in self.seen:
                self.seen.add(name)
                self._read(self.folder / name)    # always rejected, with read_game's reason
        new = [self.folder / n for n in listed if n not in self.seen]
        records, moves = [], 0
        for path in reversed(new):          # newest first: older files beyond the window are never read
            self.seen.add(path.name)
            if moves >= self.buffer.cfg.window_size:
                continue
            record = self._read(path)
            if record is not None:
                records.append((path.name, record))
                moves += record.length
        for name, record in reversed(records):    # add oldest first so the window keeps the newest
            self.buffer.add(record)
            self.loaded += 1
            if self.on_load is not None:
                self.on_load(name, record.meta, record.length)
        return moves
