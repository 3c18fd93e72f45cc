"""The trainer's start: shapes from the config, no env made (the emulator is the self-play side's)."""
import io

import pytest

from muzero_lite import gym_env, mario_env
from muzero_lite.config import load_config
from muzero_lite.trainer import run_trainer

from conftest import ROOT


@pytest.mark.parametrize("name", ["mario", "cartpole"])
def test_the_trainer_starts_without_making_an_env(tmp_path, monkeypatch, name):
    def no_env(*args, **kwargs):
        raise AssertionError("the trainer made an env")
    monkeypatch.setattr(mario_env.MarioEnv, "__init__", no_env)
    monkeypatch.setattr(gym_env.GymEnv, "__init__", no_env)
    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    out = io.StringIO()
    assert run_trainer(cfg, tmp_path, steps=0, out=out) == 0
    assert (tmp_path / "checkpoints" / "config.yaml").is_file()
    assert "stopped at step 0" in out.getvalue()
