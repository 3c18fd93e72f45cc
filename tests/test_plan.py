"""`run`'s plan: the rule by hand (cores, a GPU or not, measured speeds -> the split), the config it
plans, and the speeds it measures on a real env and trainer."""
import dataclasses
import os
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, TINY_CARTPOLE, write_config

from muzero_lite.config import ConfigError, config_from_dict, config_to_yaml, load_config
from muzero_lite.processes.plan import (
    PLANNED_CONFIG,
    Speeds,
    kept_batch,
    make_plan,
    needs,
    pick_batch,
    planned_config,
    split_cores,
    trainer_share,
)
from muzero_lite.processes.speed_probe import selfplay_moves_per_s, trainer_samples_per_s

MARIO = load_config(ROOT / "configs" / "mario.yaml")
# this machine's Mario figures (benchmarks/train_speed.py, 2026-12-05): a worker 158 moves/s on one
# core, the trainer 820 samples/s on one thread at batch 64; with 2 threads by batch
MEASURED = Speeds(158.0, 820.0, {64: 1059.0, 128: 1325.0, 256: 1252.0})


def test_trainer_share_by_hand():
    # at ratio 8 a move costs the trainer 8/820 = 0.009756 s and self-play 1/158 = 0.006329 s
    assert trainer_share(8, 158, 820) == pytest.approx(0.009756 / (0.009756 + 0.006329), abs=1e-4)
    assert trainer_share(8, 158, 820) == pytest.approx(0.6065, abs=1e-3)
    assert trainer_share(0, 158, 820) == 0.5          # training freely: no ratio to weigh by
    assert trainer_share(1, 100, 100) == 0.5


@pytest.mark.parametrize("cores, share, workers, threads, expected", [
    (2, 0.6065, None, None, (1, 1)),     # this machine: round(1.21) = 1 thread, a worker on the other core
    (1, 0.6065, None, None, (1, 1)),     # taskset -c 0: one of each, sharing the core
    (8, 0.6065, None, None, (3, 5)),     # round(4.85) = 5 threads, 3 workers
    (16, 0.25, None, None, (12, 4)),     # f C whole
    (16, 0.01, None, None, (15, 1)),     # at least one thread
    (4, 0.99, None, None, (1, 3)),       # at least one worker
    (8, 0.6, 7, None, (7, 1)),           # --workers 7 stays; the trainer gets the core left
    (8, 0.6, None, 2, (6, 2)),           # train.threads 2 stays; a worker on each other core
    (4, 0.5, 3, 3, (3, 3)),              # both given: as given
])
def test_split_cores_by_hand(cores, share, workers, threads, expected):
    assert split_cores(cores, share, workers, threads) == expected


def test_pick_batch_is_the_fastest():
    assert pick_batch({64: 1059, 128: 1325, 256: 1252}) == 128
    assert pick_batch({64: 788, 128: 866, 256: 823}) == 128            # one thread, this machine
    assert pick_batch({64: 3000, 128: 6000, 256: 11000}) == 256        # a launch-bound GPU
    assert pick_batch({64: 900, 128: 900, 256: 800}) == 64             # a tie: the smaller


def test_plan_on_this_machine_and_on_one_core():
    plan = make_plan(MARIO, 2, False, MEASURED)
    assert (plan.workers, plan.trainer_threads, plan.batch_size, plan.games_in_flight) == (1, 1, 128, 16)
    assert plan.catch_up_threads == 2                  # the worker's core too, while it waits
    assert plan.trainer_share == pytest.approx(0.6065, abs=1e-3) and plan.set_by_user == ()
    one = make_plan(MARIO, 1, False, MEASURED)
    assert (one.workers, one.trainer_threads, one.catch_up_threads) == (1, 1, 1)
    line = one.line(MARIO)
    assert line.startswith("[run] plan for 1 core, no GPU: 1 self-play worker x 16 games in flight; trainer 1 thread on")
    assert "does 61% of the work at ratio 8" in line
    assert "trainer 1 thread (2 while self-play waits) on cpu" in plan.line(MARIO)


def test_plan_with_a_gpu_keeps_one_core_for_the_trainer_and_grows_the_batch():
    gpu = Speeds(batch_samples_per_s={64: 3000.0, 128: 6000.0, 256: 11000.0})
    plan = make_plan(MARIO, 16, True, gpu)
    assert (plan.workers, plan.trainer_threads, plan.batch_size, plan.catch_up_threads) == (15, 1, 256, 0)
    line = plan.line(MARIO)
    assert "plan for 16 cores, a GPU: 15 self-play workers" in line and "on cuda, 256 samples a step" in line
    assert "(lr 0.002, a checkpoint every 25 steps)" in line


def test_what_the_user_set_stays_and_needs_no_measurement():
    cfg = dataclasses.replace(MARIO, train=dataclasses.replace(MARIO.train, threads=3, batch_size=64))
    assert needs(cfg, False, 5) == (False, False)
    plan = make_plan(cfg, 2, False, Speeds(), workers=5)
    assert (plan.workers, plan.trainer_threads, plan.batch_size) == (5, 3, 64)
    assert plan.set_by_user == ("workers", "threads", "batch_size")
    assert "5 self-play workers (yours)" in plan.line(cfg) and "3 threads (yours)" in plan.line(cfg)
    assert needs(MARIO, False, None) == (True, True) and needs(MARIO, True, None) == (False, True)
    assert needs(MARIO, False, 1) == (False, True)     # --workers given: the trainer takes the cores left
    assert make_plan(MARIO, 4, False, Speeds(batch_samples_per_s={64: 1.0}), workers=1).trainer_threads == 3
    with pytest.raises(ValueError, match="self-play's and the trainer's speeds"):
        make_plan(MARIO, 2, False, Speeds())
    with pytest.raises(ValueError, match="samples/s by batch"):
        make_plan(MARIO, 2, False, Speeds(158.0, 820.0))


def test_a_resumed_run_keeps_the_batch_of_its_earlier_start(tmp_path):
    # measured again on a loaded machine, 3 Mario seeds resumed at 32k moves picked 256, 64 and 128 where
    # they had 64, 256 and 128: the trainer counts samples as steps x batch, so its ratio jumped 4x
    ckpts = tmp_path / "checkpoints"
    assert kept_batch(ckpts) is None                                   # no folder: a new run
    ckpts.mkdir()
    (ckpts / PLANNED_CONFIG).write_text(yaml.safe_dump({"train": {"batch_size": 256}}))
    assert kept_batch(ckpts) is None                                   # planned, but nothing trained yet
    (ckpts / "checkpoint-000001003.pt").write_bytes(b"x")
    assert kept_batch(ckpts) == 256
    for text in ["train: {batch_size: auto}", "train: {}", "[1, 2]", "train: {batch_size: true}", ": :"]:
        (ckpts / PLANNED_CONFIG).write_text(text)
        assert kept_batch(ckpts) is None, text                         # unreadable: the plan measures
    assert needs(MARIO, False, None, kept=256) == (True, False)        # the batch needs no measurement
    plan = make_plan(MARIO, 2, False, Speeds(158.0, 820.0), kept=256)
    assert (plan.batch_size, plan.batch_kept, plan.trainer_threads) == (256, True, 1)
    assert "256 samples a step (kept from the run's earlier start) (lr 0.002" in plan.line(MARIO)
    fixed = dataclasses.replace(MARIO, train=dataclasses.replace(MARIO.train, batch_size=64))
    assert make_plan(fixed, 2, False, Speeds(158.0, 820.0), kept=256).batch_size == 64   # the user's number stays
    assert not make_plan(MARIO, 2, False, MEASURED).batch_kept


def test_planned_config_scales_what_counts_steps_where_the_batch_is_auto():
    base = planned_config(MARIO)                       # a trainer alone: 1 thread, batch 64, nothing scaled
    assert (base.train.threads, base.train.batch_size, base.train.lr) == (1, 64, MARIO.train.lr)
    big = planned_config(MARIO, threads=2, batch=256)  # k = 4
    assert (big.train.threads, big.train.batch_size) == (2, 256)
    assert big.train.lr == pytest.approx(0.002) and big.train.checkpoint_interval == 25
    assert big.eval.ema_half_life == pytest.approx(175.0)
    assert [r.until for r in big.search.temperature] == [500, 1000, 2000, 3000, None]
    assert planned_config(big) == big                  # planned once: the children plan nothing more
    assert big.train.catch_up_threads == 0 and planned_config(MARIO, catch_up=2).train.catch_up_threads == 2
    fixed = dataclasses.replace(MARIO, train=dataclasses.replace(MARIO.train, batch_size=128))
    kept = planned_config(fixed, threads=2)            # the user's batch: lr and intervals as given
    assert (kept.train.batch_size, kept.train.lr, kept.train.checkpoint_interval) == (128, 0.001, 100)
    # the planned config round-trips through YAML as the children read it
    assert config_from_dict(yaml.safe_load(config_to_yaml(big)), "x") == big


def test_batch_and_threads_accept_auto_or_numbers_only():
    for bad, why in (({"batch_size": 0}, "train.batch_size"), ({"threads": "many"}, "train.threads"),
                     ({"threads": -1}, "train.threads")):
        with pytest.raises(ConfigError, match=why):
            config_from_dict({"train": bad}, "c.yaml")


def test_speed_probe_measures_a_real_env_and_trainer(tmp_path):
    cfg = load_config(write_config(tmp_path, "cartpole", **TINY_CARTPOLE))
    moves = selfplay_moves_per_s(cfg, seconds=0.3)
    rates = trainer_samples_per_s(cfg, [8, 16], threads=1, seconds=0.2)
    assert moves > 10 and set(rates) == {8, 16} and all(r > 10 for r in rates.values())


def test_run_on_one_core_prints_a_plan_that_fits_it(tmp_path):
    cfg = write_config(tmp_path, "cartpole", selfplay=TINY_CARTPOLE["selfplay"],
                       train={**TINY_CARTPOLE["train"], "batch_size": "auto"})
    run = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "muzero_lite", "run", "--config", str(cfg), "--run-dir", str(run),
                          "--seconds", "15", "--status-every", "0"], cwd=ROOT, capture_output=True, text=True,
                         timeout=180, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    assert out.returncode == 0, out.stdout + out.stderr
    plan = [line for line in out.stdout.splitlines() if line.startswith("[run] plan for")]
    assert plan and plan[0].startswith("[run] plan for 1 core, no GPU: 1 self-play worker x "), out.stdout
    assert "trainer 1 thread on cpu" in plan[0] and "samples/s by batch 64: " in plan[0]
    planned = yaml.safe_load((run / "checkpoints" / PLANNED_CONFIG).read_text())
    assert planned["train"]["threads"] == 1 and planned["train"]["batch_size"] in (64, 128, 256)
    assert "[train] stopped at step" in out.stdout
    # the same command again resumes from the run's checkpoint with the batch it was planned with, unmeasured
    again = subprocess.run([sys.executable, "-m", "muzero_lite", "run", "--config", str(cfg), "--run-dir", str(run),
                            "--seconds", "8", "--status-every", "0"], cwd=ROOT, capture_output=True, text=True,
                           timeout=180, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    assert again.returncode == 0, again.stdout + again.stderr
    plan = [line for line in again.stdout.splitlines() if line.startswith("[run] plan for")]
    assert plan and "(kept from the run's earlier start)" in plan[0] and "samples/s by batch" not in plan[0], plan
    assert f"{planned['train']['batch_size']} samples a step" in plan[0]
    assert yaml.safe_load((run / "checkpoints" / PLANNED_CONFIG).read_text())["train"] == planned["train"]


def test_the_trainer_switches_its_threads_only_when_the_count_changes(monkeypatch):
    import torch

    from muzero_lite.processes import trainer
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n))
    assert trainer._use_threads(2, 1) == 2 and calls == [2]      # self-play waits: both cores
    assert trainer._use_threads(2, 2) == 2 and calls == [2]      # unchanged: no call
    assert trainer._use_threads(1, 2) == 1 and calls == [2, 1]   # self-play plays again
