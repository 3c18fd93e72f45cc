"""play_game on the real emulator: what root_selection and policy_target change and what they must not."""
import numpy as np
import torch

from muzero_lite.config import load_config
from muzero_lite.acting import play_game
from muzero_lite.envs import game_spec, make_env
from muzero_lite.networks import build_networks
from muzero_lite.selfplay import _format_line

from conftest import write_config


def _game(tmp_path, root_selection: str, greedy: bool, seed: int = 0, policy_target: str = "orig",
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
    import muzero_lite.acting as acting
    seen = []
    real = acting.truncated_search

    def spy(*args, **kw):
        seen.append(kw.get("sample_rng"))
        return real(*args, **kw)
    monkeypatch.setattr(acting, "truncated_search", spy)
    _game(tmp_path, "sample", greedy=False)
    assert seen and all(isinstance(r, np.random.Generator) for r in seen)
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
    line = _format_line(1, record, None, 1.0, is_mario=True)
    assert "max_x 40 | flag no | stalled |" in line
    record.meta["stalled"] = False
    assert "stalled" not in _format_line(1, record, None, 1.0, is_mario=True)
