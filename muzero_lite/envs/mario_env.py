"""Super Mario Bros stage games seen through the Env interface (docs/algorithm.md §5).

One life per game, a random level per game from `levels`. A move presses one button combination
for `frame_skip` frames; its screens are framed (`framing`) and its reward is computed from the
emulator's info before and after it (`mario_emulator.mario_reward`). Besides the counters every env has,
info has `stalled`: the game ended because x made no new maximum for `stall_moves` moves (then
`terminated` is true too: nothing comes after a stall, as nothing comes after a death).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..algorithm.types import GameSpec
from ..config import EnvConfig
from . import mario_emulator as mario
from .base import Env, check_action, with_counters
from .framing import ImageFramer, image_frame_shape
from .mario_actions import action_bytes, action_count, action_names


def mario_spec(cfg: EnvConfig) -> GameSpec:
    """The GameSpec of a Mario config, from the config alone (no emulator is started)."""
    return GameSpec(image_frame_shape(cfg, channels_in=3), np.dtype(np.uint8), action_count(cfg.action_set))


class MarioEnv(Env):
    """Super Mario Bros stage games: one life, a random level per game from cfg.levels."""

    def __init__(self, cfg: EnvConfig, seed: int = 0):
        # seed is unused: the emulator is deterministic and reset's rng picks the level
        for level in cfg.levels:
            mario.parse_level(level)
        self.cfg = cfg
        self._bytes = action_bytes(cfg.action_set)
        self.num_actions = len(self._bytes)
        self._framer = ImageFramer(cfg, channels_in=3, image=mario.screen_image)
        self.frame_shape = self._framer.shape
        self.frame_dtype = np.dtype(np.uint8)
        self._emulators: dict[str, Any] = {}  # level -> emulator, made on first use (0.2 s each)
        self._emulator: Any = None
        self._level = ""
        self._info: dict = {}         # the emulator's info before the next move
        self._screen: np.ndarray | None = None  # the current screen (may be a view into the emulator)
        self._screen_of_view: np.ndarray | None = None      # the screen object whose view is cached
        self._view_of_screen: np.ndarray | None = None
        self._moves = 0
        self._done = True
        self._best_x = 0              # the game's largest x_pos so far
        self._since_best = 0          # moves since x_pos last exceeded it

    def _emulator_for(self, level: str) -> Any:
        """The cached emulator of a level, made on first use."""
        if level not in self._emulators:
            self._emulators[level] = mario.make_emulator(level)
        return self._emulators[level]

    def reset(self, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        level = self.cfg.levels[int(rng.integers(len(self.cfg.levels)))]
        self._level = level
        self._emulator = self._emulator_for(level)
        screen, raw = mario.emulator_reset(self._emulator)
        self._screen = screen
        self._info = mario.clean_info(raw, level)
        self._moves = 0
        self._done = False
        self._best_x, self._since_best = self._info["x_pos"], 0
        info = {**with_counters(self._info, 0, False, False), "stalled": False}
        return self._framer.still(mario.grab_screen(screen)), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, dict]:
        a = check_action(action, self.num_actions, f"SuperMarioBros (action_set {self.cfg.action_set!r})")
        if self._done:
            raise RuntimeError("SuperMarioBros: step() after the game ended; call reset() first")
        byte, group = self._bytes[a], self._framer.group
        pooled: list[np.ndarray] = []     # the max of each group of frames, pooled as they come
        for i in range(self.cfg.frame_skip):
            screen, emu_done, raw = mario.emulator_step(self._emulator, byte)
            view = self._view(screen)
            if i % group == 0:
                pooled.append(view.copy())    # the emulator overwrites its screen at the next frame
            else:
                np.maximum(pooled[-1], view, out=pooled[-1])
            if emu_done:
                break
        self._screen = screen
        before, after = self._info, mario.clean_info(raw, self._level)
        self._moves += 1
        flag = after["flag"] and not before["flag"]
        if after["x_pos"] > self._best_x:
            self._best_x, self._since_best = after["x_pos"], 0
        else:
            self._since_best += 1
        stalled = not emu_done and 0 < self.cfg.stall_moves <= self._since_best
        terminated = emu_done or stalled
        truncated = not terminated and self._moves >= self.cfg.max_moves
        reward = mario.mario_reward(before, after, died=emu_done and not after["flag"], flag=flag,
                                    weights=self.cfg.reward) * self.cfg.reward_scale
        self._info = after
        self._done = terminated or truncated
        info = {**with_counters(after, self._moves, terminated, truncated), "stalled": stalled}
        if emu_done and not after["flag"]:
            info["death"] = mario.death_cause(self._emulator, after)
        return self._framer.from_pooled(pooled), float(reward), self._done, info

    def _view(self, screen: np.ndarray) -> np.ndarray:
        """`mario_emulator.screen_view` of screen, worked out once per screen object (nes-py 8 hands out the same one)."""
        if screen is not self._screen_of_view:
            self._screen_of_view, self._view_of_screen = screen, mario.screen_view(screen)
        return self._view_of_screen

    @property
    def action_names(self) -> list[str]:
        """The button combination of each action, e.g. "right+A+B" (`mario_actions.action_names`)."""
        return action_names(self.cfg.action_set)

    def render_rgb(self) -> np.ndarray | None:
        return None if self._screen is None else mario.screen_copy(self._screen)  # [240, 256, 3]

    def close(self) -> None:
        for emulator in self._emulators.values():
            mario.close_emulator(emulator)
        self._emulators.clear()
        self._emulator = None
        self._screen = None
        self._done = True
