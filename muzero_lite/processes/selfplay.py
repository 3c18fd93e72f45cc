"""Self-play: play whole games with the newest checkpoint; write each game file and its gif.

A worker keeps selfplay.games_in_flight games in flight, one per env, and moves them together: each move is
one batched network call for all of them (`acting.play_games`), so the network's per-call cost is
shared. Each game that ends is written atomically to games/ with its gif (keeping the newest
paths.keep_gifs), a line is printed (every game with --verbose, else every LINE_EVERY-th), and a
new game starts on its env, after (re)loading the newest checkpoint if it changed; games in flight
then go on with the new weights. Before each move the worker waits while the trainer asks it to
(checkpoints/pace.json: the trainer is behind the pinned replay ratio, `pace`). Before any
checkpoint exists, and for the first `random_games` games of the run folder, a uniform network plays
(docs/algorithm.md §1); a game begun uniform stays uniform to its end (switching such games to the
first checkpoint's weights left a Mario seed standing at the start for 60k moves, docs/experiments.md).

Game n of a worker with seed s draws everything from np.random.default_rng([s, n]), so it is the
same game whichever env it ran on and however many ran beside it (up to batched float rounding).
Ctrl-C, SIGTERM or SIGKILL loses only the games in flight: files appear whole or not at all.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Callable, Optional

import numpy as np
import torch

from ..algorithm.networks import configure_torch, pick_device
from ..algorithm.types import GameRecord
from ..config import Config, config_digest, model_digest
from ..data.checkpoints import PassedOver
from ..data.gamefile import list_game_files, write_game
from ..data.pace import PaceReader
from ..data.runfolder import RunPaths, prune_gifs, save_resolved_config, sigterm_as_interrupt
from ..envs.base import Env
from ..envs.make import make_env
from ..reporting.gifs import gif_path_for, write_gif
from ..reporting.status_lines import game_line
from .acting import Game, play_games
from .model_source import FolderSource

# without verbose, a worker prints the line of its games 1, 1 + LINE_EVERY, 1 + 2 * LINE_EVERY, ...
LINE_EVERY = 20


def game_rng(seed: int, n: int) -> np.random.Generator:
    """The generator of game n of a worker with this seed."""
    return np.random.default_rng([seed, n])


def run_selfplay(cfg: Config, run_dir: str | os.PathLike = ".", games: Optional[int] = None,
                 worker: str = "w0", seed: Optional[int] = None, out=sys.stdout, verbose: bool = False) -> int:
    """The self-play worker: plays games forever (or `games`), returns how many it wrote.

    verbose: a line for every game; otherwise for the first game and every LINE_EVERY-th after it.
    """
    configure_torch(threads=1)
    paths = RunPaths.of(cfg, run_dir)
    paths.make()
    seed = cfg.seed if seed is None else seed
    torch.manual_seed(seed)
    envs: list[Env] = []
    try:
        envs += [make_env(cfg.env, seed + i) for i in range(cfg.selfplay.games_in_flight)]
        source = FolderSource(cfg, envs[0].spec, paths.checkpoints, pick_device(cfg.selfplay.device),
                              PassedOver(out, f"[selfplay {worker}]"))
        source.refresh()                   # refuses another config's checkpoint before anything is written
    except BaseException:
        for env in envs:
            env.close()
        raise
    save_resolved_config(cfg, paths.games)
    played_before = len(list_game_files(paths.games))
    try:
        return play_worker(cfg, envs, source, FolderOutput(cfg, paths), worker, seed, games, played_before,
                           PaceReader(paths.checkpoints).wait, out, verbose)
    finally:
        for env in envs:
            env.close()


class FolderOutput:
    """Where a local worker's finished games go: game files in games/, gifs in gifs/ (newest keep_gifs)."""

    def __init__(self, cfg: Config, paths: RunPaths):
        self.cfg, self.paths = cfg, paths

    def game(self, record: GameRecord, gif: list, worker: str) -> None:
        """Write the game file, and its gif when it has one."""
        path = write_game(self.paths.games, record, worker)
        if gif:
            write_gif(gif_path_for(path, self.paths.gifs), gif, self.cfg.selfplay.gif_fps)
            prune_gifs(self.paths.gifs, self.cfg.paths.keep_gifs)


def play_worker(cfg: Config, envs: list[Env], source, output, worker: str, seed: int, games: Optional[int],
                played_before: int, wait: Optional[Callable[[], None]] = None, out=sys.stdout,
                verbose: bool = False, first_game: int = 0) -> int:
    """The worker loop, wherever its games go: keep a game on every env, hand each finished one to
    output.game(record, gif, worker), print its line; returns how many were handed over.

    source: the weights to play (a `model_source.ModelSource`: the folder's, or a Ray actor's pushed
    ones), refreshed before each new game. wait: called before each move (the pinned replay ratio). played_before: games
    already in the run, counted toward selfplay.random_games. first_game: the number of this worker's
    first game (its generator is game_rng(seed, number)). Ctrl-C or SIGTERM ends it; the games in
    flight are dropped.
    """
    started, written, moves, t0 = first_game, 0, 0, time.time()
    playing: dict[int, tuple[int, Optional[int]]] = {}      # id of a game in flight -> (its number, checkpoint step)

    def new_game(env: Env) -> Optional[Game]:
        """The next game of this worker on env (the newest weights, its own generator), or None when done."""
        nonlocal started
        if games is not None and started - first_game >= games:
            return None
        source.refresh()
        model = source.model(played_before + started - first_game < cfg.selfplay.random_games)
        step = None if model is source.uniform else source.step
        render = cfg.selfplay.gif_every > 0 and started % cfg.selfplay.gif_every == 0
        game = Game(env, model, cfg, game_rng(seed, started), training_step=step or 0, render=render,
                    sticky=cfg.selfplay.sticky_actions)
        playing[id(game)] = (started, step)
        started += 1
        return game

    main = threading.current_thread() is threading.main_thread()     # a Ray actor runs it in a thread
    previous = sigterm_as_interrupt() if main else None
    try:
        for game in play_games(envs, new_game, wait):
            record, gif = game.finish()
            number, step = playing.pop(id(game))
            moves += record.length
            rate = moves / max(time.time() - t0, 1e-9)     # the worker's, all its games in flight together
            record.meta.update({"worker": worker, "checkpoint_step": step, "seed": seed,
                                "game_number": number, "worker_moves_per_s": rate,
                                "config_digest": config_digest(cfg), "model_digest": model_digest(cfg)})
            output.game(record, gif, worker)
            del gif                       # not held through the next game
            written += 1
            if not verbose and (written - 1) % LINE_EVERY:
                continue
            line = game_line(written, record, step, rate, cfg.env.is_mario)
            print(f"[selfplay {worker}] " + line, file=out, flush=True)
    except KeyboardInterrupt:
        print(f"[selfplay {worker}] stopped after {written} games (the games in flight were dropped)", file=out, flush=True)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    return written
