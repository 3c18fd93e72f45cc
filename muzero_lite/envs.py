"""The one env adapter the rest of the code uses: Super Mario Bros or any Gymnasium env (SPEC §5).

A move repeats one action for `frame_skip` frames. Image frames are max-pooled in consecutive
groups of `frame_skip // frames_per_move`, each pooled frame resized to `frame_size` (RGB or grey),
giving the move's frames [F, H, W, C] uint8. Vector observations give [O] float32 (the last one of
the move). A game that ends in the middle of a move stops there; missing pooled frames repeat the
last one. Rewards are already shaped (Mario) or summed over the frames (Gymnasium), and multiplied
by `reward_scale`. Every game ends after `max_moves` moves at most.

`info` always has `moves` (moves so far), `terminated` (the game really ended) and `truncated`
(ended by max_moves or by the env's own time limit, and not terminated); `done = terminated or truncated`.
Mario's info also has `stalled`: the game ended because x made no new maximum for `stall_moves` moves
(then `terminated` is true too: nothing comes after a stall, as nothing comes after a death).
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Callable

# Gymnasium's classic-control envs draw with pygame, which needs no display with the dummy driver.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np
from PIL import Image

from . import mario
from .config import EnvConfig
from .mario_actions import action_bytes

# Area averaging: antialiased like bilinear when shrinking, and a third faster on NES screens.
_AREA = getattr(Image, "Resampling", Image).BOX


class Env:
    """A game seen move by move: what self-play, evaluation and gifs use."""
    # A: the number of actions; step takes an int in [0, A)
    num_actions: int
    # shape of the frames of one move: (F, H, W, C) for images, (O,) for vectors
    frame_shape: tuple
    # np.uint8 for images, np.float32 for vectors
    frame_dtype: np.dtype

    # Start a game (the rng picks its level or seed); returns the frames of position 0 and info.
    def reset(self, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        raise NotImplementedError

    # Play one move; returns its frames, its (scaled) reward, done, info.
    def step(self, action: int) -> tuple[np.ndarray, float, bool, dict]:
        raise NotImplementedError

    # Colour image [h, w, 3] uint8 of the current screen for gifs; None if the env cannot render.
    def render_rgb(self) -> np.ndarray | None:
        return None

    # Free the emulator or env.
    def close(self) -> None:
        pass

    def __enter__(self) -> "Env":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------- frames

# Max-pool the raw screens of one move in consecutive groups; pad to frames_per_move by repetition.
def pool_frames(screens: list[np.ndarray], group: int, frames_per_move: int) -> list[np.ndarray]:
    """screens: 1..group*frames_per_move arrays [h, w, c] (fewer when the game ended mid-move).
    Returns frames_per_move arrays [h, w, c]: the max of each group of `group` screens, the last
    pooled frame repeated where the game ended before its group began."""
    if not screens:
        raise ValueError("pool_frames needs at least one screen")
    pooled = [np.maximum.reduce(screens[i:i + group]) for i in range(0, len(screens), group)]
    pooled += [pooled[-1]] * (frames_per_move - len(pooled))
    return pooled[:frames_per_move]


# Resize one image [h, w, c] (c = 1 or 3) to size [H, W], optionally to grey; returns [H, W, C] uint8.
def resize_frame(frame: np.ndarray, size: tuple, grayscale: bool) -> np.ndarray:
    return resize_image(to_image(frame), size, grayscale)


# A PIL image of a frame [h, w, 1 | 3] uint8.
def to_image(frame: np.ndarray) -> Image.Image:
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    return Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)


# Resize a PIL image to size [H, W], optionally to grey; returns [H, W, C] uint8 (C = 1 grey, 3 RGB).
def resize_image(img: Image.Image, size: tuple, grayscale: bool) -> np.ndarray:
    height, width = size
    if grayscale and img.mode != "L":
        img = img.convert("L")  # ITU-R 601 luma, before resizing: a third of the pixels to filter
    if img.size != (width, height):
        img = img.resize((width, height), _AREA)
    out = np.asarray(img)
    return out[..., None] if out.ndim == 2 else out


class ImageFramer:
    """Turns the raw screens of a move (or a reset) into the stored frames [F, H, W, C] uint8."""

    def __init__(self, cfg: EnvConfig, channels_in: int, image: Callable[[np.ndarray], Image.Image] = to_image):
        # image: turns a raw screen (as given to move/still) into a PIL image (Mario: BGRX buffers)
        self.image = image
        self.group = cfg.frame_skip // cfg.frames_per_move
        self.frames_per_move = cfg.frames_per_move
        self.size = (int(cfg.frame_size[0]), int(cfg.frame_size[1]))
        self.grayscale = bool(cfg.grayscale) or channels_in == 1
        self.shape = (self.frames_per_move, *self.size, 1 if self.grayscale else 3)

    # Frames of one move from its raw screens [h, w, c] (copies, 1..frame_skip of them).
    def move(self, screens: list[np.ndarray]) -> np.ndarray:
        pooled = pool_frames(screens, self.group, self.frames_per_move)
        resized: dict[int, np.ndarray] = {}  # repeated (padding) frames are resized once
        for p in pooled:
            if id(p) not in resized:
                resized[id(p)] = resize_image(self.image(p), self.size, self.grayscale)
        return np.stack([resized[id(p)] for p in pooled])                          # [F, H, W, C]

    # Frames of a reset: the one screen repeated F times.
    def still(self, screen: np.ndarray) -> np.ndarray:
        frame = resize_image(self.image(screen), self.size, self.grayscale)      # [H, W, C]
        return np.repeat(frame[None], self.frames_per_move, axis=0)               # [F, H, W, C]


# The action as an int in [0, n), or a ValueError that names the env and the bad value.
def check_action(action: Any, n: int, env_name: str) -> int:
    arr = np.asarray(action)
    if arr.ndim != 0 or arr.dtype.kind not in "iu" or not 0 <= int(arr) < n:
        raise ValueError(f"{env_name}: action {action!r} is not an integer in [0, {n})")
    return int(arr)


# The info returned to callers: a fresh dict with the move counters added.
def _with_counters(info: dict, moves: int, terminated: bool, truncated: bool) -> dict:
    return {**info, "moves": moves, "terminated": bool(terminated), "truncated": bool(truncated)}


# ---------------------------------------------------------------- Mario

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
        self._moves = 0
        self._done = True
        self._best_x = 0              # the game's largest x_pos so far
        self._since_best = 0          # moves since x_pos last exceeded it

    # The cached emulator of a level, made on first use.
    def _emulator_for(self, level: str) -> Any:
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
        info = {**_with_counters(self._info, 0, False, False), "stalled": False}
        return self._framer.still(mario.grab_screen(screen)), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, dict]:
        a = check_action(action, self.num_actions, f"SuperMarioBros (action_set {self.cfg.action_set!r})")
        if self._done:
            raise RuntimeError("SuperMarioBros: step() after the game ended; call reset() first")
        byte = self._bytes[a]
        screens: list[np.ndarray] = []
        for _ in range(self.cfg.frame_skip):
            screen, emu_done, raw = mario.emulator_step(self._emulator, byte)
            screens.append(mario.grab_screen(screen))  # the emulator overwrites its screen next frame
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
        info = {**_with_counters(after, self._moves, terminated, truncated), "stalled": stalled}
        return self._framer.move(screens), float(reward), self._done, info

    def render_rgb(self) -> np.ndarray | None:
        return None if self._screen is None else mario.screen_copy(self._screen)  # [240, 256, 3]

    def close(self) -> None:
        for emulator in self._emulators.values():
            mario.close_emulator(emulator)
        self._emulators.clear()
        self._emulator = None
        self._screen = None
        self._done = True


# ---------------------------------------------------------------- Gymnasium

# gymnasium.make with rgb_array rendering where the env supports it.
def _make_gym(env_id: str) -> Any:
    import gymnasium
    try:
        return gymnasium.make(env_id, render_mode="rgb_array")
    except Exception:  # envs without render modes reject the argument in several ways
        return gymnasium.make(env_id)


# How observations become frames: "image" (uint8 [H, W(, 1|3)]), "vector" (other Box) or "onehot" (Discrete).
def _observation_kind(env_id: str, space: Any) -> str:
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


class GymEnv(Env):
    """Any Gymnasium env with a Discrete action space."""

    def __init__(self, cfg: EnvConfig, seed: int = 0):
        from gymnasium import spaces
        self.cfg = cfg
        self._env = _make_gym(cfg.id)
        space = self._env.action_space
        if not isinstance(space, spaces.Discrete):
            self._env.close()
            raise ValueError(f"env {cfg.id!r}: action space {space} is not Discrete; muzero_lite plays discrete actions only")
        self.num_actions = int(space.n)
        self._action_start = int(space.start)
        space.seed(seed)  # nothing here samples it, but wrappers might
        obs_space = self._env.observation_space
        self._kind = _observation_kind(cfg.id, obs_space)
        if self._kind == "image":
            channels = 1 if len(obs_space.shape) == 2 else int(obs_space.shape[2])
            self._framer = ImageFramer(cfg, channels_in=channels)
            self.frame_shape = self._framer.shape
            self.frame_dtype = np.dtype(np.uint8)
        else:
            size = int(obs_space.n) if self._kind == "onehot" else int(np.prod(obs_space.shape))
            self.frame_shape = (size,)
            self.frame_dtype = np.dtype(np.float32)
        self._seeded = False
        self._moves = 0
        self._done = True
        self._can_render = self._env.render_mode == "rgb_array"

    # One raw observation as an image [h, w, c] (a copy) or a vector [O] float32.
    def _raw(self, obs: Any) -> np.ndarray:
        if self._kind == "image":
            img = np.array(obs, dtype=np.uint8)
            return img[..., None] if img.ndim == 2 else img
        if self._kind == "onehot":
            vec = np.zeros(self.frame_shape, dtype=np.float32)
            vec[int(obs) - int(self._env.observation_space.start)] = 1.0
            return vec
        return np.asarray(obs, dtype=np.float32).reshape(-1)

    def reset(self, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        # the first game is seeded from rng; later ones continue the env's own generator
        seed = None if self._seeded else int(rng.integers(2**31))
        obs, info = self._env.reset(seed=seed)
        self._seeded = True
        self._moves = 0
        self._done = False
        raw = self._raw(obs)
        frames = self._framer.still(raw) if self._kind == "image" else raw
        return frames, _with_counters(dict(info), 0, False, False)

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
        return frames, total * self.cfg.reward_scale, self._done, _with_counters(dict(info), self._moves, terminated, truncated)

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


# The env of a config: Mario for id "SuperMarioBros", else the Gymnasium env of that id.
def make_env(cfg: EnvConfig, seed: int) -> Env:
    """seed: seeds what the env owns beyond reset's rng (Gymnasium action spaces); Mario is deterministic."""
    if cfg.is_mario:
        return MarioEnv(cfg, seed)
    return GymEnv(cfg, seed)
