"""Gifs of games: one per game file, with the same stem, written atomically into ``gifs/`` (eval's: ``gifs/eval/``).

A frame is turned into a palette image (1 byte a pixel, Pillow's fast-octree palette) when it is
captured, so that a game being recorded holds its frames at a third of their colour size and writing
the gif makes no colour copy: a worker process keeps its memory high-water mark, so the gif path
must stay small (benchmarks/gif_memory.py measures it).

An annotated frame has a strip under the screen (`annotate`): light text on a dark background in
Pillow's built-in bitmap font, saying what happened at that screen (`Annotation`). The strip is
drawn on the colour frame at gif size, before it becomes a palette image.
"""
from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..data.atomic import atomic_write_bytes

# frames wider than this are halved in both directions (every second pixel) to keep gifs small
MAX_GIF_WIDTH = 256

# the strip: colours of its background, its text and the chosen action's entry; pixels around the
# text and between lines
STRIP_BG, STRIP_FG, STRIP_CHOSEN = (16, 16, 24), (235, 235, 235), (255, 205, 60)
STRIP_PAD, LINE_GAP = 3, 1


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
    # fast octree: exact for screens of at most 256 colours (NES screens and strips have a few dozen)
    # and about 5x faster than the median-cut adaptive palette
    return Image.fromarray(shrink_frame(frame)).quantize(256, method=Image.Quantize.FASTOCTREE)


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


@dataclass
class Annotation:
    """What the strip under one gif frame says about its screen; None and empty fields are left out."""
    move: int                                     # t: the screen is position t, before move t
    action: Optional[str] = None                  # name of move t; None: the game's last screen
    note: str = ""                                # how the move was chosen when not by search, or how the game ended
    searched: Sequence[tuple[str, float]] = ()    # the searched actions and their Q, in search order
    chosen: Optional[int] = None                  # index in searched of the move played (None: not searched)
    value: Optional[float] = None                 # the value the networks predict for this screen
    reward: Optional[float] = None                # reward of move t
    total: Optional[float] = None                 # the game's return (last screen)
    x: Optional[int] = None                       # Mario's x_pos on this screen
    flag: Optional[bool] = None                   # Mario: the flag is reached


def wrap(items: Sequence[str], cols: int) -> list[str]:
    """items joined by two spaces into lines of at most cols characters (an item too long is cut)."""
    lines: list[str] = []
    for item in items:
        item = item[:cols]
        if lines and len(lines[-1]) + 2 + len(item) <= cols:
            lines[-1] += "  " + item
        else:
            lines.append(item)
    return lines


def strip_rows(ann: Annotation, cols: int) -> list[list[tuple[str, bool]]]:
    """The strip's lines for ann, at most cols characters each, as (text, is the chosen entry) pieces.

    Lines: the move and its action (and Mario's x and flag), then the predicted value and the
    reward (the return on the last screen), then Q of the searched actions, the chosen one marked ">".
    """
    head = [f"move {ann.move}: {ann.action}" if ann.action is not None else f"end after {ann.move} moves"]
    head += [f"({ann.note})"] if ann.note else []
    where = [f"x {ann.x}"] if ann.x is not None else []
    where += [f"flag {'yes' if ann.flag else 'no'}"] if ann.flag is not None else []
    head += [" ".join(where)] if where else []          # one item: kept on one line
    nums = [f"value {ann.value:.3f}"] if ann.value is not None else []
    nums += [f"reward {ann.reward:+.2f}"] if ann.reward is not None else []
    nums += [f"return {ann.total:.2f}"] if ann.total is not None else []
    rows = [[(line, False)] for line in wrap(head, cols) + wrap(nums, cols)]
    if ann.searched:
        width = max(len(name) for name, _ in ann.searched)
        cells = [((">" if i == ann.chosen else " ") + f"{name:<{width}} {q:.3f}", i == ann.chosen)
                 for i, (name, q) in enumerate(ann.searched)]
        per_row = max(1, (cols - 1) // (len(cells[0][0]) + 1))
        for r in range(0, len(cells), per_row):
            row = [("Q" if r == 0 else " ", False)]
            for cell in cells[r:r + per_row]:
                row += [(" ", False), (cell[0][:cols - 2], cell[1])]
            rows.append(row)
    return rows


def strip_text(ann: Annotation, cols: int) -> list[str]:
    """The strip's lines for ann as plain text (what `annotate` draws)."""
    return ["".join(text for text, _ in row) for row in strip_rows(ann, cols)]


@functools.lru_cache(maxsize=1)
def strip_font() -> ImageFont.ImageFont:
    """Pillow's built-in bitmap font (6 x 11 px a character, no font file; crisp in a palette image)."""
    return getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()


def line_height() -> int:
    """Pixels from one strip line to the next."""
    return int(strip_font().getbbox("Agjy|")[3]) + LINE_GAP


def strip_height(rows: int) -> int:
    """Pixels of a strip of `rows` lines."""
    return 2 * STRIP_PAD + rows * line_height() - LINE_GAP


def strip_cols(width: int) -> int:
    """Characters that fit on a strip line of a frame `width` pixels wide."""
    return max(1, int((width - 2 * STRIP_PAD) // strip_font().getlength("M")))


def annotate(frame: np.ndarray, ann: Annotation) -> np.ndarray:
    """A colour frame [h, w, 3] uint8 at gif size with the strip for ann under it: [h + strip, w, 3]."""
    frame = shrink_frame(np.asarray(frame))
    font, w = strip_font(), frame.shape[1]
    rows = strip_rows(ann, strip_cols(w))
    strip = Image.new("RGB", (w, strip_height(len(rows))), STRIP_BG)
    draw = ImageDraw.Draw(strip)
    for i, row in enumerate(rows):
        x, y = STRIP_PAD, STRIP_PAD + i * line_height()
        for text, chosen in row:
            draw.text((x, y), text, fill=STRIP_CHOSEN if chosen else STRIP_FG, font=font)
            x += draw.textlength(text, font=font)
    return np.concatenate([frame, np.asarray(strip)], axis=0)


def same_height(frames: list[Image.Image]) -> list[Image.Image]:
    """Palette frames of one gif made as tall as the tallest (strips differ in lines), in place: the
    shorter ones get more rows of their bottom-left pixel (the strip's background)."""
    h = max((f.height for f in frames), default=0)
    for i, f in enumerate(frames):
        if f.height < h:
            tall = Image.new("P", (f.width, h), f.getpixel((0, f.height - 1)))
            tall.putpalette(f.getpalette())
            tall.paste(f, (0, 0))
            frames[i] = tall
    return frames
