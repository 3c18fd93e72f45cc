"""The trainer's start: shapes from the config, no env made (the emulator is the self-play side's)."""
import io
import re

import pytest
from conftest import ROOT

from muzero_lite.config import load_config
from muzero_lite.envs import gym_env, mario_env
from muzero_lite.processes.trainer import run_trainer


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


def test_status_line_loss_is_the_sum_of_its_printed_parts(tmp_path):
    from test_metrics import recorded_run
    weight = 0.5
    _, text = recorded_run(tmp_path, [20, 35, 12, 41], steps=3, exploration_weight=weight)
    pattern = (r"\| loss (\S+) = value (\S+) \+ reward (\S+) \+ policy (\S+) - ([\d.e-]+) x explore (\S+) "
               r"\| weighted (\S+) \|")
    lines = re.findall(pattern, text)
    assert len(lines) == 3, text
    for loss, value, reward, policy, w, explore, weighted in lines:
        assert float(w) == weight
        # each figure is printed to 3 decimals: the parts add up to the printed loss within their rounding
        assert float(value) + float(reward) + float(policy) - weight * float(explore) == pytest.approx(
            float(loss), abs=0.0005 * (4 + weight))
        assert float(weighted) > 0


@pytest.mark.parametrize("name,flags,line", [
    ("mario", {"avx512_bf16"}, "bfloat16 forward passes on (auto: native on this device)"),
    ("mario", {"avx2"}, "bfloat16 forward passes off (auto: not native on this device)"),
    ("cartpole", {"avx512_bf16"}, "bfloat16 forward passes off (auto: float32 for mlp networks)"),
])
def test_the_trainer_says_whether_bfloat16_is_on_and_why(tmp_path, monkeypatch, name, flags, line):
    from muzero_lite.algorithm import networks
    monkeypatch.setattr(networks, "cpu_flags", lambda: flags)
    out = io.StringIO()
    assert run_trainer(load_config(ROOT / "configs" / f"{name}.yaml"), tmp_path, steps=0, out=out) == 0
    assert f"[train] device cpu, {line}" in out.getvalue()
