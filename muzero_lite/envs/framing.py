"""Image frames of a move: the raw screens of its frame_skip frames made into stored frames.

Screens are max-pooled in consecutive groups of `frame_skip // frames_per_move` (the NES draws some
sprites every other frame), and each pooled frame is resized to `frame_size`, RGB or grey, giving
the move's frames [F, H, W, C] uint8. A game that ends in the middle of a move stops there; missing
pooled frames repeat the last one.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image

from ..config import EnvConfig

# Area averaging: antialiased like bilinear when shrinking, and a third faster on NES screens.
_AREA = getattr(Image, "Resampling", Image).BOX


def pool_frames(screens: list[np.ndarray], group: int, frames_per_move: int) -> list[np.ndarray]:
    """Max-pool the raw screens of one move in consecutive groups; pad to frames_per_move by repetition.

    screens: 1..group*frames_per_move arrays [h, w, c] (fewer when the game ended mid-move).
    Returns frames_per_move arrays [h, w, c]: the max of each group of `group` screens, the last
    pooled frame repeated where the game ended before its group began.
    """
    if not screens:
        raise ValueError("pool_frames needs at least one screen")
    pooled = [np.maximum.reduce(screens[i:i + group]) for i in range(0, len(screens), group)]
    pooled += [pooled[-1]] * (frames_per_move - len(pooled))
    return pooled[:frames_per_move]


def resize_frame(frame: np.ndarray, size: tuple, grayscale: bool) -> np.ndarray:
    """Resize one image [h, w, c] (c = 1 or 3) to size [H, W], optionally to grey; returns [H, W, C] uint8."""
    return resize_image(to_image(frame), size, grayscale)


def to_image(frame: np.ndarray) -> Image.Image:
    """A PIL image of a frame [h, w, 1 | 3] uint8."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    return Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)


def resize_image(img: Image.Image, size: tuple, grayscale: bool) -> np.ndarray:
    """Resize a PIL image to size [H, W], optionally to grey; returns [H, W, C] uint8 (C = 1 grey, 3 RGB)."""
    height, width = size
    if grayscale and img.mode != "L":
        img = img.convert("L")  # ITU-R 601 luma, before resizing: a third of the pixels to filter
    if img.size != (width, height):
        img = img.resize((width, height), _AREA)
    out = np.asarray(img)
    return out[..., None] if out.ndim == 2 else out


def image_frame_shape(cfg: EnvConfig, channels_in: int) -> tuple:
    """(F, H, W, C) of the stored frames of one move, for raw screens with channels_in channels."""
    grey = bool(cfg.grayscale) or channels_in == 1
    return (cfg.frames_per_move, int(cfg.frame_size[0]), int(cfg.frame_size[1]), 1 if grey else 3)


class ImageFramer:
    """Turns the raw screens of a move (or a reset) into the stored frames [F, H, W, C] uint8."""

    def __init__(self, cfg: EnvConfig, channels_in: int, image: Callable[[np.ndarray], Image.Image] = to_image):
        # image: turns a raw screen (as given to move/still) into a PIL image (Mario: BGRX buffers)
        self.image = image
        self.group = cfg.frame_skip // cfg.frames_per_move
        self.shape = image_frame_shape(cfg, channels_in)
        self.frames_per_move = self.shape[0]
        self.size = self.shape[1:3]
        self.grayscale = self.shape[3] == 1

    def move(self, screens: list[np.ndarray]) -> np.ndarray:
        """Frames of one move [F, H, W, C] from its raw screens [h, w, c] (copies, 1..frame_skip of them)."""
        return self.from_pooled(pool_frames(screens, self.group, self.frames_per_move))

    def from_pooled(self, pooled: list[np.ndarray]) -> np.ndarray:
        """Frames of one move [F, H, W, C] from its 1..F pooled screens [h, w, c]; missing ones repeat the last."""
        pooled = pooled + [pooled[-1]] * (self.frames_per_move - len(pooled))
        resized: dict[int, np.ndarray] = {}  # repeated (padding) frames are resized once
        for p in pooled:
            if id(p) not in resized:
                resized[id(p)] = resize_image(self.image(p), self.size, self.grayscale)
        return np.stack([resized[id(p)] for p in pooled])                          # [F, H, W, C]

    def still(self, screen: np.ndarray) -> np.ndarray:
        """Frames of a reset [F, H, W, C]: the one screen repeated F times."""
        frame = resize_image(self.image(screen), self.size, self.grayscale)      # [H, W, C]
        return np.repeat(frame[None], self.frames_per_move, axis=0)               # [F, H, W, C]
