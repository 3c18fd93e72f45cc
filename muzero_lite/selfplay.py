"""Self-play: play whole games with the newest checkpoint; write each game file and its gif.

The worker loop is: (re)load the newest checkpoint if it changed -> play one game -> write the
game file atomically to games/ -> write the gif (keeping the newest paths.keep_gifs) -> print one
line (every game with --verbose, else every LINE_EVERY-th). Before any checkpoint exists, and for
the first `random_games` games of the run folder, a uniform network plays (docs/algorithm.md §1).
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Optional

import numpy as np
import torch

from .acting import ModelSource, play_game
from .config import Config, config_digest, model_digest, save_resolved_config
from .envs import make_env
from .gamefile import list_game_files, write_game
from .gifs import gif_path_for, write_gif
from .networks import configure_torch
from .runfolder import RunPaths, prune_gifs, sigterm_as_interrupt
from .types import GameRecord

# without verbose, a worker prints the line of its games 1, 1 + LINE_EVERY, 1 + 2 * LINE_EVERY, ...
LINE_EVERY = 20


def _format_line(n: int, rec: GameRecord, step: Optional[int], rate: float, is_mario: bool) -> str:
    """The one line printed for each finished game."""
    m = rec.meta
    parts = [f"game {n}", f"level {m['level']}" if is_mario else m["env"], f"moves {m['moves']}",
             f"return {m['return']:.1f}"]
    if is_mario:
        parts += [f"max_x {m['max_x']}", f"flag {'yes' if m['flag'] else 'no'}"]
        parts += ["stalled"] if m.get("stalled") else []
    if m.get("policy_entropy") is not None:
        parts += [f"entropy {m['policy_entropy']:.2f}", f"search changed {100 * m['search_changed']:.0f}%"]
    parts += [f"ckpt {step if step is not None else 'uniform'}", f"moves/s {rate:.1f}"]
    return " | ".join(parts)


def run_selfplay(cfg: Config, run_dir: str | os.PathLike = ".", games: Optional[int] = None,
                 worker: str = "w0", seed: Optional[int] = None, out=sys.stdout, verbose: bool = False) -> int:
    """The self-play worker: plays games forever (or `games`), returns how many it wrote.

    verbose: a line for every game; otherwise for the first game and every LINE_EVERY-th after it.
    """
    configure_torch(threads=1)
    paths = RunPaths.of(cfg, run_dir)
    paths.make()
    seed = cfg.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    env = make_env(cfg.env, seed)
    source = ModelSource(cfg, env.spec, paths.checkpoints)
    try:
        source.refresh()                   # refuses another config's checkpoint before anything is written
    except BaseException:
        env.close()
        raise
    save_resolved_config(cfg, paths.games)
    played_before = len(list_game_files(paths.games))
    written = 0
    previous = sigterm_as_interrupt()
    try:
        while games is None or written < games:
            source.refresh()
            use_uniform = played_before + written < cfg.selfplay.random_games
            model = source.model(use_uniform)
            step = None if model is source.uniform else source.step
            render = cfg.selfplay.gif_every > 0 and written % cfg.selfplay.gif_every == 0
            record, gif = play_game(env, model, cfg, rng, training_step=step or 0, render=render)
            record.meta.update({"worker": worker, "checkpoint_step": step, "seed": seed,
                                "config_digest": config_digest(cfg), "model_digest": model_digest(cfg)})
            path = write_game(paths.games, record, worker)
            if gif:
                write_gif(gif_path_for(path, paths.gifs), gif, cfg.selfplay.gif_fps)
                del gif                   # not held through the next game
                prune_gifs(paths.gifs, cfg.paths.keep_gifs)
            written += 1
            if not verbose and (written - 1) % LINE_EVERY:
                continue
            rate = record.length / max(record.meta["wall_time"], 1e-9)
            print(f"[selfplay {worker}] " + _format_line(written, record, step, rate, cfg.env.is_mario), file=out, flush=True)
    except KeyboardInterrupt:
        print(f"[selfplay {worker}] stopped after {written} games (the game in flight was dropped)", file=out, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        env.close()
    return written
