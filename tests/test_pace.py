"""The pinned replay ratio: the decision rules by hand, the pace file between real processes, and the
ratio a real trainer and worker hold when one of them is slowed on purpose (SIGSTOP/SIGCONT)."""
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT, TINY_CARTPOLE, write_config

from muzero_lite.data.checkpoints import list_checkpoints, list_curve_checkpoints, load_checkpoint
from muzero_lite.data.pace import (
    PACE_FILE,
    STALE_S,
    PaceReader,
    PaceWriter,
    WaitClock,
    read_pace,
    selfplay_waits,
    trainer_ahead,
)
from muzero_lite.processes.trainer import run_trainer


def test_trainer_ahead_once_it_has_trained_its_share():
    # ratio 4: 1,000 moves call for 4,000 samples
    assert not trainer_ahead(3999, 1000, 4.0)
    assert trainer_ahead(4000, 1000, 4.0)
    assert trainer_ahead(4064, 1000, 4.0)
    assert not trainer_ahead(10**9, 1000, 0.0)      # ratio 0: trains freely, never waits


def test_selfplay_waits_past_the_slack_and_until_the_trainer_is_back_within_resume():
    # target 4,000 samples; slack 3% -> waiting starts below 3,880; resume 1.5% -> it ends at 3,940
    assert not selfplay_waits(3880, 1000, 4.0, waiting=False, slack=0.03, resume=0.015)
    assert selfplay_waits(3879, 1000, 4.0, waiting=False, slack=0.03, resume=0.015)
    assert selfplay_waits(3939, 1000, 4.0, waiting=True, slack=0.03, resume=0.015)     # hysteresis
    assert not selfplay_waits(3940, 1000, 4.0, waiting=True, slack=0.03, resume=0.015)
    assert not selfplay_waits(0, 1000, 0.0, waiting=True)


def test_selfplay_waits_only_when_the_trainer_has_more_than_ahead_samples_in_hand():
    # ratio 8, 10,000 moves: target 80,000 samples. ahead 2,400 (AHEAD_S of training) is more than 2% of
    # the target (1,600), so self-play waits once 2,400 behind and goes on within 1,200
    kw = {"ahead": 2400.0}
    assert not selfplay_waits(77_600, 10_000, 8.0, waiting=False, **kw)
    assert selfplay_waits(77_599, 10_000, 8.0, waiting=False, **kw)
    assert selfplay_waits(78_799, 10_000, 8.0, waiting=True, **kw)
    assert not selfplay_waits(78_800, 10_000, 8.0, waiting=True, **kw)
    # at most MAX_SLACK (4%) of the target: 3,200 samples, however fast the trainer
    assert not selfplay_waits(76_800, 10_000, 8.0, waiting=False, ahead=1e9)
    assert selfplay_waits(76_799, 10_000, 8.0, waiting=False, ahead=1e9)
    # 1,000,000 moves (target 8M): 2% (160,000 samples) is more than the 2,400
    assert not selfplay_waits(8_000_000 - 160_000, 1_000_000, 8.0, waiting=False, **kw)
    assert selfplay_waits(8_000_000 - 160_001, 1_000_000, 8.0, waiting=False, **kw)


def test_wait_clock_shares_by_hand():
    clock = WaitClock(100.0)
    clock.add(1.5)
    clock.add(0.5)
    clock.add(-1.0)                                  # a clock stepping back counts nothing
    assert clock.share(108.0) == 0.25                # 2 s of 8
    assert clock.share(108.0) is None                # an empty interval
    clock.add(5.0)
    assert clock.share(112.0) == 1.0                 # never more than all of it
    assert clock.share(113.0) == 0.0


def test_the_share_of_time_self_play_was_asked_to_wait_by_hand(tmp_path):
    w = PaceWriter(tmp_path, 1.0, True)
    w.update(1000, 1000, 10, True, 100.0)            # on pace: no wait
    w.update(900, 1000, 10, True, 101.0)             # 10% behind: self-play waits from here ...
    w.update(950, 1000, 11, True, 102.5)             # ... still behind ...
    w.update(1000, 1000, 12, True, 103.0)            # ... until here (back within 1%): 2 s of the 4 below
    assert w.selfplay_wait_share(104.0) == pytest.approx(0.5)
    w.update(800, 1000, 13, True, 105.0)             # behind again from 105 to the share's 106: 1 s of 2
    assert w.selfplay_wait_share(106.0) == pytest.approx(0.5)
    w.release(107.0)                                 # the trainer stops: 1 s more asked, then none
    assert w.selfplay_wait_share(108.0) == pytest.approx(0.5)


def test_pace_file_round_trip_and_a_stale_or_bad_file_is_ignored(tmp_path):
    w = PaceWriter(tmp_path, ratio=4.0, pinned=True)
    w.update(samples=0, env_moves=1000, step=0, training=False, now=time.time())   # cannot train yet: no wait
    assert read_pace(tmp_path)["selfplay_wait"] is False
    w.update(samples=100, env_moves=1000, step=1, training=True, now=time.time())
    body = read_pace(tmp_path)
    assert body["selfplay_wait"] is True and body["env_moves"] == 1000 and body["samples"] == 100
    r = PaceReader(tmp_path, check_every=0.0)
    assert r.wants_wait(time.time())
    old = time.time() - STALE_S - 5                   # a trainer that stopped writing: ignored
    os.utime(tmp_path / PACE_FILE, (old, old))
    assert not r.wants_wait(time.time())
    (tmp_path / PACE_FILE).write_text("{not json")
    assert read_pace(tmp_path) is None and not r.wants_wait(time.time())
    (tmp_path / PACE_FILE).write_text(json.dumps({"selfplay_wait": "yes"}))
    assert read_pace(tmp_path) is None
    unpinned = PaceWriter(tmp_path, ratio=4.0, pinned=False)
    unpinned.update(samples=0, env_moves=1000, step=0, training=True, now=time.time())
    assert read_pace(tmp_path)["selfplay_wait"] is False


def test_curve_checkpoints_at_multiples_of_curve_every_moves_survive_pruning(tmp_path):
    from test_metrics import add_game, tiny_config
    cfg = tiny_config(tmp_path, curve_every_moves=50, keep_checkpoints=1, checkpoint_interval=1)
    run = tmp_path / "run"
    for i, n in enumerate([20, 35, 12, 41]):            # 108 moves: past the mark 50
        add_game(run / "games", i, n)
    assert run_trainer(cfg, run, steps=3, out=io.StringIO()) == 3
    for i, n in enumerate([30, 30], start=4):           # 168 moves: past 100 and 150
        add_game(run / "games", i, n)
    assert run_trainer(cfg, run, steps=3, out=io.StringIO()) == 6
    curve = list_curve_checkpoints(run / "checkpoints")
    # the restarted trainer goes on after the newest mark kept (100: the first life jumped it), then
    # (ratio 0, nothing pinned) on from where the moves are
    assert [mark for mark, _ in curve] == [50, 100]
    got = [(load_checkpoint(p)["step"], load_checkpoint(p)["env_moves"]) for _, p in curve]
    assert got == [(0, 108), (3, 168)]                  # ratio 0: taken at the first look past the mark
    assert len(list_checkpoints(run / "checkpoints")) == 1     # keep_checkpoints pruned the rest, not these


def test_a_waiting_reader_returns_when_the_trainer_caught_up(tmp_path):
    w = PaceWriter(tmp_path, ratio=2.0, pinned=True)
    w.update(samples=0, env_moves=500, step=0, training=True, now=time.time())
    r = PaceReader(tmp_path)
    done = threading.Event()
    t = threading.Thread(target=lambda: (r.wait(), done.set()))
    t.start()
    time.sleep(0.3)
    assert not done.is_set()                          # still asked to wait
    w.update(samples=1000, env_moves=500, step=10, training=True, now=time.time())
    assert done.wait(5)
    t.join()


# ---------------------------------------------------------------- real processes

RATIO, BATCH = 2.0, 64


def _ratios_after(run, moves: int) -> list[float]:
    """The trainer's logged replay ratios (cumulative samples / env moves) at rows past `moves` env moves."""
    with open(run / "checkpoints" / "train_metrics.csv") as f:
        return [float(r["train/replay_ratio"]) for r in csv.DictReader(f) if int(r["env_moves"]) >= moves]


def _duty_cycle(proc: subprocess.Popen, stop: threading.Event, run_s: float = 0.03, stopped_s: float = 0.06) -> None:
    """Slow a real process down: SIGSTOP it for stopped_s after every run_s, until stop is set."""
    while not stop.is_set() and proc.poll() is None:
        time.sleep(run_s)
        proc.send_signal(signal.SIGSTOP)
        time.sleep(stopped_s)
        proc.send_signal(signal.SIGCONT)


@pytest.mark.parametrize("slowed", ["selfplay", "train"])
def test_the_pinned_ratio_holds_within_5_percent_after_2000_moves(tmp_path, slowed):
    """From 2,000 moves after the trainer started on, every logged ratio is within 5% of the pinned one,
    whether the worker or the trainer runs a third of the time. (Until the trainer is up, self-play
    runs alone; the trainer then catches up while self-play waits.)"""
    cfg = write_config(tmp_path, "cartpole", selfplay={**TINY_CARTPOLE["selfplay"], "games_in_flight": 2, "gif_every": 0},
                       train={**TINY_CARTPOLE["train"], "batch_size": BATCH, "replay_ratio": RATIO,
                              "pin_replay_ratio": True, "min_buffer_moves": 200, "curve_every_moves": 1000},
                       env={"max_moves": 20})         # a game adds at most 20 moves at once: 1% of 2,000
    run = tmp_path / "run"
    procs = {}
    for cmd in ("train", "selfplay"):
        log = open(tmp_path / f"{cmd}.log", "w")
        procs[cmd] = subprocess.Popen([sys.executable, "-m", "muzero_lite", cmd, "--config", str(cfg), "--run-dir",
                                       str(run)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    stop = threading.Event()
    slow = threading.Thread(target=_duty_cycle, args=(procs[slowed], stop))
    start = None                                      # env moves when the trainer first spoke
    seen = []                                         # ratios in the pace file past start + 2,000 moves
    try:
        end = time.time() + 150
        while time.time() < end:
            assert all(p.poll() is None for p in procs.values()), (tmp_path / "train.log").read_text()
            pace = read_pace(run / "checkpoints")
            if pace and start is None:                # the trainer is up (self-play ran alone until now)
                start = pace["env_moves"]
                slow.start()
            if start is not None and pace["env_moves"] >= start + 2000:
                seen.append(pace["samples"] / pace["env_moves"])
            if start is not None and pace["env_moves"] >= start + 2500:
                break
            time.sleep(0.5)
        time.sleep(3)                                 # a few more status rows
    finally:
        stop.set()
        if slow.is_alive():
            slow.join()
        for p in procs.values():
            p.send_signal(signal.SIGCONT)
            p.send_signal(signal.SIGINT)
        for p in procs.values():
            p.wait(timeout=60)
    pace = read_pace(run / "checkpoints")
    assert start is not None and pace["env_moves"] >= start + 2500, (start, pace)
    ratios = _ratios_after(run, start + 2000) + seen   # the trainer's status rows and the file's heartbeats
    assert len(ratios) >= 4, ratios
    assert all(abs(r / RATIO - 1) <= 0.05 for r in ratios), ratios
    # where the time goes, as the trainer's status lines say: a worker running a third of the time keeps
    # the trainer waiting for games (a trainer slowed so still trains faster than this worker plays, so
    # neither side waits long then: only the figures' presence is checked)
    shares = [(int(t), int(sp)) for t, sp in re.findall(r"waiting: trainer (\d+)%, self-play (\d+)%",
                                                        (tmp_path / "train.log").read_text())][-4:]
    assert len(shares) >= 2 and all(0 <= x <= 100 for pair in shares for x in pair), shares
    trainer, selfplay = (sorted(x)[len(x) // 2] for x in zip(*shares))
    if slowed == "selfplay":
        assert trainer > selfplay + 20, shares
    assert {"trainer_wait_share", "selfplay_wait_share"} <= set(pace)
    # the curve's checkpoints were taken once the trainer had trained its share of their moves
    curve = list_curve_checkpoints(run / "checkpoints")
    marks = [mark for mark, _ in curve]
    # every mark, in order, each taken once the trainer had trained its share: ratio x mark samples
    assert marks == list(range(1000, 1000 * len(marks) + 1, 1000)) and len(marks) >= 3, marks
    for mark, path in curve:
        payload = load_checkpoint(path)
        assert payload["env_moves"] >= mark
        assert RATIO * mark <= payload["step"] * BATCH < RATIO * mark + BATCH
