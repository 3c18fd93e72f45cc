"""The folders of one run and their upkeep, and the stop signal every long-running process treats like Ctrl-C.

Upkeep keeps a long run's disk in bounds: the trainer deletes game files beyond the retention
limits once it has listed them, and temp files that killed writers left behind; each self-play
worker deletes its oldest game gifs beyond paths.keep_gifs.
"""
from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..config import Config, config_to_yaml
from .atomic import atomic_write_bytes, is_temp, remove_stale_temps
from .gamefile import GAME_PREFIX, game_file_names


@dataclass
class RunPaths:
    """games/, gifs/ and checkpoints/ of a run, resolved against the run directory."""
    games: Path
    gifs: Path
    checkpoints: Path

    @classmethod
    def of(cls, cfg: Config, run_dir: str | os.PathLike = ".") -> "RunPaths":
        """The folders of cfg.paths under run_dir."""
        base = Path(run_dir)
        return cls(base / cfg.paths.games, base / cfg.paths.gifs, base / cfg.paths.checkpoints)

    def make(self) -> None:
        """Make the three folders (and their parents) where they are missing."""
        for p in (self.games, self.gifs, self.checkpoints):
            p.mkdir(parents=True, exist_ok=True)


def sigterm_as_interrupt() -> Callable:
    """Raise KeyboardInterrupt on SIGTERM, so a supervisor's stop ends a process the Ctrl-C way.

    Returns the previous handler, to be restored by the caller.
    """
    def handler(signum, frame):
        raise KeyboardInterrupt
    return signal.signal(signal.SIGTERM, handler)


def prune_games(folder: Path, keep: int, loaded: Optional[set] = None, max_gb: float = 0.0) -> int:
    """Delete the oldest game files beyond the newest `keep` (0: no count limit) and while all game
    files together exceed max_gb GB (0: no size limit); returns how many were deleted.

    Only files named in `loaded` (when given) are deleted: a file that arrived since the loader's
    last poll, possibly with an older name from a slow writer, is read before it can go.
    """
    if keep <= 0 and max_gb <= 0:
        return 0
    names = game_file_names(folder)[0]              # oldest first
    if max_gb <= 0 and len(names) <= keep:
        return 0                                     # the usual answer, without a Path per file
    files = [Path(folder) / n for n in names]
    sizes = [_size(p) for p in files] if max_gb > 0 else [0] * len(files)
    total, deleted = sum(sizes), 0
    for i, p in enumerate(files):
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
    """A file's size in bytes, 0 when it is gone."""
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


def save_resolved_config(cfg: Config, folder: str | os.PathLike, name: str = "config.yaml") -> Path:
    """Write the resolved config as `name` in folder, atomically; returns the path."""
    path = Path(folder) / name
    atomic_write_bytes(path, config_to_yaml(cfg).encode())
    return path
