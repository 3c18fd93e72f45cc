"""One trainer per run folder (data/trainer_lock.py), with real processes; and a checkpoint that cannot be
loaded is named in one warning by each command that passes it over."""
import io
import os
import pickle
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, cli

from muzero_lite.algorithm.networks import build_networks
from muzero_lite.config import load_config
from muzero_lite.data.checkpoints import PassedOver, list_checkpoints, save_checkpoint
from muzero_lite.data.trainer_lock import HOLDER_FILE, FolderHeld, TrainerLock, held_by
from muzero_lite.envs.make import game_spec
from muzero_lite.processes import model_source
from muzero_lite.processes.evaluate import run_eval
from muzero_lite.processes.selfplay import run_selfplay
from muzero_lite.processes.trainer import run_trainer


def _files(folder) -> dict:
    """Every file under folder with its size (what a refused process must not add to or change)."""
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def _start_trainer(cfg, run) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "muzero_lite", "train", "--config", str(cfg), "--run-dir", str(run)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_holder(run, proc, timeout=120.0) -> None:
    """Until proc has taken the folder, said so in trainer.json and set up its files (its first pace.json)."""
    deadline = time.time() + timeout
    holder, pace = run / "checkpoints" / HOLDER_FILE, run / "checkpoints" / "pace.json"
    while time.time() < deadline:
        if holder.exists() and f'"pid": {proc.pid},' in holder.read_text() and pace.exists():
            return
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.1)
    raise AssertionError("the trainer never took the folder")


def test_a_second_trainer_or_run_is_refused_and_a_killed_holder_frees_the_folder(tiny_cartpole, tmp_path):
    run = tmp_path / "run"
    first = _start_trainer(tiny_cartpole, run)        # no games: it holds the folder, waiting for them
    try:
        _wait_for_holder(run, first)
        assert held_by(run / "checkpoints") is not None
        before = _files(run)
        config_yaml = (run / "checkpoints" / "config.yaml").read_bytes()
        for args in (["train", "--steps", "1"], ["run", "--seconds", "5", "--workers", "1"]):
            r = cli(*args, "--config", tiny_cartpole, "--run-dir", run, timeout=120)
            lines = r.stderr.strip().splitlines()
            assert r.returncode == 2 and len(lines) == 1, (args, r.stdout, r.stderr)
            assert str(run / "checkpoints") in lines[0] and "a live trainer holds this run folder" in lines[0]
            assert f"pid {first.pid} " in lines[0]
            assert "[train]" not in r.stdout and "[selfplay" not in r.stdout      # nothing started
        assert (run / "checkpoints" / "config.yaml").read_bytes() == config_yaml
        assert set(_files(run)) == set(before)      # sizes aside: the holder's pace.json heartbeat
        first.send_signal(signal.SIGKILL)          # no chance to clean up: the kernel frees the lock
        first.wait(30)
        assert held_by(run / "checkpoints") is None
        second = _start_trainer(tiny_cartpole, run)
        try:
            _wait_for_holder(run, second, timeout=60)
        finally:
            second.terminate()
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)


def test_the_lock_is_per_open_and_released_by_release(tmp_path):
    one, two = TrainerLock(tmp_path), TrainerLock(tmp_path)
    one.acquire()
    one.announce()
    held = rf"^{re.escape(str(tmp_path))}: a live trainer holds this run folder \(pid {os.getpid()} on "
    with pytest.raises(FolderHeld, match=held):
        two.acquire()
    one.release()
    two.acquire()                                  # free again
    two.release()
    assert held_by(tmp_path) is None


class _Runs(Exception):
    """A pickle that would run code when loaded: it would make a folder."""

    def __init__(self, path):
        super().__init__(path)
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_a_checkpoint_that_cannot_be_loaded_is_named_once_by_each_command(tiny_cartpole, tmp_path):
    cfg, run = load_config(tiny_cartpole), tmp_path / "run"
    run_selfplay(cfg, run, games=2, out=io.StringIO())
    run_trainer(cfg, run, steps=10, out=io.StringIO(), stale_temp_s=0)
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [10]
    marker = tmp_path / "code ran"
    bad = run / "checkpoints" / "checkpoint-000099999.pt"
    bad.write_bytes(pickle.dumps(_Runs(str(marker))))

    def warning(out: io.StringIO, who: str) -> None:
        """out holds exactly one warning line, who's, naming the bad file."""
        lines = [line for line in out.getvalue().splitlines() if "warning" in line]
        assert len(lines) == 1, out.getvalue()
        assert lines[0].startswith(f"{who} warning: checkpoint passed over: {bad}: unreadable checkpoint")

    out = io.StringIO()
    run_selfplay(cfg, run, games=3, out=out, verbose=True)         # a look for new weights before each game
    warning(out, "[selfplay w0]")
    assert "ckpt 10 " in out.getvalue()
    out = io.StringIO()
    run_trainer(cfg, run, steps=1, out=out, stale_temp_s=0)
    warning(out, "[train]")
    assert "resumed from checkpoint-000000010.pt" in out.getvalue()
    out = io.StringIO()
    run_eval(cfg, run, games=1, out=out, gifs=False)
    warning(out, "[eval]")
    assert "(step 11," in out.getvalue()
    assert not marker.exists()


def test_a_worker_reads_a_bad_newest_checkpoint_once_not_before_every_game(tiny_cartpole, tmp_path, monkeypatch):
    cfg, folder = load_config(tiny_cartpole), tmp_path / "checkpoints"
    spec = game_spec(cfg.env)
    save_checkpoint(folder, cfg, 10, build_networks(cfg, spec).state_dict())
    (folder / "checkpoint-000099999.pt").write_bytes(b"not a checkpoint")
    looks = []
    real = model_source.newest_checkpoint
    monkeypatch.setattr(model_source, "newest_checkpoint", lambda *a: looks.append(1) or real(*a))
    out = io.StringIO()
    source = model_source.FolderSource(cfg, spec, folder, torch.device("cpu"), PassedOver(out, "[w]"))
    for _ in range(5):                             # before each of five games
        source.refresh()
    assert source.step == 10 and len(looks) == 1 and out.getvalue().count("warning") == 1
    save_checkpoint(folder, cfg, 100000, build_networks(cfg, spec).state_dict())   # a newer one: read it
    source.refresh()
    assert source.step == 100000 and len(looks) == 2
