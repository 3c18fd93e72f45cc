"""εz-greedy held exploration (algorithm/exploration.py) by hand, and in self-play games."""
import numpy as np
import pytest
import torch
from conftest import write_config

from muzero_lite.algorithm.exploration import HeldExploration, game_epsilon, hold_length
from muzero_lite.algorithm.networks import build_networks
from muzero_lite.config import ConfigError, load_config
from muzero_lite.envs.make import game_spec, make_env
from muzero_lite.processes.acting import play_game


class Script:
    """A stand-in generator whose draws are given by hand."""

    def __init__(self, randoms=(), integers=(), zipfs=()):
        self.randoms, self.integers_, self.zipfs = list(randoms), list(integers), list(zipfs)

    def random(self):
        return self.randoms.pop(0)

    def integers(self, n):
        a = self.integers_.pop(0)
        assert 0 <= a < n
        return a

    def zipf(self, mu):
        return self.zipfs.pop(0)


def test_a_stretch_holds_its_action_for_the_drawn_length():
    # move 0: 0.05 < 0.1 starts a stretch of action 2 for 3 moves; moves 1, 2 hold it with no draws;
    # move 3: 0.5 >= 0.1, the search's move; move 4: a stretch of action 0 for 1 move; move 5 the search's
    rng = Script(randoms=[0.05, 0.5, 0.09, 0.7], integers=[2, 0], zipfs=[3, 1])
    x = HeldExploration(0.1, 2.0, num_actions=3, cap=100)
    assert [x.next(rng) for _ in range(6)] == [2, 2, 2, None, 0, None]
    assert rng.randoms == rng.integers_ == rng.zipfs == []


def test_hold_length_is_capped_and_zeta_distributed():
    assert hold_length(Script(zipfs=[500]), 2.0, cap=40) == 40
    rng = np.random.default_rng(1)
    draws = np.array([hold_length(rng, 2.0, cap=10 ** 6) for _ in range(50_000)])
    # P(n = 1) = 1 / zeta(2) = 6 / pi^2 = 0.608, P(n = 2) = 0.152, P(n >= 10) = 0.061
    assert draws.min() >= 1
    assert np.mean(draws == 1) == pytest.approx(6 / np.pi ** 2, abs=0.01)
    assert np.mean(draws == 2) == pytest.approx(1.5 / np.pi ** 2, abs=0.01)
    assert np.mean(draws >= 10) == pytest.approx(1 - sum(6 / np.pi ** 2 / k ** 2 for k in range(1, 10)), abs=0.01)


def test_epsilon_zero_draws_nothing_and_bad_values_are_refused():
    x = HeldExploration(0.0, 2.0, 3, 10)
    assert x.next(Script()) is None                     # Script() would fail on any draw
    with pytest.raises(ValueError, match="mu 1.0"):
        HeldExploration(0.1, 1.0, 3, 10)
    with pytest.raises(ValueError, match="epsilon 1.5"):
        HeldExploration(1.5, 2.0, 3, 10)


def _cartpole(tmp_path, greedy: bool, search_move_rule: str = "softmax_q", **selfplay):
    cfg = load_config(write_config(tmp_path, "cartpole", selfplay=selfplay, env={"max_moves": 60},
                                   search={"move_rule": search_move_rule, "policy_target": "completed_q"}))
    env = make_env(cfg.env, 0)
    torch.manual_seed(0)
    net = build_networks(cfg, game_spec(cfg.env)).eval()
    try:
        return play_game(env, net, cfg, np.random.default_rng(3), greedy=greedy, render=False)[0]
    finally:
        env.close()


def test_self_play_explores_in_held_stretches_and_evaluation_never(tmp_path):
    # epsilon 1: every move is the explorer's; stretches of one action, lengths >= 1, and the game says so
    rec = _cartpole(tmp_path, greedy=False, explore_epsilon=1.0, explore_hold_mu=1.5)
    assert rec.meta["explored"] == len(rec.actions) > 0
    runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, rec.actions, -1]) != 0))
    assert runs.max() > 1                                # held, not a fresh move every step
    # the search still ran at every position: its policies are stored, not the uniform placeholder
    assert np.isfinite(rec.meta["q_spread"]) and rec.meta["chosen_prior"] > 0
    # evaluation (greedy) ignores the explorer: the same game as with epsilon 0
    off = _cartpole(tmp_path, greedy=True)
    on = _cartpole(tmp_path, greedy=True, explore_epsilon=1.0)
    assert np.array_equal(off.actions, on.actions) and on.meta["explored"] == 0


def test_config_refuses_a_bad_hold_exponent(tmp_path):
    with pytest.raises(ConfigError, match=r"selfplay.explore_hold_mu = 1.0: must be > 1"):
        load_config(write_config(tmp_path, "cartpole", selfplay={"explore_hold_mu": 1.0}))
    with pytest.raises(ConfigError, match=r"selfplay.explore_epsilon = 2.0: must be in \[0, 1\]"):
        load_config(write_config(tmp_path, "cartpole", selfplay={"explore_epsilon": 2.0}))


def test_move_rule_target_draws_self_plays_move_from_the_stored_target(tmp_path, monkeypatch):
    from muzero_lite.processes import acting
    handed = []

    def first_choice(policy, rng):                  # records what it is handed, plays its argmax
        handed.append(policy[0].copy())
        return policy.argmax(1)

    monkeypatch.setattr(acting, "sample_policy", first_choice)
    rec = _cartpole(tmp_path, greedy=False, search_move_rule="target")
    assert len(handed) == len(rec.actions) > 0
    assert np.allclose(np.array(handed), rec.policies) and (rec.actions == rec.policies.argmax(1)).all()
    handed.clear()
    greedy = _cartpole(tmp_path, greedy=True, search_move_rule="target")   # evaluation: the target's argmax
    assert handed == [] and (greedy.actions == greedy.policies.argmax(1)).all()


def test_game_epsilon_follows_the_ape_x_ladder():
    assert game_epsilon(Script(), 0.1, 0.0) == 0.1                       # no spread: no draw
    assert game_epsilon(Script(randoms=[0.5]), 0.4, 7.0) == pytest.approx(0.4 ** 4.5)
    rng = np.random.default_rng(0)
    eps = np.array([game_epsilon(rng, 0.4, 7.0) for _ in range(20000)])
    # mean of 0.4^(1 + 7u) over u in [0, 1): 0.4 (1 - 0.4^7) / (7 ln 2.5) = 0.0623; median 0.4^4.5 = 0.0162
    assert eps.min() >= 0.4 ** 8 and eps.max() <= 0.4
    assert eps.mean() == pytest.approx(0.4 * (1 - 0.4 ** 7) / (7 * np.log(2.5)), rel=0.03)
    assert np.median(eps) == pytest.approx(0.4 ** 4.5, rel=0.05)
