"""configs/gym.yaml: a copy with only env.id changed plays each env of the suite, and refuses the ones it
cannot take in one line (exit 2, nothing written)."""
import gymnasium
import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, cli

from muzero_lite.algorithm.networks import build_networks
from muzero_lite.cli import main
from muzero_lite.config import load_config
from muzero_lite.envs.make import game_spec, make_env
from muzero_lite.processes.acting import play_game

TEMPLATE = ROOT / "configs" / "gym.yaml"
DICT_ENV = "MuzeroLiteTestDict-v0"


class DictEnv(gymnasium.Env):
    """Dict observations and two actions (only its spaces are read)."""
    observation_space = gymnasium.spaces.Dict({"x": gymnasium.spaces.Box(-1, 1, (2,), np.float32)})
    action_space = gymnasium.spaces.Discrete(2)


if DICT_ENV not in gymnasium.registry:
    gymnasium.register(id=DICT_ENV, entry_point=DictEnv)


def copy_with_id(folder, env_id: str):
    """The template copied as a user would, env.id the only change."""
    data = yaml.safe_load(TEMPLATE.read_text())
    data["env"]["id"] = env_id
    path = folder / f"{env_id}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("env_id, actions, size", [("Acrobot-v1", 3, 6), ("MountainCar-v0", 3, 2),
                                                   ("LunarLander-v3", 4, 8), ("FrozenLake-v1", 4, 16)])
def test_the_template_plays_each_env_from_its_spaces(tmp_path, env_id, actions, size):
    cfg = load_config(copy_with_id(tmp_path, env_id))
    spec = game_spec(cfg.env)
    assert (spec.num_actions, spec.frame_shape) == (actions, (size,))
    env = make_env(cfg.env, 0)
    torch.manual_seed(0)
    net = build_networks(cfg, spec).eval()
    try:
        rec, _ = play_game(env, net, cfg, np.random.default_rng(0), render=False)
    finally:
        env.close()
    # every action is searched (root_actions 8 >= A); bounded observations arrive in [-1, 1]
    # (FrozenLake's Discrete observation one-hot)
    assert rec.policies.shape == (len(rec.actions), actions) and np.allclose(rec.policies.sum(1), 1, atol=1e-5)
    assert np.abs(rec.frames).max() <= 1.0 + 1e-6
    if env_id == "FrozenLake-v1":
        assert (rec.frames.sum(1) == 1).all()


@pytest.mark.parametrize("env_id, words", [("Pendulum-v1", ["action space Box(", "not Discrete"]),
                                           ("Blackjack-v1", ["observation space Tuple(", "not supported"])])
def test_the_template_refuses_what_it_cannot_play_in_one_line(tmp_path, env_id, words):
    path = copy_with_id(tmp_path, env_id)
    r = cli("train", "--config", path, "--run-dir", tmp_path / "run", "--steps", "1", timeout=120)
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(f"muzero-lite: config error: {path}: env.id = '{env_id}': ")
    assert all(w in r.stderr for w in words), r.stderr
    assert not (tmp_path / "run").exists()


def test_the_template_refuses_dict_observations_in_one_line(tmp_path, capsys):
    # an env registered in this process only, so the command runs in it (cli.main), not as a child
    path = copy_with_id(tmp_path, DICT_ENV)
    assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run"), "--steps", "1"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and captured.out == "" and not (tmp_path / "run").exists()
    assert err.startswith(f"muzero-lite: config error: {path}: env.id = '{DICT_ENV}': observation space Dict(")

