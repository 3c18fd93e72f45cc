"""The env interface the rest of the code plays through, and the helpers its adapters share.

A move repeats one action for `frame_skip` frames and returns the move's frames, its (scaled)
reward, done and info. `info` always has `moves` (moves so far), `terminated` (the game really
ended) and `truncated` (ended by max_moves or by the env's own time limit, and not terminated);
`done = terminated or truncated`. Every game ends after `max_moves` moves at most.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..algorithm.types import GameSpec


class Env:
    """A game seen move by move: what self-play, evaluation and gifs use."""
    # A: the number of actions; step takes an int in [0, A)
    num_actions: int
    # shape of the frames of one move: (F, H, W, C) for images, (O,) for vectors
    frame_shape: tuple
    # np.uint8 for images, np.float32 for vectors
    frame_dtype: np.dtype

    @property
    def spec(self) -> GameSpec:
        """Frame shape, frame dtype and number of actions of this env's game."""
        return GameSpec(tuple(self.frame_shape), self.frame_dtype, self.num_actions)

    @property
    def action_names(self) -> list[str]:
        """A name for each action, for gifs: "action 0", "action 1", ... unless the env knows better."""
        return [f"action {i}" for i in range(self.num_actions)]

    def reset(self, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Start a game (the rng picks its level or seed); returns the frames of position 0 and info."""
        raise NotImplementedError

    def step(self, action: int) -> tuple[np.ndarray, float, bool, dict]:
        """Play one move; returns its frames, its (scaled) reward, done, info."""
        raise NotImplementedError

    def render_rgb(self) -> np.ndarray | None:
        """Colour image [h, w, 3] uint8 of the current screen for gifs; None if the env cannot render."""
        return None

    def close(self) -> None:
        """Free the emulator or env."""

    def __enter__(self) -> "Env":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def check_action(action: Any, n: int, env_name: str) -> int:
    """The action as an int in [0, n), or a ValueError that names the env and the bad value."""
    arr = np.asarray(action)
    if arr.ndim != 0 or arr.dtype.kind not in "iu" or not 0 <= int(arr) < n:
        raise ValueError(f"{env_name}: action {action!r} is not an integer in [0, {n})")
    return int(arr)


def with_counters(info: dict, moves: int, terminated: bool, truncated: bool) -> dict:
    """The info returned to callers: a fresh dict with the move counters added."""
    return {**info, "moves": moves, "terminated": bool(terminated), "truncated": bool(truncated)}
