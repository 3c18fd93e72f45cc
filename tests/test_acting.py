"""Acting: play_game on the real emulator (what root_selection and policy_target change and what they must
not), and many games in flight at once (play_games) playing as each would alone."""
import numpy as np
import pytest
import torch
from conftest import write_config

from muzero_lite.algorithm.networks import UniformModel, build_networks
from muzero_lite.config import config_from_dict, load_config
from muzero_lite.envs.base import Env
from muzero_lite.envs.make import game_spec, make_env
from muzero_lite.processes import acting
from muzero_lite.processes.acting import Game, play_game, play_games
from muzero_lite.reporting.status_lines import game_line


def _game(tmp_path, root_selection: str, greedy: bool, seed: int = 0, policy_target: str = "normalised_q",
          perturb: bool = False):
    cfg = load_config(write_config(tmp_path, "mario", env={"max_moves": 25},
                                   search={"root_selection": root_selection, "policy_target": policy_target},
                                   network={"channels": 8}))
    env = make_env(cfg.env, 0)
    torch.manual_seed(1)                      # the same untrained networks every call
    net = build_networks(cfg, game_spec(cfg.env)).eval()
    if perturb:                               # heads start at zero: every Q equal; make them differ
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.3 * torch.randn_like(p))
    try:
        record, _ = play_game(env, net, cfg, np.random.default_rng(seed), greedy=greedy, render=False)
    finally:
        env.close()
    return record


def test_greedy_play_searches_the_top_actions_whatever_root_selection_says(tmp_path):
    top = _game(tmp_path, "top", greedy=True)
    sampled = _game(tmp_path, "sample", greedy=True, seed=5)
    assert np.array_equal(top.actions, sampled.actions)
    assert np.array_equal(top.policies, sampled.policies)


def test_self_play_hands_its_rng_to_the_search_only_when_sampling(tmp_path, monkeypatch):
    import muzero_lite.processes.acting as acting
    seen = []
    real = acting.truncated_search

    def spy(*args, **kw):
        seen.append(kw.get("sample_rng"))
        return real(*args, **kw)
    monkeypatch.setattr(acting, "truncated_search", spy)
    _game(tmp_path, "sample", greedy=False)
    assert seen and all(len(r) == 1 and isinstance(r[0], np.random.Generator) for r in seen)   # the game's own
    seen.clear()
    _game(tmp_path, "top", greedy=False)
    assert seen and all(r is None for r in seen)


def test_the_policy_target_changes_what_is_stored_not_what_is_played(tmp_path):
    seed_rule = _game(tmp_path, "top", greedy=True, perturb=True)
    completed = _game(tmp_path, "top", greedy=True, policy_target="completed_q", perturb=True)
    assert np.array_equal(seed_rule.actions, completed.actions)
    assert np.array_equal(seed_rule.root_values, completed.root_values)
    assert not np.allclose(seed_rule.policies, completed.policies, atol=1e-3)
    assert np.allclose(completed.policies.sum(1), 1.0, atol=1e-5)


def test_a_stalled_game_is_recorded_as_ended_by_a_stall(tmp_path):
    # 5 no-op moves at the start: x stays at 40, so env.stall_moves 3 ends the game at move 3
    cfg = load_config(write_config(tmp_path, "mario", env={"max_moves": 25, "stall_moves": 3}, network={"channels": 8}))
    env = make_env(cfg.env, 0)
    net = build_networks(cfg, game_spec(cfg.env)).eval()
    try:
        record, _ = play_game(env, net, cfg, np.random.default_rng(0), greedy=True, render=False, noop_moves=5)
    finally:
        env.close()
    m = record.meta
    assert m["moves"] == 3 and m["stalled"] and m["terminated"] and m["max_x"] == 40 and not m["flag"]
    assert record.actions.tolist() == [0, 0, 0] and len(record.rewards) == 3
    line = game_line(1, record, None, 1.0, is_mario=True)
    assert "max_x 40 | flag no | stalled |" in line
    record.meta["stalled"] = False
    assert "stalled" not in game_line(1, record, None, 1.0, is_mario=True)


def _played(tmp_path, base: str, annotate: bool, render: bool = True, noop_moves: int = 0, model=None):
    """A short game with fresh networks (or model), gif frames on or off; (record, frames, env's action names)."""
    cfg = load_config(write_config(tmp_path, base, env={"max_moves": 8}, selfplay={"annotate_gifs": annotate}))
    env = make_env(cfg.env, 0)
    torch.manual_seed(1)
    net = model or build_networks(cfg, game_spec(cfg.env)).eval()
    try:
        record, frames = play_game(env, net, cfg, np.random.default_rng(0), render=render, noop_moves=noop_moves)
        return record, frames, env.action_names
    finally:
        env.close()


def test_annotated_gif_frames_carry_a_strip_and_bare_ones_do_not(tmp_path):
    from muzero_lite.reporting.gifs import STRIP_BG, strip_height
    for base, (h, w) in (("mario", (240, 256)), ("cartpole", (100, 150))):
        _, bare, _ = _played(tmp_path, base, annotate=False)
        _, marked, _ = _played(tmp_path, base, annotate=True)
        assert len(bare) == len(marked) > 2
        assert {f.size for f in bare} == {(w, h)}
        assert len({f.size for f in marked}) == 1 and marked[0].width == w
        assert any(marked[0].height == h + strip_height(rows) for rows in range(2, 8))
        for b, f in zip(bare, marked):
            rgb = np.asarray(f.convert("RGB"))
            assert (rgb[h:] != STRIP_BG).any() and np.array_equal(rgb[:h], np.asarray(b.convert("RGB")))


def test_annotation_does_not_change_the_game(tmp_path):
    for base in ("mario", "cartpole"):
        games = [_played(tmp_path, base, annotate=a, render=r)[0] for a, r in ((True, True), (False, True), (True, False))]
        for g in games[1:]:
            assert np.array_equal(g.actions, games[0].actions) and np.array_equal(g.rewards, games[0].rewards)
            assert np.array_equal(g.root_values, games[0].root_values) and np.array_equal(g.policies, games[0].policies)


def test_the_strips_read_what_play_game_computed(tmp_path, monkeypatch):
    import muzero_lite.processes.acting as acting
    from muzero_lite.algorithm.networks import UniformModel
    seen = []
    real = acting.annotate
    monkeypatch.setattr(acting, "annotate", lambda frame, ann: seen.append(ann) or real(frame, ann))
    record, frames, names = _played(tmp_path, "mario", annotate=True, noop_moves=2, model=UniformModel(12))
    assert len(seen) == len(frames) == record.length + 1
    for t, ann in enumerate(seen[:2]):                    # no-op starts: no search, nothing predicted
        assert (ann.move, ann.action, ann.note, list(ann.searched), ann.value) == (t, "NOOP", "no-op start", [], None)
    for t, ann in enumerate(seen[2:-1], start=2):         # the uniform model's search ran: shown
        assert ann.move == t and ann.action == names[record.actions[t]] and ann.reward == pytest.approx(record.rewards[t])
        assert len(ann.searched) == 3 and ann.value == 0.0 and ann.x is not None and ann.flag is False
        searched = [name for name, _ in ann.searched]    # uniform Q: the move is often not a searched one
        assert searched.index(ann.action) == ann.chosen if ann.action in searched else ann.chosen is None
    end = seen[-1]
    assert end.action is None and end.move == record.length and end.total == pytest.approx(record.rewards.sum())


class CountdownEnv(Env):
    """A vector env whose games last a fixed number of moves (one entry of `lengths` per reset)."""

    def __init__(self, lengths: list[int]):
        self.lengths, self.num_actions, self.frame_shape, self.frame_dtype = list(lengths), 2, (3,), np.dtype(np.float32)
        self.left, self.resets = 0, 0

    def reset(self, rng):
        self.left, self.resets = self.lengths.pop(0), self.resets + 1
        return np.zeros(3, np.float32), {"moves": 0}

    def step(self, action):
        self.left -= 1
        return np.ones(3, np.float32), 1.0, self.left == 0, {"terminated": self.left == 0}


def test_a_game_that_ends_is_replaced_while_the_others_go_on():
    cfg = config_from_dict({"env": {"id": "CartPole-v1", "max_moves": 50}, "network": {"kind": "mlp"}})
    short, long = CountdownEnv([2, 3, 50]), CountdownEnv([9])
    batches = []
    real = acting.play_moves

    def spy(games):
        batches.append(len(games))
        real(games)
    started = []

    def new_game(env):
        if len(started) == 4:
            return None
        started.append(env)
        return Game(env, UniformModel(2), cfg, np.random.default_rng(len(started)))
    acting.play_moves, ended = spy, []
    try:
        for g in play_games([short, long], new_game):
            ended.append((g.env is long, g.t, len(batches)))
    finally:
        acting.play_moves = real
    # the short env's games end at batched moves 2 and 5, each replaced at once while the long game
    # goes on; the long one ends at move 9 and its env rests; the fourth game, started on the short
    # env after move 5, plays its 50 moves to move 55, alone from move 10 on
    assert ended == [(False, 2, 2), (False, 3, 5), (True, 9, 9), (False, 50, 55)]
    assert batches == [2] * 9 + [1] * 46
    assert (short.resets, long.resets) == (3, 1)


def test_a_batch_of_games_plays_as_each_game_alone(tmp_path):
    # perturbed networks (Q differ between actions) and sampled root actions: every draw matters
    cfg = config_from_dict({"env": {"id": "CartPole-v1", "max_moves": 60, "frame_skip": 1, "frames_per_move": 1,
                                    "stack_moves": 1, "reward_scale": 1.0, "grayscale": False},
                            "network": {"kind": "mlp"}, "search": {"root_actions": 2, "root_selection": "sample"}})
    torch.manual_seed(0)
    net = build_networks(cfg, game_spec(cfg.env)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    envs = [make_env(cfg.env, i) for i in range(3)]
    records_alone = []
    for n in range(5):
        records_alone.append(play_game(envs[0], net, cfg, np.random.default_rng([7, n]), training_step=100,
                                       render=False)[0])
    numbers, number_of = iter(range(5)), {}

    def new_game(env):
        n = next(numbers, None)
        if n is None:
            return None
        game = Game(env, net, cfg, np.random.default_rng([7, n]), training_step=100)
        number_of[id(game)] = n
        return game
    together = {number_of[id(g)]: g.finish()[0] for g in play_games(envs, new_game)}
    moves = same = 0
    for n, rec in enumerate(records_alone):
        other = together[n]
        k = min(rec.length, other.length)
        moves += max(rec.length, other.length)
        same += int((rec.actions[:k] == other.actions[:k]).sum())
    assert same >= 0.99 * moves, (same, moves)
    assert len({rec.length for rec in records_alone}) > 1            # games of several lengths: replacement ran
    for env in envs:
        env.close()
