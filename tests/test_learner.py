import copy

import numpy as np
import pytest
import torch

from muzero_lite.algorithm.learner import Learner, ema_decay, ema_update
from muzero_lite.algorithm.losses import scale_gradient, soft_ce
from muzero_lite.algorithm.networks import MuZeroNetworks
from muzero_lite.algorithm.types import Batch
from muzero_lite.config import NetworkConfig, TrainConfig, config_from_dict
from muzero_lite.data.checkpoints import eval_weights, newest_checkpoint, save_checkpoint

B, K, A, O = 16, 3, 4, 5


def batch(seed=0) -> Batch:
    rng = np.random.default_rng(seed)
    pol = rng.random((B, K + 1, A)).astype(np.float32)
    return Batch(observations=rng.random((B, O)).astype(np.float32), actions=rng.integers(0, A, (B, K)),
                 target_values=rng.normal(size=(B, K + 1)).astype(np.float32),
                 target_rewards=rng.normal(size=(B, K + 1)).astype(np.float32),
                 target_policies=pol / pol.sum(-1, keepdims=True), weights=np.ones(B, np.float32),
                 game_ids=np.zeros(B, np.int64), positions=np.arange(B))


def learner(weight: float, seed=0, half_life: float = 0.0) -> Learner:
    torch.manual_seed(seed)
    net = MuZeroNetworks((O,), A, NetworkConfig(kind="mlp", latent=8, width=16, support_size=5))
    return Learner(TrainConfig(exploration_weight=weight, lr=0.01, num_unroll_steps=K), net, 5, torch.device("cpu"),
                   ema_half_life=half_life)


def test_scale_gradient():
    x = torch.ones(3, requires_grad=True)
    (scale_gradient(x, 0.5) * 2).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_exploration_pushes_policy_away_from_exploration_prediction():
    b = batch()
    obs = torch.as_tensor(b.observations)

    def surprise(l: Learner, explore_net) -> float:
        # CE(policy softmax -> the ORIGINAL exploration network's prediction) at the root
        with torch.no_grad():
            h = l.net.represent(obs)
            return soft_ce(torch.softmax(l.net.predict(h)[1], -1), explore_net(h)).mean().item()

    plain, novel = learner(0.0), learner(0.5)
    frozen = copy.deepcopy(plain.net.exploration)
    before = surprise(plain, frozen)
    plain.train_step(b)
    novel.train_step(b)
    # the exploration term raises the cross-entropy: the policy moved to moves the explorer does not expect
    assert surprise(novel, frozen) > surprise(plain, frozen) + 1e-4
    assert abs(surprise(plain, frozen) - before) < abs(surprise(novel, frozen) - before)


def test_exploration_network_learns_the_policy():
    l = learner(0.0004)
    b = batch()
    first = l.train_step(b)[0].exploration
    for _ in range(60):
        last = l.train_step(b)[0].exploration
    assert last < first


def test_priorities_shape_and_floor():
    l = learner(0.0004)
    _, pr = l.train_step(batch())
    assert pr.shape == (B, K + 1) and (pr >= 0.1).all()


def test_losses_fall_on_a_fixed_batch():
    l = learner(0.0004)
    b = batch(3)
    first = l.train_step(b)[0]
    for _ in range(100):
        m = l.train_step(b)[0]
    assert m.value < first.value and m.policy < first.policy and m.reward < first.reward


def test_resume_continues_step_and_optimiser_state(tmp_path):
    cfg = config_from_dict({"env": {"id": "CartPole-v1"}, "network": {"kind": "mlp"}})
    a = learner(0.0004)
    for s in range(3):
        a.train_step(batch(s))
    st = a.state()
    save_checkpoint(tmp_path, cfg, a.step, st["networks"], st["optimizer"], st["exploration_optimizer"])
    b = learner(0.0004, seed=99)                   # different init: everything must come from the file
    b.load(newest_checkpoint(tmp_path, cfg)[1])
    assert b.step == 3
    assert b.optimizer.state_dict()["state"][0]["step"] == a.optimizer.state_dict()["state"][0]["step"]
    a.train_step(batch(7))
    b.train_step(batch(7))
    for pa, pb in zip(a.net.parameters(), b.net.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_masked_steps_have_no_targets():
    # with steps 2..K masked, changing their targets (and the rewards of steps 3..K, which belong
    # to moves 2..K-1) changes nothing
    b = batch()
    mask = np.ones((B, K + 1), np.float32)
    mask[:, 2:] = 0
    other = b._replace(target_values=b.target_values.copy(), target_rewards=b.target_rewards.copy(),
                       target_policies=b.target_policies.copy())
    other.target_values[:, 2:] += 50.0
    other.target_rewards[:, 3:] -= 20.0
    other.target_policies[:, 2:] = other.target_policies[:, 2:, ::-1]
    first = learner(0.0).train_step(b._replace(mask=mask))[0]
    second = learner(0.0).train_step(other._replace(mask=mask))[0]
    assert first.total == pytest.approx(second.total, rel=1e-6)
    changed = learner(0.0).train_step(other._replace(mask=None))[0]
    assert changed.total != pytest.approx(first.total, rel=1e-3)


def test_ema_update_by_hand():
    assert ema_decay(4.0) ** 4 == pytest.approx(0.5)          # the weights halve every half-life
    ema = {"w": torch.tensor([0.0, 4.0]), "n": torch.tensor(3)}
    ema_update(ema, {"w": torch.tensor([1.0, 0.0]), "n": torch.tensor(5)}, 0.75)
    assert ema["w"].tolist() == [0.25, 3.0] and ema["n"].item() == 5   # 0.75 old + 0.25 new; counts copied


def test_eval_average_follows_training_and_survives_resume(tmp_path):
    cfg = config_from_dict({"env": {"id": "CartPole-v1"}, "network": {"kind": "mlp"}})
    a = learner(0.0004, half_life=2.0)
    before = {k: v.clone() for k, v in a.net.state_dict().items()}
    a.train_step(batch(0))
    d = ema_decay(2.0)
    for k, v in a.net.state_dict().items():         # one step: d * initial + (1 - d) * trained
        assert torch.allclose(a.state()["eval_networks"][k], d * before[k] + (1 - d) * v, atol=1e-6)
    w = "representation.0.weight"                   # the average lags the trained weights
    assert not torch.allclose(a.state()["eval_networks"][w], a.net.state_dict()[w])
    st = a.state()
    save_checkpoint(tmp_path, cfg, a.step, st["networks"], st["optimizer"], st["exploration_optimizer"],
                    eval_networks=st["eval_networks"])
    payload = newest_checkpoint(tmp_path, cfg)[1]
    for k, v in eval_weights(payload).items():      # eval plays the average, not the newest weights
        assert torch.equal(v, st["eval_networks"][k])
    b = learner(0.0004, seed=99, half_life=2.0)
    b.load(payload)
    for k, v in b.state()["eval_networks"].items():
        assert torch.equal(v, st["eval_networks"][k])
    plain = learner(0.0004)                         # no half-life: no average, eval plays the newest weights
    plain.train_step(batch(0))
    assert plain.state()["eval_networks"] is None
    save_checkpoint(tmp_path, cfg, 5, plain.state()["networks"])
    for k, v in eval_weights(newest_checkpoint(tmp_path, cfg)[1]).items():
        assert torch.equal(v, plain.net.state_dict()[k])


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_bf16_runs_the_forward_passes_in_bfloat16_and_keeps_float32_weights(kind):
    """train.bf16: the same step within bfloat16's rounding (losses within 3%), not the identical one
    (so autocast ran), weights and priorities still float32."""
    def one(bf16: bool):
        torch.manual_seed(0)
        if kind == "mlp":
            net, obs = MuZeroNetworks((O,), A, NetworkConfig(kind="mlp", latent=8, width=16, support_size=5)), None
        else:
            net = MuZeroNetworks((4, 16, 16), A, NetworkConfig(kind="conv", channels=8, blocks=1, hidden_hw=4, support_size=5))
            obs = np.random.default_rng(1).random((B, 4, 16, 16)).astype(np.float32)
        with torch.no_grad():                       # heads start at zero: give every layer something to round
            for p in net.parameters():
                p.add_(0.2 * torch.randn_like(p))
        lr = Learner(TrainConfig(lr=0.01, num_unroll_steps=K, bf16=bf16), net, 5,
                     torch.device("cpu"))
        b = batch(3)
        if obs is not None:
            b = b._replace(observations=obs)
        metrics, priorities = lr.train_step(b)
        return metrics, priorities, net
    (m32, p32, n32), (m16, p16, n16) = one(False), one(True)
    assert abs(m16.total - m32.total) <= 0.03 * abs(m32.total) and m16.total != m32.total
    assert priorities_close(p16, p32)
    assert all(p.dtype == torch.float32 for p in n16.parameters()) and p16.dtype == p32.dtype
    assert any(not torch.equal(a, b) for a, b in zip(n16.parameters(), n32.parameters()))


def priorities_close(a: np.ndarray, b: np.ndarray) -> bool:
    """Priorities |v - z| + eps within bfloat16's rounding of the value (a few percent of z's scale)."""
    return a.shape == b.shape and np.abs(a - b).max() <= 0.05 * (np.abs(b).max() + 1)


def test_bf16_auto_follows_the_cpu_flags(tmp_path, monkeypatch):
    """train.bf16 auto: on where the CPU has AVX-512 BF16 or AMX (flags read from /proc/cpuinfo's form),
    off elsewhere and for mlp networks; true and false are kept whatever the CPU."""
    from muzero_lite.algorithm import networks
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\n")
    assert "avx512_bf16" in networks.cpu_flags(str(info)) and "fpu" in networks.cpu_flags(str(info))
    assert networks.cpu_flags(str(tmp_path / "missing")) == set()
    cpu = torch.device("cpu")
    assert networks.native_bf16(cpu, {"avx2", "amx_bf16"}) and not networks.native_bf16(cpu, {"avx2", "avx512f"})
    conv = MuZeroNetworks((4, 16, 16), A, NetworkConfig(kind="conv", channels=8, blocks=1, hidden_hw=4, support_size=5))
    mlp = MuZeroNetworks((O,), A, NetworkConfig(kind="mlp", latent=8, width=16, support_size=5))
    for flags, expected in (({"avx512_bf16"}, True), ({"avx2"}, False)):
        monkeypatch.setattr(networks, "cpu_flags", lambda flags=flags: flags)
        assert Learner(TrainConfig(bf16="auto"), conv, 5, cpu).bf16 is expected
        assert Learner(TrainConfig(bf16="auto"), mlp, 5, cpu).bf16 is False      # small layers: never auto
        net = mlp
        assert Learner(TrainConfig(bf16=True), net, 5, cpu).bf16 is True
        assert Learner(TrainConfig(bf16=False), net, 5, cpu).bf16 is False


def test_fresh_bootstrap_adds_the_target_networks_values():
    """value_bootstrap fresh: the value target is target_values + weight * v_target(bootstrap input), with the
    target network a copy renewed every target_interval steps; the new priorities show the target used."""
    torch.manual_seed(0)
    net = MuZeroNetworks((O,), A, NetworkConfig(kind="mlp", latent=8, width=16, support_size=5))
    cfg = TrainConfig(lr=0.05, num_unroll_steps=K, value_bootstrap="fresh", target_interval=2, priority_epsilon=0.1)
    lrn = Learner(cfg, net, 5, torch.device("cpu"))
    rng = np.random.default_rng(1)
    weight = np.where(rng.random((B, K + 1)) < 0.7, 0.5, 0.0).astype(np.float32)
    b = batch()._replace(bootstrap_observations=rng.random((B * (K + 1), O)).astype(np.float32),
                         bootstrap_discounts=weight)

    def expected_priorities(target_net) -> np.ndarray:
        with torch.no_grad():
            boot = support_value(target_net, b.bootstrap_observations).reshape(B, K + 1)
            z = b.target_values + weight * boot                                  # [B, K+1]
            pred = predicted_values(lrn.net, b)                                  # [B, K+1] before the step
        return np.abs(pred - z) + 0.1

    for step in range(3):      # the target is renewed at steps 0 and 2, so step 1 reads the step-0 weights
        if step % 2 == 0:
            frozen = copy.deepcopy(lrn.net)
        want = expected_priorities(frozen)
        _, got = lrn.train_step(b)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # the copy is not the trained network: after a step their values differ
    assert not np.allclose(support_value(lrn.target, b.bootstrap_observations),
                           support_value(lrn.net, b.bootstrap_observations))
    with pytest.raises(ValueError, match="bootstrap_observations"):
        lrn.train_step(batch())


def support_value(net, obs: np.ndarray) -> np.ndarray:
    from muzero_lite.algorithm.support import logits_to_scalar
    with torch.no_grad():
        return logits_to_scalar(net.predict(net.represent(torch.as_tensor(obs)))[0]).numpy()


def predicted_values(net, b: Batch) -> np.ndarray:
    """[B, K+1] the values the unroll predicts at each step (as train_step's forward pass)."""
    from muzero_lite.algorithm.support import logits_to_scalar
    with torch.no_grad():
        h = net.represent(torch.as_tensor(b.observations))
        out = [logits_to_scalar(net.predict(h)[0])]
        for k in range(K):
            h, _ = net.dynamics_step(h, torch.as_tensor(b.actions[:, k]))
            out.append(logits_to_scalar(net.predict(h)[0]))
    return torch.stack(out, 1).numpy()


def test_observation_weight_trains_a_decoder_of_the_frames_and_resumes_it(tmp_path):
    """train.observation_weight: the step adds weight * observation_loss(decoder(s^k), frame at t+k); the
    decoder learns (its loss falls on a fixed batch), its state travels in the checkpoint payload."""
    from muzero_lite.algorithm.losses import observation_loss
    frame = 3
    rng = np.random.default_rng(2)
    b = batch()._replace(target_frames=rng.normal(size=(B, K + 1, frame)).astype(np.float32),
                         mask=np.ones((B, K + 1), np.float32))

    def make() -> Learner:
        torch.manual_seed(0)
        net = MuZeroNetworks((O,), A, NetworkConfig(kind="mlp", latent=8, width=16, support_size=5))
        return Learner(TrainConfig(lr=0.02, num_unroll_steps=K, observation_weight=2.0), net, 5,
                       torch.device("cpu"), frame_size=frame)

    lrn = make()
    with torch.no_grad():        # the figure the first step reports, by hand
        h = [lrn.net.represent(torch.as_tensor(b.observations))]
        for k in range(K):
            h.append(lrn.net.dynamics_step(h[-1], torch.as_tensor(b.actions[:, k]))[0])
        want = observation_loss(lrn.decoder(torch.stack(h)), torch.as_tensor(b.target_frames).transpose(0, 1),
                                torch.ones(K + 1, B), torch.ones(B))[1].item()
    first, _ = lrn.train_step(b)
    assert first.observation == pytest.approx(want, rel=1e-4)
    assert first.unweighted == pytest.approx(first.value + first.reward + first.policy
                                             - 0.0004 * first.exploration + 2.0 * first.observation, rel=1e-5)
    for _ in range(60):
        last, _ = lrn.train_step(b)
    assert last.observation < 0.7 * first.observation
    # through a checkpoint file, as the trainer writes and resumes it
    cfg = config_from_dict({"env": {"id": "CartPole-v1"}, "network": {"kind": "mlp"}})
    st = lrn.state()
    save_checkpoint(tmp_path, cfg, lrn.step, st["networks"], st["optimizer"], st["exploration_optimizer"],
                    decoder=st["decoder"])
    again = make()
    again.load(newest_checkpoint(tmp_path, cfg)[1])
    assert all(torch.equal(p, q) for p, q in zip(again.decoder.parameters(), lrn.decoder.parameters()))
    assert again.decoder_optimizer.state_dict()["state"][0]["step"] == lrn.decoder_optimizer.state_dict()["state"][0]["step"]
    with pytest.raises(ValueError, match="target_frames"):
        lrn.train_step(batch())
    conv = MuZeroNetworks((3, 8, 8), A, NetworkConfig(kind="conv", channels=4, blocks=1, hidden_hw=2, width=8,
                                                       support_size=5))
    with pytest.raises(ValueError, match="mlp"):
        Learner(TrainConfig(observation_weight=1.0), conv, 5, torch.device("cpu"), frame_size=3)
