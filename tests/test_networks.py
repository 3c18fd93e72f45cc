
import torch

from muzero_lite.algorithm.networks import MuZeroNetworks, UniformModel, scale_hidden
from muzero_lite.algorithm.search import truncated_search
from muzero_lite.config import NetworkConfig


def test_scale_hidden_per_sample():
    x = torch.tensor([[1.0, 3.0, 2.0], [-4.0, 0.0, 4.0]])
    s = scale_hidden(x)
    assert torch.allclose(s, torch.tensor([[0.0, 1.0, 0.5], [0.0, 0.5, 1.0]]), atol=1e-4)


def test_conv_shapes_and_scaling():
    net = MuZeroNetworks((9, 64, 64), 12, NetworkConfig(kind="conv", channels=8, blocks=1, hidden_hw=6, support_size=5))
    out = net.initial_inference(torch.rand(3, 9, 64, 64))
    assert out.hidden.shape == (3, 8, 6, 6) and out.policy_logits.shape == (3, 12) and out.value.shape == (3,)
    assert out.hidden.flatten(1).min(1).values.abs().max() < 1e-5
    assert (out.hidden.flatten(1).max(1).values - 1).abs().max() < 1e-3
    nxt = net.recurrent_inference(out.hidden, torch.tensor([0, 5, 11]))
    assert nxt.hidden.shape == (3, 8, 6, 6) and nxt.reward.shape == (3,)
    # zero-initialised heads: value 0, reward 0, uniform policy before training
    assert nxt.value.abs().max() < 1e-5 and nxt.reward.abs().max() < 1e-5 and nxt.policy_logits.abs().max() < 1e-6


def test_mlp_shapes_and_main_parameters_exclude_exploration():
    net = MuZeroNetworks((6,), 2, NetworkConfig(kind="mlp", latent=16, width=32, support_size=5))
    out = net.initial_inference(torch.rand(4, 6))
    assert out.hidden.shape == (4, 16)
    explore = {id(p) for p in net.exploration.parameters()}
    main = {id(p) for p in net.main_parameters()}
    assert explore and not (explore & main) and len(main) + len(explore) == len(list(net.parameters()))


def test_uniform_model_searches_to_uniform_policy():
    m = UniformModel(5)
    r = truncated_search(m.initial_inference(torch.zeros(2, 3)), m.recurrent_inference, root_actions=3,
                         search_depth=3, discount=0.9)
    assert abs(r.policy - 0.2).max() < 1e-6 and abs(r.root_value).max() == 0


def test_configure_torch_flushes_denormals():
    from muzero_lite.algorithm.networks import configure_torch
    configure_torch()
    tiny = torch.tensor([1e-39], dtype=torch.float32)        # subnormal in float32
    assert (tiny * 1.0).item() == 0.0
