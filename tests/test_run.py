"""`run` supervises real processes and prints one combined status line; `eval` prints its table."""
import io
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, TINY_CARTPOLE, cli, write_config
from hostile import make_record

from muzero_lite.algorithm.learner import StepMetrics
from muzero_lite.cli import main
from muzero_lite.config import config_from_dict
from muzero_lite.data.atomic import is_temp
from muzero_lite.data.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from muzero_lite.data.gamefile import list_game_files, write_game
from muzero_lite.data.pace import PaceWriter
from muzero_lite.data.runfolder import RunPaths
from muzero_lite.processes import run as run_module
from muzero_lite.processes.run import ChildLines, run_all
from muzero_lite.reporting.run_status import CsvTail, RunStatus
from muzero_lite.reporting.status_lines import StatusNumbers, run_line, train_line


def _wait_for(pred, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


def test_run_then_sigint_stops_cleanly_then_eval(tmp_path):
    # with an averaged copy of the weights for eval, as configs/mario.yaml
    tiny_cartpole = write_config(tmp_path, "cartpole", selfplay=TINY_CARTPOLE["selfplay"],
                                 train=TINY_CARTPOLE["train"], eval={"ema_half_life": 5})
    run = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "muzero_lite", "run", "--config", str(tiny_cartpole),
                          "--run-dir", str(run), "--workers", "1", "--status-every", "1"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert _wait_for(lambda: list_checkpoints(run / "checkpoints"), 90), "no checkpoint within 90 s"
        time.sleep(1.5)                    # a status line that sees the checkpoint
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, out
    assert "[selfplay w0] stopped after" in out and "[train] stopped at step" in out and "[run] stopped" in out
    # without --verbose: the combined line, not the children's own lines (their last words aside)
    status = [l for l in out.splitlines() if l.startswith("[run] ") and " | env moves " in l]
    assert status and " | checkpoint " in status[-1] and "last " in status[-1], out
    assert "[selfplay w0] game " not in out and "[train] step " not in out, out
    assert len(list_game_files(run / "games")) >= 2
    leftovers = [f for d in ("games", "gifs", "checkpoints") for f in (run / d).iterdir() if is_temp(f)]
    assert leftovers == []
    # the trainer saved its last step on the way out
    last = list_checkpoints(run / "checkpoints")[0][0]
    assert f"[train] stopped at step {last}" in out
    payload = load_checkpoint(list_checkpoints(run / "checkpoints")[0][1])
    assert payload["eval_networks"].keys() == payload["networks"].keys()

    games_before = len(list_game_files(run / "games"))
    r = cli("eval", "--config", tiny_cartpole, "--run-dir", run, "--games", 3)
    assert r.returncode == 0, r.stderr
    assert "mean return" in r.stdout and "distinct" in r.stdout and f"(step {last}, averaged weights)" in r.stdout
    rows = [l.split() for l in r.stdout.splitlines() if l.startswith("CartPole-v1 ")]
    assert len(rows) == 1 and rows[0][1] == "3", r.stdout
    assert len(list_game_files(run / "games")) == games_before          # eval games never enter training
    assert len(list((run / "gifs").rglob("eval-*.gif"))) == 3


def test_eval_without_checkpoint_is_a_clear_error(tmp_path, tiny_cartpole):
    r = cli("eval", "--config", tiny_cartpole, "--run-dir", tmp_path / "empty", "--games", 1, timeout=60)
    assert r.returncode == 2 and "no checkpoint to evaluate" in r.stderr


# ---------------------------------------------------------------- errors that a restart would repeat

def test_unrunnable_config_stops_run_in_one_line_from_a_real_process(tmp_path):
    path = tmp_path / "pendulum.yaml"
    path.write_text("env: {id: Pendulum-v1}\n")
    r = cli("run", "--config", path, "--run-dir", tmp_path / "run", "--workers", "1", "--seconds", "5", timeout=60)
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(f"muzero-lite: config error: {path}: env.id = 'Pendulum-v1': action space Box(")
    assert "is not Discrete" in r.stderr
    assert not (tmp_path / "run").exists()


def test_run_refuses_another_configs_checkpoint_before_any_child(tmp_path, capsys):
    run = tmp_path / "run"
    save_checkpoint(run / "checkpoints", config_from_dict({"env": {"id": "CartPole-v1"},
                                                           "network": {"kind": "mlp", "width": 8}}), 5, {})
    path = write_config(tmp_path, "cartpole")
    assert main(["run", "--config", str(path), "--run-dir", str(run), "--workers", "1", "--seconds", "5"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("muzero-lite: checkpoint error: ") and "made with a different" in captured.err
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints"]       # no games/ or gifs/


def _fake_children(monkeypatch, train_code: str) -> None:
    """run's children become small Python programs: the trainer runs train_code, each worker waits to be stopped."""
    def argv(command, config_path, run_dir, *extra):
        code = train_code if command == "train" else "import time; time.sleep(60)"
        return [sys.executable, "-c", code]
    monkeypatch.setattr(run_module, "_argv", argv)


CARTPOLE = config_from_dict({"env": {"id": "CartPole-v1"}, "network": {"kind": "mlp"}})


def test_child_exiting_2_stops_the_run_without_restart(tmp_path, monkeypatch):
    _fake_children(monkeypatch, "import sys; print('starting'); "
                                "print('muzero-lite: checkpoint error: ckpt.pt: made with a different config', "
                                "file=sys.stderr); sys.exit(2)")
    out = io.StringIO()
    t0 = time.time()
    assert run_all(CARTPOLE, "c.yaml", tmp_path / "run", workers=1, seconds=30, out=out, status_every=0) == 2
    assert time.time() - t0 < 20
    lines = out.getvalue().splitlines()
    assert "[train] muzero-lite: checkpoint error: ckpt.pt: made with a different config" in lines
    assert ("[run] train exited with code 2 (a config or checkpoint error, which a restart would repeat): "
            "stopping the run") in lines
    assert "[train] starting" not in lines and not any("restarting" in l for l in lines), lines


def test_child_that_keeps_dying_is_restarted_then_stops_the_run(tmp_path, monkeypatch):
    _fake_children(monkeypatch, "import sys; print('working'); print('out of luck'); sys.exit(1)")
    out = io.StringIO()
    assert run_all(CARTPOLE, "c.yaml", tmp_path / "run", workers=1, seconds=60, out=out, status_every=0) == 1
    lines = out.getvalue().splitlines()
    assert lines.count("[run] train exited with code 1: restarting it") == run_module.MAX_RESTARTS - 1
    assert lines.count("[train] out of luck") == run_module.MAX_RESTARTS      # its last words, at each death
    assert f"[run] train exited with code 1 {run_module.MAX_RESTARTS} times in 300 s: stopping the run " \
           f"(see its lines above)" in lines


def test_bad_status_every_is_one_line(tmp_path, capsys):
    assert run_all(CARTPOLE, "c.yaml", tmp_path / "run", workers=1, status_every=-1) == 2
    assert capsys.readouterr().err.strip() == "muzero-lite: --status-every = -1: must be >= 0 (0: no status lines)"
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- which children's lines are shown

def test_child_lines_shown_without_verbose():
    lines = ChildLines("w0")
    taken = [lines.take(l + "\n") for l in [
        "[selfplay w0] game 1 | CartPole-v1 | moves 20",
        "[train] warning: rejected games/game-x.npz: empty file",
        "/x/gym_env.py:120: UserWarning: render failed",
        "  warnings.warn(",
        "Traceback (most recent call last):",
        '  File "selfplay.py", line 3, in <module>',
        "    boom()",
        "RuntimeError: boom",
        "back to work",
        "muzero-lite: config error: c.yaml: env.id = 'X': unknown env id",
    ]]
    assert taken == [None, "[train] warning: rejected games/game-x.npz: empty file",
                     "[w0] /x/gym_env.py:120: UserWarning: render failed", "[w0]   warnings.warn(",
                     "[w0] Traceback (most recent call last):", '[w0]   File "selfplay.py", line 3, in <module>',
                     "[w0]     boom()", "[w0] RuntimeError: boom", None,
                     "[w0] muzero-lite: config error: c.yaml: env.id = 'X': unknown env id"]
    assert lines.release() == [] and lines.take("last words") is None and lines.release() == ["[w0] last words"]
    lines.show_all = True                   # how the run shows a child that it is stopping
    assert lines.take("[selfplay w0] stopped after 3 games\n") == "[selfplay w0] stopped after 3 games"


def test_child_lines_verbose_shows_all():
    lines = ChildLines("train", verbose=True)
    assert lines.take("[train] step 10 | loss 1.0\n") == "[train] step 10 | loss 1.0"


# ---------------------------------------------------------------- the combined status line

def test_run_line_by_hand():
    n = StatusNumbers(elapsed_s=3725, env_moves=183204, moves_per_s=251.4, train_step=4100, replay_ratio=7.912,
                      games=100, mean_return=45.25, mean_max_x=811.6, flags=3, flags_total=12,
                      checkpoint_step=4000, checkpoint_age_s=20)
    assert run_line(n, is_mario=True) == (
        "[run] 1h02m05s | env moves 183,204 (251/s) | train step 4,100 (replay ratio 7.91) | "
        "last 100 games: return 45.2, max_x 812, flags 3 (12 in all) | checkpoint 4,000 (20s old)")
    assert run_line(n, is_mario=False) == (
        "[run] 1h02m05s | env moves 183,204 (251/s) | train step 4,100 (replay ratio 7.91) | "
        "last 100 games: return 45.2 | checkpoint 4,000 (20s old)")
    assert run_line(StatusNumbers(elapsed_s=65), is_mario=True) == (
        "[run] 1m05s | env moves - | train step - | no games yet | no checkpoint yet")
    assert run_line(StatusNumbers(elapsed_s=65, selfplay_wait_share=0.334), is_mario=True) == (
        "[run] 1m05s | env moves - | train step - | no games yet | no checkpoint yet | "
        "waiting: trainer -, self-play 33%")


def test_train_line_by_hand():
    m = StepMetrics(value=1.0, reward=0.5, policy=0.25, exploration=2.0, total=0.75, unweighted=1.7492)
    line = train_line(12, m, 0.0004, 30, 4000, 1, 0, 640.4, 7.9, (0.5, None))
    assert line == ("[train] step 12 | loss 1.749 = value 1.000 + reward 0.500 + policy 0.250 - 0.0004 x explore "
                    "2.000 | weighted 0.750 | games 30 moves 4000 rejected 1 pruned 0 | samples/s 640 | "
                    "replay ratio 7.90 | waiting: trainer 50%, self-play -")


def _write_csv(path, header: str, rows: list) -> None:
    """A CSV file of a header line and rows (lists of cells)."""
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


def _checkpoint_file(folder, step: int, age_s: float, now: float) -> None:
    """An (empty) file named as the checkpoint of step, written age_s before now: all the status reads of it."""
    path = folder / f"checkpoint-{step:09d}.pt"
    path.write_bytes(b"")
    os.utime(path, (now - age_s, now - age_s))


def _paths(run) -> RunPaths:
    """The run folder's paths, made."""
    paths = RunPaths.of(CARTPOLE, run)
    paths.make()
    return paths


def test_status_from_hand_made_csvs(tmp_path):
    paths, now = _paths(tmp_path / "run"), time.time()
    ck = paths.checkpoints
    _write_csv(ck / "train_metrics.csv", "time,env_moves,train/step,train/loss,train/replay_ratio",
               [[now - 20, 3000, 350, 1.5, 6.5], [now - 5, 5000, 410, 1.2, 7.25]])
    # 150 games: moves 40 each, return i, max_x 10 i, a flag in games 49, 99 and 149
    _write_csv(ck / "selfplay_metrics.csv", "time,env_moves,moves,return,max_x,flag,stalled,worker,level",
               [[now, 40 * (i + 1), 40, i, 10 * i, int(i % 50 == 49), 0, "w0", "1-1"] for i in range(150)])
    _checkpoint_file(ck, 400, 30, now)
    _checkpoint_file(ck, 300, 90, now)
    status = RunStatus(paths, started=now - 125)
    n = status.read(now)
    assert (n.env_moves, n.train_step, n.replay_ratio, n.checkpoint_step) == (6000, 410, 7.25, 400)
    assert (n.games, n.mean_return, n.mean_max_x, n.flags, n.flags_total) == (100, 99.5, 995.0, 2, 3)
    assert n.moves_per_s is None                      # nothing to compare with yet
    assert run_line(n, is_mario=True) == (
        "[run] 2m05s | env moves 6,000 | train step 410 (replay ratio 7.25) | "
        "last 100 games: return 99.5, max_x 995, flags 2 (3 in all) | checkpoint 400 (30s old)")
    # ten seconds later: 5 more games (and a row still being written, read next time)
    with open(ck / "selfplay_metrics.csv", "a") as f:
        f.write("".join(f"{now},{6000 + 40 * (i + 1)},40,1,1,0,0,w0,1-1\n" for i in range(5)) + f"{now},62")
    n = status.read(now + 10)
    assert n.env_moves == 6200 and n.moves_per_s == pytest.approx(20.0) and n.games == 100 and n.flags_total == 3
    # the trainer's pace.json says where the time went at its last status interval
    writer = PaceWriter(ck, 8.0, True)
    writer.shares = {"trainer_wait_share": 0.125, "selfplay_wait_share": 0.5}
    writer.update(1000, 125, 15, True, now + 11)
    n = status.read(now + 12)
    assert (n.trainer_wait_share, n.selfplay_wait_share) == (0.125, 0.5)
    assert run_line(n, is_mario=True).endswith("| waiting: trainer 12%, self-play 50%")


def test_status_from_an_older_trainers_columns(tmp_path):
    # train_metrics.csv as it was before env_moves; no selfplay_metrics.csv: the game files stand in
    paths, now = _paths(tmp_path / "run"), time.time()
    _write_csv(paths.checkpoints / "train_metrics.csv",
               "time,train/step,train/loss,buffer/games,buffer/moves,perf/samples_per_s,perf/replay_ratio",
               [[now, 120, 1.0, 3, 300, 100.0, 4.5]])
    for i, moves in enumerate([7, 9, 11]):
        record = make_record(moves, vector=True, seed=i)
        record.meta.update({"moves": moves, "return": float(moves), "max_x": None, "flag": False})
        write_game(paths.games, record, "w0")
    (paths.games / "game-zz-not-a-game-file.npz").write_bytes(b"junk")   # unreadable: left out
    n = RunStatus(paths, started=now - 5).read(now)
    assert (n.env_moves, n.train_step, n.replay_ratio, n.checkpoint_step) == (27, 120, 4.5, None)
    assert (n.games, n.mean_return, n.mean_max_x) == (3, 9.0, None)
    assert run_line(n, is_mario=False) == (
        "[run] 5s | env moves 27 | train step 120 (replay ratio 4.50) | last 3 games: return 9.0 | no checkpoint yet")


def test_status_of_an_empty_run_folder(tmp_path):
    paths, now = _paths(tmp_path / "run"), time.time()
    _checkpoint_file(paths.checkpoints, 700, 5, now)
    n = RunStatus(paths, started=now).read(now)
    assert (n.env_moves, n.train_step, n.games, n.checkpoint_step) == (0, 700, 0, 700)


def test_csv_tail_reads_new_complete_rows_by_name(tmp_path):
    path = tmp_path / "m.csv"
    tail = CsvTail(path)
    assert tail.new_rows() == [] and not tail.exists
    path.write_text("time,a\n1,2\n3,")
    assert tail.new_rows() == [{"time": "1", "a": "2"}] and tail.exists
    with open(path, "a") as f:
        f.write("4\n5,6,7\n")                         # the finished row, then one of the wrong length
    assert tail.new_rows() == [{"time": "3", "a": "4"}]
    path.unlink()
    path.write_text("time,b\n8,9\n")                  # replaced by a writer of other columns
    assert tail.new_rows() == [{"time": "8", "b": "9"}] and tail.restarted
