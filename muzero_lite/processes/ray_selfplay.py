"""Self-play on a Ray cluster (`muzero-lite run --ray [ADDRESS]`): actors play, this machine writes.

Each actor (`ray_actor.SelfplayActor`, one CPU) runs the local worker loop on its own node. Nothing
assumes a shared filesystem:

- a finished game travels as its game file's bytes, with its gif's bytes; the supervisor on the
  trainer's machine (`RaySelfplay.tick`) checks them with the reader every game file meets
  (`gamefile.write_game_bytes`: hostile bytes are refused like a hostile file) and writes them into
  games/ and gifs/ atomically (`GameIntake`), so the trainer, replay, retention and the run folder
  are the same as a local run's;
- weights travel the other way as `model_source.weights_bytes`, loaded with torch.load(weights_only=True);
- the pinned replay ratio travels as one flag (`set_wait`), read from checkpoints/pace.json.

A game leaves an actor only when the supervisor says it has written it, so `games_lost` (games taken
from an actor but neither written nor refused) stays 0. An actor that dies is restarted by Ray
(max_restarts=-1) on any node with room for it; its games in flight are lost, nothing written is.
Ray is an optional extra (`pip install -e .[ray]`), imported only when used (`ray_actor.import_ray`).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Optional

from ..config import Config, ConfigError, config_to_yaml
from ..data.atomic import atomic_write_bytes
from ..data.checkpoints import CheckpointError, PassedOver, list_checkpoints, load_checkpoint
from ..data.gamefile import GameFileError, list_game_files, write_game_bytes
from ..data.gameloader import max_game_bytes
from ..data.pace import PaceReader
from ..data.runfolder import RunPaths, prune_gifs
from ..envs.make import game_spec
from ..reporting.gifs import gif_path_for
from .model_source import weights_bytes
from .ray_actor import TAKE_LIMIT, SelfplayActor, import_ray

# largest gif accepted from an actor (a Mario game's is ~0.3 MB)
MAX_GIF_BYTES = 64 << 20
# seconds between an actor's take() calls once it had fewer than TAKE_LIMIT games to give: asking again
# at once would keep the actor's Python busy answering (its worker loop shares the GIL with those
# answers: 0.75x the moves/s of a local worker was measured so), and games end seconds apart anyway
TAKE_EVERY_S = 0.25
# an actor lost this many times within DEATH_WINDOW_S seconds is given up (as `run` gives up a child)
MAX_DEATHS = 3
DEATH_WINDOW_S = 300.0


class GameIntake:
    """The trainer's side of games that travel: bytes checked like a file, then written like a local worker's."""

    def __init__(self, cfg: Config, paths: RunPaths, out=sys.stdout):
        self.cfg, self.paths, self.out = cfg, paths, out
        spec = game_spec(cfg.env)   # the trainer's side need not run the game
        self.max_bytes = max_game_bytes(cfg.env.max_moves, spec.frame_shape, spec.frame_dtype, spec.num_actions)
        self.num_actions = spec.num_actions
        self.written, self.rejected = 0, 0

    def receive(self, worker: str, number: int, data: Any, picture: Any) -> Optional[Path]:
        """Write one game's bytes into games/ (and its gif, when it is one) or refuse them with a line;
        returns the game file's path, or None when refused."""
        source = f"game {number} from actor {worker}"
        try:
            path = write_game_bytes(self.paths.games, data, worker, source, self.max_bytes, self.num_actions)
        except GameFileError as e:
            self.rejected += 1
            print(f"[ray] refused {e}", file=self.out, flush=True)
            return None
        self.written += 1
        if isinstance(picture, bytes) and picture[:6] in (b"GIF87a", b"GIF89a") and len(picture) <= MAX_GIF_BYTES:
            atomic_write_bytes(gif_path_for(path, self.paths.gifs), picture)
            prune_gifs(self.paths.gifs, self.cfg.paths.keep_gifs)
        return path


def actor_gpus(device: str, actors: int, cluster_gpus: float) -> float:
    """The GPU share each actor asks Ray for; an actor plays on cuda exactly when its share is > 0
    (Ray then places it on a node with a GPU and counts its use), else on the CPU.

    cpu: 0. cuda or auto on a cluster with GPUs: an equal share of them, at most 1 each (Ray takes a
    fraction to 4 decimals); every actor then needs a node with a GPU. auto without GPUs: 0;
    cuda without GPUs: ConfigError naming selfplay.device.
    """
    if device == "cpu" or (device == "auto" and cluster_gpus <= 0):
        return 0.0
    if cluster_gpus <= 0:
        raise ConfigError("selfplay.device = 'cuda': the Ray cluster has no GPU for the self-play actors; "
                          "use cpu or auto")
    return min(1.0, math.floor(cluster_gpus / actors * 1e4) / 1e4)


class RaySelfplay:
    """The supervisor's side: N actors, their games written into the run folder, weights and pace pushed.

    resources: Ray custom resources each actor needs, one dict per actor (None: none), e.g. to put
    an actor on a particular node.
    """

    def __init__(self, cfg: Config, paths: RunPaths, actors: int, out=sys.stdout,
                 resources: Optional[list[Optional[dict]]] = None):
        self.ray = import_ray()
        self.cfg, self.paths, self.out = cfg, paths, out
        self.intake = GameIntake(cfg, paths, out)
        self.passed_over = PassedOver(out, "[ray]")
        self.pace = PaceReader(paths.checkpoints)
        gpus = actor_gpus(cfg.selfplay.device, actors, self.ray.cluster_resources().get("GPU", 0))
        remote = self.ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=1, num_gpus=gpus)(SelfplayActor)
        played = len(list_game_files(paths.games))
        has_weights = bool(list_checkpoints(paths.checkpoints))
        text = config_to_yaml(cfg)
        self.names = [f"r{i}" for i in range(actors)]
        self.actors = []
        for i, name in enumerate(self.names):
            res = (resources or [None] * actors)[i]
            opts = {"resources": res} if res else {}
            self.actors.append(remote.options(**opts).remote(text, name, cfg.seed + 1 + i, played, has_weights,
                                                             "cuda" if gpus else "cpu"))
        self.acked = [0] * actors                 # per actor: games up to this number are written
        self.generation: list[Optional[int]] = [None] * actors
        self.pending: list[Any] = [None] * actors  # the outstanding take() of each actor
        self.next_take = [0.0] * actors           # when each actor is next asked for games (TAKE_EVERY_S)
        self.weights: Optional[tuple[int, Any]] = None   # (step, object ref) of the newest pushed weights
        self.looked_at: Optional[int] = None             # the newest step listed at the last load
        self.pushed: list[Optional[int]] = [None] * actors
        self.wait: Optional[bool] = None
        self.taken, self.deaths = 0, 0
        self.made = [0] * actors                   # per actor: games its current life says it has finished
        self.lost_with_actor = 0                   # games finished on a life that ended before handing them over
        self.death_times: list[list[float]] = [[] for _ in range(actors)]
        self.given_up: set[int] = set()
        self.nodes: dict[str, str] = {}            # actor name -> the node it last reported from

    @property
    def written(self) -> int:
        """Games written into games/."""
        return self.intake.written

    @property
    def rejected(self) -> int:
        """Games refused: their bytes were not a valid game file."""
        return self.intake.rejected

    @property
    def games_lost(self) -> int:
        """Games taken from actors but neither written nor refused (0 unless something is wrong)."""
        return self.taken - self.written - self.rejected

    def tick(self) -> None:
        """One look: push new weights and the pace flag, write the games that arrived, ask for more."""
        self._push_weights()
        self._push_pace()
        ray = self.ray
        now = time.time()
        for i, actor in enumerate(self.actors):
            if self.pending[i] is None and i not in self.given_up and now >= self.next_take[i]:
                self.pending[i] = actor.take.remote(self.acked[i], self.generation[i])
        refs = [p for p in self.pending if p is not None]
        if not refs:                              # every actor asked recently: wait for the next one due
            due = [t for i, t in enumerate(self.next_take) if i not in self.given_up]
            time.sleep(min(0.1, max(0.0, min(due, default=now + 0.1) - now)))
            return
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.1)
        for i, ref in enumerate(self.pending):
            if ref is None or ref not in ready:
                continue
            self.pending[i] = None
            try:
                reply = ray.get(ref)
            except ray.exceptions.RayError as e:
                self._lost(i, e)
                continue
            self._receive(i, reply)
            if not isinstance(reply, dict) or len(reply.get("games") or ()) < TAKE_LIMIT:   # all it had: ask later
                self.next_take[i] = time.time() + TAKE_EVERY_S

    def _lost(self, i: int, e: Exception) -> None:
        """An actor's call failed: count its games that were never handed over; give it up when it keeps dying."""
        now = time.time()
        self.deaths += 1
        self.pushed[i] = None
        self.lost_with_actor += max(0, self.made[i] - self.acked[i])
        self.made[i] = self.acked[i]
        self.death_times[i] = [t for t in self.death_times[i] if now - t < DEATH_WINDOW_S] + [now]
        if len(self.death_times[i]) >= MAX_DEATHS:
            self.given_up.add(i)
            print(f"[ray] actor {self.names[i]} was lost {MAX_DEATHS} times in {DEATH_WINDOW_S:.0f} s "
                  f"({type(e).__name__}): giving it up", file=self.out, flush=True)
        else:
            print(f"[ray] actor {self.names[i]} was lost ({type(e).__name__}): Ray restarts it; its games in "
                  f"flight are lost, none written", file=self.out, flush=True)

    def _receive(self, i: int, reply: dict) -> None:
        """Write the games of one take() reply; a new generation means the actor was restarted."""
        if reply.get("generation") != self.generation[i]:
            if self.generation[i] is not None:
                print(f"[ray] actor {self.names[i]} restarted on node {str(reply.get('node'))[:12]}", file=self.out,
                      flush=True)
            self.lost_with_actor += max(0, self.made[i] - self.acked[i])     # the old life's, never handed over
            self.generation[i], self.acked[i], self.pushed[i] = reply.get("generation"), 0, None
            self.wait = None                      # the new life gets the pace flag too
        made = reply.get("made")
        self.made[i] = made if isinstance(made, int) else self.made[i]
        self.nodes[self.names[i]] = str(reply.get("node"))
        for number, data, picture in reply.get("games", []):
            if number <= self.acked[i]:
                continue
            self.taken += 1
            self.intake.receive(self.names[i], number, data, picture)
            self.acked[i] = number

    def _push_weights(self) -> None:
        """Send the newest checkpoint's weights to every actor that does not have them."""
        listed = list_checkpoints(self.paths.checkpoints)
        if listed and listed[0][0] != self.looked_at and (self.weights is None or listed[0][0] != self.weights[0]):
            self.looked_at = listed[0][0]         # a file that cannot be loaded is read once, not every tick
            try:
                payload = load_checkpoint(listed[0][1])
            except CheckpointError as e:          # pruned (the next look takes the newest), or a bad file
                self.passed_over(e)
                return
            self.weights = (int(payload["step"]), self.ray.put(weights_bytes(payload)))
        if self.weights is None:
            return
        for i, actor in enumerate(self.actors):
            if self.pushed[i] != self.weights[0]:
                actor.push_weights.remote(self.weights[1])
                self.pushed[i] = self.weights[0]

    def _push_pace(self) -> None:
        """Tell the actors whether the trainer asks self-play to wait (pace.json, read as local workers read it)."""
        wait = self.pace.wants_wait(time.time())
        if wait != self.wait:
            for actor in self.actors:
                actor.set_wait.remote(wait)
            self.wait = wait

    def stop(self) -> None:
        """Stop the actors (their games in flight are dropped) after writing what they hold."""
        ray = self.ray
        try:
            for _ in range(3):
                self.tick()
            # an actor whose node is gone never answers: wait a little for the others, then kill all
            ray.wait([a.stop.remote() for a in self.actors], num_returns=len(self.actors), timeout=15)
        except Exception:                         # a lost actor or node: nothing more to write from it
            pass
        for a in self.actors:
            ray.kill(a)
