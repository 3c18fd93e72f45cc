"""Eval games are samples: sticky actions on the deterministic emulator, seeded resets on Gymnasium envs;
the same seed gives the same figures however many games run at once. Real envs, hand-made models."""
import dataclasses

import numpy as np
import torch
from conftest import ROOT

from muzero_lite.algorithm.networks import UniformModel
from muzero_lite.config import load_config
from muzero_lite.processes.evaluate import evaluate


class PreferModel(UniformModel):
    """Value 0 everywhere; a reward of 1 for the one action it prefers in a state (carried in the hidden
    state), so that the search's Q, and greedy play, pick that action."""

    def preferred(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def initial_inference(self, obs: torch.Tensor):
        out = super().initial_inference(obs)
        return out._replace(hidden=self.preferred(obs).float()[:, None])          # [B, 1]

    def recurrent_inference(self, hidden: torch.Tensor, action: torch.Tensor):
        out = super().recurrent_inference(hidden, action)
        return out._replace(hidden=hidden, reward=(action.reshape(-1) == hidden[:, 0].long()).float())


class NextActionModel(PreferModel):
    """Mario: prefers the action after the previous one (the observation's last action plane holds
    (a+1)/A, 0 at the start), so greedy play cycles through the actions."""

    def preferred(self, obs):
        plane = obs[:, -1].reshape(obs.shape[0], -1)[:, 0]
        return torch.round(plane * self.num_actions).long() % self.num_actions


class BalanceModel(PreferModel):
    """CartPole: pushes toward the side the pole falls to (angle + half its angular velocity)."""

    def preferred(self, obs):
        return (obs[:, 2] + 0.5 * obs[:, 3] > 0).long()


def _mario(**eval_settings):
    cfg = load_config(ROOT / "configs" / "mario.yaml")
    return dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, max_moves=25),
                               eval=dataclasses.replace(cfg.eval, **{"noop_max": 0, **eval_settings}))


def test_sticky_actions_make_20_mario_games_20_samples():
    model = NextActionModel(12)
    row = evaluate(_mario(), model, "1-1", 20, np.random.default_rng(0), 0)
    assert _mario().eval.sticky_actions == 0.25 and row["games"] == 20
    assert row["distinct"] >= 18, row
    # without them (and without no-op starts) the emulator replays one game
    row = evaluate(_mario(sticky_actions=0.0), model, "1-1", 4, np.random.default_rng(0), 0)
    assert row["distinct"] == 1, row


def test_same_seed_same_figures_whether_batched_or_one_at_a_time():
    model = NextActionModel(12)
    cfg = _mario(noop_max=5)
    one = evaluate(cfg, model, "1-1", 5, np.random.default_rng(7), 0, games_in_flight=1)
    batched = evaluate(cfg, model, "1-1", 5, np.random.default_rng(7), 0, games_in_flight=5)
    assert one == batched and one["distinct"] >= 4
    other = evaluate(cfg, model, "1-1", 5, np.random.default_rng(8), 0, games_in_flight=5)
    assert other != one


def test_cartpole_eval_games_start_apart():
    cfg = load_config(ROOT / "configs" / "cartpole.yaml")
    cfg = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, max_moves=100))
    assert cfg.eval.sticky_actions == 0
    row = evaluate(cfg, BalanceModel(2), None, 20, np.random.default_rng(0), 0)
    assert row["distinct"] >= 18, row
    assert row["mean_return"] > 50          # the hand policy balances: the games are played, not cut short
