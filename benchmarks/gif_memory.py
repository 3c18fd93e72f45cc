"""Gif memory: the peak RSS a self-play gif game adds, palette frames at capture vs colour arrays.

Each way runs in a fresh process (a process keeps its high-water mark): it builds the env, plays
--moves random moves capturing a gif frame after each, then encodes the gif. Printed: the peak RSS
over the RSS before the game (VmHWM - VmRSS, from /proc) and the capture + encode time, for
  palette : gifs.gif_frame at capture (palette image, 1 byte a pixel), gifs.encode_gif  (muzero_lite's)
  colour  : colour arrays at capture, np.stack, imageio.v3.imwrite                    (the alternative)
Both gifs' bytes are checked equal in pixels (the palette is the one Pillow would make at save).

    .venv/bin/python benchmarks/gif_memory.py [--config configs/mario.yaml] [--moves 550]

Needs the test extra (imageio: the colour way's writer, and the reader that checks the pixels).
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import ROOT, status_kb

from muzero_lite.config import load_config
from muzero_lite.envs.make import make_env
from muzero_lite.reporting.gifs import encode_gif, gif_frame, shrink_frame


def one_game(config: str, moves: int, way: str) -> dict:
    """One way's game in this process: its peak RSS over the RSS before it, its time, and its gif's pixels."""
    import imageio.v3 as iio  # only the 'colour' way uses it; imported by both alike
    cfg = load_config(config)
    env = make_env(cfg.env, 0)
    rng = np.random.default_rng(0)
    env.reset(rng)
    env.render_rgb()
    before = status_kb("VmRSS")
    start = time.perf_counter()
    capture = gif_frame if way == "palette" else shrink_frame      # colour: arrays at gif size, in colour
    frames = [capture(env.render_rgb())]
    for _ in range(moves):
        _, _, done, _ = env.step(int(rng.integers(env.num_actions)))
        if done:
            env.reset(rng)
        frames.append(capture(env.render_rgb()))
    if way == "palette":
        data = encode_gif(frames, cfg.selfplay.gif_fps)
    else:
        buf = io.BytesIO()
        iio.imwrite(buf, np.stack(frames), extension=".gif", duration=1000.0 / cfg.selfplay.gif_fps, loop=0)
        data = buf.getvalue()
    seconds = time.perf_counter() - start
    peak = status_kb("VmHWM")                       # before reading the gif back (that decodes every frame)
    pixels = iio.imread(data, index=None)[..., :3]
    env.close()
    return {"way": way, "peak_mb": (peak - before) / 1024, "rss_before_mb": before / 1024,
            "seconds": seconds, "gif_kb": len(data) / 1024, "frames": int(pixels.shape[0]),
            "pixel_sum": int(pixels.astype(np.int64).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "mario.yaml"))
    ap.add_argument("--moves", type=int, default=550)
    ap.add_argument("--way", choices=["palette", "colour"], help=argparse.SUPPRESS)   # the child's job
    args = ap.parse_args()
    if args.way:
        print(json.dumps(one_game(args.config, args.moves, args.way)))
        return
    rows = {}
    for way in ("colour", "palette"):
        out = subprocess.run([sys.executable, __file__, "--config", args.config, "--moves", str(args.moves),
                              "--way", way], capture_output=True, text=True, check=True)
        rows[way] = json.loads(out.stdout.strip().splitlines()[-1])
        r = rows[way]
        print(f"{way:8s} peak +{r['peak_mb']:6.1f} MB over {r['rss_before_mb']:.1f} MB   {r['seconds']:5.2f} s   "
              f"gif {r['gif_kb']:.0f} KB, {r['frames']} frames", flush=True)
    same = rows["colour"]["pixel_sum"] == rows["palette"]["pixel_sum"] and rows["colour"]["frames"] == rows["palette"]["frames"]
    print(f"\n{Path(args.config).name}, {args.moves} moves: a gif game's peak RSS {rows['colour']['peak_mb']:.1f} MB -> "
          f"{rows['palette']['peak_mb']:.1f} MB ({rows['colour']['peak_mb'] / max(rows['palette']['peak_mb'], 0.1):.1f}x less), "
          f"time {rows['colour']['seconds']:.2f} s -> {rows['palette']['seconds']:.2f} s; same pixels: {same}")


if __name__ == "__main__":
    main()
