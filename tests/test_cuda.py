"""The CUDA path (skipped without a CUDA device; benchmarks/gpu_check.sh runs these on a GPU machine):
the trainer on cuda trains, and its checkpoint plays on a CPU-only self-play worker."""
import io

import pytest
import torch

from muzero_lite.data.checkpoints import list_checkpoints, load_checkpoint
from muzero_lite.processes.trainer import run_trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cuda_trainer_steps_and_its_checkpoint_loads_on_cpu(tmp_path):
    from test_metrics import add_game, tiny_config
    cfg = tiny_config(tmp_path, device="cuda")
    run = tmp_path / "run"
    for i, n in enumerate([20, 35, 12, 41]):
        add_game(run / "games", i, n)
    out = io.StringIO()
    assert run_trainer(cfg, run, steps=5, out=out) == 5
    payload = load_checkpoint(list_checkpoints(run / "checkpoints")[0][1])
    tensors = list(payload["networks"].values())
    assert all(t.device.type == "cpu" and torch.isfinite(t).all() for t in tensors if torch.is_tensor(t))
    from muzero_lite.processes.selfplay import run_selfplay
    assert run_selfplay(cfg, run, games=1, out=io.StringIO()) == 1


def _games(run) -> dict:
    from muzero_lite.data.gamefile import list_game_files, read_game
    return {r.meta["game_number"]: r for r in map(read_game, list_game_files(run / "games"))}


@pytest.mark.parametrize("env", ["cartpole", "mario"])
def test_selfplay_on_cuda_plays_the_games_the_cpu_plays(tmp_path, monkeypatch, env):
    """selfplay.device cuda: 3 envs in flight with sampled root actions play the CPU's games: the same
    action at >= 99% of moves on CartPole; on Mario, where near-equal Q of untrained networks let GPU
    rounding flip a sampled move and the emulator then plays another game, the search at each of the
    CPU games' positions agrees (`_search_agrees`)."""
    from conftest import write_config

    from muzero_lite.algorithm.networks import build_networks
    from muzero_lite.config import load_config
    from muzero_lite.data.checkpoints import save_checkpoint
    from muzero_lite.envs.make import game_spec
    from muzero_lite.processes.selfplay import run_selfplay
    extra = {"network": {"channels": 8}} if env == "mario" else {}
    cfgs = {d: load_config(write_config(tmp_path, env, env={"max_moves": 60},
                                        selfplay={"random_games": 0, "games_in_flight": 3, "device": d, "gif_every": 0},
                                        search={"root_selection": "sample"}, **extra)) for d in ("cpu", "cuda")}
    torch.manual_seed(0)
    net = build_networks(cfgs["cpu"], game_spec(cfgs["cpu"].env))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    calls = _count_device_calls(monkeypatch)
    for d, cfg in cfgs.items():
        save_checkpoint(tmp_path / d / "checkpoints", cfg, 5, net.state_dict())
        assert run_selfplay(cfg, tmp_path / d, games=5, seed=7, out=io.StringIO()) == 5
        assert (len(calls) > 0) == (d == "cuda")             # the cuda worker acted through the GPU
    cpu, cuda = _games(tmp_path / "cpu"), _games(tmp_path / "cuda")
    assert sorted(cpu) == sorted(cuda) == list(range(5))
    if env == "mario":
        _search_agrees(cfgs["cpu"], net.eval(), list(cpu.values()))
        assert all(g.meta["checkpoint_step"] == 5 for g in cuda.values())
        return
    moves = same = 0
    for n in range(5):
        k = min(cpu[n].length, cuda[n].length)
        moves += max(cpu[n].length, cuda[n].length)
        same += int((cpu[n].actions[:k] == cuda[n].actions[:k]).sum())
        assert cuda[n].meta["checkpoint_step"] == 5
    assert same >= 0.99 * moves, (same, moves)


def _count_device_calls(monkeypatch) -> list:
    """Each batch size DeviceModel.initial_inference is called with, from now on."""
    from muzero_lite.algorithm.networks import DeviceModel
    calls, original = [], DeviceModel.initial_inference
    monkeypatch.setattr(DeviceModel, "initial_inference", lambda self, obs: calls.append(obs.shape[0]) or original(self, obs))
    return calls


def _search_agrees(cfg, net, games) -> None:
    """At every position of these games, the search through the networks on cuda gives the CPU's Q
    (within 1% of the row's largest |Q| + 1: cuDNN convolutions run in TF32 by default, 0.4% seen on
    an H200 with these perturbed weights) and, at >= 99% of positions without a near-tie, its best action."""
    import copy

    import numpy as np

    from muzero_lite.algorithm.networks import DeviceModel
    from muzero_lite.algorithm.observations import stack_observations
    from muzero_lite.algorithm.search import truncated_search
    s = cfg.search
    kw = dict(root_actions=s.root_actions, search_depth=s.search_depth, discount=cfg.env.discount, q_rule=s.q_rule)
    gpu = DeviceModel(copy.deepcopy(net).to("cuda"), torch.device("cuda"))
    positions = agree = 0
    for g in games:
        obs = torch.from_numpy(stack_observations(g.frames, g.actions, np.arange(g.length), cfg.env.stack_moves,
                                                  g.policies.shape[1]))                 # [T, *input_shape]
        on_cpu = truncated_search(net.initial_inference(obs), net.recurrent_inference, **kw)
        on_gpu = truncated_search(gpu.initial_inference(obs), gpu.recurrent_inference, **kw)
        scale = np.abs(on_cpu.q).max(1, keepdims=True) + 1                              # [T, 1]
        assert (np.abs(on_cpu.q - on_gpu.q) / scale).max() <= 0.01, (np.abs(on_cpu.q - on_gpu.q) / scale).max()
        top = np.sort(on_cpu.q, axis=1)
        clear = top[:, -1] - top[:, -2] > 0.05 * (np.abs(top[:, -1]) + 1)                                       # no near-tie
        agree += int((on_cpu.q.argmax(1) == on_gpu.q.argmax(1))[clear].sum())
        positions += int(clear.sum())
    assert positions > 100 and agree >= 0.99 * positions, (agree, positions)


def test_eval_on_cuda(tmp_path, monkeypatch):
    """muzero-lite eval with selfplay.device cuda plays its greedy games on the GPU and writes its table."""
    import dataclasses

    from test_metrics import add_game, tiny_config

    from muzero_lite.processes.evaluate import run_eval
    cfg = tiny_config(tmp_path)
    cfg = dataclasses.replace(cfg, selfplay=dataclasses.replace(cfg.selfplay, device="cuda"))
    run = tmp_path / "run"
    for i, n in enumerate([20, 35, 12, 41]):
        add_game(run / "games", i, n)
    assert run_trainer(cfg, run, steps=3, out=io.StringIO()) == 3
    out, calls = io.StringIO(), _count_device_calls(monkeypatch)
    rows = run_eval(cfg, run, games=3, out=out, gifs=False)
    assert calls                                              # its greedy games acted through the GPU
    assert rows and rows[0]["games"] == 3 and "[eval]" in out.getvalue()
