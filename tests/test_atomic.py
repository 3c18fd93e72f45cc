"""Atomic writes: whole file or none, no temp left, and the permissions a plainly made file gets."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from muzero_lite.data.atomic import atomic_write, atomic_write_bytes, is_temp


def test_atomic_write_gives_the_mode_open_would(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")                               # open() honours the umask
    path = atomic_write_bytes(tmp_path / "sub" / "f.bin", b"data")
    assert path.read_bytes() == b"data"
    assert oct(path.stat().st_mode & 0o777) == oct(plain.stat().st_mode & 0o777)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    def boom(f):
        f.write(b"half")
        raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "g.bin", boom)
    assert os.listdir(tmp_path) == []


def test_is_temp() -> None:
    assert is_temp(".game-x.npz.abc.tmp") and not is_temp("game-x.npz") and not is_temp(".hidden")
