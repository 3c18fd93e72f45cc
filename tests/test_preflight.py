"""A config that cannot run on this machine is one line naming file, key and value, exit 2, nothing written."""
import importlib.machinery

import gymnasium
import numpy as np
import pytest
import torch
from conftest import ROOT

from muzero_lite.cli import main
from muzero_lite.config import ConfigError, config_from_dict, load_config
from muzero_lite.processes import preflight
from muzero_lite.processes.preflight import check_runnable

IMAGE_ENV = "MuzeroLiteTestImage-v0"


class ImageEnv(gymnasium.Env):
    """A Gymnasium env with image observations and two actions (never stepped: only its spaces are read)."""
    observation_space = gymnasium.spaces.Box(0, 255, (16, 16, 3), np.uint8)
    action_space = gymnasium.spaces.Discrete(2)


if IMAGE_ENV not in gymnasium.registry:
    gymnasium.register(id=IMAGE_ENV, entry_point=ImageEnv)

# every subcommand with the arguments that would make it run briefly
COMMANDS = {"selfplay": ["--games", "1"], "train": ["--steps", "1"], "run": ["--seconds", "1", "--workers", "1"],
            "eval": ["--games", "1"]}

KINDS = {
    # name: (yaml text, words the message must contain)
    "continuous actions": ("env: {id: Pendulum-v1}\nnetwork: {kind: mlp}\n",
                           ["env.id = 'Pendulum-v1'", "Box(", "not Discrete"]),
    "continuous actions, default conv": ("env: {id: Pendulum-v1}\n", ["env.id = 'Pendulum-v1'", "not Discrete"]),
    "conv on vectors": ("env: {id: CartPole-v1}\nnetwork: {kind: conv}\n",
                        ["network.kind = 'conv'", "'CartPole-v1'", "vector observations", "use mlp"]),
    "mlp on images": (f"env: {{id: {IMAGE_ENV}}}\nnetwork: {{kind: mlp}}\n",
                      ["network.kind = 'mlp'", IMAGE_ENV, "image observations", "use conv"]),
    "cuda without CUDA": ("env: {id: CartPole-v1}\nnetwork: {kind: mlp}\ntrain: {device: cuda}\n",
                          ["train.device = 'cuda'", "no CUDA device", "use cpu or auto"]),
    "more envs than memory": ("env: {id: CartPole-v1}\nnetwork: {kind: mlp}\nselfplay: {games_in_flight: 100000000}\n",
                              ["selfplay.games_in_flight = 100000000", "GiB", "use at most"]),
}


@pytest.fixture
def no_cuda(monkeypatch):
    """This torch sees no CUDA device, whatever the machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _one_line_exit_2(tmp_path, capsys, command: str, text: str, words: list) -> None:
    """main on a config of `text` exits 2 with one stderr line holding words, and makes no run folder."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    run = tmp_path / "run"
    assert main([command, "--config", str(path), "--run-dir", str(run), *COMMANDS[command]]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"muzero-lite: config error: {path}: "), err
    for w in words:
        assert w in err, (w, err)
    assert captured.out == ""
    assert not run.exists()


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unrunnable_config_is_one_line(tmp_path, capsys, no_cuda, command, kind):
    _one_line_exit_2(tmp_path, capsys, command, *KINDS[kind])


SELFPLAY_CUDA = "env: {id: CartPole-v1}\nnetwork: {kind: mlp}\nselfplay: {device: cuda}\n"


@pytest.mark.parametrize("command", ["selfplay", "eval", "run"])
def test_selfplay_on_cuda_without_cuda_is_one_line_where_self_play_runs(tmp_path, capsys, no_cuda, command):
    _one_line_exit_2(tmp_path, capsys, command, SELFPLAY_CUDA, ["selfplay.device = 'cuda'", "no CUDA device",
                                                                "use cpu or auto"])


def test_selfplay_device_is_not_the_trainers_business(tmp_path, capsys, no_cuda):
    """A trainer (as `run --ray` starts one on a head without CUDA, for actors on GPU nodes) checks only
    train.device: it runs."""
    from test_metrics import add_game
    path = tmp_path / "c.yaml"
    path.write_text(SELFPLAY_CUDA + "train: {device: cpu, min_buffer_moves: 20, batch_size: 8, replay_ratio: 0}\n")
    run = tmp_path / "run"
    for i in range(3):
        add_game(run / "games", i, 30)
    assert main(["train", "--config", str(path), "--run-dir", str(run), "--steps", "1"]) == 0
    assert "config error" not in capsys.readouterr().err


def _package(path):
    """A find_spec answer for a package installed in folder path."""
    spec = importlib.machinery.ModuleSpec(path.name, None, is_package=True)
    spec.submodule_search_locations = [str(path)]
    return spec


@pytest.fixture
def fake_mario_install(tmp_path, monkeypatch):
    """nes_py and gym_super_mario_bros as folders under tmp_path, complete; tests delete parts of them."""
    nes, smb = tmp_path / "site" / "nes_py", tmp_path / "site" / "gym_super_mario_bros"
    (nes).mkdir(parents=True)
    (nes / "lib_nes_env.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    (smb / "_roms").mkdir(parents=True)
    (smb / "_roms" / "super-mario-bros.nes").write_bytes(b"NES\x1a")
    found = {"nes_py": nes, "gym_super_mario_bros": smb}
    monkeypatch.setattr(preflight, "find_spec", lambda name: _package(found[name]) if found.get(name) else None)
    return found


MARIO_MISSING = {
    # what is taken away: (how, words the message must contain)
    "nes_py": (lambda found: found.update(nes_py=None), ["nes_py", "not installed"]),
    "emulator build": (lambda found: next(found["nes_py"].glob("lib_nes_env*")).unlink(),
                       ["no compiled emulator", "lib_nes_env"]),
    "gym_super_mario_bros": (lambda found: found.update(gym_super_mario_bros=None),
                             ["gym_super_mario_bros", "not installed"]),
    "rom": (lambda found: (found["gym_super_mario_bros"] / "_roms" / "super-mario-bros.nes").unlink(),
            ["super-mario-bros.nes", "is missing"]),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("missing", sorted(MARIO_MISSING))
def test_mario_without_emulator_or_rom_is_one_line(tmp_path, capsys, fake_mario_install, command, missing):
    take_away, words = MARIO_MISSING[missing]
    take_away(fake_mario_install)
    _one_line_exit_2(tmp_path, capsys, command, "env: {id: SuperMarioBros}\n", ["env.id = 'SuperMarioBros'", *words])


def test_complete_mario_install_passes(fake_mario_install):
    check_runnable(config_from_dict({}), "mario.yaml")


def test_shipped_configs_are_runnable_here(no_cuda):
    # the real install: the emulator build and the ROM are where the checks look for them
    for name in ("mario", "cartpole", "orig"):
        path = ROOT / "configs" / f"{name}.yaml"
        check_runnable(load_config(path), str(path))


def test_cuda_passes_where_torch_has_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_runnable(config_from_dict({"env": {"id": "CartPole-v1"}, "network": {"kind": "mlp"},
                                     "train": {"device": "cuda"}}), "c.yaml")


def test_env_that_cannot_be_made_is_a_config_error(monkeypatch):
    def broken(cfg):
        raise RuntimeError("needs box2d\nsecond line")
    monkeypatch.setattr("muzero_lite.envs.make.game_spec", broken)
    with pytest.raises(ConfigError, match=r"^c.yaml: env.id = 'CartPole-v1': the env cannot be made "
                                          r"\(RuntimeError: needs box2d\)$"):
        check_runnable(config_from_dict({"env": {"id": "CartPole-v1"}, "network": {"kind": "mlp"}}), "c.yaml")


def test_envs_within_memory_pass_and_the_bound_counts_frames_and_gifs(monkeypatch):
    cfg = load_config(ROOT / "configs" / "mario.yaml")
    spec = preflight._game_spec(cfg, "mario.yaml")
    # 550 moves of 2 grey 64x64 frames, 550 gif frames of at most 256 x 300, and the env itself
    assert preflight.env_bytes(cfg, spec) == 550 * 2 * 64 * 64 + 550 * 256 * 300 + (16 << 20)
    monkeypatch.setattr(preflight, "available_bytes", lambda: 20 * preflight.env_bytes(cfg, spec))
    check_runnable(config_from_dict({"selfplay": {"games_in_flight": 10}}), "mario.yaml")        # half the memory: fits
    with pytest.raises(ConfigError, match=r"mario.yaml: selfplay.games_in_flight = 11: .* use at most 10$"):
        check_runnable(config_from_dict({"selfplay": {"games_in_flight": 11}}), "mario.yaml")
