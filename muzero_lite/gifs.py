"""Gifs of games: one per game file, with the same stem, written atomically into ``gifs/``.

A frame is turned into a palette image (1 byte a pixel, Pillow's adaptive palette) when it is
captured, so that a game being recorded holds its frames at a third of their colour size and writing
the gif makes no colour copy: a worker process keeps its memory high-water mark, so the gif path
must stay small (benchmarks/gif_memory.py measures it).
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .atomic import atomic_write_bytes

# frames wider than this are halved in both directions (every second pixel) to keep gifs small
MAX_GIF_WIDTH = 256


def shrink_frame(frame: np.ndarray) -> np.ndarray:
    """A colour frame [h, w, 3] at gif size: halved (every second pixel) while wider than MAX_GIF_WIDTH."""
    while frame.shape[1] > MAX_GIF_WIDTH:
        frame = frame[::2, ::2]
    return np.ascontiguousarray(frame)


def gif_frame(frame: np.ndarray | Image.Image, index: int = 0) -> Image.Image:
    """A frame as it goes into a gif: a palette ("P") image at gif size.

    frame: [h, w, 3] uint8 colour, or a palette image this function made (returned as it is);
    index names the frame in errors.
    """
    if isinstance(frame, Image.Image) and frame.mode == "P":
        return frame
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise ValueError(f"gif: frame {index} has shape {frame.shape}, expected [h, w, 3] colour frames")
    if frame.dtype != np.uint8:
        raise ValueError(f"gif: frame {index} has dtype {frame.dtype}, expected uint8")
    return Image.fromarray(shrink_frame(frame)).convert("P", palette=Image.Palette.ADAPTIVE)


def write_gif(path: str | os.PathLike, frames: Sequence[np.ndarray | Image.Image] | np.ndarray, fps: float) -> Path:
    """Write frames (colour arrays [h, w, 3] uint8, an [N, h, w, 3] array, or gif_frame images) as a
    looping gif at fps, atomically; returns path.
    """
    if fps <= 0:
        raise ValueError(f"gif fps = {fps!r}: must be > 0")
    return atomic_write_bytes(path, encode_gif(frames, fps))


def encode_gif(frames: Sequence[np.ndarray | Image.Image] | np.ndarray, fps: float) -> bytes:
    """The gif's bytes (loops forever) for frames as write_gif takes them."""
    if len(frames) == 0:
        raise ValueError("gif: no frames")
    images = [gif_frame(f, i) for i, f in enumerate(frames)]
    for i, im in enumerate(images):
        if im.size != images[0].size:
            raise ValueError(f"gif: frame {i} is {im.height}x{im.width} (h x w), frame 0 {images[0].height}x{images[0].width}")
    buf = io.BytesIO()
    # durations are in milliseconds (a gif stores 10 ms ticks)
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=1000.0 / fps, loop=0)
    return buf.getvalue()


def gif_path_for(game_path: str | os.PathLike, gifs_folder: str | os.PathLike) -> Path:
    """The gif that belongs to a game file: gifs_folder/<game stem>.gif."""
    return Path(gifs_folder) / (Path(game_path).stem + ".gif")
