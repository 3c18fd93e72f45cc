"""A learning-curve run stopped at any moment resumes with the same command: killed (SIGKILL, the whole
process group) between curve points, the second start finishes with every point, the first one kept."""
import csv
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT, TINY_CARTPOLE, write_config

from muzero_lite.data.checkpoints import list_curve_checkpoints


def test_a_curve_run_killed_between_points_resumes_with_every_point(tmp_path):
    # the pinned ratio keeps the run slow enough to be killed between its points
    config = write_config(tmp_path, "cartpole", selfplay={**TINY_CARTPOLE["selfplay"], "gif_every": 0},
                          train={**TINY_CARTPOLE["train"], "replay_ratio": 4, "min_buffer_moves": 100})
    root, out = tmp_path / "R", tmp_path / "out" / "curve"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "learn_cartpole.py"), "--config", str(config), "--moves", "1500",
           "--every", "500", "--seeds", "0", "--root", str(root), "--out", str(out), "--workers", "1"]
    curve = root / "seed0" / "checkpoints"
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 180
        while not list_curve_checkpoints(curve) and time.time() < deadline:
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.2)
    finally:
        os.killpg(first.pid, signal.SIGKILL)      # the script, its run, the trainer and the worker at once
        first.wait(30)
    marks = list_curve_checkpoints(curve)
    assert marks and marks[-1][0] < 1500, marks     # killed between points
    kept = {mark: os.stat(path).st_mtime_ns for mark, path in marks}
    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    after = dict(list_curve_checkpoints(curve))     # (a fast run may pass 1500 before it is stopped)
    assert {500, 1000, 1500} <= set(after), sorted(after)
    assert all(os.stat(after[m]).st_mtime_ns == t for m, t in kept.items())   # no point made again
    with open(f"{out}.csv", newline="") as f:
        assert {500, 1000, 1500} <= {int(r["mark"]) for r in csv.DictReader(f) if r["seed"] == "0"}
