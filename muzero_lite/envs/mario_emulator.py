"""Super Mario Bros specifics: stage emulators, both nes-py API shapes, the info and the reward (docs/algorithm.md §5).

`gym_super_mario_bros.make` is broken with gym 0.26 + nes-py 8 (its TimeLimit wrapper expects five
values from step), so emulators are built directly as stage envs, `SuperMarioBrosEnv(target=(w, s))`,
and stepped one frame at a time with a controller byte. nes-py 8 returns `(obs, reward, done, info)`
from step and `obs` from reset; nes-py 9 (Gymnasium-based) returns `(obs, reward, terminated,
truncated, info)` and `(obs, info)`. Both are handled here so mario_env sees one shape. The emulator's
own reward is ignored: `mario_reward` computes ours from the info before and after a move.
"""
from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
from PIL import Image

from ..config import LEVEL_RE, RewardConfig

# Keys of the emulator's info that are numbers (read from RAM as numpy scalars; made Python ints here
# so that differences of uint8 counters cannot wrap around).
_INT_KEYS = ("coins", "life", "score", "stage", "time", "world", "x_pos", "y_pos")


def parse_level(level: str) -> tuple[int, int]:
    """Parse "world-stage" into the (world, stage) target of a stage env."""
    m = LEVEL_RE.match(level)
    if m is None:
        raise ValueError(f"unknown Mario level {level!r}: expected \"world-stage\", world 1-8, stage 1-4, e.g. \"1-1\"")
    return int(m.group(1)), int(m.group(2))


def make_emulator(level: str) -> Any:
    """Build one stage emulator (not instant: the ROM boots and skips the title screen)."""
    # gym 0.26 (imported by nes-py 8) prints an "unmaintained" notice on import; it is not ours to act on.
    with contextlib.redirect_stderr(io.StringIO()):
        from gym_super_mario_bros import SuperMarioBrosEnv
    return SuperMarioBrosEnv(target=parse_level(level))


def clean_info(raw: dict, level: str) -> dict:
    """The emulator's info as plain Python values, with "flag" for "flag_get" and the level's name."""
    info = {k: v for k, v in raw.items() if k != "flag_get"}
    for k in _INT_KEYS:
        if k in info:
            info[k] = int(info[k])
    info["flag"] = bool(raw.get("flag_get", False))
    info["level"] = level
    return info


def _read_info(emulator: Any) -> dict:
    """Read the emulator's RAM into an info dict (nes-py 8's reset returns no info)."""
    return emulator._get_info()  # the same dict its step returns


def emulator_reset(emulator: Any) -> tuple[np.ndarray, dict]:
    """Reset an emulator: (screen [240, 256, 3] uint8, possibly a view into emulator memory; raw info)."""
    out = emulator.reset()
    if isinstance(out, tuple) and len(out) == 2:  # nes-py 9: (obs, info)
        return out[0], dict(out[1])
    return out, _read_info(emulator)  # nes-py 8: obs only


def death_cause(emulator: Any, info: dict) -> str:
    """Why Mario died, read from RAM at the frame the emulator ended the game: "pit" (below the
    screen: the vertical viewport byte 0x00b5 > 1), "clock" (the timer ran out) or "enemy" (the dying
    state 0x0b otherwise: an enemy, or a fire bar or Bowser's fire); "unknown" without readable RAM."""
    ram = getattr(emulator, "ram", None)
    if ram is None:
        return "unknown"
    if int(ram[0x00b5]) > 1:
        return "pit"
    return "clock" if info.get("time") == 0 else "enemy"


def emulator_step(emulator: Any, byte: int) -> tuple[np.ndarray, bool, dict]:
    """Run one frame with a controller byte: (screen (maybe a view), done, raw info)."""
    out = emulator.step(byte)
    if len(out) == 5:  # nes-py 9: obs, reward, terminated, truncated, info
        screen, _, terminated, truncated, info = out
        return screen, bool(terminated or truncated), info
    screen, _, done, info = out  # nes-py 8: obs, reward, done, info
    return screen, bool(done), info


def _bgrx_buffer(screen: np.ndarray) -> np.ndarray | None:
    """The 32-bit BGRX buffer [240*256*4] behind a nes-py 8 screen, or None when the screen is laid out otherwise.

    nes-py 8 hands out a channel-reversed view (strides (1024, 4, -1), starting at byte 2) of its
    BGRX screen buffer. numpy copies that view far more slowly than the contiguous buffer, and a move
    takes four copies, so the buffer is what we copy and pool; PIL unpacks it to RGB in C.
    """
    base = screen.base
    if (screen.shape == (240, 256, 3) and screen.strides == (1024, 4, -1) and isinstance(base, np.ndarray)
            and base.dtype == np.uint8 and base.nbytes == 240 * 256 * 4 and base.flags.c_contiguous
            and screen.__array_interface__["data"][0] - base.__array_interface__["data"][0] == 2):
        return base
    return None


def screen_view(screen: np.ndarray) -> np.ndarray:
    """The emulator's screen without a copy: its [240, 256, 4] BGRX buffer (nes-py 8), or the screen
    itself [h, w, 3] RGB. The emulator overwrites it at the next frame: copy what must be kept."""
    base = _bgrx_buffer(screen)
    return screen if base is None else base.reshape(240, 256, 4)


def grab_screen(screen: np.ndarray) -> np.ndarray:
    """A cheap copy of an emulator screen: [240, 256, 4] BGRX (nes-py 8's own layout) or [h, w, 3] RGB.

    Max-pooling works channel-wise on either layout; screen_image turns one into an RGB image.
    """
    base = _bgrx_buffer(screen)
    if base is None:
        return np.array(screen)
    return base.reshape(240, 256, 4).copy()


def screen_image(frame: np.ndarray) -> Image.Image:
    """An RGB PIL image of a grabbed screen (BGRX [h, w, 4] or RGB [h, w, 3])."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    if frame.shape[-1] == 4:
        h, w = frame.shape[:2]
        return Image.frombuffer("RGB", (w, h), frame, "raw", "BGRX", 0, 1)
    return Image.fromarray(frame)


def screen_copy(screen: np.ndarray) -> np.ndarray:
    """A C-contiguous RGB copy [240, 256, 3] uint8 of an emulator screen (for gifs)."""
    return np.array(screen_image(grab_screen(screen)))


def close_emulator(emulator: Any) -> None:
    """Close an emulator, tolerating one that is already closed."""
    with contextlib.suppress(ValueError):  # nes-py raises ValueError when closed twice
        emulator.close()


def mario_reward(before: dict, after: dict, died: bool, flag: bool, weights: RewardConfig) -> float:
    """The reward of one move (before reward_scale), from the info before and after it.

    r = x·clip(Δx_pos, -x_clip, x_clip) + clock·Δtime + life·Δlives + coins·Δcoins + flag·[flag reached].

    before, after: infos with int x_pos, time, life, coins. died: the move ended the game without the
    flag. A stage env ends the game at a death before the life counter drops, so a death counts as
    Δlives = -1 unless the counter already shows a loss. Δx jumps at deaths and warps; the clip bounds it.
    The coin counter runs 0..99, so a negative Δcoins is a wrap and counts as Δcoins + 100.
    """
    dx = float(np.clip(after["x_pos"] - before["x_pos"], -weights.x_clip, weights.x_clip))
    d_time = after["time"] - before["time"]
    d_lives = after["life"] - before["life"]
    if died and d_lives >= 0:
        d_lives = -1
    d_coins = after["coins"] - before["coins"]
    if d_coins < 0:  # the counter wraps from 99 to 0 at the 100th coin
        d_coins += 100
    return float(weights.x * dx + weights.clock * d_time + weights.life * d_lives
                 + weights.coins * d_coins + weights.flag * float(flag))
