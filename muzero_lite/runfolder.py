"""The folders of one run, and the stop signal every long-running process treats like Ctrl-C."""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import Config


@dataclass
class RunPaths:
    """games/, gifs/ and checkpoints/ of a run, resolved against the run directory."""
    games: Path
    gifs: Path
    checkpoints: Path

    @classmethod
    def of(cls, cfg: Config, run_dir: str | os.PathLike = ".") -> "RunPaths":
        base = Path(run_dir)
        return cls(base / cfg.paths.games, base / cfg.paths.gifs, base / cfg.paths.checkpoints)

    def make(self) -> None:
        for p in (self.games, self.gifs, self.checkpoints):
            p.mkdir(parents=True, exist_ok=True)


def sigterm_as_interrupt() -> Callable:
    """Raise KeyboardInterrupt on SIGTERM, so a supervisor's stop ends a process the Ctrl-C way.

    Returns the previous handler, to be restored by the caller.
    """
    def handler(signum, frame):
        raise KeyboardInterrupt
    return signal.signal(signal.SIGTERM, handler)
