"""One self-play worker as a Ray actor (`SelfplayActor`), and how to import Ray, which is optional.

The actor runs the local worker loop (`selfplay.play_worker`) in a thread on its own node, with
selfplay.games_in_flight games in flight. Its weights are the supervisor's pushes (`PushedSource`);
each finished game waits in its `QueueOutput` as the game file's bytes (`gamefile.game_bytes`) and
its gif's, until the supervisor (`ray_selfplay.RaySelfplay`) says it has written them: `take(acked)`
returns the games after `acked` and drops those up to it, so a reply lost with its node costs only
games that were never written. A restarted actor (Ray's max_restarts) starts fresh game numbers.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from typing import Any, Optional

import torch
import yaml

from ..algorithm.networks import configure_torch
from ..config import config_from_dict
from ..data.gamefile import game_bytes
from ..envs.make import make_env
from ..reporting.gifs import encode_gif
from .model_source import PushedSource
from .selfplay import play_worker

# games returned by one take()
TAKE_LIMIT = 32
# seconds a new actor waits for the newest weights before it plays (a restarted one, or in a run with checkpoints)
WEIGHTS_WAIT_S = 30.0


class RayMissing(RuntimeError):
    """Ray is not installed; the message says how to install it."""


def import_ray():
    """The ray module, or RayMissing with the install line."""
    try:
        import ray
    except ImportError:
        raise RayMissing("--ray needs Ray: pip install -e .[ray] (or pip install 'ray[default]')") from None
    return ray



class QueueOutput:
    """An actor's output: each finished game as (number, game file bytes, gif bytes or None), held until acked."""

    def __init__(self, fps: float):
        self.fps, self.items, self.lock, self.made = fps, deque(), threading.Lock(), 0

    def game(self, record, gif: list, worker: str) -> None:
        """Queue one finished game's bytes."""
        data, picture = game_bytes(record, worker), encode_gif(gif, self.fps) if gif else None
        with self.lock:
            self.made += 1
            self.items.append((self.made, data, picture))

    def take(self, acked: int, limit: int) -> list[tuple[int, bytes, Optional[bytes]]]:
        """Drop the games numbered up to acked; return up to limit of the rest (kept until acked)."""
        with self.lock:
            while self.items and self.items[0][0] <= acked:
                self.items.popleft()
            return list(self.items)[:limit]


class SelfplayActor:
    """One self-play worker as a Ray actor (made remote by `RaySelfplay`, so that Ray stays optional)."""

    def __init__(self, config_yaml: str, worker: str, seed: int, played_before: int, wait_for_weights: bool,
                 device: str = "cpu"):
        import ray  # only in the actor's process, where Ray is installed

        configure_torch(threads=1)
        cfg = config_from_dict(yaml.safe_load(config_yaml), f"<config of actor {worker}>")
        torch.manual_seed(seed)
        # a restarted actor starts fresh game numbers (its first life's games are not played again), is past
        # the run's uniform games, and waits for the newest weights before its first game
        restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self.generation = int.from_bytes(os.urandom(4), "little") if restarted else 0
        self.first = (self.generation % 100_000) * 1_000_000
        self.played_before = cfg.selfplay.random_games if restarted else played_before
        self.wait_for_weights = wait_for_weights or restarted
        self.cfg, self.worker, self.seed, self.born = cfg, worker, seed, time.time()
        self.envs = [make_env(cfg.env, seed + i) for i in range(cfg.selfplay.games_in_flight)]
        self.source = PushedSource(cfg, self.envs[0].spec, device)
        self.output = QueueOutput(cfg.selfplay.gif_fps)
        self.wait_flag, self.stop_flag = threading.Event(), threading.Event()
        self.node = ray.get_runtime_context().get_node_id()
        self.thread: Optional[threading.Thread] = None
        self._maybe_start()

    def _maybe_start(self) -> None:
        """Start the worker loop once it has weights to play (or need not wait for them; at most WEIGHTS_WAIT_S)."""
        if self.thread is not None or self.stop_flag.is_set():
            return
        if self.wait_for_weights and self.source.pending is None and time.time() - self.born < WEIGHTS_WAIT_S:
            return
        self.thread = threading.Thread(target=play_worker, daemon=True,
                                       args=(self.cfg, self.envs, self.source, self.output, self.worker, self.seed,
                                             None, self.played_before, self._wait, sys.stdout, False, self.first))
        self.thread.start()

    def _wait(self) -> None:
        """Before each move: stop when asked to; wait while the trainer is behind."""
        while True:
            if self.stop_flag.is_set():
                raise KeyboardInterrupt
            if not self.wait_flag.is_set():
                return
            time.sleep(0.05)

    def push_weights(self, data: bytes) -> None:
        """New weights for the next games."""
        self.source.push(data)
        self._maybe_start()

    def set_wait(self, wait: bool) -> None:
        """The pinned replay ratio: wait before each move while True."""
        (self.wait_flag.set if wait else self.wait_flag.clear)()

    def take(self, acked: int, generation: Optional[int], limit: int = TAKE_LIMIT) -> dict[str, Any]:
        """Games after `acked` (those up to it are dropped, when `generation` is this life's: a call meant
        for an earlier life drops nothing), this life's generation and its node."""
        self._maybe_start()
        if self.thread is not None and not self.thread.is_alive() and not self.stop_flag.is_set():
            # the loop died (its traceback is in this actor's log): end the process, so that Ray restarts it
            os._exit(1)
        mine = generation == self.generation
        games = self.output.take(acked if mine else 0, limit)
        return {"generation": self.generation, "node": self.node, "made": self.output.made, "games": games}

    def stop(self) -> None:
        """End the worker loop (its games in flight are dropped)."""
        self.stop_flag.set()
        if self.thread is not None:
            self.thread.join(30)
        for env in self.envs:
            env.close()
