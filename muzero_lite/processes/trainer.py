"""The trainer process: load new game files into replay, train, write checkpoints, report.

It never talks to self-play: games arrive as files in games/, weights leave as checkpoints
(docs/algorithm.md §1). Its loop is the paper's train_network: wait for enough moves, then sample a
batch, take one training step, update the sampled positions' priorities, and write a checkpoint
every checkpoint_interval steps. It trains train.replay_ratio samples per env move loaded, no more,
and tells self-play through checkpoints/pace.json when it has fallen behind (`pace`); with
train.curve_every_moves it keeps a checkpoint at every multiple of that many env moves in
checkpoints/curve/, taken once it has trained the mark's share (ratio x mark samples). It starts no env: the shapes
come from the config (`make.game_spec`).
Beside training it keeps the run's disk in bounds (`runfolder.prune_games`, `sweep_stale_temps`),
and it is the one writer of the run's figures (`metrics.RunLog`): checkpoints/train_metrics.csv and
selfplay_metrics.csv (one row per game counted, from its file's meta) and TensorBoard scalars in
runs/trainer/, train/ rows at the status interval only so that a step costs no more. It owns the
run's env-move count (`env_moves.EnvMoves`): each game is counted once in the run's life, however
often a restarted trainer loads it again.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from typing import Optional

import numpy as np
import torch

from ..algorithm.learner import Learner
from ..algorithm.networks import build_networks, configure_torch, pick_device
from ..config import Config
from ..data.checkpoints import (
    PassedOver,
    curve_checkpoint_path,
    list_curve_checkpoints,
    newest_checkpoint,
    save_checkpoint,
)
from ..data.gameloader import GameLoader, max_game_bytes
from ..data.pace import PaceWriter, WaitClock, trainer_ahead
from ..data.replay import ReplayBuffer
from ..data.runfolder import RunPaths, prune_games, save_resolved_config, sigterm_as_interrupt, sweep_stale_temps
from ..data.trainer_lock import TrainerLock
from ..envs.make import game_spec
from ..reporting.metrics import RunLog
from ..reporting.status_lines import train_line
from .env_moves import EnvMoves
from .plan import planned_config

# a temp file this old was left by a killed writer (a live one renames its temp within seconds)
STALE_TEMP_S = 600.0
# seconds between sweeps for stale temp files
TEMP_SWEEP_INTERVAL_S = 60.0


class Intake:
    """New game files into the buffer, and the upkeep of games/ that goes with each look at it."""

    def __init__(self, cfg: Config, paths: RunPaths, loader: GameLoader, stale_temp_s: float, out):
        self.cfg, self.paths, self.loader, self.stale_temp_s, self.out = cfg, paths, loader, stale_temp_s, out
        self.pruned = 0
        self.last_sweep = 0.0

    def poll(self, now: float) -> None:
        """Load what is new, delete read game files beyond the retention limits, sweep stale temps."""
        p = self.cfg.paths
        self.loader.poll()
        deleted = prune_games(self.paths.games, p.keep_games, self.loader.seen, p.keep_games_gb)
        if deleted and not self.pruned:
            print(f"[train] games/ is over its retention limit (paths.keep_games {p.keep_games}, keep_games_gb "
                  f"{p.keep_games_gb}): deleting the oldest game files already read or older than the replay "
                  f"window (0 keeps all)", file=self.out, flush=True)
        self.pruned += deleted
        if now - self.last_sweep >= TEMP_SWEEP_INTERVAL_S:
            sweep_stale_temps(self.paths, self.stale_temp_s, self.out)
            self.last_sweep = now


def _folder_stamp(folder) -> Optional[int]:
    """The folder's mtime in ns (None if it cannot be read): a cheap look for new files between full polls."""
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None


def _nap(seconds: float) -> float:
    """Sleep; returns the seconds it took (a wait for games)."""
    began = time.time()
    time.sleep(seconds)
    return time.time() - began


def _use_threads(want: int, now: int) -> int:
    """Set torch's intra-op threads to `want` when it differs from `now`; returns it."""
    if want != now:
        torch.set_num_threads(want)
    return want


def run_trainer(cfg: Config, run_dir: str | os.PathLike = ".", steps: Optional[int] = None,
                out=sys.stdout, poll_interval: float = 1.0, stale_temp_s: float = STALE_TEMP_S) -> int:
    """Train until `steps` more steps are done (or forever); returns the final training step.

    The run folder is this trainer's alone while it lives (`trainer_lock`): FolderHeld, before
    anything is written, when another trainer holds it. stale_temp_s: temp files older than this
    are deleted from the run's folders (tests pass 0). A config whose train.threads or train.batch_size
    is auto trains with 1 thread and batch BASE_BATCH (`plan.planned_config`; `run` plans them).
    """
    cfg = planned_config(cfg)
    paths = RunPaths.of(cfg, run_dir)
    paths.make()
    lock = TrainerLock(paths.checkpoints)
    lock.acquire()
    try:
        return _train(cfg, paths, lock, run_dir, steps, out, poll_interval, stale_temp_s)
    finally:
        lock.release()


def _train(cfg: Config, paths: RunPaths, lock: TrainerLock, run_dir: str | os.PathLike, steps: Optional[int], out,
           poll_interval: float, stale_temp_s: float) -> int:
    """run_trainer's work, with the folder's lock held."""
    t = cfg.train
    configure_torch(t.threads)
    spec = game_spec(cfg.env)
    device = pick_device(t.device)
    torch.manual_seed(cfg.seed)
    learner = Learner(t, build_networks(cfg, spec).to(device), cfg.network.support_size, device,
                      frame_size=int(np.prod(spec.frame_shape)),
                      ema_half_life=cfg.eval.ema_half_life)
    why = f" ({learner.bf16_why})" if learner.bf16_why else ""
    print(f"[train] device {device}, bfloat16 forward passes {'on' if learner.bf16 else 'off'}{why}", file=out, flush=True)
    # another config's checkpoint is refused here, before its config.yaml is overwritten below
    found = newest_checkpoint(paths.checkpoints, cfg, PassedOver(out, "[train]"))
    lock.announce()                                     # the folder is checked: say who trains in it
    save_resolved_config(cfg, paths.checkpoints)
    if found:
        learner.load(found[1])
        print(f"[train] resumed from {found[0].name} at step {learner.step}", file=out, flush=True)
    buffer = ReplayBuffer.of(cfg, spec.num_actions, np.random.default_rng(cfg.seed + learner.step))
    game_bytes = max_game_bytes(cfg.env.max_moves, spec.frame_shape, spec.frame_dtype, spec.num_actions)
    log = RunLog(run_dir, paths.checkpoints, out)
    env_moves = EnvMoves.resume(paths.checkpoints, paths.games)     # the run's count, across restarts

    def loaded(name: str, meta: dict, length: int) -> None:
        """GameLoader's on_load: count the game (once in the run's life) and log it."""
        if env_moves.add(name, length):
            log.game(name, meta, length, env_moves.total)

    loader = GameLoader(paths.games, buffer, spec.frame_shape, spec.num_actions, out, max_bytes=game_bytes,
                        on_load=loaded)
    intake = Intake(cfg, paths, loader, stale_temp_s, out)
    target = None if steps is None else learner.step + steps
    saved_step, last_status, last_poll, last_stamp, last_step_at = learner.step, 0.0, 0.0, None, time.time()
    rate_t0, rate_samples = time.time(), 0
    step_s = 0.0                  # seconds a training step takes, waits left out (a moving average)
    threads_now = t.threads
    pace = PaceWriter(paths.checkpoints, t.replay_ratio, t.pin_replay_ratio)
    clock = WaitClock(time.time())       # the trainer's time waiting for games, by status interval
    every = t.curve_every_moves
    if every:              # the next curve point, in env moves: after the newest one kept (a restart fills gaps)
        kept = list_curve_checkpoints(paths.checkpoints)
        next_mark: Optional[int] = kept[-1][0] + every if kept else every
    else:
        next_mark = None
    pinned = t.pin_replay_ratio and t.replay_ratio > 0
    previous = sigterm_as_interrupt()

    def checkpoint(mark: Optional[int] = None) -> None:
        """Save the learner's state as the checkpoint of its step (and as the curve point `mark`)."""
        nonlocal saved_step
        s = learner.state()
        also = curve_checkpoint_path(paths.checkpoints, mark) if mark is not None else None
        save_checkpoint(paths.checkpoints, cfg, learner.step, s["networks"], s["optimizer"],
                        s["exploration_optimizer"], keep=t.keep_checkpoints, eval_networks=s["eval_networks"],
                        env_moves=env_moves.total, also_as=also, decoder=s.get("decoder"))
        saved_step = learner.step

    try:
        while target is None or learner.step < target:
            now = time.time()
            stamp = _folder_stamp(paths.games)     # a file renamed into games/ changes it: load it at once
            if now - last_poll >= poll_interval or stamp != last_stamp or buffer.num_moves < t.min_buffer_moves:
                intake.poll(now)
                log.polled(buffer.num_games, buffer.num_moves, env_moves.total)
                last_poll, last_stamp = now, stamp
            samples, moves = learner.step * t.batch_size, env_moves.total
            training = buffer.num_moves >= t.min_buffer_moves
            pace.update(samples, moves, learner.step, training, now, t.batch_size / step_s if step_s else 0.0)
            if t.threads and t.catch_up_threads:   # self-play waits for this trainer: its cores are free
                threads_now = _use_threads(t.catch_up_threads if pace.waiting else t.threads, threads_now)
            if not training:
                if now - last_status >= t.status_interval:
                    print(f"[train] waiting for games: {buffer.num_moves}/{t.min_buffer_moves} moves loaded "
                          f"({loader.loaded} games, {loader.rejected} rejected)", file=out, flush=True)
                    last_status = now
                clock.add(_nap(poll_interval))
                continue
            ahead = trainer_ahead(samples, moves, t.replay_ratio)
            if next_mark is not None and moves >= next_mark and (not pinned or samples >= t.replay_ratio * next_mark):
                checkpoint(next_mark)           # a curve point: pinned, the trainer has trained the mark's share
                next_mark = next_mark + every if pinned else (moves // every + 1) * every
            if ahead:
                if now - max(last_status, last_step_at) >= t.status_interval:     # no step for that long
                    print(f"[train] waiting for games: step {learner.step} has trained train.replay_ratio "
                          f"{t.replay_ratio:g} samples per env move of the {moves} loaded", file=out, flush=True)
                    last_status = now
                clock.add(_nap(0.05))     # self-play is behind: wait for new games instead of overfitting
                continue
            last_step_at = now
            batch = buffer.sample(t.batch_size, t.num_unroll_steps)
            metrics, priorities = learner.train_step(batch)
            buffer.update_priorities(batch.game_ids, batch.positions, priorities)
            took = time.time() - now
            step_s = took if not step_s else 0.95 * step_s + 0.05 * took
            rate_samples += t.batch_size
            if learner.step % t.checkpoint_interval == 0:
                checkpoint()
            if now - last_status >= t.status_interval:
                rate = rate_samples / max(time.time() - rate_t0, 1e-9)
                rate_t0, rate_samples, last_status = time.time(), 0, now
                counts = (loader.loaded, buffer.num_moves, loader.rejected)
                ratio = learner.step * t.batch_size / max(env_moves.total, 1)
                waits = (clock.share(now), pace.selfplay_wait_share(now))   # the trainer's, self-play's
                pace.shares = {"trainer_wait_share": waits[0], "selfplay_wait_share": waits[1]}
                print(train_line(learner.step, metrics, t.exploration_weight, *counts, intake.pruned, rate, ratio,
                                 waits, t.observation_weight), file=out, flush=True)
                log.train(learner.step, metrics, learner.optimizer.param_groups[0]["lr"], buffer.num_games,
                          buffer.num_moves, loader.rejected, rate, ratio, env_moves.total, waits)
    except KeyboardInterrupt:
        print(f"[train] interrupted at step {learner.step}", file=out, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        pace.release(time.time())                # self-play need not wait for a trainer that has stopped
        if learner.step != saved_step:
            checkpoint()
        log.close()
    print(f"[train] stopped at step {learner.step} (checkpoint saved)", file=out, flush=True)
    return learner.step
