"""The trainer process: load new game files into replay, train, write checkpoints, report.

It never talks to self-play: games arrive as files in games/, weights leave as checkpoints.
A bad game file is moved to games/rejected/ with one warning and training goes on.
"""
from __future__ import annotations

import csv
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .checkpoints import newest_checkpoint, save_checkpoint
from .config import Config, save_resolved_config
from .envs import make_env
from .gamefile import GameFileError, list_game_files, read_game
from .learner import Learner
from .networks import MuZeroNetworks
from .observations import input_shape
from .replay import ReplayBuffer
from .runfolder import RunPaths, sigterm_as_interrupt

REJECTED = "rejected"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class GameLoader:
    """Finds game files not loaded yet, validates them, feeds the buffer, moves bad ones aside."""

    def __init__(self, folder: Path, buffer: ReplayBuffer, frame_shape: tuple, num_actions: int, out=sys.stdout):
        self.folder, self.buffer, self.frame_shape, self.num_actions, self.out = folder, buffer, tuple(frame_shape), num_actions, out
        self.seen: set[str] = set()
        self.loaded = 0
        self.rejected = 0

    def _reject(self, path: Path, reason: str) -> None:
        self.rejected += 1
        print(f"[train] warning: rejected {path.name}: {reason}", file=self.out, flush=True)
        dest = self.folder / REJECTED
        dest.mkdir(exist_ok=True)
        try:
            shutil.move(str(path), str(dest / path.name))
        except OSError:
            try:
                path.unlink()
            except OSError:
                pass

    def _read(self, path: Path):
        """The record in path, or None (and the file moved aside) when it is not a valid game."""
        try:
            record = read_game(path, num_actions=self.num_actions)
        except GameFileError as e:
            self._reject(path, str(e).removeprefix(str(path)).lstrip(": "))
            return None
        except FileNotFoundError:   # deleted by retention between listing and reading
            return None
        if tuple(record.frames.shape[1:]) != self.frame_shape:
            self._reject(path, f"frames of shape {tuple(record.frames.shape[1:])}, the config makes {self.frame_shape}")
            return None
        return record

    def poll(self) -> int:
        """Load every new complete game file (newest first until the window is full); returns moves added."""
        new = [p for p in list_game_files(self.folder) if p.name not in self.seen]
        records, moves = [], 0
        for path in reversed(new):          # newest first: older files beyond the window are never read
            self.seen.add(path.name)
            if moves >= self.buffer.cfg.window_size:
                continue
            record = self._read(path)
            if record is not None:
                records.append(record)
                moves += record.length
        for record in reversed(records):    # add oldest first so the window keeps the newest
            self.buffer.add(record)
            self.loaded += 1
        return moves


def prune_games(folder: Path, keep: int) -> int:
    """Delete all but the newest `keep` game files (0: keep all); returns how many were deleted."""
    if keep <= 0:
        return 0
    files = list_game_files(folder)
    for p in files[:-keep]:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
    return max(0, len(files) - keep)


class MetricsLog:
    """train/ and buffer/ scalars as CSV rows in the checkpoints folder."""

    FIELDS = ["time", "train/step", "train/loss", "train/value_loss", "train/reward_loss", "train/policy_loss",
              "train/exploration_loss", "buffer/games", "buffer/moves", "buffer/rejected", "perf/samples_per_s",
              "perf/replay_ratio"]

    def __init__(self, path: Path):
        self.path = path
        new = not path.exists()
        self.f = open(path, "a", newline="")
        self.w = csv.writer(self.f)
        if new:
            self.w.writerow(self.FIELDS)

    def write(self, row: list) -> None:
        self.w.writerow(row)
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def run_trainer(cfg: Config, run_dir: str | os.PathLike = ".", steps: Optional[int] = None,
                out=sys.stdout, poll_interval: float = 1.0) -> int:
    """Train until `steps` more steps are done (or forever); returns the final training step."""
    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    paths = RunPaths.of(cfg, run_dir)
    paths.make()
    save_resolved_config(cfg, paths.checkpoints)
    env = make_env(cfg.env, cfg.seed)
    frame_shape, num_actions = tuple(env.frame_shape), env.num_actions
    env.close()
    device = pick_device(t.device)
    torch.manual_seed(cfg.seed)
    net = MuZeroNetworks(input_shape(frame_shape, cfg.env.stack_moves, num_actions), num_actions, cfg.network).to(device)
    learner = Learner(t, net, cfg.network.support_size, device)
    found = newest_checkpoint(paths.checkpoints, cfg)
    if found:
        learner.load(found[1])
        print(f"[train] resumed from {found[0].name} at step {learner.step}", file=out, flush=True)
    buffer = ReplayBuffer(t, cfg.env.stack_moves, num_actions, np.random.default_rng(cfg.seed + learner.step))
    loader = GameLoader(paths.games, buffer, frame_shape, num_actions, out)
    log = MetricsLog(paths.checkpoints / "train_metrics.csv")
    target = None if steps is None else learner.step + steps
    saved_step, samples, last_status, last_poll = learner.step, 0, 0.0, 0.0
    rate_t0, rate_samples = time.time(), 0
    metrics = None
    previous = sigterm_as_interrupt()

    def checkpoint() -> None:
        nonlocal saved_step
        s = learner.state()
        save_checkpoint(paths.checkpoints, cfg, learner.step, s["networks"], s["optimizer"],
                        s["exploration_optimizer"], keep=t.keep_checkpoints)
        saved_step = learner.step

    try:
        while target is None or learner.step < target:
            now = time.time()
            if now - last_poll >= poll_interval or buffer.num_moves < t.min_buffer_moves:
                loader.poll()
                prune_games(paths.games, cfg.paths.keep_games)
                last_poll = now
            if buffer.num_moves < t.min_buffer_moves:
                if now - last_status >= t.status_interval:
                    print(f"[train] waiting for games: {buffer.num_moves}/{t.min_buffer_moves} moves loaded "
                          f"({loader.loaded} games, {loader.rejected} rejected)", file=out, flush=True)
                    last_status = now
                time.sleep(poll_interval)
                continue
            ratio = samples / max(buffer.total_moves_added, 1)
            if t.max_replay_ratio and ratio >= t.max_replay_ratio:
                time.sleep(0.05)      # self-play is behind: wait for new games instead of overfitting
                last_poll = 0.0
                continue
            batch = buffer.sample(t.batch_size, t.num_unroll_steps)
            metrics, priorities = learner.train_step(batch)
            buffer.update_priorities(batch.game_ids, batch.positions, priorities)
            samples += t.batch_size
            rate_samples += t.batch_size
            if learner.step % t.checkpoint_interval == 0:
                checkpoint()
            if now - last_status >= t.status_interval:
                rate = rate_samples / max(time.time() - rate_t0, 1e-9)
                rate_t0, rate_samples, last_status = time.time(), 0, now
                print(f"[train] step {learner.step} | loss {metrics.total:.3f} (value {metrics.value:.3f} reward "
                      f"{metrics.reward:.3f} policy {metrics.policy:.3f} explore {metrics.exploration:.3f}) | "
                      f"games {loader.loaded} moves {buffer.num_moves} rejected {loader.rejected} | "
                      f"samples/s {rate:.0f} | replay ratio {ratio:.2f}", file=out, flush=True)
                log.write([f"{time.time():.1f}", learner.step, metrics.total, metrics.value, metrics.reward,
                           metrics.policy, metrics.exploration, loader.loaded, buffer.num_moves, loader.rejected,
                           f"{rate:.1f}", f"{ratio:.3f}"])
    except KeyboardInterrupt:
        print(f"[train] interrupted at step {learner.step}", file=out, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if learner.step != saved_step:
            checkpoint()
        log.close()
    print(f"[train] stopped at step {learner.step} (checkpoint saved)", file=out, flush=True)
    return learner.step
