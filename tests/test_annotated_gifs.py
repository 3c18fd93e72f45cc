"""What gifs call the actions (Mario's button combinations, Gymnasium's meanings) and where eval gifs go."""
from __future__ import annotations

import io

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium import spaces

from muzero_lite.algorithm.networks import build_networks
from muzero_lite.config import config_from_dict
from muzero_lite.data.checkpoints import save_checkpoint
from muzero_lite.data.runfolder import prune_gifs
from muzero_lite.envs.make import game_spec, make_env
from muzero_lite.envs.mario_actions import action_names, action_sets
from muzero_lite.processes.evaluate import run_eval


@pytest.mark.parametrize("name", ["complex", "simple", "right_only"])
def test_mario_action_names_are_the_action_sets_button_combinations(name):
    import gym_super_mario_bros.actions as upstream
    sets = {"complex": upstream.COMPLEX_MOVEMENT, "simple": upstream.SIMPLE_MOVEMENT, "right_only": upstream.RIGHT_ONLY}
    assert action_names(name) == ["+".join(b) for b in sets[name]] == ["+".join(b) for b in action_sets()[name]]
    env = make_env(config_from_dict({"env": {"action_set": name}}).env, 0)
    try:
        assert env.action_names == action_names(name) and len(env.action_names) == env.num_actions
    finally:
        env.close()
    assert action_names("complex")[:5] == ["NOOP", "right", "right+A", "right+B", "right+A+B"]


class MeaningsEnv(gymnasium.Env):
    """A one-move env whose actions have meanings (as Atari envs' get_action_meanings gives them)."""

    def __init__(self, render_mode=None):
        self.observation_space = spaces.Box(-1, 1, (2,), np.float32)
        self.action_space = spaces.Discrete(3)

    def get_action_meanings(self):
        return ["NOOP", "FIRE", "LEFT"]

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


def test_gymnasium_action_names_are_the_envs_meanings_or_numbers():
    gymnasium.register("MuzeroLiteTest/Meanings-v0", entry_point=MeaningsEnv)
    env = make_env(config_from_dict({"env": {"id": "MuzeroLiteTest/Meanings-v0"}, "network": {"kind": "mlp"}}).env, 0)
    try:
        assert env.action_names == ["NOOP", "FIRE", "LEFT"]
    finally:
        env.close()
    env = make_env(config_from_dict({"env": {"id": "CartPole-v1"}, "network": {"kind": "mlp"}}).env, 0)
    try:
        assert env.action_names == ["action 0", "action 1"]
    finally:
        env.close()


def test_eval_gifs_go_to_gifs_eval_and_self_play_pruning_leaves_them(tmp_path):
    cfg = config_from_dict({"env": {"id": "CartPole-v1", "max_moves": 6}, "network": {"kind": "mlp"}})
    run = tmp_path / "run"
    net = build_networks(cfg, game_spec(cfg.env))
    save_checkpoint(run / cfg.paths.checkpoints, cfg, 3, net.state_dict())
    out = io.StringIO()
    run_eval(cfg, run, games=2, out=out)
    gifs = run / cfg.paths.gifs
    assert sorted(p.name for p in (gifs / "eval").iterdir()) == ["eval-step3-CartPole-v1-000.gif", "eval-step3-CartPole-v1-001.gif"]
    assert [p.name for p in gifs.iterdir()] == ["eval"]
    lines = [line for line in out.getvalue().splitlines() if line.startswith("[eval] gifs")]
    assert lines == [f"[eval] gifs: {gifs / 'eval' / 'eval-step3-*.gif'}"]
    # the eval's row is recorded for TensorBoard and the plot
    rows = (run / cfg.paths.checkpoints / "eval_metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].split(",")[2:5] == ["3", "CartPole-v1", "2"]
    assert list((run / "runs" / "eval").glob("events.out.tfevents.*"))
    for i in range(3):
        (gifs / f"game-2024010{i}T000000.000000-w0-0-00000{i}.gif").write_bytes(b"GIF89a;")
    assert prune_gifs(gifs, keep=1) == 2
    assert len(list((gifs / "eval").iterdir())) == 2 and len(list(gifs.glob("game-*.gif"))) == 1


def test_eval_gifs_are_annotated(tmp_path):
    from PIL import Image
    cfg = config_from_dict({"env": {"id": "CartPole-v1", "max_moves": 4}, "network": {"kind": "mlp"}})
    torch.manual_seed(0)
    save_checkpoint(tmp_path / cfg.paths.checkpoints, cfg, 1, build_networks(cfg, game_spec(cfg.env)).state_dict())
    run_eval(cfg, tmp_path, games=1, out=io.StringIO())
    with Image.open(tmp_path / cfg.paths.gifs / "eval" / "eval-step1-CartPole-v1-000.gif") as im:
        assert im.width == 150 and im.height > 100          # 600 x 400 render halved twice, a strip under it
