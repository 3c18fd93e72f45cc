"""The self-play worker with several envs: the same games as one env would play, game by game."""
import io

import numpy as np
import torch

from muzero_lite.checkpoints import save_checkpoint
from muzero_lite import selfplay
from muzero_lite.config import load_config
from muzero_lite.envs import game_spec, make_env
from muzero_lite.gamefile import list_game_files, read_game
from muzero_lite.networks import build_networks
from muzero_lite.runfolder import RunPaths
from muzero_lite.selfplay import run_selfplay

from conftest import write_config


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
                                     selfplay={"random_games": 0, "envs": 3}, search={"root_selection": "sample"}))
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


def test_a_game_begun_before_any_checkpoint_plays_the_first_one_from_its_next_move(tmp_path, monkeypatch):
    """Game 0 is a random game (uniform to its end); game 1 starts uniform, as no checkpoint exists yet, and
    plays the checkpoint written before its 4th move from that move on, with that step's temperature."""
    monkeypatch.setattr(selfplay, "REFRESH_S", 0.0)          # look for a checkpoint before every move
    cfg = load_config(write_config(tmp_path, "cartpole", env={"max_moves": 60},
                                   selfplay={"random_games": 1, "envs": 2, "gif_every": 0}))
    spec = game_spec(cfg.env)
    torch.manual_seed(0)
    net = build_networks(cfg, spec)
    with torch.no_grad():                     # a policy far from uniform
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    paths = RunPaths.of(cfg, tmp_path / "run")
    paths.make()
    moves = []

    def wait():                               # the pace hook, called before each move of both games
        moves.append(len(moves))
        if len(moves) == 4:
            save_checkpoint(paths.checkpoints, cfg, 7, net.state_dict())

    envs = [make_env(cfg.env, i) for i in range(2)]
    try:
        source = selfplay.ModelSource(cfg, spec, paths.checkpoints)
        selfplay.play_worker(cfg, envs, source, selfplay.FolderOutput(cfg, paths), "w0", 3, 2, 0, wait,
                             out=io.StringIO())
    finally:
        for env in envs:
            env.close()
    games = _games_by_number(tmp_path / "run")
    uniform = np.full(spec.num_actions, 1.0 / spec.num_actions, dtype=np.float32)
    random_game, follower = games[0], games[1]
    assert random_game.meta["checkpoint_step"] is None
    assert np.allclose(random_game.policies, uniform) and not random_game.root_values.any()
    assert follower.meta["checkpoint_step"] == 7 and follower.meta["training_step"] == 7
    assert follower.length > 4
    assert np.allclose(follower.policies[:3], uniform) and not follower.root_values[:3].any()
    assert not np.allclose(follower.policies[3], uniform) and follower.root_values[3:].all()
