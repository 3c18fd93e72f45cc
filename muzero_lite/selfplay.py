"""Self-play: play whole games with the newest checkpoint; write each game file and its gif.

The worker loop is: (re)load the newest checkpoint if it changed -> play one game -> write the
game file atomically to games/ -> write the gif (keeping the newest paths.keep_gifs) -> print one
line. Before any checkpoint exists, and for the first `random_games` games of the run folder, a
uniform network plays.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from .atomic import is_temp
from .checkpoints import list_checkpoints, newest_checkpoint
from .config import Config, config_digest, model_digest, save_resolved_config, temperature_at
from .envs import Env, make_env
from .gamefile import GAME_PREFIX, list_game_files, write_game
from .gifs import gif_frame, gif_path_for, write_gif
from .networks import MuZeroNetworks, UniformModel, configure_torch
from .observations import input_shape, stack_observations
from .runfolder import RunPaths, sigterm_as_interrupt
from .search import select_actions, truncated_search
from .types import GameRecord

# Mario's action 0 is NOOP in every action set
NOOP = 0


def build_networks(cfg: Config, env: Env) -> MuZeroNetworks:
    """The networks for cfg and env, on the CPU."""
    shape = input_shape(env.frame_shape, cfg.env.stack_moves, env.num_actions)
    return MuZeroNetworks(shape, env.num_actions, cfg.network)


def _capture(env: Env):
    """The current frame as a gif frame (palette image at gif size), or None when the env cannot render."""
    frame = env.render_rgb()
    return None if frame is None else gif_frame(frame)


def play_game(env: Env, model, cfg: Config, rng: np.random.Generator, training_step: int = 0,
              greedy: bool = False, noop_moves: int = 0,
              render: bool = True) -> tuple[GameRecord, list[Image.Image]]:
    """Play one game to its end; return the record and (if render) its gif frames (`gifs.gif_frame`).

    model has initial_inference / recurrent_inference (MuZeroNetworks or UniformModel).
    noop_moves: the first moves are no-ops without search (evaluation's random starts).
    """
    e, s = cfg.env, cfg.search
    first, info = env.reset(rng)
    a = env.num_actions
    cap = e.max_moves
    frames = np.zeros((cap,) + tuple(env.frame_shape), dtype=env.frame_dtype)       # [T, *frame_shape]
    actions = np.zeros(cap, dtype=np.int64)
    rewards = np.zeros(cap, dtype=np.float32)
    root_values = np.zeros(cap, dtype=np.float32)
    policies = np.zeros((cap, a), dtype=np.float32)
    frames[0] = first
    gif = [_capture(env)] if render else []
    random_moves = int(rng.integers(0, e.initial_random_moves + 1)) if e.initial_random_moves else 0
    sample_rng = rng if s.root_actions == "sample" and not greedy else None
    total, max_x, t, done, started = 0.0, info.get("x_pos", 0), 0, False, time.time()
    searches, entropy_sum, changed = 0, 0.0, 0            # diagnostics of the search (meta)
    while not done and t < cap:
        if t < noop_moves:
            action = NOOP
            policies[t] = 1.0 / a
        else:
            obs = torch.from_numpy(stack_observations(frames, actions, np.array([t]), e.stack_moves, a))
            root = model.initial_inference(obs)
            result = truncated_search(root, model.recurrent_inference, num_searches=s.num_searches,
                                      search_depth=s.search_depth, discount=cfg.train.discount, q_rule=s.q_rule,
                                      sample_rng=sample_rng, policy_target=s.policy_target)
            root_values[t], policies[t] = result.root_value[0], result.policy[0]
            searches += 1
            entropy_sum += policy_entropy(root.policy_logits)
            changed += int(result.normalised_q[0].argmax() != int(root.policy_logits[0].argmax()))
            if t < random_moves:
                action = int(rng.integers(a))
            else:
                inv_t = temperature_at(s, training_step, t)
                action = int(select_actions(result.normalised_q, inv_t, rng, greedy=greedy)[0])
        nxt, reward, done, info = env.step(action)
        actions[t], rewards[t] = action, reward
        total += reward
        max_x = max(max_x, info.get("x_pos", 0))
        t += 1
        if t < cap:
            frames[t] = nxt
        if render:
            gif.append(_capture(env))
    meta = {
        "env": e.id, "level": info.get("level"), "moves": t, "return": float(total),
        "max_x": int(max_x) if e.is_mario else None, "flag": bool(info.get("flag", False)),
        "terminated": bool(info.get("terminated", done)), "stalled": bool(info.get("stalled", False)),
        "training_step": int(training_step),
        "wall_time": time.time() - started, "greedy": greedy, "noop_moves": int(min(noop_moves, t)),
        # mean entropy (nats) of the policy network's softmax at the searched positions, and the share of
        # them where the search's best action was not the policy's first choice
        "policy_entropy": entropy_sum / searches if searches else None,
        "search_changed": changed / searches if searches else None,
    }
    record = GameRecord(frames[:t].copy(), actions[:t].copy(), rewards[:t].copy(), root_values[:t].copy(),
                        policies[:t].copy(), meta)
    return record, [f for f in gif if f is not None]


def policy_entropy(logits: torch.Tensor) -> float:
    """Entropy in nats of softmax(logits) of one row [1, A]."""
    logp = torch.log_softmax(logits[0].double(), dim=0)
    return float(-(logp.exp() * logp).sum())


class ModelSource:
    """Keeps the newest checkpoint's weights loaded; re-checks the folder before each game."""

    def __init__(self, cfg: Config, env: Env, folder: Path):
        self.cfg, self.folder = cfg, folder
        self.networks = build_networks(cfg, env).eval()
        self.uniform = UniformModel(env.num_actions)
        self.step: Optional[int] = None           # training step of the loaded checkpoint

    def refresh(self) -> None:
        """Load the newest complete checkpoint if it is not the one loaded (a directory listing otherwise)."""
        listed = list_checkpoints(self.folder)
        if not listed or listed[0][0] == self.step:
            return
        found = newest_checkpoint(self.folder, self.cfg)
        if found is not None and found[1]["step"] != self.step:
            self.networks.load_state_dict(found[1]["networks"])
            self.step = int(found[1]["step"])

    def model(self, use_uniform: bool):
        return self.uniform if use_uniform or self.step is None else self.networks


def prune_gifs(folder: Path, keep: int) -> int:
    """Delete all but the newest `keep` game gifs (0: keep all); returns how many were deleted.

    Only gifs named after game files (game-*.gif, which sort by time) are counted and deleted:
    eval gifs and anything else in the folder are never touched.
    """
    if keep <= 0:
        return 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    gifs = sorted(e.name for e in entries if e.name.startswith(GAME_PREFIX) and e.name.endswith(".gif")
                  and not is_temp(e.name) and e.is_file(follow_symlinks=False))
    deleted = 0
    for name in gifs[:-keep]:
        try:
            os.unlink(os.path.join(folder, name))
            deleted += 1
        except FileNotFoundError:     # another worker pruned it first
            pass
    return deleted


def _format_line(n: int, rec: GameRecord, step: Optional[int], rate: float, is_mario: bool) -> str:
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
                 worker: str = "w0", seed: Optional[int] = None, out=sys.stdout) -> int:
    """The self-play worker: plays games forever (or `games`), returns how many it wrote."""
    configure_torch(threads=1)
    paths = RunPaths.of(cfg, run_dir)
    paths.make()
    seed = cfg.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    env = make_env(cfg.env, seed)
    source = ModelSource(cfg, env, paths.checkpoints)
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
            rate = record.length / max(record.meta["wall_time"], 1e-9)
            print(f"[selfplay {worker}] " + _format_line(written, record, step, rate, cfg.env.is_mario), file=out, flush=True)
    except KeyboardInterrupt:
        print(f"[selfplay {worker}] stopped after {written} games (the game in flight was dropped)", file=out, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        env.close()
    return written
