"""Any Gymnasium env with a Discrete action space, seen through the Env interface.

Image observations (uint8 [H, W] or [H, W, 1 | 3]) are framed like Mario's screens (`framing`);
other Box observations are flattened to float32 vectors [O] (the last one of the move), Discrete
ones one-hot. Rewards are summed over the move's frames and multiplied by `reward_scale`.
"""
from __future__ import annotations

import os
import warnings
from typing import Any

# Gymnasium's classic-control envs draw with pygame, which needs no display with the dummy driver.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402

from ..algorithm.types import GameSpec  # noqa: E402
from ..config import EnvConfig  # noqa: E402
from .base import Env, check_action, with_counters  # noqa: E402
from .framing import ImageFramer, image_frame_shape  # noqa: E402


def _make_gym(env_id: str) -> Any:
    """gymnasium.make with rgb_array rendering where the env supports it."""
    import gymnasium
    try:
        return gymnasium.make(env_id, render_mode="rgb_array")
    except Exception:  # envs without render modes reject the argument in several ways
        return gymnasium.make(env_id)


def _observation_kind(env_id: str, space: Any) -> str:
    """How observations become frames: "image" (uint8 [H, W(, 1|3)]), "vector" (other Box) or "onehot" (Discrete)."""
    from gymnasium import spaces
    if isinstance(space, spaces.Box):
        if space.dtype == np.uint8 and len(space.shape) in (2, 3):
            if len(space.shape) == 3 and space.shape[2] not in (1, 3):
                raise ValueError(f"env {env_id!r}: image observations {space.shape} must have 1 or 3 channels")
            return "image"
        return "vector"
    if isinstance(space, spaces.Discrete):
        return "onehot"
    raise ValueError(f"env {env_id!r}: observation space {space} is not supported (use a Box or Discrete one)")


def _channels(space: Any) -> int:
    """Colour channels of an image observation space [H, W] or [H, W, C]."""
    return 1 if len(space.shape) == 2 else int(space.shape[2])


def spec_of_spaces(cfg: EnvConfig, action_space: Any, observation_space: Any) -> GameSpec:
    """The GameSpec of a Gymnasium env from its spaces; ValueError naming the env for what it cannot play."""
    from gymnasium import spaces
    if not isinstance(action_space, spaces.Discrete):
        raise ValueError(f"env {cfg.id!r}: action space {action_space} is not Discrete; muzero_lite plays discrete actions only")
    kind = _observation_kind(cfg.id, observation_space)
    if kind == "image":
        return GameSpec(image_frame_shape(cfg, _channels(observation_space)), np.dtype(np.uint8), int(action_space.n))
    size = int(observation_space.n) if kind == "onehot" else int(np.prod(observation_space.shape))
    return GameSpec((size,), np.dtype(np.float32), int(action_space.n))


def _bounds_scaling(space: Any) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) [O] for env.scale_observations: x * scale + offset maps [low, high] to [-1, 1]
    on each dimension whose Box bounds are finite; the others keep scale 1 and offset 0."""
    low = np.asarray(space.low, dtype=np.float64).reshape(-1)
    high = np.asarray(space.high, dtype=np.float64).reshape(-1)
    finite = np.isfinite(low) & np.isfinite(high) & (high > low) & (high - low < 1e30)
    width = np.where(finite, high - low, 1.0)
    scale = np.where(finite, 2.0 / width, 1.0)
    offset = np.where(finite, -2.0 * low / width - 1.0, 0.0)
    return offset.astype(np.float32), scale.astype(np.float32)


def gym_spec(cfg: EnvConfig) -> GameSpec:
    """The GameSpec of a Gymnasium id, read from its spaces: the env is made and closed, never reset or stepped."""
    import gymnasium
    env = gymnasium.make(cfg.id)
    try:
        return spec_of_spaces(cfg, env.action_space, env.observation_space)
    finally:
        env.close()


class GymEnv(Env):
    """Any Gymnasium env with a Discrete action space."""

    def __init__(self, cfg: EnvConfig, seed: int = 0):
        self.cfg = cfg
        self._env = _make_gym(cfg.id)
        try:
            spec = spec_of_spaces(cfg, self._env.action_space, self._env.observation_space)
        except ValueError:
            self._env.close()
            raise
        self.frame_shape, self.frame_dtype, self.num_actions = spec
        self._action_start = int(self._env.action_space.start)
        self._env.action_space.seed(seed)  # nothing here samples it, but wrappers might
        self._kind = _observation_kind(cfg.id, self._env.observation_space)
        if self._kind == "image":
            self._framer = ImageFramer(cfg, channels_in=_channels(self._env.observation_space))
        self._offset, self._scale = (_bounds_scaling(self._env.observation_space)
                                     if cfg.scale_observations and self._kind == "vector" else (None, None))
        self._moves = 0
        self._done = True
        self._can_render = self._env.render_mode == "rgb_array"

    def _raw(self, obs: Any) -> np.ndarray:
        """One raw observation as an image [h, w, c] (a copy) or a vector [O] float32."""
        if self._kind == "image":
            img = np.array(obs, dtype=np.uint8)
            return img[..., None] if img.ndim == 2 else img
        if self._kind == "onehot":
            vec = np.zeros(self.frame_shape, dtype=np.float32)
            vec[int(obs) - int(self._env.observation_space.start)] = 1.0
            return vec
        vec = np.asarray(obs, dtype=np.float32).reshape(-1)
        return vec if self._scale is None else vec * self._scale + self._offset

    def reset(self, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        # every game is seeded from rng: a game's start depends on its generator alone, not on the
        # games this env played before it
        obs, info = self._env.reset(seed=int(rng.integers(2**31)))
        self._moves = 0
        self._done = False
        raw = self._raw(obs)
        frames = self._framer.still(raw) if self._kind == "image" else raw
        return frames, with_counters(dict(info), 0, False, False)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, dict]:
        a = check_action(action, self.num_actions, f"env {self.cfg.id!r}")
        if self._done:
            raise RuntimeError(f"env {self.cfg.id!r}: step() after the game ended; call reset() first")
        total = 0.0
        screens: list[np.ndarray] = []
        for _ in range(self.cfg.frame_skip):
            obs, reward, terminated, env_truncated, info = self._env.step(self._action_start + a)
            total += float(reward)
            if self._kind == "image":
                screens.append(self._raw(obs))
            if terminated or env_truncated:
                break
        frames = self._framer.move(screens) if self._kind == "image" else self._raw(obs)
        self._moves += 1
        terminated = bool(terminated)
        truncated = not terminated and (bool(env_truncated) or self._moves >= self.cfg.max_moves)
        self._done = terminated or truncated
        return frames, total * self.cfg.reward_scale, self._done, with_counters(dict(info), self._moves, terminated, truncated)

    @property
    def action_names(self) -> list[str]:
        """The env's own action meanings where it has them (Atari's get_action_meanings), else "action i"."""
        meanings = getattr(self._env.unwrapped, "get_action_meanings", None)
        try:
            names = [str(m) for m in meanings()] if callable(meanings) else []
        except Exception:  # a meanings method that fails only costs the names
            names = []
        return names if len(names) == self.num_actions else super().action_names

    def render_rgb(self) -> np.ndarray | None:
        if not self._can_render:
            return None
        try:
            img = self._env.render()
        except Exception as e:  # e.g. pygame missing: gifs are optional, the game is not
            warnings.warn(f"env {self.cfg.id!r}: render failed, no gifs from now on: {e}")
            self._can_render = False
            return None
        if img is None:
            return None
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] < 3:
            return None
        return np.ascontiguousarray(img[..., :3], dtype=np.uint8)                 # [h, w, 3]

    def close(self) -> None:
        self._env.close()
        self._done = True
