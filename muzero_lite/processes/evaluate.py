"""`muzero-lite eval`: greedy games with a checkpoint, a gif each (in gifs/eval/), and a table per level.

The NES emulator is deterministic, so each game starts with a seeded random number
(0..eval.noop_max) of no-op moves, as Atari evaluations do, and then each move repeats the previous
one with probability eval.sticky_actions: the 20 games are 20 samples, not replays of a few.
Mario's table has a row per level of env.levels, then one per env.held_out_levels ("1-2 (held out)").
The table says how many distinct trajectories (action sequences) it saw. Games run selfplay.games_in_flight at
a time, batched like self-play's. Eval games are never written to games/.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..algorithm.networks import acting_networks, configure_torch, pick_device
from ..config import LEVEL_RE, Config, ConfigError
from ..data.checkpoints import (
    CheckpointError,
    PassedOver,
    check_compatible,
    eval_weights,
    load_checkpoint,
    newest_checkpoint,
)
from ..data.runfolder import RunPaths
from ..envs.make import game_spec, make_env
from ..reporting.gifs import write_gif
from ..reporting.metrics import EVAL_CSV, EVAL_RUN, RUNS, log_eval
from .acting import Game, play_games

HELD_OUT = " (held out)"   # suffix of a held-out level's row name: "1-2 (held out)"


def row_name(cfg: Config, level: Optional[str]) -> Optional[str]:
    """The table's name of a level's row: the level, marked when it is one of env.held_out_levels."""
    return f"{level}{HELD_OUT}" if level in cfg.env.held_out_levels else level


def _levels(cfg: Config, levels: Optional[str]) -> list[Optional[str]]:
    """The levels of --levels (by default the config's levels, then its held-out levels); [None] for a
    Gymnasium env."""
    if not cfg.env.is_mario:
        if levels:
            raise ConfigError(f"--levels = {levels!r}: only Mario has levels (env.id is {cfg.env.id!r})")
        return [None]
    if not levels:
        return list(cfg.env.levels) + list(cfg.env.held_out_levels)
    out = [s.strip() for s in levels.split(",") if s.strip()]
    for level in out:
        if not LEVEL_RE.match(level):
            raise ConfigError(f"--levels = {level!r}: unknown Mario level (world 1-8, stage 1-4, e.g. 1-1)")
    return out


def _load(cfg: Config, paths: RunPaths, checkpoint: Optional[str], out) -> tuple[Path, dict]:
    """The given checkpoint, or the run's newest that loads (a warning on out for each passed over);
    CheckpointError when there is none or it does not fit."""
    if checkpoint:
        payload = load_checkpoint(checkpoint)
        check_compatible(payload, cfg, checkpoint)
        return Path(checkpoint), payload
    found = newest_checkpoint(paths.checkpoints, cfg, PassedOver(out, "[eval]"))
    if found is None:
        raise CheckpointError(f"{paths.checkpoints}: no checkpoint to evaluate (train first, or pass --checkpoint)")
    return found


def evaluate(cfg: Config, networks, level: Optional[str], games: int, rng: np.random.Generator,
             training_step: int, gif_folder: Optional[Path] = None, random_agent: bool = False,
             stop: Optional[Callable[[list[float]], bool]] = None, games_in_flight: Optional[int] = None) -> dict:
    """Play `games` greedy games on one level (or the gym env); returns the row of the table.

    The games run `games_in_flight` at a time (default selfplay.games_in_flight), moved together like self-play's
    (`acting.play_games`); game i draws everything (its env seed, no-op start, sticky moves) from
    default_rng([s, i]) with s drawn from rng, so the figures depend on rng's seed only.
    random_agent: uniformly random moves after the same no-op starts, the baseline row (networks
    unused). stop: called with the returns so far after each game; True ends the eval there (a
    benchmark that only asks whether a target is still within reach), and the row covers the games finished.
    """
    e = cfg.env
    env_cfg = dataclasses.replace(e, levels=[level]) if level else e
    base = int(rng.integers(2**31))
    count = max(1, min(games, cfg.selfplay.games_in_flight if games_in_flight is None else games_in_flight))
    returns: list[float] = []                     # in the order the games ended (what `stop` sees)
    results: dict[int, tuple] = {}                # game number -> (return, max-x, flag, moves, actions)
    numbers: dict[int, int] = {}                  # id of a game in flight -> its number
    started = 0

    def new_game(env) -> Optional[Game]:
        """Game number `started` on env, or None once all are started."""
        nonlocal started
        if started >= games:
            return None
        game_rng = np.random.default_rng([base, started])
        noops = int(game_rng.integers(0, cfg.eval.noop_max + 1)) if e.is_mario else 0
        game = Game(env, networks, cfg, game_rng, training_step, greedy=True, noop_moves=noops,
                    render=gif_folder is not None, random_agent=random_agent, sticky=cfg.eval.sticky_actions)
        numbers[id(game)] = started
        started += 1
        return game

    env_list = []
    try:
        env_list += [make_env(env_cfg, base + i) for i in range(count)]
        for game in play_games(env_list, new_game):
            rec, gif = game.finish()
            number = numbers.pop(id(game))
            results[number] = (rec.meta["return"], rec.meta["max_x"] or 0, bool(rec.meta["flag"]), rec.length,
                               rec.actions.tobytes())
            returns.append(rec.meta["return"])
            if gif:
                write_gif(gif_folder / f"eval-step{training_step}-{level or e.id}-{number:03d}.gif", gif,
                          cfg.selfplay.gif_fps)
            del gif                       # not held through the next game
            if stop is not None and stop(returns):
                break
    finally:
        for env in env_list:
            env.close()
    # the figures in game-number order, whatever order the games ended in
    returns, max_xs, flag_list, moves, actions = zip(*(results[n] for n in sorted(results)))
    flags, trajectories = sum(flag_list), set(actions)
    name = "random" if random_agent else row_name(cfg, level) or e.id
    return {"level": name, "games": len(returns), "mean_return": float(np.mean(returns)),
            "min_return": float(np.min(returns)), "max_return": float(np.max(returns)),
            "mean_max_x": float(np.mean(max_xs)), "max_max_x": int(np.max(max_xs)), "flags": flags,
            "mean_moves": float(np.mean(moves)), "distinct": len(trajectories)}


def format_table(rows: list[dict], is_mario: bool) -> str:
    """The eval table as aligned text."""
    if is_mario:
        head = ["level", "games", "mean return", "mean max-x", "max max-x", "flags", "mean moves", "distinct"]
        keys = ["level", "games", "mean_return", "mean_max_x", "max_max_x", "flags", "mean_moves", "distinct"]
    else:
        head = ["env", "games", "mean return", "min return", "max return", "mean moves", "distinct"]
        keys = ["level", "games", "mean_return", "min_return", "max_return", "mean_moves", "distinct"]
    cells = [head] + [[f"{r[k]:.1f}" if isinstance(r[k], float) else str(r[k]) for k in keys] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells)


def run_eval(cfg: Config, run_dir: str | os.PathLike = ".", checkpoint: Optional[str] = None,
             levels: Optional[str] = None, games: int = 20, seed: Optional[int] = None, out=sys.stdout,
             gifs: bool = True) -> list[dict]:
    """Evaluate the given or newest checkpoint; prints and returns the table's rows."""
    configure_torch(threads=1)
    if games < 1:
        raise ConfigError(f"--games = {games}: must be >= 1")
    level_list = _levels(cfg, levels)
    paths = RunPaths.of(cfg, run_dir)
    path, payload = _load(cfg, paths, checkpoint, out)
    networks, model = acting_networks(cfg, game_spec(cfg.env), pick_device(cfg.selfplay.device))
    networks.load_state_dict(eval_weights(payload))
    step = int(payload["step"])
    rng = np.random.default_rng(cfg.seed if seed is None else seed)
    # a folder of their own: self-play's gif pruning and its game-*.gif names stay apart from them
    gif_folder = paths.gifs / "eval" if gifs else None
    if gif_folder:
        gif_folder.mkdir(parents=True, exist_ok=True)
    weights = "averaged weights" if payload.get("eval_networks") else "newest weights"
    print(f"[eval] {path.name} (step {step}, {weights}), {games} greedy games per level", file=out, flush=True)
    rows = [evaluate(cfg, model, level, games, rng, step, gif_folder) for level in level_list]
    print(format_table(rows, cfg.env.is_mario), file=out, flush=True)
    if gif_folder:
        print(f"[eval] gifs: {gif_folder / f'eval-step{step}-*.gif'}", file=out, flush=True)
    # x: the env moves the checkpoint records (the trainer's count when it was saved); older ones: its train rows
    log_eval(run_dir, step, rows, checkpoints=paths.checkpoints, env_moves=payload.get("env_moves"), out=out)
    print(f"[eval] recorded in {paths.checkpoints / EVAL_CSV} and {Path(run_dir) / RUNS / EVAL_RUN} (TensorBoard)",
          file=out, flush=True)
    return rows
