"""The pure functions of the benchmark scripts and their common module, against hand-computed cases."""
import os
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import ROOT, TINY_CARTPOLE, write_config

sys.path.insert(0, str(ROOT / "benchmarks"))
import curves  # noqa: E402
import learn_cartpole  # noqa: E402
from common import muzero_run, parent_pids, status_kb, write_run_config  # noqa: E402
from curves import summarise  # noqa: E402
from eval_checkpoints import replay_average  # noqa: E402

from muzero_lite.algorithm.networks import UniformModel  # noqa: E402
from muzero_lite.config import load_config  # noqa: E402
from muzero_lite.data.checkpoints import checkpoint_at  # noqa: E402
from muzero_lite.processes.evaluate import evaluate  # noqa: E402


def test_summarise_gives_median_and_worst_of_points_every_seed_reached():
    rows = [{"seed": 0, "mark": 10, "x": 100.0}, {"seed": 1, "mark": 10, "x": 300.0}, {"seed": 2, "mark": 10, "x": 200.0},
            {"seed": 0, "mark": 20, "x": 500.0}, {"seed": 2, "mark": 20, "x": 400.0}]     # seed 1 never got to 20
    assert summarise(rows, "x", [0, 1, 2]) == [{"env_moves": 10, "median": 200.0, "worst": 100.0,
                                                "seed0": 100.0, "seed1": 300.0, "seed2": 200.0}]
    assert [r["median"] for r in summarise(rows, "x", [0, 2])] == [150.0, 450.0]


# the plot imports matplotlib, whose numpy float limits warn under torch's flush-denormal mode (set by networks.py)
@pytest.mark.filterwarnings("ignore:The value of the smallest subnormal:UserWarning")
def test_mario_summary_carries_median_and_worst_flags_and_writes_them(tmp_path, capsys):
    rows = [{"seed": s, "mark": 10, "env_moves": 10, "step": 1, "mean_max_x": x, "flags": f}
            for s, x, f in [(0, 3000.0, 12), (1, 1500.0, 0), (2, 2500.0, 5)]]
    summary = curves.with_flags(summarise(rows, "mean_max_x", [0, 1, 2]), rows, [0, 1, 2])
    assert summary[0]["median"] == 2500.0 and (summary[0]["flags_median"], summary[0]["flags_worst"]) == (5.0, 0.0)
    rand = {f: 0.0 for f in curves.FIGURES}
    curves.write_outputs(tmp_path / "m", rows, summary, rand, "mean_max_x", [0, 1, 2], "t")
    lines = (tmp_path / "m_summary.csv").read_text().splitlines()
    assert lines[0].endswith("random,flags_median,flags_worst") and lines[1].endswith(",5.0,0.0")
    curves.print_summary(summary, rand, "mean_max_x", [0, 1, 2])
    out = capsys.readouterr().out.splitlines()
    assert out[-2].endswith("flags of 20: median / worst") and out[-1].endswith("  5 / 0")


def test_replay_average_by_hand():
    # half-life 100: weight 0.5 on the old average after 100 steps, 0.25 after 200
    snaps = [(100, {"w": torch.tensor([0.0])}), (200, {"w": torch.tensor([1.0])}), (400, {"w": torch.tensor([1.0])})]
    got = [(step, avg["w"].item()) for step, avg in replay_average(iter(snaps), 100.0, {200, 400})]
    assert got == [(200, 0.5), (400, pytest.approx(0.25 * 0.5 + 0.75))]
    assert snaps[0][1]["w"].item() == 0.0                   # the snapshots themselves are not changed


def test_checkpoint_at_finds_the_step_or_the_newest_and_names_the_folder_otherwise(tmp_path):
    folder = tmp_path / "checkpoints"
    with pytest.raises(ValueError, match="checkpoints: no checkpoints"):
        checkpoint_at(folder)
    folder.mkdir()
    for step in (100, 300, 200):
        (folder / f"checkpoint-{step:09d}.pt").write_bytes(b"x")
    assert checkpoint_at(folder) == (300, folder / "checkpoint-000000300.pt")
    assert checkpoint_at(folder, 200)[0] == 200
    with pytest.raises(ValueError, match="no checkpoint at step 250"):
        checkpoint_at(folder, 250)


def test_write_run_config_updates_sections_and_sets_top_level_keys(tmp_path):
    src = tmp_path / "src.yaml"
    src.write_text(yaml.safe_dump({"seed": 1, "train": {"lr": 0.5, "keep_checkpoints": 3}}))
    path = write_run_config(src, tmp_path, {"seed": 7, "train": {"keep_checkpoints": 9}, "env": {"levels": ["1-1"]}})
    assert path == tmp_path / "config.yaml"
    assert yaml.safe_load(path.read_text()) == {"seed": 7, "train": {"lr": 0.5, "keep_checkpoints": 9},
                                                "env": {"levels": ["1-1"]}}


def test_a_run_started_with_paths_relative_to_the_callers_folder_writes_there(tmp_path, monkeypatch):
    """learn_*.py --root R with R relative: the run (started in the repository) still finds its config and
    writes into the caller's R (it stopped with 'R/seed0/config.yaml: file not found')."""
    config = write_config(tmp_path, "cartpole", **TINY_CARTPOLE)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "R").mkdir()
    run_config = write_run_config(config.relative_to(tmp_path), Path("R"), {"seed": 3})
    assert not run_config.is_absolute()
    written = tmp_path / "R" / "checkpoints" / "config.yaml"
    with muzero_run(run_config, run_config.parent, workers=1, extra=("--seconds", "120")) as proc:
        deadline = time.time() + 120                 # the trainer writes it once started (slower on a busy machine)
        while not written.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.5)
    assert proc.returncode == 0, (tmp_path / "R" / "run.log").read_text()
    assert written.exists() and not (ROOT / "R").exists()


def test_proc_readers_see_this_process():
    assert parent_pids()[os.getpid()] == os.getppid()
    assert status_kb("VmRSS") > 0 and status_kb("VmRSS", os.getpid()) > 0
    with pytest.raises(KeyError):
        status_kb("NoSuchField")


def test_cartpole_eval_stops_once_the_target_is_out_of_reach(monkeypatch):
    # the uniform model's greedy CartPole episodes last ~10 moves: after one, 19 more of 500 could still
    # lift the mean of 20 to 475 (~10 + 9500 >= 9500); after two (~20 + 9000 < 9500) it is out of reach
    rows = []
    monkeypatch.setattr(learn_cartpole, "evaluate", lambda *a, **k: rows.append(evaluate(*a, **k)) or rows[-1])
    cfg = load_config(ROOT / "configs" / "cartpole.yaml")
    mean = learn_cartpole.eval_mean(cfg, UniformModel(2), 0, 0)
    assert rows[0]["games"] == 2 and mean == rows[0]["mean_return"] < learn_cartpole.TARGET


def test_overworld_benchmark_plays_every_level_and_marks_the_held_out_ones(tmp_path):
    from learn_overworld import evaluate_levels, level_table

    from muzero_lite.algorithm.networks import build_networks
    from muzero_lite.config import config_from_dict
    from muzero_lite.data.checkpoints import curve_checkpoint_path, save_checkpoint
    from muzero_lite.envs.make import game_spec
    run = tmp_path / "seed0"
    run.mkdir()
    data = {"env": {"levels": ["1-1"], "held_out_levels": ["1-2"], "max_moves": 5}, "selfplay": {"games_in_flight": 1}}
    (run / "config.yaml").write_text(yaml.safe_dump(data))
    cfg = config_from_dict(data)
    path = save_checkpoint(run / "checkpoints", cfg, 3, build_networks(cfg, game_spec(cfg.env)).state_dict(),
                           env_moves=1000, also_as=curve_checkpoint_path(run / "checkpoints", 1000))
    assert path.exists()
    rows = evaluate_levels([0], [run], games=2, procs=1)
    assert [(r["seed"], r["mark"], r["level"], r["held_out"], r["games"]) for r in rows] == [
        ("random", 0, "1-1", False, 2), ("random", 0, "1-2", True, 2), (0, 1000, "1-1", False, 2), (0, 1000, "1-2", True, 2)]
    assert rows[2]["step"] == 3 and rows[2]["env_moves"] == 1000
    table = level_table(rows).splitlines()
    assert table[0].split() == ["level", "random", "seed", "0", "@", "1,000"]
    assert table[1].split()[0] == "1-1" and table[2].split()[:3] == ["1-2", "(held", "out)"]
    r = rows[3]
    assert table[2].endswith(f"{r['mean_max_x']:.0f} ({r['flags']})")


def _ended(proc) -> bool:
    """The process has exited: is_alive() says so, or the kernel holds it as a zombie or not at all."""
    if not proc.is_alive():
        return True
    try:
        with open(f"/proc/{proc.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_stopped_eval_pool_does_not_play_its_queue():
    import time

    from common import process_pool
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with process_pool(2) as pool:
            for _ in range(6):
                pool.submit(time.sleep, 30)                                # 90 s of queued "evals"
            time.sleep(0.5)
            workers = list(pool._processes.values())
            raise KeyboardInterrupt                                        # Ctrl-C in the owning script
    assert time.monotonic() - start < 10
    assert len(workers) == 2
    deadline = time.monotonic() + 5          # the pool's own thread may reap a worker before is_alive() can
    while not all(_ended(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_ended(p) for p in workers)
    # without an exception the pool plays everything and waits for it
    with process_pool(2) as pool:
        assert list(pool.map(abs, [-1, -2, 3])) == [1, 2, 3]


def test_curve_point_eval_is_kept_beside_its_checkpoint_until_the_checkpoint_changes(tmp_path, monkeypatch):
    played = []
    monkeypatch.setattr(curves, "_play_point", lambda task: played.append(task) or {"mean": 100.0 + len(played)})
    ckpt = tmp_path / "ckpt_000002000.pt"
    ckpt.write_bytes(b"weights")
    task = (0, str(tmp_path), 2000, str(ckpt))
    assert curves._eval_point(task) == {"mean": 101.0}
    assert curves._eval_point(task) == {"mean": 101.0} and len(played) == 1     # read back, not replayed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_000002000.pt", "ckpt_000002000.pt.eval.json"]
    os.utime(ckpt, (1.0, 1.0))                        # a new checkpoint in its place: played again
    assert curves._eval_point(task) == {"mean": 102.0} and len(played) == 2


def test_overworld_level_eval_is_kept_per_checkpoint_level_and_game_count(tmp_path, monkeypatch):
    import learn_overworld
    played = []
    monkeypatch.setattr(learn_overworld, "_play_level",
                        lambda task: played.append(task) or {"level": task[4], "mean_max_x": 500.0 + len(played)})
    ckpt = tmp_path / "ckpt_000002000.pt"
    ckpt.write_bytes(b"weights")
    task = (0, str(tmp_path), 2000, str(ckpt), "1-1", 20)
    assert learn_overworld.play_level(task)["mean_max_x"] == 501.0
    row = learn_overworld.play_level((3, str(tmp_path), 9000, str(ckpt), "1-1", 20))   # read back, not replayed
    assert len(played) == 1 and (row["mean_max_x"], row["seed"], row["mark"]) == (501.0, 3, 9000)
    assert learn_overworld.play_level((0, str(tmp_path), 2000, str(ckpt), "2-1", 20))["mean_max_x"] == 502.0
    assert learn_overworld.play_level((0, str(tmp_path), 2000, str(ckpt), "1-1", 5))["mean_max_x"] == 503.0
    assert learn_overworld.play_level(("random", str(tmp_path), 0, None, "1-1", 20))["mean_max_x"] == 504.0
    assert learn_overworld.play_level(("random", str(tmp_path), 0, None, "1-1", 20))["mean_max_x"] == 504.0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt_000002000.pt", "ckpt_000002000.pt.1-1.g20.eval.json", "ckpt_000002000.pt.1-1.g5.eval.json",
        "ckpt_000002000.pt.2-1.g20.eval.json", "random.1-1.g20.eval.json"]
    os.utime(ckpt, (1.0, 1.0))                        # a new checkpoint in its place: played again
    assert learn_overworld.play_level(task)["mean_max_x"] == 505.0 and len(played) == 5


def test_a_curve_eval_kept_before_the_shared_helpers_is_still_read(tmp_path, monkeypatch):
    import json
    monkeypatch.setattr(curves, "_play_point", lambda task: pytest.fail("a kept row was played again"))
    ckpt = tmp_path / "ckpt_000002000.pt"
    ckpt.write_bytes(b"weights")
    (tmp_path / "ckpt_000002000.pt.eval.json").write_text(json.dumps(
        {"checkpoint_mtime": os.stat(ckpt).st_mtime, "protocol": curves.PROTOCOL, "row": {"mean": 7.0}}))
    assert curves._eval_point((0, str(tmp_path), 2000, str(ckpt))) == {"mean": 7.0}
