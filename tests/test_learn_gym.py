"""benchmarks/learn_gym.py (the template's suite) and benchmarks/diagnose.py: their rules by hand, and
the suite end to end on LunarLander-v3 (the box2d extra) at a tiny budget, as a real process."""
import csv
import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import diagnose  # noqa: E402
import learn_gym  # noqa: E402

CARTPOLE = learn_gym.TARGETS["CartPole-v1"]


def rows(*medians_worsts):
    return [{"env_moves": 5000.0 * (i + 1), "median": m, "worst": w} for i, (m, w) in enumerate(medians_worsts)]


def test_cartpole_must_reach_475_by_20k_and_hold_it_at_3_of_the_next_5_points():
    met = rows((100, 50), (300, 100), (480, 200), (476, 300), (400, 300), (490, 475), (500, 480), (470, 300),
               (500, 500), (300, 300))
    assert learn_gym.verdict("CartPole-v1", met, CARTPOLE) == "met"             # 475 at 15k; 25k-45k hold 3 of 5
    late = rows((100, 50), (300, 100), (400, 200), (470, 300), (480, 475), (500, 480))
    assert learn_gym.verdict("CartPole-v1", late, CARTPOLE) == "missed: median 475 by 20,000"
    slipping = rows((480, 475), (480, 475), (480, 475), (480, 475), (400, 475), (400, 475), (400, 475), (480, 475),
                    (480, 475))
    assert learn_gym.verdict("CartPole-v1", slipping, CARTPOLE) == "missed: median held at 2 of the next 5"


def test_other_envs_are_judged_at_their_budget():
    t = learn_gym.TARGETS["Acrobot-v1"]
    ok = [{"env_moves": 50000.0, "median": -90.0, "worst": -200.0}, {"env_moves": 100000.0, "median": -95.0, "worst": -140.0}]
    assert learn_gym.verdict("Acrobot-v1", ok, t) == "met"
    fell = [{"env_moves": 50000.0, "median": -90.0, "worst": -140.0}, {"env_moves": 100000.0, "median": -120.0, "worst": -170.0}]
    assert learn_gym.verdict("Acrobot-v1", fell, t) == "missed: median -100 at the budget"
    assert learn_gym.first_at(fell, "worst", -150.0) == 50000


def test_diagnosis_buckets_weigh_search_figures_by_moves():
    games = [{"env_moves": "100", "moves": "100", "return": "-100", "terminated": "0", "policy_entropy": "1.0",
              "chosen_prior": "0.5", "search_changed": "0.2", "q_spread": "0.01", "value_scale": "1", "explored": "10"},
             {"env_moves": "400", "moves": "300", "return": "-60", "terminated": "1", "policy_entropy": "0.6",
              "chosen_prior": "0.9", "search_changed": "0.0", "q_spread": "0.03", "value_scale": "3", "explored": "0"},
             {"env_moves": "1500", "moves": "50", "return": "5", "terminated": "1", "death": "pit", "max_x": "700"}]
    (end1, b1), (end2, b2) = diagnose.buckets(games, 1000)
    assert (end1, end2) == (1000, 2000) and b1["games"] == 2 and b2["games"] == 1
    assert b1["return"] == -80 and b1["ended"] == 0.5
    assert b1["entropy"] == pytest.approx((100 * 1.0 + 300 * 0.6) / 400)
    assert b1["q_spread"] == pytest.approx(0.025) and b1["value_scale"] == pytest.approx(2.5)
    assert b1["spread_ratio"] == pytest.approx(0.01) and b1["explored"] == pytest.approx(10 / 400)
    assert b2["pit"] == 1.0 and b2["enemy"] == 0.0 and diagnose.where_games_end(games) == [(700, 1)]


def test_diagnosis_by_level_splits_an_overworld_runs_games():
    games = [{"env_moves": "500", "level": "4-1", "max_x": "3000", "flag": "1"},
             {"env_moves": "900", "level": "1-1", "max_x": "400", "flag": "0", "death": "enemy"},
             {"env_moves": "1200", "level": "4-1", "max_x": "1000", "flag": "0", "death": "pit"},
             {"env_moves": "1800", "level": "4-1", "max_x": "2000", "flag": "0", "death": "enemy"},
             {"env_moves": "1900", "max_x": "9"}]                                       # no level: left out
    rows = diagnose.level_buckets(games, 1000)
    assert [(level, end, f["games"]) for level, end, f in rows] == [("4-1", 1000, 1), ("4-1", 2000, 2), ("1-1", 1000, 1)]
    (_, _, a), (_, _, b), (_, _, c) = rows
    assert (a["max_x"], a["flags"]) == (3000, 1.0) and (c["max_x"], c["enemy"]) == (400, 1.0)
    assert (b["max_x"], b["flags"], b["pit"], b["enemy"]) == (1500, 0.0, 0.5, 0.5)


def test_the_suite_runs_lunarlander_end_to_end(tmp_path):
    out = tmp_path / "suite"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "learn_gym.py"), "--envs", "LunarLander-v3",
                        "--seeds", "0", "--moves", "1000", "--every", "1000", "--root", str(tmp_path / "runs"),
                        "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    with open(f"{out}_table.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["env"] == "LunarLander-v3" and row["moves"] == "1000" and row["verdict"].startswith("missed")
    assert float(row["random"]) < 0                        # a random lander crashes: the same protocol's row
    assert "The template's suite" in r.stdout and (tmp_path / "runs" / "LunarLander-v3" / "seed0").is_dir()


def test_lookahead_probe_of_an_untrained_network_breaks_every_tie_to_action_0(tmp_path):
    """diagnose.py --lookahead on a real CartPole: with the heads zero at the start, every real and model look
    ties, argmax takes action 0 (push left) at every move, both looks agree everywhere and the pole falls fast."""
    import numpy as np
    import torch
    import yaml

    from muzero_lite.algorithm.networks import build_networks
    from muzero_lite.config import config_from_dict, load_config
    from muzero_lite.data.checkpoints import save_checkpoint
    from muzero_lite.data.runfolder import save_resolved_config
    from muzero_lite.envs.make import game_spec
    cfg = config_from_dict(yaml.safe_load((ROOT / "configs" / "gym.yaml").read_text()), "gym.yaml")   # CartPole-v1
    save_resolved_config(cfg, tmp_path)
    torch.manual_seed(0)
    net = build_networks(cfg, game_spec(cfg.env))
    save_checkpoint(tmp_path / cfg.paths.checkpoints, cfg, 1, net.state_dict())
    (line,) = diagnose.lookahead_probe(tmp_path, games=2)
    returns = [float(x) for x in line.split("returns ")[1].split(";")[0].split()]
    assert len(returns) == 2 and max(returns) < 30                  # always left: down in ~10 moves (random 18.7)
    assert "= the real one at 100% of" in line and "real 1.00 0.00, model 1.00 0.00" in line
    assert np.isfinite(returns).all() and load_config(tmp_path / "config.yaml").env.action_history is False
