"""Eval's table has a row per level: the config's levels, then its held-out levels (never played in
self-play), marked "(held out)"; each row is played on its own level of the real emulator and is
recorded in eval_metrics.csv and TensorBoard under a clean tag."""
import io

import pytest
from test_metrics import scalars

from muzero_lite.algorithm.networks import build_networks
from muzero_lite.config import ConfigError, config_from_dict
from muzero_lite.data.checkpoints import save_checkpoint
from muzero_lite.envs import mario_emulator as mario
from muzero_lite.envs.make import game_spec
from muzero_lite.processes.evaluate import _levels, row_name, run_eval
from muzero_lite.reporting.metrics import read_rows, tb_name


def _cfg(**env):
    return config_from_dict({"env": {"levels": ["1-1"], "held_out_levels": ["1-2"], "max_moves": 6, **env},
                             "selfplay": {"games_in_flight": 1}, "eval": {"noop_max": 0}})


def test_levels_then_held_out_levels_marked():
    cfg = _cfg(levels=["1-1", "3-1"], held_out_levels=["1-2", "2-2"])
    assert _levels(cfg, None) == ["1-1", "3-1", "1-2", "2-2"]
    assert [row_name(cfg, level) for level in _levels(cfg, None)] == ["1-1", "3-1", "1-2 (held out)", "2-2 (held out)"]
    # --levels picks; a held-out level keeps its mark
    assert _levels(cfg, "2-2, 3-1") == ["2-2", "3-1"] and row_name(cfg, "2-2") == "2-2 (held out)"
    with pytest.raises(ConfigError, match="--levels = '9-9'"):
        _levels(cfg, "9-9")


def test_tensorboard_names_of_rows():
    assert tb_name("1-2 (held out)") == "1-2_held_out"
    assert tb_name("ALE/Pong-v5") == "ALE_Pong-v5" and tb_name("CartPole-v1") == "CartPole-v1"
    assert tb_name("") == "env"


def test_eval_plays_each_row_on_its_level_and_records_them(tmp_path, monkeypatch):
    made = []
    real = mario.make_emulator

    def recording(level):
        made.append(level)
        return real(level)

    monkeypatch.setattr(mario, "make_emulator", recording)
    cfg = _cfg()
    save_checkpoint(tmp_path / cfg.paths.checkpoints, cfg, 4, build_networks(cfg, game_spec(cfg.env)).state_dict())
    out = io.StringIO()
    rows = run_eval(cfg, tmp_path, games=1, out=out, gifs=False)
    assert made == ["1-1", "1-2"]
    assert [r["level"] for r in rows] == ["1-1", "1-2 (held out)"] and all(r["games"] == 1 for r in rows)
    table = out.getvalue()
    assert "1-2 (held out)" in table and table.index("1-1") < table.index("1-2 (held out)")
    csv_rows = read_rows(tmp_path / cfg.paths.checkpoints / "eval_metrics.csv")
    assert [r["level"] for r in csv_rows] == ["1-1", "1-2 (held out)"]
    acc = scalars(tmp_path / "runs" / "eval")
    assert len(acc.Scalars("eval/1-2_held_out/mean_max_x")) == 1 and len(acc.Scalars("eval/1-1/mean_max_x")) == 1
