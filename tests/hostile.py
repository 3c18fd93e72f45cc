"""Makers of valid and hostile game files, shared by the game-file tests and the trainer-level ones."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from muzero_lite.algorithm.types import GAME_FORMAT_VERSION, GameRecord

A = 4  # actions of the hand-made games (unless num_actions says otherwise)


def make_record(t: int = 7, vector: bool = False, seed: int = 0, num_actions: int = A, obs_size: int = 5) -> GameRecord:
    """A small valid game with image frames [T, 2, 8, 6, 3] uint8 (or vector frames [T, obs_size] float32)."""
    rng = np.random.default_rng(seed)
    frames = (rng.normal(size=(t, obs_size)).astype(np.float32) if vector
              else rng.integers(0, 256, size=(t, 2, 8, 6, 3), dtype=np.uint8))
    policies = rng.random((t, num_actions)).astype(np.float32)
    policies /= policies.sum(axis=1, keepdims=True)
    return GameRecord(frames=frames, actions=rng.integers(0, num_actions, size=t),
                      rewards=rng.normal(size=t).astype(np.float32), root_values=rng.normal(size=t).astype(np.float32),
                      policies=policies, meta={"env": "test", "level": "1-1", "return": 3.5, "flag": False, "worker": "w0"})


def members_of(r: GameRecord) -> dict[str, np.ndarray]:
    """The raw members a game file of this record holds (meta as JSON bytes with the format version)."""
    meta = json.dumps({**r.meta, "format_version": GAME_FORMAT_VERSION}).encode()
    return {"frames": r.frames, "actions": r.actions.astype(np.int64), "rewards": r.rewards,
            "root_values": r.root_values, "policies": r.policies, "meta": np.frombuffer(meta, dtype=np.uint8)}


def valid_members(t: int = 7, **kw) -> dict[str, np.ndarray]:
    """The raw members of a valid file, for tests to corrupt one at a time."""
    return members_of(make_record(t, **kw))


def meta_array(obj: object) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)


def save_members(path: Path, members: dict[str, np.ndarray]) -> Path:
    np.savez_compressed(path, **members)
    return path


class Payload:
    """Unpickling this creates a file: proof that something was unpickled."""
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_pickled_member(path: Path, members: dict[str, np.ndarray], member: str, marker: Path) -> Path:
    """An npz of members whose `member` is a pickled object array that creates `marker` when unpickled."""
    buf = io.BytesIO()
    np.save(buf, np.array([Payload(str(marker))], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as zf:
        for key, arr in members.items():
            if key == member:
                zf.writestr(f"{key}.npy", buf.getvalue())
            else:
                b = io.BytesIO()
                np.save(b, arr)
                zf.writestr(f"{key}.npy", b.getvalue())
    return path


def write_zero_frames_npz(path: Path, n_bytes: int, t: int = 7, members: dict[str, np.ndarray] | None = None) -> None:
    """Write an npz whose frames member streams n_bytes of zeros (never held in memory here)."""
    m = valid_members(t) if members is None else members
    frame = n_bytes // t
    shape = (t, 1, 1, frame, 1)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("frames.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
            chunk = bytes(1 << 20)
            left = t * frame
            while left:
                f.write(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))
        for key in ("actions", "rewards", "root_values", "policies", "meta"):
            b = io.BytesIO()
            np.save(b, m[key])
            zf.writestr(f"{key}.npy", b.getvalue())
