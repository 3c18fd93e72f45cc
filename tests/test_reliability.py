"""Reliability through real processes and real files: SIGKILLed writers, hostile game files, checkpoints
from another config, and the retention that keeps a long run's disk in bounds. (Bad configs, for every
subcommand: test_config.py; hostile files one by one against read_game: test_gamefile.py.)"""
from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TINY_CARTPOLE, cli, write_config
from hostile import make_record, members_of, meta_array, save_members, write_pickled_member, write_zero_frames_npz

from muzero_lite.algorithm.networks import build_networks
from muzero_lite.algorithm.types import GAME_FORMAT_VERSION
from muzero_lite.config import Config, ConfigError, config_from_dict, load_config
from muzero_lite.data import gameloader
from muzero_lite.data.atomic import is_temp
from muzero_lite.data.checkpoints import list_checkpoints, load_checkpoint, newest_checkpoint, save_checkpoint
from muzero_lite.data.gamefile import list_game_files, read_game, write_game
from muzero_lite.data.gameloader import GameLoader, max_game_bytes
from muzero_lite.data.replay import ReplayBuffer
from muzero_lite.data.runfolder import RunPaths, prune_games, save_resolved_config, sweep_stale_temps
from muzero_lite.envs.make import game_spec
from muzero_lite.processes import trainer
from muzero_lite.processes.selfplay import run_selfplay
from muzero_lite.processes.trainer import run_trainer
from muzero_lite.reporting.gifs import gif_path_for

OBS, ACTIONS, MOVES = (4,), 2, 30       # CartPole: frames [T, 4] float32, 2 actions; synthetic games of 30 moves


def _config(folder: Path, **sections) -> tuple[Path, Config]:
    """A tiny CartPole config (TINY_CARTPOLE with these section keys on top) in folder: its path and the Config."""
    folder.mkdir(parents=True, exist_ok=True)
    merged = {k: dict(v) for k, v in TINY_CARTPOLE.items()}
    for section, values in sections.items():
        merged.setdefault(section, {}).update(values)
    path = write_config(folder, "cartpole", **merged)
    return path, load_config(path)


def _wait_for(pred, timeout: float, interval: float = 0.05) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(interval)
    return False


def _start(command: str, cfg: Path, run: Path, log: Path, *extra) -> subprocess.Popen:
    """`python -m muzero_lite COMMAND` as a real process, its output in log."""
    with open(log, "w") as f:
        return subprocess.Popen([sys.executable, "-m", "muzero_lite", command, "--config", str(cfg), "--run-dir", str(run),
                                 *map(str, extra)], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)


def _kill(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)


def _cartpole_game(folder: Path, seed: int, t: int = MOVES) -> Path:
    """A valid CartPole-shaped game written by write_game (one worker name, so names sort by creation)."""
    return write_game(folder, make_record(t, vector=True, seed=seed, num_actions=ACTIONS, obs_size=OBS[0]), worker="syn")


def _temps(*folders: Path) -> list[Path]:
    return [p for d in folders if d.exists() for p in d.iterdir() if is_temp(p)]


# ---------------------------------------------------------------- 1. killed self-play

def test_killed_selfplay_leaves_only_complete_files_and_temps_are_swept(tmp_path):
    # three games in flight in each worker: a kill drops them all, and leaves no partial file
    cfg_path, cfg = _config(tmp_path, train={"min_buffer_moves": 1}, selfplay={"games_in_flight": 3})
    run = tmp_path / "run"
    games, gifs = run / "games", run / "gifs"
    rng = random.Random(0)
    kills, write_kills, t0 = 0, 0, time.time()
    while kills < 12 and time.time() - t0 < 30:
        log = tmp_path / f"selfplay{kills}.log"
        p = _start("selfplay", cfg_path, run, log, "--worker", f"k{kills}", "--seed", kills)
        try:
            if kills == 0:      # the first worker writes two whole games, so the trainer below has some
                assert _wait_for(lambda: len(list_game_files(games)) >= 2, 60, 0.02), log.read_text()
            if kills % 2:       # a random moment of play, gif encoding or writing
                _wait_for(lambda: "game 1 " in log.read_text(), 20, 0.02)
                time.sleep(rng.uniform(0, 0.4))
            else:               # the moment a temp file shows up: the kill lands inside a write
                write_kills += _wait_for(lambda: _temps(games, gifs), 20, 0.001)
        finally:
            _kill(p)
        kills += 1
    assert kills >= 4, f"only {kills} kills in {time.time() - t0:.0f} s"

    # every file named like a game is whole; every game gif is a whole gif
    files = sorted(games.glob("game-*.npz"))
    assert len(files) >= 2 and files == list_game_files(games)
    for f in files:
        assert read_game(f, num_actions=ACTIONS).frames.shape[1:] == OBS
    for g in gifs.glob("game-*.gif"):
        data = g.read_bytes()
        assert data[:6] in (b"GIF87a", b"GIF89a") and data[-1:] == b";", g      # header ... trailer
    left = _temps(games, gifs)
    print(f"\n[reliability] {kills} selfplay kills ({write_kills} at a temp file) in {time.time() - t0:.1f} s; "
          f"{len(left)} temp files left: {sorted(p.name for p in left)}")
    # a killed writer's temps, planted too so the sweep below is never vacuous
    (games / ".game-planted.npz.abc123.tmp").write_bytes(files[0].read_bytes()[:100])
    (gifs / ".game-planted.gif.abc123.tmp").write_bytes(b"GIF89a")

    # at the default age fresh temps stay (a live writer may own them) ...
    paths = RunPaths(games, gifs, run / "checkpoints")
    assert trainer.STALE_TEMP_S >= 60 and sweep_stale_temps(paths, trainer.STALE_TEMP_S, io.StringIO()) == 0
    # ... and the trainer never loads or rejects them, and sweeps them once old enough (age 0 here)
    out = io.StringIO()
    assert run_trainer(cfg, run, steps=1, out=out, stale_temp_s=0) == 1
    text = out.getvalue()
    assert f"games {len(files)} " in text and "rejected 0" in text and "warning" not in text, text
    assert "stale temp file(s)" in text
    assert _temps(games, gifs, run / "checkpoints") == []
    assert not (games / "rejected").exists()


# ---------------------------------------------------------------- 2. killed trainer

@pytest.mark.parametrize("command", ["selfplay", "train"])
def test_sigint_stops_a_process_started_with_sigint_ignored(tmp_path, command):
    """A non-interactive shell starts `cmd &` with SIGINT ignored, and the children inherit it: SIGINT,
    which scripts (and `run`) send to stop a worker or trainer, must still stop it the Ctrl-C way."""
    cfg, _ = _config(tmp_path, train={"replay_ratio": 0})
    run, log = tmp_path / "run", tmp_path / f"{command}.log"
    if command == "train":                          # games to train on
        for i in range(8):
            _cartpole_game(run / "games", i)
    with open(log, "w") as f:
        p = subprocess.Popen([sys.executable, "-m", "muzero_lite", command, "--config", str(cfg), "--run-dir", str(run)],
                             cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        started = (lambda: len(list_game_files(run / "games")) >= 3) if command == "selfplay" else \
                  (lambda: bool(list_checkpoints(run / "checkpoints")))
        assert _wait_for(started, 120), log.read_text()
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=60) == 0
    finally:
        _kill(p)
    text = log.read_text()
    assert ("stopped after" in text) if command == "selfplay" else ("interrupted at step" in text), text


def test_killed_trainer_resumes_from_newest_complete_checkpoint(tmp_path):
    cfg_path, cfg = _config(tmp_path, train={"checkpoint_interval": 1, "batch_size": 16, "keep_checkpoints": 3})
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    for seed in range(4):
        _cartpole_game(run / "games", seed)
    rng = random.Random(1)
    kills, steps, t0 = 0, [0], time.time()
    while kills < 8 and time.time() - t0 < 30:
        before = newest_checkpoint(ckpts, cfg)
        before_step = before[1]["step"] if before else 0
        log = tmp_path / f"train{kills}.log"
        p = _start("train", cfg_path, run, log)
        try:
            # killed while it writes a checkpoint every step, at least one past where it started
            assert _wait_for(lambda: any(s > before_step for s, _ in list_checkpoints(ckpts)), 60, 0.02), log.read_text()
            time.sleep(rng.uniform(0, 0.3))
        finally:
            _kill(p)
        kills += 1
        text = log.read_text()
        assert "Traceback" not in text, text
        if before:
            assert f"[train] resumed from {before[0].name} at step {before_step}\n" in text, text
        else:
            assert "resumed" not in text
        # every checkpoint under its final name loads, and the newest is newer than where this run started
        for _, path in list_checkpoints(ckpts):
            load_checkpoint(path)
        path, payload = newest_checkpoint(ckpts, cfg)
        step = payload["step"]
        assert step > before_step >= steps[-1]
        steps.append(step)
        # the optimisers' state came along: Adam's own step count is the training step, never restarted
        for key in ("optimizer", "exploration_optimizer"):
            states = payload[key]["state"]
            assert states and {int(s["step"]) for s in states.values()} == {step}, (key, step)
    assert kills >= 3, f"only {kills} kills in {time.time() - t0:.0f} s"
    print(f"\n[reliability] {kills} trainer kills in {time.time() - t0:.1f} s; newest step after each: {steps[1:]}; "
          f"temp files left in checkpoints/: {len(_temps(ckpts))}")

    # self-play after the kills plays with a checkpoint that exists, whole
    on_disk = {s for s, _ in list_checkpoints(ckpts)}
    r = cli("selfplay", "--config", cfg_path, "--run-dir", run, "--games", 1, "--worker", "after", timeout=120)
    assert r.returncode == 0, r.stderr
    game = [f for f in list_game_files(run / "games") if "-after-" in f.name]
    assert len(game) == 1
    used = read_game(game[0]).meta["checkpoint_step"]
    assert used == max(on_disk) and f"ckpt {used}" in r.stdout


# ---------------------------------------------------------------- 3. hostile game files at the trainer

def _bad_files(games: Path, outside: Path, marker: Path) -> dict[str, str]:
    """Write one file per kind of bad game into games/; returns {file name: word its warning must hold}."""
    def base() -> dict:
        return members_of(make_record(MOVES, vector=True, seed=99, num_actions=ACTIONS, obs_size=OBS[0]))

    def mutated(**changes) -> dict:
        m = base()
        for key, fn in changes.items():
            m[key] = fn(m[key].copy())
        return m

    def poke(index, value):
        def f(a):
            a[index] = value
            return a
        return f

    good_bytes = _cartpole_game(outside, 99).read_bytes()
    bomb_limit = max_game_bytes(500, OBS, np.float32, ACTIONS)
    kinds = {
        "empty": (lambda p: p.write_bytes(b""), "empty file"),
        "truncated": (lambda p: p.write_bytes(good_bytes[: len(good_bytes) // 2]), "truncated"),
        "random-bytes": (lambda p: p.write_bytes(np.random.default_rng(5).bytes(4000)), "not an npz"),
        "pickle": (lambda p: write_pickled_member(p, base(), "policies", marker), "pickle"),
        "wrong-version": (lambda p: save_members(p, {**base(), "meta": meta_array({"format_version": GAME_FORMAT_VERSION + 1})}),
                          "format version"),
        "missing-key": (lambda p: save_members(p, {k: v for k, v in base().items() if k != "rewards"}),
                        "missing member(s) rewards"),
        "wrong-dtype": (lambda p: save_members(p, mutated(actions=lambda a: a.astype(np.float32))), "wrong dtype"),
        "wrong-shape": (lambda p: save_members(p, mutated(policies=lambda a: a[:, 0])), "wrong shape"),
        "inconsistent-lengths": (lambda p: save_members(p, mutated(rewards=lambda a: a[:-1])), "inconsistent lengths"),
        "nan-reward": (lambda p: save_members(p, mutated(rewards=poke(3, np.nan))), "non-finite"),
        "inf-value": (lambda p: save_members(p, mutated(root_values=poke(0, np.inf))), "non-finite"),
        "action-out-of-range": (lambda p: save_members(p, mutated(actions=poke(4, ACTIONS))), "out of range"),
        "three-actions": (lambda p: save_members(p, mutated(policies=lambda a: np.full((len(a), 3), 1 / 3, np.float32))),
                          "expected num_actions 2"),
        "wrong-observation": (lambda p: save_members(p, mutated(frames=lambda a: np.zeros((len(a), 5), np.float32))),
                              "frames of shape (5,), the config makes (4,)"),
        "bomb": (lambda p: write_zero_frames_npz(p, 64 << 20, t=MOVES, members=base()),
                 f"> max_bytes {bomb_limit} (decompression bomb?)"),
        "symlink-outside": (lambda p: p.symlink_to(outside / "secret-game.npz"), "is a symlink"),
        "folder": (lambda p: p.mkdir(), "not a regular file"),
    }
    (outside / "secret-game.npz").write_bytes(good_bytes)
    expected = {}
    for kind, (make, word) in kinds.items():
        path = games / f"game-bad-{kind}.npz"
        make(path)
        expected[path.name] = word
    assert (games / "game-bad-bomb.npz").stat().st_size < 1 << 20        # declares 64 MiB in well under 1 MiB
    return expected


def test_hostile_game_files_rejected_by_the_trainer(tmp_path):
    cfg_path, _ = _config(tmp_path, train={"batch_size": 16, "checkpoint_interval": 5})
    run, outside, marker = tmp_path / "run", tmp_path / "outside", tmp_path / "pwned"
    games = run / "games"
    outside.mkdir()
    valid = [_cartpole_game(games, seed) for seed in range(3)]
    expected = _bad_files(games, outside, marker)
    assert len(expected) >= 12
    secret = (outside / "secret-game.npz").read_bytes()

    r = cli("train", "--config", cfg_path, "--run-dir", run, "--steps", 5, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    warnings = [l for l in r.stdout.splitlines() if l.startswith("[train] warning: rejected ")]
    for name, word in expected.items():
        mine = [l for l in warnings if l.startswith(f"[train] warning: rejected {name}: ")]
        assert len(mine) == 1 and word in mine[0], (name, word, mine)
    assert len(warnings) == len(expected)
    status = [l for l in r.stdout.splitlines() if l.startswith("[train] step ")]
    assert status and f"games {len(valid)} " in status[0] and f"rejected {len(expected)} " in status[0], status
    assert "[train] stopped at step 5" in r.stdout and [s for s, _ in list_checkpoints(run / "checkpoints")][0] == 5

    # each bad one moved aside (the symlink itself, never its target), the valid ones left in place
    assert sorted(p.name for p in (games / "rejected").iterdir()) == sorted(expected)
    assert (games / "rejected" / "game-bad-symlink-outside.npz").is_symlink()
    assert (outside / "secret-game.npz").read_bytes() == secret and len(list(outside.iterdir())) == 2
    assert list_game_files(games) == valid
    assert not marker.exists()                                           # the pickle was never unpickled


# ---------------------------------------------------------------- 5. checkpoints from elsewhere

def test_checkpoint_of_another_network_size_refused_by_train_and_selfplay(tmp_path):
    _, cfg_a = _config(tmp_path / "a")
    cfg_b_path, _ = _config(tmp_path / "b", network={"latent": 16})
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    weights = build_networks(cfg_a, game_spec(cfg_a.env)).state_dict()
    save_checkpoint(ckpts, cfg_a, 7, weights)
    save_resolved_config(cfg_a, ckpts)
    config_a = (ckpts / "config.yaml").read_bytes()

    procs = {cmd: subprocess.Popen([sys.executable, "-m", "muzero_lite", cmd, "--config", str(cfg_b_path), "--run-dir",
                                    str(run), *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd, extra in (("train", ["--steps", "1"]), ("selfplay", ["--games", "1"]))}
    for cmd, p in procs.items():
        out, err = p.communicate(timeout=120)
        assert p.returncode == 2, (cmd, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("muzero-lite: checkpoint error: "), (cmd, err)
        assert "checkpoint-000000007.pt" in lines[0] and "different env/network config" in lines[0]
    # nothing of the refused config was written beside the other run's files
    assert (ckpts / "config.yaml").read_bytes() == config_a
    assert [s for s, _ in list_checkpoints(ckpts)] == [7]
    assert list((run / "games").iterdir()) == [] and list((run / "gifs").iterdir()) == []


# ---------------------------------------------------------------- 6. disk growth

def test_keep_games_deletes_oldest_once_loaded(tmp_path):
    _, cfg = _config(tmp_path, paths={"keep_games": 3})
    run = tmp_path / "run"
    files = [_cartpole_game(run / "games", seed) for seed in range(6)]
    out = io.StringIO()
    assert run_trainer(cfg, run, steps=1, out=out) == 1
    assert "games 6 " in out.getvalue(), out.getvalue()            # all six loaded ...
    assert list_game_files(run / "games") == files[3:]             # ... then only the newest three kept
    said = [l for l in out.getvalue().splitlines() if "retention limit" in l]
    assert len(said) == 1 and "paths.keep_games 3" in said[0], out.getvalue()   # said once, naming the key
    assert "pruned 3 " in out.getvalue(), out.getvalue()


def test_prune_games_by_size_and_never_unread_files(tmp_path):
    files = [_cartpole_game(tmp_path, seed) for seed in range(5)]
    size = files[0].stat().st_size
    assert all(abs(f.stat().st_size - size) < size // 4 for f in files)
    assert prune_games(tmp_path, 2, loaded=set()) == 0                     # nothing read yet: nothing goes
    assert list_game_files(tmp_path) == files
    names = {f.name for f in files}
    assert prune_games(tmp_path, 0, loaded=names, max_gb=2.5 * size / 1e9) == 3
    assert list_game_files(tmp_path) == files[3:]
    assert config_from_dict({"paths": {"keep_games_gb": 1.5}}).paths.keep_games_gb == 1.5
    with pytest.raises(ConfigError, match=r"paths.keep_games_gb = -1.0: must be >= 0"):
        config_from_dict({"paths": {"keep_games_gb": -1}})


def test_keep_gifs_keeps_newest_game_gifs_only(tmp_path):
    _, cfg = _config(tmp_path, paths={"keep_gifs": 2})
    run = tmp_path / "run"
    (run / "gifs").mkdir(parents=True)
    (run / "gifs" / "eval-step0-CartPole-v1-000.gif").write_bytes(b"GIF89a;")
    (run / "gifs" / "notes.txt").write_text("mine")
    assert run_selfplay(cfg, run, games=4, out=io.StringIO()) == 4
    games = list_game_files(run / "games")
    assert sorted((run / "gifs").glob("game-*.gif")) == [gif_path_for(g, run / "gifs") for g in games[-2:]]
    assert (run / "gifs" / "eval-step0-CartPole-v1-000.gif").exists() and (run / "gifs" / "notes.txt").exists()


def test_game_deleted_between_listing_and_reading_is_no_error(tmp_path, monkeypatch):
    _, cfg = _config(tmp_path)
    files = [_cartpole_game(tmp_path / "games", seed) for seed in range(3)]
    real = gameloader.read_game

    def racing(path, **kw):                  # retention (or a person) deletes the file just before it is read
        if Path(path) == files[1]:
            os.unlink(path)
        return real(path, **kw)
    monkeypatch.setattr(gameloader, "read_game", racing)
    out = io.StringIO()
    buffer = ReplayBuffer.of(cfg, ACTIONS, np.random.default_rng(0))
    loader = GameLoader(tmp_path / "games", buffer, OBS, ACTIONS, out)
    assert loader.poll() == 2 * MOVES
    assert (loader.loaded, loader.rejected, out.getvalue()) == (2, 0, "")
    assert not (tmp_path / "games" / "rejected").exists()
