"""The game file: round trips, names, listing, and every kind of hostile file rejected."""
from __future__ import annotations

import io
import os
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hostile import A, make_record, meta_array, save_members, valid_members, write_pickled_member, write_zero_frames_npz

from muzero_lite.algorithm.types import GAME_FORMAT_VERSION
from muzero_lite.data.gamefile import (
    GameFileError,
    game_bytes,
    list_game_files,
    read_game,
    read_game_bytes,
    summarize,
    write_game,
    write_game_bytes,
)


def expect_error(path: Path, word: str, **kw) -> GameFileError:
    """read_game refuses the file with a message naming it and saying `word`; and where it is a regular
    file, its bytes (as a cluster actor would send them) are refused with the same message and not written."""
    with pytest.raises(GameFileError) as info:
        read_game(path, **kw)
    msg = str(info.value)
    assert msg.startswith(str(path)), msg
    assert path.name in msg
    assert word.lower() in msg.lower(), msg
    if path.is_file() and not path.is_symlink():
        with pytest.raises(GameFileError) as sent:
            write_game_bytes(path.parent / "received", path.read_bytes(), "actor", str(path), **kw)
        assert str(sent.value) == msg
        assert not (path.parent / "received").exists()
    return info.value


# ---------------------------------------------------------------- round trips and names

@pytest.mark.parametrize("vector", [False, True])
def test_round_trip(tmp_path: Path, vector: bool) -> None:
    rec = make_record(vector=vector)
    path = write_game(tmp_path, rec, worker="w0")
    back = read_game(path, num_actions=A)
    for key in ("frames", "actions", "rewards", "root_values", "policies"):
        np.testing.assert_array_equal(getattr(back, key), getattr(rec, key))
    assert back.frames.dtype == (np.float32 if vector else np.uint8)
    assert back.actions.dtype == np.int64 and back.policies.dtype == np.float32
    assert back.meta == {**rec.meta, "format_version": GAME_FORMAT_VERSION}
    assert rec.meta.get("format_version") is None  # the caller's record is not changed
    assert summarize(back)["length"] == rec.length


def test_write_converts_numpy_meta_and_dtypes(tmp_path: Path) -> None:
    rec = make_record()
    rec.meta = {"steps": np.int64(5), "x": np.float32(1.5), "arr": np.arange(3)}
    rec.rewards = rec.rewards.astype(np.float64)
    rec.actions = rec.actions.astype(np.int32)
    back = read_game(write_game(tmp_path, rec, worker="w"))
    assert back.meta["steps"] == 5 and back.meta["arr"] == [0, 1, 2]
    assert back.rewards.dtype == np.float32 and back.actions.dtype == np.int64


def test_write_rejects_a_bad_record(tmp_path: Path) -> None:
    rec = make_record()
    rec.actions[0] = A
    with pytest.raises(ValueError, match="out of range"):
        write_game(tmp_path, rec, worker="w")
    assert list(tmp_path.iterdir()) == []


def test_fortran_ordered_members_read_correctly(tmp_path: Path) -> None:
    m = valid_members()
    pol = m["policies"]
    m["policies"] = np.asfortranarray(pol)
    back = read_game(save_members(tmp_path / "game-f.npz", m))
    np.testing.assert_array_equal(back.policies, pol)


def test_names_unique_sorted_and_sanitised(tmp_path: Path) -> None:
    rec = make_record(t=2)
    paths = [write_game(tmp_path, rec, worker="w/../1 x") for _ in range(5)]
    assert len(set(paths)) == 5
    assert [p.name for p in paths] == sorted(p.name for p in paths)
    for p in paths:
        assert p.parent == tmp_path and p.name.startswith("game-") and p.suffix == ".npz"
        assert "-w____1_x-" in p.name
        assert "/" not in p.name and " " not in p.name
    other = write_game(tmp_path, rec, worker="w2")
    assert other not in paths
    assert list_game_files(tmp_path) == sorted(paths + [other])


def test_list_game_files_ignores_temps_and_others(tmp_path: Path) -> None:
    good = write_game(tmp_path, make_record(t=2), worker="a")
    (tmp_path / f".{good.name}.abc123.tmp").write_bytes(b"partial")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "game-x.npy").write_bytes(b"x")
    (tmp_path / "game-dir.npz").mkdir()
    (tmp_path / "game-link.npz").symlink_to(good)
    assert list_game_files(tmp_path) == [good]
    assert list_game_files(tmp_path / "missing") == []


# ---------------------------------------------------------------- broken archives

def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "game-empty.npz"
    p.write_bytes(b"")
    expect_error(p, "empty")


def test_random_bytes(tmp_path: Path) -> None:
    p = tmp_path / "game-random.npz"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    expect_error(p, "not an npz")


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.9, 0.999])
def test_truncated(tmp_path: Path, keep: float) -> None:
    data = write_game(tmp_path, make_record(t=40), worker="w").read_bytes()
    p = tmp_path / "game-cut.npz"
    p.write_bytes(data[: max(4, int(len(data) * keep))])
    expect_error(p, "truncated")


def test_corrupt_compressed_data(tmp_path: Path) -> None:
    data = bytearray(write_game(tmp_path, make_record(t=40), worker="w").read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("frames.npy")
    # flip bytes in the middle of the frames member's compressed data (header is 30 + name bytes)
    start = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    for i in range(start, start + 8):
        data[i] ^= 0xFF
    p = tmp_path / "game-flipped.npz"
    p.write_bytes(bytes(data))
    expect_error(p, "corrupt")


def test_symlink_rejected(tmp_path: Path) -> None:
    good = write_game(tmp_path, make_record(), worker="w")
    link = tmp_path / "game-link.npz"
    link.symlink_to(good)
    expect_error(link, "symlink")


def test_directory_and_fifo_rejected(tmp_path: Path) -> None:
    d = tmp_path / "game-dir.npz"
    d.mkdir()
    expect_error(d, "regular file")
    fifo = tmp_path / "game-fifo.npz"
    os.mkfifo(fifo)
    expect_error(fifo, "regular file")  # and it must not block waiting for a writer


# ---------------------------------------------------------------- pickles and bombs

@pytest.mark.parametrize("member", ["policies", "meta", "frames"])
def test_pickled_object_array_never_unpickled(tmp_path: Path, member: str) -> None:
    marker = tmp_path / "pwned"
    p = write_pickled_member(tmp_path / "game-pickle.npz", valid_members(), member, marker)
    expect_error(p, "pickle")
    assert not marker.exists()
    # control: the payload is live, so the assertion above means something
    with np.load(p, allow_pickle=True) as z:
        z[member]
    assert marker.exists()


def test_decompression_bomb_rejected_without_allocating(tmp_path: Path) -> None:
    p = tmp_path / "game-bomb.npz"
    write_zero_frames_npz(p, 200 << 20)
    assert p.stat().st_size < 2 << 20  # 200 MB of zeros compress to well under 2 MB
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        expect_error(p, "too large", max_bytes=10 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 1.0
    assert peak < 2 << 20, peak


def test_npy_header_lying_about_shape(tmp_path: Path) -> None:
    # the zip entry is small but the npy header claims a huge array: rejected before allocation
    m = valid_members()
    p = tmp_path / "game-liar.npz"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in m.items():
            b = io.BytesIO()
            if key == "frames":
                np.lib.format.write_array_header_1_0(b, {"descr": "|u1", "fortran_order": False,
                                                         "shape": (7, 2, 1 << 20, 1 << 20, 3)})
                b.write(bytes(100))
            else:
                np.save(b, arr)
            zf.writestr(f"{key}.npy", b.getvalue())
    expect_error(p, "too large", max_bytes=10 << 20)
    # within the bound the header still has to agree with the zip entry's size
    m["frames"] = np.zeros((7, 2, 8, 6, 3), np.uint8)
    with zipfile.ZipFile(p, "w") as zf:
        for key, arr in m.items():
            b = io.BytesIO()
            np.save(b, arr)
            data = b.getvalue()
            zf.writestr(f"{key}.npy", data[:-10] if key == "frames" else data)
    expect_error(p, "disagrees")


def test_file_itself_larger_than_max_bytes(tmp_path: Path) -> None:
    p = write_game(tmp_path, make_record(t=50), worker="w")
    expect_error(p, "too large", max_bytes=1000)


# ---------------------------------------------------------------- schema and values

def _set(key: str, value: object) -> Callable[[dict], None]:
    def f(m: dict) -> None:
        m[key] = value
    return f


def _drop(key: str) -> Callable[[dict], None]:
    return lambda m: m.pop(key)


def _edit(key: str, fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict], None]:
    def f(m: dict) -> None:
        m[key] = fn(m[key].copy())
    return f


def _poke(key: str, index: object, value: object) -> Callable[[np.ndarray], np.ndarray]:
    def f(a: np.ndarray) -> np.ndarray:
        a[index] = value
        return a
    return _edit(key, f)


T = 7
CASES = {
    "wrong_version": (_set("meta", meta_array({"format_version": GAME_FORMAT_VERSION + 1})), "format version", {}),
    "no_version": (_set("meta", meta_array({"env": "x"})), "format version", {}),
    "missing_key": (_drop("rewards"), "missing", {}),
    "missing_meta": (_drop("meta"), "missing member(s) meta", {}),
    "future_version_new_member": (lambda m: m.update(meta=meta_array({"format_version": GAME_FORMAT_VERSION + 1}),
                                                     extra=np.zeros(3)), "format version", {}),
    "extra_key": (_set("extra", np.zeros(3)), "unknown member", {}),
    "frames_int16": (_edit("frames", lambda a: a.astype(np.int16)), "dtype", {}),
    "frames_float64_vec": (_set("frames", np.zeros((T, 5), np.float64)), "dtype", {}),
    "frames_ndim4": (_edit("frames", lambda a: a[:, 0]), "shape", {}),
    "frames_float_ndim3": (_set("frames", np.zeros((T, 5, 2), np.float32)), "shape", {}),
    "frames_zero_size": (_set("frames", np.zeros((T, 2, 0, 6, 3), np.uint8)), "shape", {}),
    "actions_float": (_edit("actions", lambda a: a.astype(np.float32)), "dtype", {}),
    "actions_bool": (_set("actions", np.zeros(T, bool)), "dtype", {}),
    "actions_2d": (_edit("actions", lambda a: a[:, None]), "shape", {}),
    "rewards_int": (_edit("rewards", lambda a: a.astype(np.int32)), "dtype", {}),
    "root_values_int": (_edit("root_values", lambda a: a.astype(np.int64)), "dtype", {}),
    "policies_int": (_set("policies", np.ones((T, A), np.int32)), "dtype", {}),
    "policies_1d": (_edit("policies", lambda a: a[:, 0]), "shape", {}),
    "policies_no_actions": (_set("policies", np.zeros((T, 0), np.float32)), "shape", {}),
    "short_rewards": (_edit("rewards", lambda a: a[:-1]), "inconsistent lengths", {}),
    "long_frames": (_edit("frames", lambda a: np.concatenate([a, a[:1]])), "inconsistent lengths", {}),
    "nan_reward": (_poke("rewards", 2, np.nan), "non-finite", {}),
    "inf_root_value": (_poke("root_values", 0, np.inf), "non-finite", {}),
    "nan_policy": (_poke("policies", (1, 1), np.nan), "non-finite", {}),
    "nan_vector_frame": (_set("frames", np.full((T, 5), np.nan, np.float32)), "non-finite", {}),
    "action_too_big": (_poke("actions", 3, A), "out of range", {}),
    "action_negative": (_poke("actions", 0, -1), "out of range", {}),
    "num_actions_mismatch": (lambda m: None, "expected num_actions", {"num_actions": A + 1}),
    "policy_negative": (_edit("policies", lambda a: np.where(np.arange(A) == 0, -0.5, a + 0.5 / (A - 1))),
                        "negative", {}),
    "policy_sum": (_edit("policies", lambda a: a * 2), "sums to", {}),
    "meta_not_json": (_set("meta", np.frombuffer(b"{not json", np.uint8)), "not valid", {}),
    "meta_not_utf8": (_set("meta", np.frombuffer(b"\xff\xfe{}", np.uint8)), "not valid", {}),
    "meta_list": (_set("meta", meta_array([1, 2])), "not a json object", {}),
    "meta_float": (_set("meta", np.zeros(4, np.float32)), "meta", {}),
    "structured_dtype": (_set("rewards", np.zeros(T, dtype=[("a", "f4")])), "dtype", {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_members_rejected(tmp_path: Path, case: str) -> None:
    mutate, word, kw = CASES[case]
    m = valid_members(T)
    mutate(m)
    p = save_members(tmp_path / f"game-{case}.npz", m)
    expect_error(p, word, **kw)


def test_zero_moves(tmp_path: Path) -> None:
    m = valid_members(T)
    for key in ("frames", "actions", "rewards", "root_values", "policies"):
        m[key] = m[key][:0]
    expect_error(save_members(tmp_path / "game-zero.npz", m), "T == 0")


def test_valid_members_pass(tmp_path: Path) -> None:
    # the corruption cases above start from a file that is otherwise accepted
    read_game(save_members(tmp_path / "game-ok.npz", valid_members(T)), num_actions=A)


def test_game_bytes_travel_and_land_whole(tmp_path: Path) -> None:
    record = make_record(t=9)
    data = game_bytes(record, "w")
    got = read_game_bytes(data, "actor w")
    assert np.array_equal(got.frames, record.frames) and got.meta["format_version"] == GAME_FORMAT_VERSION
    path = write_game_bytes(tmp_path / "games", data, "w", "actor w", num_actions=A)
    assert path.read_bytes() == data and list_game_files(tmp_path / "games") == [path]
    with pytest.raises(GameFileError, match="^actor w: not bytes"):
        read_game_bytes("text", "actor w")
