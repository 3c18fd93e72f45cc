"""The loop through real processes and real files: selfplay -> game files -> train -> checkpoint -> selfplay;
the worker's lines with and without --verbose, --version, and plot's errors."""
import io

import numpy as np
import pytest
from conftest import cli, write_config

from muzero_lite import __version__
from muzero_lite.cli import main
from muzero_lite.config import load_config
from muzero_lite.data.checkpoints import list_checkpoints
from muzero_lite.data.gamefile import list_game_files, read_game
from muzero_lite.processes.selfplay import run_selfplay
from muzero_lite.reporting.gifs import gif_path_for


def test_cartpole_selfplay_train_selfplay(tmp_path, tiny_cartpole):
    run = tmp_path / "run"
    r = cli("selfplay", "--config", tiny_cartpole, "--run-dir", run, "--games", 3, "--worker", "a", "--verbose")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("game ") == 3 and "ckpt uniform" in r.stdout
    files = list_game_files(run / "games")
    assert len(files) == 3
    for f in files:
        rec = read_game(f, num_actions=2)
        assert rec.frames.shape[1:] == (4,) and rec.meta["checkpoint_step"] is None
        assert rec.meta["return"] == rec.length           # CartPole: reward 1 per move
        assert gif_path_for(f, run / "gifs").exists()     # gif_every 1
    r = cli("train", "--config", tiny_cartpole, "--run-dir", run, "--steps", 20)
    assert r.returncode == 0, r.stderr
    assert [s for s, _ in list_checkpoints(run / "checkpoints")][0] == 20
    r = cli("selfplay", "--config", tiny_cartpole, "--run-dir", run, "--games", 1, "--worker", "b")
    assert r.returncode == 0, r.stderr
    newest = list_game_files(run / "games")[-1]
    assert "-b-" in newest.name and read_game(newest).meta["checkpoint_step"] == 20
    assert "ckpt 20" in r.stdout


def test_mario_selfplay_two_games(tmp_path):
    cfg = write_config(tmp_path, "mario", env={"max_moves": 12}, selfplay={"gif_every": 1})
    run = tmp_path / "run"
    r = cli("selfplay", "--config", cfg, "--run-dir", run, "--games", 2, "--verbose")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if "| level " in l]
    assert len(lines) == 2 and "max_x" in lines[0] and "flag no" in lines[0]
    files = list_game_files(run / "games")
    assert len(files) == 2
    for f in files:
        rec = read_game(f, num_actions=12)
        assert rec.frames.shape == (12, 2, 64, 64, 1) and rec.frames.dtype == np.uint8
        assert rec.meta["level"] == "1-1" and rec.meta["max_x"] > 0
        assert np.allclose(rec.policies.sum(1), 1, atol=1e-3)
        assert gif_path_for(f, run / "gifs").stat().st_size > 1000
        # the uniform network: entropy ln 12, and every Q ties, so the search keeps the first choice
        assert abs(rec.meta["policy_entropy"] - np.log(12)) < 1e-9 and rec.meta["search_changed"] == 0
    assert "entropy 2.48 | search changed 0%" in lines[0]


def test_selfplay_prints_every_20th_game_unless_verbose(tmp_path, tiny_cartpole):
    cfg = load_config(tiny_cartpole)
    quiet, loud = io.StringIO(), io.StringIO()
    assert run_selfplay(cfg, tmp_path / "run", games=22, out=quiet) == 22
    assert [l.split(" | ")[0] for l in quiet.getvalue().splitlines()] == ["[selfplay w0] game 1", "[selfplay w0] game 21"]
    assert run_selfplay(cfg, tmp_path / "run", games=2, out=loud, verbose=True) == 2
    assert len(loud.getvalue().splitlines()) == 2


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"muzero-lite {__version__}"


def test_plot_of_a_folder_without_csvs_is_one_line(tmp_path, capsys):
    pytest.importorskip("muzero_lite.reporting.plot")
    assert main(["plot", "--run-dir", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("muzero-lite: plot") and len(err.splitlines()) == 1
