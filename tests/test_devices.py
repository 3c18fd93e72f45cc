"""Where self-play's networks run (selfplay.device): the device wrapper hands the search what the
networks themselves would, Ray actors ask for a GPU share only when they can use one. The CUDA runs
themselves are in test_cuda.py (skipped without a CUDA device)."""
import numpy as np
import pytest
import torch

from muzero_lite.algorithm.networks import DeviceModel, MuZeroNetworks, acting_model
from muzero_lite.algorithm.search import truncated_search
from muzero_lite.config import ConfigError, NetworkConfig
from muzero_lite.processes.ray_selfplay import actor_gpus


def _perturbed(net: MuZeroNetworks) -> MuZeroNetworks:
    torch.manual_seed(3)
    with torch.no_grad():                      # zero-initialised heads: make Q differ between actions
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net.eval()


@pytest.mark.parametrize("kind", ["conv", "mlp"])
def test_the_device_wrapper_searches_as_the_networks_do(kind):
    if kind == "conv":
        net = MuZeroNetworks((9, 32, 32), 6, NetworkConfig(kind="conv", channels=8, blocks=1, hidden_hw=4, support_size=5))
        obs = torch.rand(3, 9, 32, 32)
    else:
        net = MuZeroNetworks((6,), 4, NetworkConfig(kind="mlp", latent=16, width=32, support_size=5))
        obs = torch.rand(3, 6)
    net = _perturbed(net)
    wrapped = DeviceModel(net, torch.device("cpu"))
    seen = []

    def recurrent(hidden, action):            # what the search hands the wrapper at each depth
        seen.append((hidden.shape[0], action.shape[0]))
        return wrapped.recurrent_inference(hidden, action)

    kw = dict(root_actions=3, search_depth=4, discount=0.97, sample_rng=np.random.default_rng(1),
              policy_target="completed_q")
    direct = truncated_search(net.initial_inference(obs), net.recurrent_inference, **kw)
    kw["sample_rng"] = np.random.default_rng(1)
    root = wrapped.initial_inference(obs)
    through = truncated_search(root, recurrent, **kw)
    assert seen == [(9, 9)] * 4                  # B * k rollouts at each of the 4 depths
    for field in ("q", "root_value", "policy", "normalised_q", "searched"):
        np.testing.assert_array_equal(getattr(direct, field), getattr(through, field))
    assert len({tuple(r) for r in direct.q.round(4)}) == 3       # the rows differ: the check has teeth
    assert all(t.device.type == "cpu" for t in (root.value, root.reward, root.policy_logits))


def test_on_the_cpu_self_play_acts_with_the_networks_themselves():
    net = MuZeroNetworks((6,), 4, NetworkConfig(kind="mlp", latent=16, width=32, support_size=5))
    assert acting_model(net, torch.device("cpu")) is net
    assert isinstance(acting_model(net, torch.device("cuda")), DeviceModel)    # no CUDA needed to wrap


@pytest.mark.parametrize("device, actors, gpus, share", [
    ("cpu", 4, 2.0, 0.0),          # cpu: never a GPU, whatever the cluster has
    ("auto", 4, 0.0, 0.0),         # auto without GPUs: the CPU
    ("auto", 4, 1.0, 0.25),        # four actors share one GPU
    ("cuda", 3, 1.0, 0.3333),      # Ray takes 4 decimals
    ("cuda", 2, 4.0, 1.0),         # at most one each
])
def test_actor_gpu_share(device, actors, gpus, share):
    assert actor_gpus(device, actors, gpus) == share


def test_cuda_actors_on_a_cluster_without_gpus_is_one_line_naming_the_key():
    with pytest.raises(ConfigError, match=r"^selfplay.device = 'cuda': the Ray cluster has no GPU .*use cpu or auto$"):
        actor_gpus("cuda", 2, 0.0)
