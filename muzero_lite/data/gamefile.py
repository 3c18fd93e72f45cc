"""The game file: the contract between self-play (writer) and the trainer (reader).

One finished game is one compressed ``.npz`` written atomically into ``games/``. Members, each a
plain ``.npy`` (never an object array, so nothing is ever unpickled):

  frames       [T, F, H, W, C] uint8 images, or [T, O] float32 vectors
  actions      [T] int64, each in [0, A)
  rewards      [T] float32
  root_values  [T] float32
  policies     [T, A] float32, rows >= 0 summing to 1
  meta         [n] uint8, the UTF-8 bytes of a JSON object holding ``format_version``

``read_game`` trusts nothing in the file: every bad file (empty, truncated, random bytes, pickled
objects, decompression bombs, symlinks, wrong version, keys, dtypes, shapes or values) raises one
``GameFileError`` whose message starts with the path and says why. Unknown extra members are
rejected too: a new field means a new ``GAME_FORMAT_VERSION``. The archive itself is read by
safe_npz (regular files only, no pickle, sizes bounded before decompression); this module holds
the schema: the members, their dtypes, shapes and values, and the meta.
"""
from __future__ import annotations

import io
import itertools
import json
import os
import re
import threading
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..algorithm.types import GAME_FORMAT_VERSION, GameRecord
from .atomic import atomic_write, is_temp
from .safe_npz import NpzError, open_npz, open_regular

# members of a game file, in the order they are written
KEYS = ("frames", "actions", "rewards", "root_values", "policies", "meta")
# default bound on the uncompressed size of one game file (all members together)
DEFAULT_MAX_BYTES = 2 << 30
# policy rows must sum to 1 within this
POLICY_SUM_TOL = 1e-3
GAME_PREFIX = "game-"
GAME_SUFFIX = ".npz"
_WORKER_RE = re.compile(r"[^A-Za-z0-9_-]")

_name_lock = threading.Lock()
_name_counter = itertools.count()
_last_stamp = ""


class GameFileError(ValueError):
    """A game file that cannot be used; the message starts with the file's path and says why."""


class _Bad(Exception):
    """Internal: a reason a file or record breaks the schema (the caller adds the path)."""


# ---------------------------------------------------------------- writing

def write_game(folder: str | os.PathLike, record: GameRecord, worker: str) -> Path:
    """Write one finished game into folder, atomically; returns the new file's path."""
    data = game_bytes(record, worker)
    path = _new_game_path(Path(folder), worker)
    atomic_write(path, lambda f: f.write(data))
    return path


def game_bytes(record: GameRecord, worker: str = "worker") -> bytes:
    """The bytes of the game file of a finished game (what write_game writes, and what travels from a
    Ray actor to the trainer's side, `write_game_bytes`)."""
    arrays = _record_arrays(record)
    try:
        _validate(arrays, None)
    except _Bad as e:
        raise ValueError(f"game record from worker {worker!r} not written: {e}") from None
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def write_game_bytes(folder: str | os.PathLike, data: bytes, worker: str, source: str,
                     max_bytes: int = DEFAULT_MAX_BYTES, num_actions: int | None = None) -> Path:
    """Check bytes received for a game file exactly as read_game checks a file (GameFileError naming
    `source` when they are not one), then write them into folder atomically; returns the file's path."""
    read_game_bytes(data, source, max_bytes, num_actions)
    path = _new_game_path(Path(folder), worker)
    atomic_write(path, lambda f: f.write(data))
    return path


def _record_arrays(record: GameRecord) -> dict[str, np.ndarray]:
    """The record as the arrays stored in the file (canonical dtypes, meta as JSON bytes)."""
    frames = np.asarray(record.frames)
    if frames.dtype.kind == "f":
        frames = frames.astype(np.float32, copy=False)
    meta = dict(record.meta)
    meta["format_version"] = GAME_FORMAT_VERSION
    meta_bytes = json.dumps(meta, default=_json_default, sort_keys=True).encode("utf-8")
    return {
        "frames": np.ascontiguousarray(frames),
        "actions": np.ascontiguousarray(record.actions, dtype=np.int64),
        "rewards": np.ascontiguousarray(record.rewards, dtype=np.float32),
        "root_values": np.ascontiguousarray(record.root_values, dtype=np.float32),
        "policies": np.ascontiguousarray(record.policies, dtype=np.float32),
        "meta": np.frombuffer(meta_bytes, dtype=np.uint8),
    }


def _json_default(obj: Any) -> Any:
    """json.dumps fallback for the numpy scalars and arrays that end up in meta."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"meta value {obj!r} of type {type(obj).__name__} is not JSON-serialisable")


def _new_game_path(folder: Path, worker: str) -> Path:
    """A fresh file name that sorts by time and never collides between or within workers."""
    global _last_stamp
    name = _WORKER_RE.sub("_", worker)[:64] or "worker"
    with _name_lock:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")
        # a clock stepping back must not reorder one process's games: never go below the last stamp
        stamp = max(stamp, _last_stamp)
        _last_stamp = stamp
        while True:
            path = folder / f"{GAME_PREFIX}{stamp}-{name}-{os.getpid()}-{next(_name_counter):06d}{GAME_SUFFIX}"
            if not path.exists():
                return path


# ---------------------------------------------------------------- listing

def game_file_names(folder: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(complete game files, entries named like game files that are not regular files), names only, each
    sorted oldest first, from one directory scan (the trainer polls large folders every second)."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    regular, irregular = [], []
    for e in entries:
        if e.name.startswith(GAME_PREFIX) and e.name.endswith(GAME_SUFFIX) and not is_temp(e.name):
            (regular if e.is_file(follow_symlinks=False) else irregular).append(e.name)
    return sorted(regular), sorted(irregular)


def list_game_files(folder: str | os.PathLike) -> list[Path]:
    """Complete game files in folder (no temp files, no symlinks, nothing else), oldest first."""
    return [Path(folder) / n for n in game_file_names(folder)[0]]


# ---------------------------------------------------------------- reading

def read_game(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES,
              num_actions: int | None = None) -> GameRecord:
    """Read and validate one game file; every problem is a GameFileError naming the file."""
    try:
        with open_regular(path, max_bytes) as f:
            arrays, meta = _read_members(f, max_bytes)
        _validate(arrays, num_actions)
    except (_Bad, NpzError) as e:
        raise GameFileError(f"{path}: {e}") from None
    return GameRecord(frames=arrays["frames"], actions=arrays["actions"], rewards=arrays["rewards"],
                      root_values=arrays["root_values"], policies=arrays["policies"], meta=meta)


def read_game_bytes(data: bytes, source: str, max_bytes: int = DEFAULT_MAX_BYTES,
                    num_actions: int | None = None) -> GameRecord:
    """read_game of a game file's bytes held in memory; every problem is a GameFileError naming source."""
    try:
        if not isinstance(data, (bytes, bytearray)):
            raise _Bad(f"not bytes (got {type(data).__name__})")
        if not data:
            raise _Bad("empty file")            # the words open_regular uses for a file
        if len(data) > max_bytes:
            raise _Bad(f"file too large: {len(data)} bytes > max_bytes {max_bytes}")
        arrays, meta = _read_members(io.BytesIO(data), max_bytes)
        _validate(arrays, num_actions)
    except (_Bad, NpzError) as e:
        raise GameFileError(f"{source}: {e}") from None
    return GameRecord(frames=arrays["frames"], actions=arrays["actions"], rewards=arrays["rewards"],
                      root_values=arrays["root_values"], policies=arrays["policies"], meta=meta)


def _read_members(f: IO[bytes], max_bytes: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The five arrays and the meta of the npz in f, sizes checked before anything is decompressed."""
    with open_npz(f, max_bytes) as npz:
        # meta first: a file of another format version should say so, not fail on its members
        meta = _parse_meta(npz.read("meta")) if "meta" in npz.members else None
        _check_keys(npz.members)
        return {key: npz.read(key) for key in KEYS[:5]}, meta


def _check_keys(infos: dict[str, zipfile.ZipInfo]) -> None:
    """Exactly the members of this format version: none missing, none unknown."""
    unknown = [i.filename for k, i in infos.items() if k not in KEYS or not i.filename.endswith(".npy")]
    if unknown:
        raise _Bad(f"unknown member(s) {', '.join(map(repr, unknown))} (expected {', '.join(k + '.npy' for k in KEYS)})")
    missing = [k for k in KEYS if k not in infos]
    if missing:
        raise _Bad(f"missing member(s) {', '.join(missing)}")


def _parse_meta(raw: np.ndarray) -> dict[str, Any]:
    """The meta member: UTF-8 JSON of an object holding the right format_version."""
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Bad(f"meta: wrong dtype/shape {raw.dtype} {raw.shape} (expected 1-D uint8 JSON bytes)")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _Bad(f"meta: not valid UTF-8 JSON ({type(e).__name__})") from None
    if not isinstance(meta, dict):
        raise _Bad(f"meta: not a JSON object (got {type(meta).__name__})")
    version = meta.get("format_version")
    if version != GAME_FORMAT_VERSION:
        raise _Bad(f"format version {version!r} is not the supported version {GAME_FORMAT_VERSION}")
    return meta


# ---------------------------------------------------------------- validation (shared by both sides)

def _validate(arrays: dict[str, np.ndarray], num_actions: int | None) -> None:
    """Check dtypes, shapes, lengths and values of the arrays in place (converting to canonical dtypes)."""
    _check_dtypes_and_shapes(arrays)
    t = arrays["actions"].shape[0]
    if t == 0:
        raise _Bad("empty game: T == 0 moves")
    lengths = {k: arrays[k].shape[0] for k in KEYS[:5]}
    if len(set(lengths.values())) != 1:
        raise _Bad(f"inconsistent lengths T: {lengths}")
    _check_values(arrays, num_actions)


def _check_dtypes_and_shapes(a: dict[str, np.ndarray]) -> None:
    """Each array's dtype and ndim, then convert to the canonical dtypes of GameRecord."""
    frames = a["frames"]
    if frames.dtype == np.uint8:
        if frames.ndim != 5:
            raise _Bad(f"frames: wrong shape {frames.shape} (uint8 images must be [T, F, H, W, C])")
    elif frames.dtype.kind == "f" and frames.dtype.itemsize == 4:
        if frames.ndim != 2:
            raise _Bad(f"frames: wrong shape {frames.shape} (float32 vectors must be [T, O])")
        a["frames"] = frames.astype(np.float32, copy=False)
    else:
        raise _Bad(f"frames: wrong dtype {frames.dtype} (uint8 [T, F, H, W, C] or float32 [T, O])")
    if 0 in frames.shape[1:]:
        raise _Bad(f"frames: wrong shape {frames.shape} (a zero-sized frame)")
    if a["actions"].dtype.kind not in "iu":
        raise _Bad(f"actions: wrong dtype {a['actions'].dtype} (must be integer)")
    a["actions"] = a["actions"].astype(np.int64, copy=False)
    for key, ndim in (("actions", 1), ("rewards", 1), ("root_values", 1), ("policies", 2)):
        if a[key].ndim != ndim:
            raise _Bad(f"{key}: wrong shape {a[key].shape} (must have ndim {ndim})")
    for key in ("rewards", "root_values", "policies"):
        if a[key].dtype.kind != "f":
            raise _Bad(f"{key}: wrong dtype {a[key].dtype} (must be floating)")
        a[key] = a[key].astype(np.float32, copy=False)
    if a["policies"].shape[1] == 0:
        raise _Bad(f"policies: wrong shape {a['policies'].shape} (no actions)")


def _check_values(a: dict[str, np.ndarray], num_actions: int | None) -> None:
    """Finite numbers, actions in range, policies that are distributions."""
    float_keys = ["rewards", "root_values", "policies"] + (["frames"] if a["frames"].dtype.kind == "f" else [])
    for key in float_keys:
        if not np.isfinite(a[key]).all():
            raise _Bad(f"{key}: non-finite values (NaN or inf)")
    n = a["policies"].shape[1]
    if num_actions is not None and n != num_actions:
        raise _Bad(f"policies: {n} actions, expected num_actions {num_actions}")
    actions = a["actions"]
    if actions.min() < 0 or actions.max() >= n:
        raise _Bad(f"actions: out of range [0, {n}): min {actions.min()}, max {actions.max()}")
    policies = a["policies"]
    if (policies < 0).any():
        raise _Bad("policies: negative probabilities")
    sums = policies.sum(axis=1, dtype=np.float64)
    worst = int(np.argmax(np.abs(sums - 1)))
    if abs(sums[worst] - 1) > POLICY_SUM_TOL:
        raise _Bad(f"policies: row {worst} sums to {sums[worst]:.6f}, not 1")


# ---------------------------------------------------------------- summaries

def summarize(record: GameRecord) -> dict[str, Any]:
    """A few facts about a game for logs and status lines."""
    nbytes = sum(np.asarray(x).nbytes for x in
                 (record.frames, record.actions, record.rewards, record.root_values, record.policies))
    return {
        "length": record.length,
        "num_actions": record.num_actions,
        "return": float(np.sum(record.rewards, dtype=np.float64)),
        "mean_root_value": float(np.mean(record.root_values, dtype=np.float64)),
        "frames_shape": list(record.frames.shape),
        "frames_dtype": str(record.frames.dtype),
        "nbytes": int(nbytes),
        "meta": dict(record.meta),
    }
