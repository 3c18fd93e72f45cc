"""Atomic file writes: every file another process reads appears whole or not at all."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable

# Temporary files start with this prefix and end with TMP_SUFFIX; readers skip them.
TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"


def _file_mode() -> int:
    """The mode open() would give a new file (0o666 less the umask); mkstemp's is 0o600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call write(f) on a temp file in path's folder, fsync it, then rename it to path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)        # gifs, games and checkpoints readable like any file the user makes
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """atomic_write of bytes already in memory; returns path."""
    return atomic_write(path, lambda f: f.write(data))


def is_temp(path: str | os.PathLike) -> bool:
    """True for the temp files atomic_write makes (left behind only by a killed writer)."""
    name = os.path.basename(os.fspath(path))      # no Path object: called for every entry of every poll
    return name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX)


def remove_stale_temps(folder: str | os.PathLike, older_than_s: float = 60.0) -> int:
    """Delete temp files a killed writer left in folder, older than older_than_s; returns the count."""
    import time
    now = time.time()
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for e in entries:
        if is_temp(e.name) and e.is_file(follow_symlinks=False):
            try:
                if now - e.stat(follow_symlinks=False).st_mtime > older_than_s:
                    os.unlink(e.path)
                    removed += 1
            except FileNotFoundError:
                pass
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
