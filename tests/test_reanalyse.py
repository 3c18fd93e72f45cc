"""Reanalysis: fresh target policies from the current weights at the unroll steps inside each game."""
import numpy as np
import pytest
import torch
from conftest import ROOT

from muzero_lite.algorithm.networks import build_networks
from muzero_lite.algorithm.reanalyse import reanalysed
from muzero_lite.algorithm.types import GameRecord
from muzero_lite.config import load_config
from muzero_lite.data.replay import ReplayBuffer, ReplaySettings
from muzero_lite.envs.make import game_spec
from muzero_lite.processes.acting import search

K = 3


def _buffer_and_net():
    cfg = load_config(ROOT / "configs" / "cartpole.yaml")
    torch.manual_seed(0)
    net = build_networks(cfg, game_spec(cfg.env))
    with torch.no_grad():                      # a policy far from uniform, so fresh targets differ from stored ones
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    buf = ReplayBuffer(ReplaySettings.of(cfg), cfg.env.stack_moves, 2, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    games = []
    for length in (4, 9, 2, 6, 40, 45):                  # two games longer than td_steps (30) + K
        games.append(GameRecord(frames=rng.normal(size=(length, 4)).astype(np.float32),
                                actions=rng.integers(0, 2, length), rewards=np.ones(length, np.float32),
                                root_values=rng.normal(size=length).astype(np.float32),
                                policies=np.full((length, 2), 0.5, np.float32), meta={"terminated": True}))
        buf.add(games[-1])
    return cfg, net, buf, games


def test_fresh_policies_at_the_steps_inside_the_game_of_the_first_share_of_samples():
    cfg, net, buf, _ = _buffer_and_net()
    batch = buf.sample(16, K, next_observations=True)
    out = reanalysed(batch, net, cfg, 0.5)                     # the first 8 samples
    obs = np.concatenate([batch.observations[:, None], batch.next_observations], axis=1)   # [B, K+1, 6]
    inside = np.concatenate([np.ones((16, 1)), batch.next_mask], axis=1) > 0
    fresh = search(net, torch.from_numpy(obs.reshape(16 * (K + 1), -1)), cfg, None)[1].policy.reshape(16, K + 1, 2)
    changed = 0
    for b in range(16):
        for k in range(K + 1):
            want = fresh[b, k] if b < 8 and inside[b, k] else batch.target_policies[b, k]
            np.testing.assert_allclose(out.target_policies[b, k], want, rtol=1e-5, atol=1e-6)
            changed += int(not np.allclose(out.target_policies[b, k], batch.target_policies[b, k]))
    assert changed >= 8 and (~inside[:8]).any()                # past-the-end steps were among the first 8: kept
    assert not np.shares_memory(out.target_policies, batch.target_policies)    # the sampled batch is not changed
    np.testing.assert_array_equal(out.target_values, batch.target_values)      # value targets stay as stored


def test_share_zero_leaves_the_batch_and_missing_next_inputs_are_refused():
    cfg, net, buf, _ = _buffer_and_net()
    batch = buf.sample(8, K)
    assert reanalysed(batch, net, cfg, 0.0) is batch
    with pytest.raises(ValueError, match="reanalysis needs batches sampled with next_observations"):
        reanalysed(batch, net, cfg, 0.25)


def test_value_targets_bootstrap_from_a_fresh_root_value_where_t_plus_k_plus_n_is_inside_the_game():
    """z' = z + γ^n (fresh root value at t+k+n - the stored one), for the first share of samples, where
    t+k+n < T; elsewhere z as stored."""
    cfg, net, buf, games = _buffer_and_net()
    n, gamma = cfg.train.td_steps, cfg.env.discount
    batch = buf.sample(64, K, next_observations=True, bootstrap_observations=True)
    out = reanalysed(batch, net, cfg, 0.5)                     # the first 32 samples
    ahead = batch.bootstrap_mask > 0
    flat = batch.bootstrap_observations.reshape(64 * (K + 1), -1)
    fresh = search(net, torch.from_numpy(flat), cfg, None)[1].root_value.reshape(64, K + 1)
    moved = 0
    for b in range(64):
        game, t = games[int(batch.game_ids[b])], int(batch.positions[b])
        for k in range(K + 1):
            assert ahead[b, k] == (t + k + n < game.length)
            if ahead[b, k]:
                assert batch.bootstrap_stored[b, k] == game.root_values[t + k + n]
            want = batch.target_values[b, k]
            if b < 32 and ahead[b, k]:
                want = want + gamma ** n * (fresh[b, k] - game.root_values[t + k + n])
                moved += 1
            assert out.target_values[b, k] == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert moved >= 10 and ahead[32:].any()               # later samples had bootstrap positions too: kept
