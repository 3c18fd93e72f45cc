"""One trainer per run folder: an OS lock on checkpoints/trainer.lock, held while a trainer lives.

Two trainers on one folder would interleave two lineages of weights, metrics and pace.json. The
trainer takes an exclusive `flock` on checkpoints/trainer.lock before it writes anything; a second
trainer (or a second `muzero-lite run`, which asks first) gets `FolderHeld`, one line naming the
folder and the holder. The kernel releases the lock when the holder's process ends in any way, a
SIGKILL included, so a crash never leaves the folder locked. The lock file itself stays empty; who
holds it is in checkpoints/trainer.json, written atomically once the trainer has checked the folder
(`announce`; read only for the message). Self-play workers take no lock: any number may play into one folder.

Where the OS has no flock (Windows), or the folder's filesystem ignores it (some network mounts),
there is no lock and nothing is refused.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Optional

from .atomic import atomic_write_bytes

try:
    import fcntl
except ImportError:              # Windows: no flock
    fcntl = None

LOCK_FILE = "trainer.lock"
HOLDER_FILE = "trainer.json"


class FolderHeld(RuntimeError):
    """A live trainer holds the run folder; the message is one line naming it and the holder."""


def _holder(folder: Path) -> str:
    """Who holds folder's lock, as trainer.json says (best effort: only for the message)."""
    try:
        info = json.loads((folder / HOLDER_FILE).read_text())
        return f"pid {int(info['pid'])} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"


def _try_lock(folder: Path) -> Optional[int]:
    """An open descriptor of folder's lock file holding the lock, or None when another holds it."""
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def held_by(folder: str | os.PathLike) -> Optional[str]:
    """The holder of a live trainer's lock on folder (checkpoints/), or None when no trainer holds it."""
    folder = Path(folder)
    if fcntl is None or not (folder / LOCK_FILE).exists():
        return None
    fd = _try_lock(folder)
    if fd is None:
        return _holder(folder)
    os.close(fd)                 # closing releases the probe's lock at once
    return None


class TrainerLock:
    """The lock a trainer holds on its checkpoints folder from `acquire` until `release` or its exit."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.fd: Optional[int] = None

    def acquire(self) -> None:
        """Take the lock, or raise FolderHeld naming the folder and the live trainer that holds it."""
        if fcntl is None:
            return
        fd = _try_lock(self.folder)
        if fd is None:
            raise FolderHeld(f"{self.folder}: a live trainer holds this run folder ({_holder(self.folder)}); "
                             f"stop it, or use another --run-dir")
        self.fd = fd

    def announce(self) -> None:
        """Write who holds the lock (this process) for another trainer's refusal to name."""
        if self.fd is not None:
            info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
            atomic_write_bytes(self.folder / HOLDER_FILE, json.dumps(info).encode())

    def release(self) -> None:
        """Let the lock go (the process's end does the same)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
