"""What a run reports: TensorBoard event files, the train and self-play CSVs, and eval rows, from real
trainer runs on game files written by write_game."""
from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TINY_CARTPOLE, write_config
from hostile import make_record
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from muzero_lite.config import Config, load_config
from muzero_lite.data.gamefile import write_game
from muzero_lite.processes.trainer import run_trainer
from muzero_lite.reporting.metrics import (
    EVAL_FIELDS,
    SELFPLAY_FIELDS,
    TRAIN_FIELDS,
    CsvLog,
    env_moves_at,
    game_figures,
    log_eval,
    read_rows,
)

TRAIN_TAGS = {"train/loss", "train/weighted_loss", "train/value_loss", "train/reward_loss", "train/policy_loss",
              "train/exploration_loss", "train/lr", "train/replay_ratio", "train/samples_per_s", "train/step"}
SELFPLAY_TAGS = {"selfplay/return", "selfplay/max_x", "selfplay/flag", "selfplay/moves", "selfplay/moves_per_s",
                 "selfplay/policy_entropy", "selfplay/search_changed", "selfplay/buffer_games",
                 "selfplay/buffer_moves"}


def tiny_config(folder: Path, **train) -> Config:
    """TINY_CARTPOLE with a status row every step (and these train keys on top)."""
    sections = {k: dict(v) for k, v in TINY_CARTPOLE.items()}
    sections["train"].update({"status_interval": 1e-6, **train})
    return load_config(write_config(folder, "cartpole", **sections))


def add_game(games: Path, i: int, moves: int, mario: bool = False) -> Path:
    """A CartPole-shaped game file whose meta holds what self-play writes (Mario's max_x and flag when mario)."""
    record = make_record(moves, vector=True, seed=i, num_actions=2, obs_size=4)
    meta = {"env": "CartPole-v1", "level": None, "moves": moves, "return": float(moves), "max_x": None,
            "flag": False, "terminated": True, "stalled": False, "training_step": 0, "wall_time": moves / 50.0,
            "greedy": False, "noop_moves": 0, "policy_entropy": 0.5 + 0.01 * i, "search_changed": 0.25,
            "worker": "w0", "checkpoint_step": i, "seed": i}
    if mario:
        meta.update(env="SuperMarioBros-v0", level="1-1", max_x=300 + 10 * i, flag=i % 3 == 0, stalled=i % 3 == 1)
    record.meta = meta
    return write_game(games, record, worker="w0")


def recorded_run(folder: Path, lengths: list[int], steps: int = 3, mario: bool = False, **train) -> tuple[Path, str]:
    """A run folder after a real trainer run of `steps` steps on games of these lengths; (folder, its output)."""
    cfg = tiny_config(folder, **train)
    run = folder / "run"
    for i, n in enumerate(lengths):
        add_game(run / "games", i, n, mario)
    out = io.StringIO()
    assert run_trainer(cfg, run, steps=steps, out=out) == steps
    return run, out.getvalue()


def scalars(folder: Path) -> EventAccumulator:
    """The TensorBoard scalars under folder, read back as TensorBoard does."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def test_tensorboard_scalars_after_a_short_training_run(tmp_path):
    lengths = [20, 35, 12, 41, 27]
    run, text = recorded_run(tmp_path, lengths, mario=True)
    assert "Traceback" not in text
    acc = scalars(run / "runs" / "trainer")
    tags = set(acc.Tags()["scalars"])
    assert TRAIN_TAGS | SELFPLAY_TAGS <= tags, sorted(tags)
    ends = np.cumsum(lengths).tolist()
    # per game: x is the cumulative moves loaded, oldest game first
    assert [e.step for e in acc.Scalars("selfplay/moves")] == ends
    assert [e.value for e in acc.Scalars("selfplay/moves")] == lengths
    assert [e.value for e in acc.Scalars("selfplay/max_x")] == [300 + 10 * i for i in range(5)]
    assert [e.value for e in acc.Scalars("selfplay/flag")] == [1, 0, 0, 1, 0]
    assert [e.value for e in acc.Scalars("selfplay/moves_per_s")] == pytest.approx([50.0] * 5)
    assert acc.Scalars("selfplay/buffer_moves")[-1].value == sum(lengths)
    # train rows at every status interval (every step here), at the moves loaded by then
    assert [e.value for e in acc.Scalars("train/step")] == [1, 2, 3]
    assert {e.step for e in acc.Scalars("train/loss")} == {sum(lengths)}
    assert acc.Scalars("train/lr")[0].value == pytest.approx(load_config(tmp_path / "cartpole-test.yaml").train.lr)


def test_selfplay_csv_one_row_per_game_and_resumed_trainer_counts_on(tmp_path):
    lengths = [20, 35, 12]
    run, _ = recorded_run(tmp_path, lengths, steps=2)
    path = run / "checkpoints" / "selfplay_metrics.csv"
    rows = read_rows(path)
    assert list(rows[0]) == SELFPLAY_FIELDS
    assert [int(r["env_moves"]) for r in rows] == np.cumsum(lengths).tolist()
    assert [int(r["moves"]) for r in rows] == lengths
    assert rows[1]["return"] == "35" and rows[1]["flag"] == "0" and rows[1]["max_x"] == ""
    assert rows[2]["policy_entropy"] == "0.52" and rows[2]["checkpoint_step"] == "2" and rows[2]["worker"] == "w0"
    train = read_rows(run / "checkpoints" / "train_metrics.csv")
    assert list(train[0]) == TRAIN_FIELDS and [int(r["env_moves"]) for r in train] == [sum(lengths)] * 2

    # a restarted trainer reloads the same files: they are not logged again, and x goes on from there
    add_game(run / "games", 9, 30)
    out = io.StringIO()
    assert run_trainer(tiny_config(tmp_path), run, steps=1, out=out) == 3
    rows = read_rows(path)
    assert [int(r["env_moves"]) for r in rows] == np.cumsum(lengths + [30]).tolist()
    assert int(read_rows(run / "checkpoints" / "train_metrics.csv")[-1]["env_moves"]) == sum(lengths) + 30
    acc = scalars(run / "runs" / "trainer")
    assert [e.step for e in acc.Scalars("selfplay/moves")] == np.cumsum(lengths + [30]).tolist()


def test_csv_of_other_columns_is_kept_aside_and_a_cut_row_is_dropped(tmp_path):
    old = tmp_path / "train_metrics.csv"
    old.write_text("time,train/step,train/loss\n1.0,1,2.5\n")
    out = io.StringIO()
    log = CsvLog(old, ["time", "x"], out)
    log.write([[2.0, 7]])
    log.close()
    assert old.read_text() == "time,x\n2.0,7\n"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("train_metrics.") and p != old]
    assert len(kept) == 1 and kept[0].read_text().startswith("time,train/step")
    assert "other columns" in out.getvalue() and kept[0].name in out.getvalue()
    # a writer killed inside a row: the partial row goes, the next row starts on its own line
    old.write_text("time,x\n2.0,7\n3.0,")
    log = CsvLog(old, ["time", "x"], out)
    log.write([[4.0, 9]])
    log.close()
    assert list(csv.reader(old.open())) == [["time", "x"], ["2.0", "7"], ["4.0", "9"]]


def test_game_figures_from_hostile_meta_are_numbers_or_none():
    meta = {"return": "lots", "max_x": float("nan"), "flag": "yes", "policy_entropy": 10 ** 400,
            "search_changed": [1], "wall_time": 0, "checkpoint_step": True, "terminated": 1, "q_spread": "0.5",
            "chosen_prior": 0.25, "explored": 3}
    f = game_figures(meta, 7)
    assert f == {"moves": 7.0, "return": None, "max_x": None, "flag": 0.0, "stalled": 0.0, "terminated": 0.0,
                 "policy_entropy": None, "search_changed": None, "chosen_prior": 0.25, "q_spread": None,
                 "value_scale": None, "explored": 3.0, "moves_per_s": None, "checkpoint_step": None}


def test_log_eval_rows_at_the_trainers_env_moves(tmp_path):
    lengths = [20, 35]
    run, _ = recorded_run(tmp_path, lengths, steps=2)
    rows = [{"level": "1-1", "games": 5, "mean_return": 812.5, "min_return": 300.0, "max_return": 1500.0,
             "mean_max_x": 640.2, "max_max_x": 1200, "flags": 1, "mean_moves": 250.0, "distinct": 5}]
    assert env_moves_at(run / "checkpoints", 2) == sum(lengths)
    assert log_eval(run, 2, rows, out=io.StringIO()) == sum(lengths)
    ev = read_rows(run / "checkpoints" / "eval_metrics.csv")
    assert list(ev[0]) == EVAL_FIELDS and ev[0]["level"] == "1-1" and ev[0]["mean_return"] == "812.5"
    acc = scalars(run / "runs" / "eval")
    assert [(e.step, e.value) for e in acc.Scalars("eval/1-1/mean_return")] == [(sum(lengths), 812.5)]
    assert acc.Scalars("eval/training_step")[0].value == 2


def test_a_killed_trainer_leaves_readable_csvs_and_event_files(tmp_path):
    tiny_config(tmp_path)                   # writes cartpole-test.yaml, which the trainer below reads
    run = tmp_path / "run"
    lengths = [20, 35, 12]
    for i, n in enumerate(lengths):
        add_game(run / "games", i, n)
    train_csv = run / "checkpoints" / "train_metrics.csv"
    with open(tmp_path / "train.log", "w") as log:
        p = subprocess.Popen([sys.executable, "-m", "muzero_lite", "train", "--config", str(tmp_path / "cartpole-test.yaml"),
                              "--run-dir", str(run)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.time() + 60
        # a CSV row is written before its scalars are flushed: 4 rows mean 3 rows of scalars are on disk
        while len(read_rows(train_csv)) < 4 and time.time() < end and p.poll() is None:
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    assert len(read_rows(train_csv)) >= 4, (tmp_path / "train.log").read_text()
    assert [int(r["env_moves"]) for r in read_rows(run / "checkpoints" / "selfplay_metrics.csv")] == [20, 55, 67]
    acc = scalars(run / "runs" / "trainer")
    assert len(acc.Scalars("train/loss")) >= 3 and len(acc.Scalars("selfplay/moves")) == 3


def test_game_moves_per_s_is_the_workers_where_its_meta_says():
    # a worker with 16 games in flight: one game took 40 s for 200 moves, the worker made 120 moves/s
    assert game_figures({"wall_time": 40.0, "worker_moves_per_s": 120.0}, 200)["moves_per_s"] == 120.0
    assert game_figures({"wall_time": 40.0}, 200)["moves_per_s"] == 5.0          # older files: the game's own
    assert game_figures({"wall_time": 40.0, "worker_moves_per_s": "fast"}, 200)["moves_per_s"] == 5.0
