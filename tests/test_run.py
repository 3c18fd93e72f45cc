"""`run` supervises real processes; `eval` prints its table."""
import signal
import subprocess
import sys
import time

from muzero_lite.atomic import is_temp
from muzero_lite.checkpoints import list_checkpoints, load_checkpoint
from muzero_lite.gamefile import list_game_files

from conftest import ROOT, TINY_CARTPOLE, cli, write_config


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
                                 train={**TINY_CARTPOLE["train"], "eval_ema_half_life": 5})
    run = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "muzero_lite", "run", "--config", str(tiny_cartpole),
                          "--run-dir", str(run), "--workers", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        assert _wait_for(lambda: list_checkpoints(run / "checkpoints"), 90), "no checkpoint within 90 s"
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, out
    assert "[selfplay w0] stopped after" in out and "[train] stopped at step" in out and "[run] stopped" in out
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
    row = r.stdout.strip().splitlines()[-1].split()
    assert row[0] == "CartPole-v1" and row[1] == "3"
    assert len(list_game_files(run / "games")) == games_before          # eval games never enter training
    assert len(list((run / "gifs").glob("eval-*.gif"))) == 3


def test_eval_without_checkpoint_is_a_clear_error(tmp_path, tiny_cartpole):
    r = cli("eval", "--config", tiny_cartpole, "--run-dir", tmp_path / "empty", "--games", 1, timeout=60)
    assert r.returncode == 2 and "no checkpoint to evaluate" in r.stderr
