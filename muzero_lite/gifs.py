"""Gifs of games: one per game file, with the same stem, written atomically into ``gifs/``."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import imageio.v3 as iio
import numpy as np

from .atomic import atomic_write_bytes

# frames wider than this are halved in both directions (every second pixel) to keep gifs small
MAX_GIF_WIDTH = 256


# A frame as it goes into a gif: halved while wider than MAX_GIF_WIDTH. Self-play shrinks each frame
# when it is captured (a 500-move CartPole game of full 400x600 renders held 360 MB); idempotent.
def gif_frame(frame: np.ndarray) -> np.ndarray:
    while frame.shape[1] > MAX_GIF_WIDTH:
        frame = frame[::2, ::2]
    return np.ascontiguousarray(frame)


# Write frames ([N, h, w, 3] uint8 colour) as a looping gif at fps, atomically; returns path.
def write_gif(path: str | os.PathLike, frames: Sequence[np.ndarray] | np.ndarray, fps: float) -> Path:
    if fps <= 0:
        raise ValueError(f"gif fps = {fps!r}: must be > 0")
    video = _as_video(frames)
    while video.shape[2] > MAX_GIF_WIDTH:
        video = np.ascontiguousarray(video[:, ::2, ::2])
    return atomic_write_bytes(path, encode_gif(video, fps))


# The gif's bytes for an [N, h, w, 3] uint8 video (loops forever).
def encode_gif(video: np.ndarray, fps: float) -> bytes:
    buf = io.BytesIO()
    # pillow stores durations in milliseconds (rounded to the gif's 10 ms ticks)
    iio.imwrite(buf, video, extension=".gif", duration=1000.0 / fps, loop=0)
    return buf.getvalue()


# Frames as one [N, h, w, 3] uint8 array, or a ValueError saying what is wrong.
def _as_video(frames: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    if len(frames) == 0:
        raise ValueError("gif: no frames")
    try:
        video = np.stack([np.asarray(f) for f in frames])
    except ValueError as e:
        raise ValueError(f"gif: frames differ in shape ({e})") from None
    if video.ndim != 4 or video.shape[3] != 3 or 0 in video.shape:
        raise ValueError(f"gif: frames have shape {video.shape[1:]}, expected [h, w, 3] colour frames")
    if video.dtype != np.uint8:
        raise ValueError(f"gif: frames have dtype {video.dtype}, expected uint8")
    return video


# The gif that belongs to a game file: gifs_folder/<game stem>.gif.
def gif_path_for(game_path: str | os.PathLike, gifs_folder: str | os.PathLike) -> Path:
    return Path(gifs_folder) / (Path(game_path).stem + ".gif")
