"""The trainer process: load new game files into replay, train, write checkpoints, report.

It never talks to self-play: games arrive as files in games/, weights leave as checkpoints.
A bad game file (or anything named like one that is not a regular file, e.g. a symlink) is moved
to games/rejected/ with one warning and training goes on. The trainer also keeps the run's disk in
bounds: game files beyond paths.keep_games / keep_games_gb are deleted once it has listed them
(read into replay, or skipped as older than the replay window; it says so once), and temp files
that killed writers left in games/, gifs/ and checkpoints/ are deleted once STALE_TEMP_S old.
"""
from __future__ import annotations

import csv
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .atomic import is_temp, remove_stale_temps
from .checkpoints import newest_checkpoint, save_checkpoint
from .config import Config, save_resolved_config
from .envs import make_env
from .gamefile import DEFAULT_MAX_BYTES, GAME_PREFIX, GAME_SUFFIX, GameFileError, list_game_files, read_game
from .learner import Learner
from .networks import MuZeroNetworks, configure_torch
from .observations import input_shape
from .replay import ReplayBuffer
from .runfolder import RunPaths, sigterm_as_interrupt

REJECTED = "rejected"
# a temp file this old was left by a killed writer (a live one renames its temp within seconds)
STALE_TEMP_S = 600.0
# seconds between sweeps for stale temp files
TEMP_SWEEP_INTERVAL_S = 60.0


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# Upper bound on the uncompressed bytes of one honest game file under this config: reads stop
# there, so a decompression bomb costs at most this much. Four times the longest game (a later
# run may raise max_moves) plus 16 MiB for meta.
def max_game_bytes(max_moves: int, frame_shape: tuple, frame_dtype: np.dtype, num_actions: int) -> int:
    per_move = math.prod(frame_shape) * np.dtype(frame_dtype).itemsize + 8 + 4 + 4 + 4 * num_actions
    return 4 * max_moves * per_move + (16 << 20)


# Entries named like game files that list_game_files skips because they are not regular files
# (symlinks, folders, FIFOs): the loader rejects them so they are seen, and never follows them.
def _irregular_game_entries(folder: Path) -> list[Path]:
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(Path(e.path) for e in entries if e.name.startswith(GAME_PREFIX) and e.name.endswith(GAME_SUFFIX)
                  and not is_temp(e.name) and not e.is_file(follow_symlinks=False))


class GameLoader:
    """Finds game files not loaded yet, validates them, feeds the buffer, moves bad ones aside."""

    def __init__(self, folder: Path, buffer: ReplayBuffer, frame_shape: tuple, num_actions: int, out=sys.stdout,
                 max_bytes: Optional[int] = None):
        self.folder, self.buffer, self.frame_shape, self.num_actions, self.out = folder, buffer, tuple(frame_shape), num_actions, out
        # bound on one file's uncompressed size (run_trainer passes max_game_bytes of its config)
        self.max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
        self.seen: set[str] = set()      # names listed before (loaded, rejected or beyond the window)
        self.loaded = 0
        self.rejected = 0

    def _reject(self, path: Path, reason: str) -> None:
        """One warning line, then move path (a symlink itself, never its target) to games/rejected/."""
        self.rejected += 1
        print(f"[train] warning: rejected {path.name}: {reason}", file=self.out, flush=True)
        dest = self.folder / REJECTED
        dest.mkdir(exist_ok=True)
        try:
            os.replace(path, dest / path.name)   # same filesystem: a rename, which never follows links
        except OSError:
            try:
                path.unlink()
            except OSError:
                pass                             # e.g. a non-empty folder: left, but never listed again

    def _read(self, path: Path):
        """The record in path, or None (and the file moved aside) when it is not a valid game."""
        try:
            record = read_game(path, max_bytes=self.max_bytes, num_actions=self.num_actions)
        except GameFileError as e:
            if not os.path.lexists(path):    # deleted (by retention, by hand) between listing and reading
                return None
            self._reject(path, str(e).removeprefix(str(path)).lstrip(": "))
            return None
        if tuple(record.frames.shape[1:]) != self.frame_shape:
            self._reject(path, f"frames of shape {tuple(record.frames.shape[1:])}, the config makes {self.frame_shape}")
            return None
        return record

    def poll(self) -> int:
        """Load every new complete game file (newest first until the window is full); returns moves added."""
        listed = list_game_files(self.folder)
        irregular = _irregular_game_entries(self.folder)
        # names leave `seen` once their files are gone (names are never reused), so it stays small
        self.seen.intersection_update(p.name for p in listed + irregular)
        for path in irregular:
            if path.name not in self.seen:
                self.seen.add(path.name)
                self._read(path)             # always rejected, with read_game's reason
        new = [p for p in listed if p.name not in self.seen]
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


def prune_games(folder: Path, keep: int, loaded: Optional[set] = None, max_gb: float = 0.0) -> int:
    """Delete the oldest game files beyond the newest `keep` (0: no count limit) and while all game
    files together exceed max_gb GB (0: no size limit); returns how many were deleted.

    Only files named in `loaded` (when given) are deleted: a file that arrived since the loader's
    last poll, possibly with an older name from a slow writer, is read before it can go.
    """
    if keep <= 0 and max_gb <= 0:
        return 0
    files = list_game_files(folder)
    sizes = [_size(p) for p in files] if max_gb > 0 else [0] * len(files)
    total, deleted = sum(sizes), 0
    for i, p in enumerate(files):                    # oldest first
        over_count = keep > 0 and len(files) - i > keep
        over_size = max_gb > 0 and total > max_gb * 1e9
        if not (over_count or over_size):
            break
        total -= sizes[i]
        if loaded is not None and p.name not in loaded:
            continue
        try:
            p.unlink()
            deleted += 1
        except FileNotFoundError:
            pass
    return deleted


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def sweep_stale_temps(paths: RunPaths, older_than_s: float, out=sys.stdout) -> int:
    """Delete temp files killed writers left in games/, gifs/ and checkpoints/; returns the count."""
    removed = 0
    for folder in (paths.games, paths.gifs, paths.checkpoints):
        n = remove_stale_temps(folder, older_than_s=older_than_s)
        if n:
            print(f"[train] removed {n} stale temp file(s) from {folder} (left by killed writers)", file=out, flush=True)
        removed += n
    return removed


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
                out=sys.stdout, poll_interval: float = 1.0, stale_temp_s: float = STALE_TEMP_S) -> int:
    """Train until `steps` more steps are done (or forever); returns the final training step.

    stale_temp_s: temp files older than this are deleted from the run's folders (tests pass 0).
    """
    t = cfg.train
    configure_torch(t.threads)
    paths = RunPaths.of(cfg, run_dir)
    paths.make()
    env = make_env(cfg.env, cfg.seed)
    frame_shape, num_actions = tuple(env.frame_shape), env.num_actions
    game_bytes = max_game_bytes(cfg.env.max_moves, frame_shape, env.frame_dtype, num_actions)
    env.close()
    device = pick_device(t.device)
    torch.manual_seed(cfg.seed)
    net = MuZeroNetworks(input_shape(frame_shape, cfg.env.stack_moves, num_actions), num_actions, cfg.network).to(device)
    learner = Learner(t, net, cfg.network.support_size, device)
    found = newest_checkpoint(paths.checkpoints, cfg)   # refuses another config's checkpoint ...
    save_resolved_config(cfg, paths.checkpoints)        # ... before this overwrites its config.yaml
    if found:
        learner.load(found[1])
        print(f"[train] resumed from {found[0].name} at step {learner.step}", file=out, flush=True)
    buffer = ReplayBuffer(t, cfg.env.stack_moves, num_actions, np.random.default_rng(cfg.seed + learner.step))
    loader = GameLoader(paths.games, buffer, frame_shape, num_actions, out, max_bytes=game_bytes)
    log = MetricsLog(paths.checkpoints / "train_metrics.csv")
    target = None if steps is None else learner.step + steps
    saved_step, samples, last_status, last_poll, last_sweep = learner.step, 0, 0.0, 0.0, 0.0
    rate_t0, rate_samples, pruned = time.time(), 0, 0
    metrics = None
    previous = sigterm_as_interrupt()

    def checkpoint() -> None:
        nonlocal saved_step
        s = learner.state()
        save_checkpoint(paths.checkpoints, cfg, learner.step, s["networks"], s["optimizer"],
                        s["exploration_optimizer"], keep=t.keep_checkpoints, eval_networks=s["eval_networks"])
        saved_step = learner.step

    try:
        while target is None or learner.step < target:
            now = time.time()
            if now - last_poll >= poll_interval or buffer.num_moves < t.min_buffer_moves:
                loader.poll()
                deleted = prune_games(paths.games, cfg.paths.keep_games, loader.seen, cfg.paths.keep_games_gb)
                if deleted and not pruned:
                    print(f"[train] games/ is over its retention limit (paths.keep_games {cfg.paths.keep_games}, "
                          f"keep_games_gb {cfg.paths.keep_games_gb}): deleting the oldest game files already read "
                          f"or older than the replay window (0 keeps all)", file=out, flush=True)
                pruned += deleted
                if now - last_sweep >= TEMP_SWEEP_INTERVAL_S:
                    sweep_stale_temps(paths, stale_temp_s, out)
                    last_sweep = now
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
                      f"games {loader.loaded} moves {buffer.num_moves} rejected {loader.rejected} pruned {pruned} | "
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
