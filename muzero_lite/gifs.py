"""Gifs of games: one per game file, with the same stem, written atomically into ``gifs/``.

A frame is turned into a palette image (1 byte a pixel) when it is captured, so a gif game holds
its frames at a third of their colour size and writing the gif copies no colour frame. (Holding
colour arrays, stacking them and handing them to a gif writer peaked near 10 bytes a pixel a frame:
a 550-move Mario gif game took a self-play worker from ~300 MB to ~640 MB, a high-water mark the
process kept.) The palette is the adaptive one Pillow's gif writer would make at save time.
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


# A frame as it goes into a gif: a palette ("P") image, halved while wider than MAX_GIF_WIDTH.
# frame: [h, w, 3] uint8 colour, or an image this function made (returned as it is).
def gif_frame(frame: np.ndarray | Image.Image) -> Image.Image:
    if isinstance(frame, Image.Image):
        if frame.mode == "P" and frame.width <= MAX_GIF_WIDTH:
            return frame
        frame = np.asarray(frame.convert("RGB"))
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise ValueError(f"gif: a frame has shape {frame.shape}, expected [h, w, 3] colour frames")
    if frame.dtype != np.uint8:
        raise ValueError(f"gif: a frame has dtype {frame.dtype}, expected uint8")
    while frame.shape[1] > MAX_GIF_WIDTH:
        frame = frame[::2, ::2]
    return Image.fromarray(np.ascontiguousarray(frame)).convert("P", palette=Image.Palette.ADAPTIVE)


# Write frames (colour arrays [h, w, 3] uint8, an [N, h, w, 3] array, or gif_frame images) as a
# looping gif at fps, atomically; returns path.
def write_gif(path: str | os.PathLike, frames: Sequence[np.ndarray | Image.Image] | np.ndarray, fps: float) -> Path:
    if fps <= 0:
        raise ValueError(f"gif fps = {fps!r}: must be > 0")
    return atomic_write_bytes(path, encode_gif(frames, fps))


# The gif's bytes (loops forever) for frames as write_gif takes them.
def encode_gif(frames: Sequence[np.ndarray | Image.Image] | np.ndarray, fps: float) -> bytes:
    if len(frames) == 0:
        raise ValueError("gif: no frames")
    images = [gif_frame(f) for f in frames]
    sizes = {im.size for im in images}
    if len(sizes) > 1:
        raise ValueError(f"gif: frames differ in size ({sorted(sizes)})")
    buf = io.BytesIO()
    # durations are in milliseconds (a gif stores 10 ms ticks)
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=1000.0 / fps, loop=0)
    return buf.getvalue()


# The gif that belongs to a game file: gifs_folder/<game stem>.gif.
def gif_path_for(game_path: str | os.PathLike, gifs_folder: str | os.PathLike) -> Path:
    return Path(gifs_folder) / (Path(game_path).stem + ".gif")
