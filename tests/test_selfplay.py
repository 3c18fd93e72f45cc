"""The self-play worker with several envs: the same games as one env would play, game by game."""
import io

import numpy as np
import torch
from conftest import write_config

from muzero_lite.algorithm.networks import build_networks
from muzero_lite.config import load_config
from muzero_lite.data.checkpoints import save_checkpoint
from muzero_lite.data.gamefile import list_game_files, read_game
from muzero_lite.envs.make import game_spec
from muzero_lite.processes.selfplay import run_selfplay


def _games_by_number(run) -> dict:
    return {r.meta["game_number"]: r for r in map(read_game, list_game_files(run / "games"))}


def test_three_envs_play_the_games_one_env_plays(tmp_path):
    cfg = load_config(write_config(tmp_path, "cartpole", env={"max_moves": 80}, selfplay={"random_games": 0},
                                   search={"root_selection": "sample"}))
    torch.manual_seed(0)
    net = build_networks(cfg, game_spec(cfg.env))
    with torch.no_grad():                     # Q that differ between actions: every draw matters
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    for run in (tmp_path / "one", tmp_path / "three"):
        save_checkpoint(run / "checkpoints", cfg, 5, net.state_dict())
    run_selfplay(cfg, tmp_path / "one", games=6, seed=7, out=io.StringIO())
    three = load_config(write_config(tmp_path, "cartpole", env={"max_moves": 80},
                                     selfplay={"random_games": 0, "games_in_flight": 3}, search={"root_selection": "sample"}))
    run_selfplay(three, tmp_path / "three", games=6, seed=7, out=io.StringIO())
    one, many = _games_by_number(tmp_path / "one"), _games_by_number(tmp_path / "three")
    assert sorted(one) == sorted(many) == list(range(6))
    moves = same = 0
    for n in range(6):
        a, b = one[n], many[n]
        k = min(a.length, b.length)
        moves += max(a.length, b.length)
        same += int((a.actions[:k] == b.actions[:k]).sum())
        assert a.meta["checkpoint_step"] == b.meta["checkpoint_step"] == 5
    assert same >= 0.99 * moves, (same, moves)
    assert len({r.length for r in one.values()}) > 1      # games of several lengths: envs were refilled unevenly
    assert not np.array_equal(one[0].actions[:10], one[1].actions[:10])   # games differ from each other


def _repeat_share(run) -> float:
    """The share of moves (after each game's first) that repeat the game's previous move."""
    pairs = [r.actions[1:] == r.actions[:-1] for r in map(read_game, list_game_files(run / "games"))]
    return float(np.concatenate(pairs).mean())


def test_selfplay_sticky_actions_repeat_the_previous_move(tmp_path):
    # uniform play on CartPole's 2 actions repeats the previous move half the time; with selfplay.sticky_actions
    # p the recorded (played) move repeats it 0.5 + p / 2 of the time
    shares = {}
    for p in (0.0, 0.8):
        cfg = load_config(write_config(tmp_path, "cartpole", env={"max_moves": 60},
                                       selfplay={"random_games": 1000, "sticky_actions": p}))
        assert cfg.selfplay.sticky_actions == p and cfg.eval.sticky_actions == 0
        run_selfplay(cfg, tmp_path / f"p{p}", games=12, seed=3, out=io.StringIO())
        shares[p] = _repeat_share(tmp_path / f"p{p}")
    assert 0.35 < shares[0.0] < 0.65, shares
    assert 0.8 < shares[0.8] < 0.97, shares
