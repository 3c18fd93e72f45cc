"""The pinned replay ratio: training samples per env move, held from both sides through one file.

The trainer trains train.batch_size samples a step and counts the env moves it has loaded
(`processes.env_moves.EnvMoves`, continued across restarts), so the run's replay ratio is
step * batch_size / env_moves. It never trains past train.replay_ratio (it waits for games), and,
with train.pin_replay_ratio, it asks self-play to wait once it has fallen more than PIN_SLACK
behind its target (or AHEAD_S seconds of its training, `selfplay_waits`), until it is back within
RESUME_SLACK. It says so in checkpoints/pace.json, written atomically when the answer changes and
every HEARTBEAT_S as a sign of life; workers read it before each move (`PaceReader.wait`). A file
older than STALE_S (a trainer that died or was stopped) is ignored, so self-play never waits on a
trainer that is not there. Learning then depends on env moves alone,
not on how fast the machine is or how many runs share it (docs/algorithm.md §1).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

from .atomic import atomic_write_bytes

PACE_FILE = "pace.json"
# self-play waits once the trainer's samples are below its target by more than PIN_SLACK x target or
# AHEAD_S seconds of its training (at most MAX_SLACK x target), whichever is more, and goes on once
# they are back within RESUME_SLACK x target or half that: the trainer keeps moves to train on while
# self-play plays the moves of its games in flight, which the trainer sees only when the games end
# (Mario, 16 games in flight: with the 2% alone both sides waited a third of the time and more,
# docs/experiments.md). The ratio is held within MAX_SLACK and a game's moves.
PIN_SLACK = 0.02
RESUME_SLACK = 0.01
AHEAD_S = 10.0
MAX_SLACK = 0.04
# the trainer rewrites the file at least this often (seconds), even when its answer is the same
HEARTBEAT_S = 5.0
# a pace file older than this (seconds) is ignored by self-play: its trainer is gone
STALE_S = 60.0
# seconds between a waiting worker's looks at the file
WAIT_POLL_S = 0.05


def trainer_ahead(samples: int, env_moves: int, ratio: float) -> bool:
    """The trainer has trained its share of the moves loaded (ratio 0: never; it trains freely)."""
    return ratio > 0 and samples >= ratio * env_moves


def selfplay_waits(samples: int, env_moves: int, ratio: float, waiting: bool, slack: float = PIN_SLACK,
                   resume: float = RESUME_SLACK, ahead: float = 0.0) -> bool:
    """Whether self-play should wait for the trainer: it starts waiting when the trainer's samples are below
    its target ratio x env_moves by more than max(slack x target, ahead) and waits until they are back
    within max(resume x target, ahead / 2). ahead: the samples the trainer trains in AHEAD_S seconds,
    at most MAX_SLACK x target."""
    if ratio <= 0:
        return False
    target = ratio * env_moves
    ahead = min(ahead, MAX_SLACK * target)
    allowed = max(resume * target, ahead / 2) if waiting else max(slack * target, ahead)
    return target - samples > allowed


class WaitClock:
    """The share of wall time a process spent waiting, interval by interval (`share` starts the next)."""

    def __init__(self, now: float):
        self.started, self.waited = now, 0.0

    def add(self, seconds: float) -> None:
        """Count seconds spent waiting."""
        self.waited += max(0.0, seconds)

    def share(self, now: float) -> Optional[float]:
        """waited / elapsed since the interval began (None for an empty interval); begins the next one."""
        elapsed, waited = now - self.started, self.waited
        self.started, self.waited = now, 0.0
        return min(1.0, waited / elapsed) if elapsed > 0 else None


class PaceWriter:
    """The trainer's side: decides whether self-play waits and keeps checkpoints/pace.json saying so."""

    def __init__(self, folder: Path, ratio: float, pinned: bool):
        self.path, self.ratio, self.pinned = Path(folder) / PACE_FILE, ratio, pinned
        self.waiting, self.written_at = False, 0.0
        self.last = {"step": 0, "samples": 0, "env_moves": 0}     # the figures of the newest update
        # where the time went at the last status interval: the trainer's share waiting for games and
        # self-play's share waiting for the trainer (None: not known yet), for `run`'s status line
        self.shares: dict = {"trainer_wait_share": None, "selfplay_wait_share": None}
        # the time this file has asked self-play to wait (workers look every WAIT_POLL_S), by status interval
        self.asked: Optional[WaitClock] = None                 # starts at the first update
        self.asked_since = 0.0

    def _count_asked(self, now: float) -> None:
        """Add the time since the last look, if this writer was asking self-play to wait then."""
        if self.asked is None:
            self.asked = WaitClock(now)
        elif self.waiting:
            self.asked.add(now - self.asked_since)
        self.asked_since = now

    def selfplay_wait_share(self, now: float) -> Optional[float]:
        """The share of the time since the last call that self-play was asked to wait (it waits that long)."""
        self._count_asked(now)
        return self.asked.share(now)

    def update(self, samples: int, env_moves: int, step: int, training: bool, now: float,
               samples_per_s: float = 0.0) -> None:
        """Recompute the answer (self-play never waits while the trainer cannot train yet: too few moves
        loaded) and write the file when it changed or HEARTBEAT_S has passed. samples_per_s: the trainer's
        speed while it trains (waits left out), for the AHEAD_S seconds of `selfplay_waits`."""
        self._count_asked(now)
        waiting = self.pinned and training and selfplay_waits(samples, env_moves, self.ratio, self.waiting,
                                                              ahead=AHEAD_S * samples_per_s)
        if waiting == self.waiting and now - self.written_at < HEARTBEAT_S:
            return
        self.waiting, self.written_at = waiting, now
        self.last = {"step": int(step), "samples": int(samples), "env_moves": int(env_moves)}
        self._write(now)

    def release(self, now: float) -> None:
        """The trainer is stopping: say that self-play need not wait (its last figures stay)."""
        self._count_asked(now)
        self.waiting, self.written_at = False, now
        self._write(now)

    def _write(self, now: float) -> None:
        """The file, atomically: the answer, the figures it came from, the ratio and the time."""
        body = {"selfplay_wait": self.waiting, **self.last, **self.shares, "replay_ratio": self.ratio,
                "pinned": self.pinned, "time": now}
        atomic_write_bytes(self.path, json.dumps(body).encode())


def read_pace(folder: Path) -> Optional[dict]:
    """The pace file's contents, or None when it is missing, unreadable or not what the trainer writes."""
    try:
        data = json.loads((Path(folder) / PACE_FILE).read_bytes()[:4096])
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("selfplay_wait"), bool) else None


class PaceReader:
    """A worker's side: before each move, wait while a live trainer asks it to."""

    def __init__(self, folder: Path, check_every: float = 0.05):
        self.path, self.check_every = Path(folder) / PACE_FILE, check_every
        self.checked_at, self.asked = 0.0, False

    def wants_wait(self, now: float) -> bool:
        """Whether the file, if fresh, asks self-play to wait (read again at most every check_every seconds)."""
        if now - self.checked_at < self.check_every:
            return self.asked
        self.checked_at = now
        try:
            fresh = now - os.stat(self.path).st_mtime < STALE_S
        except OSError:
            fresh = False
        pace = read_pace(self.path.parent) if fresh else None
        self.asked = bool(pace and pace["selfplay_wait"])
        return self.asked

    def wait(self) -> None:
        """Return at once unless the trainer asks self-play to wait; else sleep until it stops asking."""
        while self.wants_wait(time.time()):
            time.sleep(WAIT_POLL_S)
            self.checked_at = 0.0               # while waiting, every look reads the file
