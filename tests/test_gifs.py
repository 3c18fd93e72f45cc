"""Gifs: written atomically, read back with the right frame count and size; paths follow games."""
from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from muzero_lite.reporting.gifs import gif_path_for, write_gif


def make_frames(n: int, h: int, w: int) -> np.ndarray:
    """n distinct colour frames [n, h, w, 3] uint8 (distinct, so the gif writer merges none)."""
    rng = np.random.default_rng(0)
    frames = np.zeros((n, h, w, 3), np.uint8)
    for i in range(n):
        frames[i, : h // 2, :, i % 3] = 40 * i % 256
        frames[i, h // 2:] = rng.integers(0, 256, 3, dtype=np.uint8)
    return frames


def read_gif(path: Path) -> np.ndarray:
    return iio.imread(path, index=None)  # [n, h, w, 3 or 4]


def test_gif_round_trip(tmp_path: Path) -> None:
    frames = make_frames(6, 40, 64)
    path = write_gif(tmp_path / "gifs" / "g.gif", frames, fps=20)
    assert path == tmp_path / "gifs" / "g.gif"
    back = read_gif(path)
    assert back.shape[:3] == (6, 40, 64)
    assert np.array_equal(back[..., :3], frames)            # few colours a frame: the palette loses none
    assert [p.name for p in path.parent.iterdir()] == ["g.gif"]  # no temp file left behind
    meta = iio.immeta(path, index=0)
    assert meta.get("loop") == 0
    assert meta.get("duration") == 50                      # ms a frame at fps 20


def test_gif_accepts_a_list_of_frames(tmp_path: Path) -> None:
    frames = list(make_frames(3, 10, 12))
    assert read_gif(write_gif(tmp_path / "l.gif", frames, fps=30)).shape[:3] == (3, 10, 12)


def test_wide_frames_are_halved(tmp_path: Path) -> None:
    back = read_gif(write_gif(tmp_path / "w.gif", make_frames(2, 100, 300), fps=10))
    assert back.shape[:3] == (2, 50, 150)


@pytest.mark.parametrize("frames", [[], np.zeros((0, 4, 4, 3), np.uint8)])
def test_empty_frames_rejected(tmp_path: Path, frames) -> None:
    with pytest.raises(ValueError, match="no frames"):
        write_gif(tmp_path / "e.gif", frames, fps=10)
    assert not (tmp_path / "e.gif").exists()


def test_bad_frames_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"frame 0 has shape \(4, 4\), expected \[h, w, 3\] colour"):
        write_gif(tmp_path / "b.gif", np.zeros((2, 4, 4), np.uint8), fps=10)
    with pytest.raises(ValueError, match="uint8"):
        write_gif(tmp_path / "b.gif", np.zeros((2, 4, 4, 3), np.float32), fps=10)
    with pytest.raises(ValueError, match="fps"):
        write_gif(tmp_path / "b.gif", make_frames(2, 4, 4), fps=0)


def test_gif_path_for() -> None:
    game = Path("run/games/game-20240101T000000.000001-w0-12-000003.npz")
    assert gif_path_for(game, "run/gifs") == Path("run/gifs/game-20240101T000000.000001-w0-12-000003.gif")


def test_gif_frame_shrinks_wide_captures_once_and_for_all():
    from muzero_lite.reporting.gifs import gif_frame
    frame = np.zeros((400, 600, 3), np.uint8)          # a CartPole render
    frame[100:300, 200:400] = (200, 30, 40)
    small = gif_frame(frame)
    assert small.mode == "P" and small.size == (150, 100)   # 600 -> 300 -> 150 wide, 1 byte a pixel
    assert gif_frame(small) is small                   # idempotent: write_gif keeps it as it is
    assert np.array_equal(np.asarray(small.convert("RGB")), frame[::4, ::4])


def test_palette_at_capture_writes_what_pillow_writes_from_colour_frames(tmp_path: Path) -> None:
    from PIL import Image

    from muzero_lite.reporting.gifs import gif_frame
    frames = make_frames(4, 20, 30)
    write_gif(tmp_path / "a.gif", [gif_frame(f) for f in frames], fps=10)
    colour = [Image.fromarray(f) for f in frames]          # Pillow's writer picks the palette itself
    colour[0].save(tmp_path / "b.gif", save_all=True, append_images=colour[1:], duration=100, loop=0)
    # the same pictures, whichever palette each picked (frames of a few colours: both are exact)
    assert _decoded(tmp_path / "a.gif") == _decoded(tmp_path / "b.gif") == [f.tobytes() for f in frames]


def _decoded(path: Path) -> list[bytes]:
    """Every frame of a gif as RGB bytes."""
    from PIL import Image, ImageSequence
    with Image.open(path) as im:
        return [frame.convert("RGB").tobytes() for frame in ImageSequence.Iterator(im)]


def test_frames_of_different_sizes_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"frame 1 is 4x6 \(h x w\), frame 0 4x4"):
        write_gif(tmp_path / "d.gif", [make_frames(1, 4, 4)[0], make_frames(1, 4, 6)[0]], fps=10)
    assert not (tmp_path / "d.gif").exists()


def _hand_made():
    from muzero_lite.reporting.gifs import Annotation
    return Annotation(12, "right+A+B", searched=[("right", 1.1), ("right+A+B", 1.234), ("right+A", 0.98)],
                      chosen=1, value=0.75, reward=0.5, x=434, flag=False)


def test_strip_text_names_the_action_and_marks_the_chosen_q() -> None:
    from muzero_lite.reporting.gifs import strip_cols, strip_text
    lines = strip_text(_hand_made(), strip_cols(256))
    text = "\n".join(lines)
    assert lines[0].startswith("move 12: right+A+B") and "x 434 flag no" in text
    assert "value 0.750" in text and "reward +0.50" in text
    assert ">right+A+B 1.234" in text and " right     1.100" in text and " right+A   0.980" in text
    assert text.count(">") == 1 and all(len(line) <= strip_cols(256) for line in lines)
    narrow = strip_text(_hand_made(), strip_cols(150))         # a CartPole frame: wrapped, nothing cut
    assert ">right+A+B 1.234" in "\n".join(narrow) and all(len(line) <= strip_cols(150) for line in narrow)


def test_strip_text_without_a_search_shows_what_is_known() -> None:
    from muzero_lite.reporting.gifs import Annotation, strip_text
    assert strip_text(Annotation(3, "NOOP", note="no-op start", reward=0.0, x=40, flag=False), 42) == [
        "move 3: NOOP  (no-op start)  x 40 flag no", "reward +0.00"]
    assert strip_text(Annotation(60, note="time limit", total=-5.2), 42) == ["end after 60 moves  (time limit)", "return -5.20"]


def test_the_strip_font_is_legible_at_gif_size() -> None:
    from muzero_lite.reporting.gifs import line_height, strip_cols
    assert line_height() >= 10                                   # the 6 x 11 px bitmap font, unscaled
    assert strip_cols(256) >= 40 and strip_cols(150) >= 23       # a Mario and a CartPole frame


def test_annotate_puts_a_strip_of_text_under_the_frame() -> None:
    from muzero_lite.reporting.gifs import (
        STRIP_BG,
        STRIP_CHOSEN,
        annotate,
        gif_frame,
        strip_cols,
        strip_height,
        strip_rows,
    )
    frame = make_frames(1, 240, 256)[0]
    out = annotate(frame, _hand_made())
    rows = len(strip_rows(_hand_made(), strip_cols(256)))
    assert out.shape == (240 + strip_height(rows), 256, 3) and np.array_equal(out[:240], frame)
    strip = out[240:].reshape(-1, 3)
    assert (strip != STRIP_BG).any(1).mean() > 0.05                # text, not a bare band
    assert (strip == STRIP_CHOSEN).all(1).any()                    # the chosen entry in its own colour
    assert annotate(make_frames(1, 400, 600)[0], _hand_made()).shape[1] == 150   # drawn at gif size
    assert gif_frame(out).mode == "P"


def test_same_height_pads_shorter_strips_with_their_background() -> None:
    from muzero_lite.reporting.gifs import STRIP_BG, Annotation, annotate, gif_frame, same_height
    frames = same_height([gif_frame(annotate(make_frames(1, 40, 64)[0], a)) for a in (_hand_made(), Annotation(2, "A"))])
    assert frames[0].size == frames[1].size
    short = annotate(make_frames(1, 40, 64)[0], Annotation(2, "A"))
    padded = np.asarray(frames[1].convert("RGB"))
    assert np.array_equal(padded[:len(short)], short) and (padded[len(short):] == STRIP_BG).all()
