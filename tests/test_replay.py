"""Prioritized replay: PER probabilities and weights by hand, window eviction, batch assembly, and the
game ring under it (storage, slots and eviction)."""
import dataclasses

import numpy as np
import pytest

from muzero_lite.algorithm.observations import stack_observations
from muzero_lite.algorithm.targets import value_targets
from muzero_lite.algorithm.types import GameRecord
from muzero_lite.data.game_ring import GameRing
from muzero_lite.data.replay import ReplayBuffer, ReplaySettings


def make_game(t_len: int, num_actions: int = 3, image: bool = False, seed: int = 0) -> GameRecord:
    """A random game: vector frames [T, 2] (or uint8 images [T, 2, 4, 4, 3]) and random search output."""
    rng = np.random.default_rng(seed)
    if image:
        frames = rng.integers(0, 256, size=(t_len, 2, 4, 4, 3), dtype=np.uint8)
    else:
        frames = rng.normal(size=(t_len, 2)).astype(np.float32)
    policies = rng.random((t_len, num_actions)).astype(np.float32) + 0.1
    policies /= policies.sum(axis=1, keepdims=True)
    return GameRecord(frames=frames, actions=rng.integers(0, num_actions, size=t_len),
                      rewards=rng.normal(size=t_len).astype(np.float32),
                      root_values=rng.normal(size=t_len).astype(np.float32), policies=policies)


def settings(**over) -> ReplaySettings:
    """Replay settings at the original research code's values, some overridden."""
    orig = dict(window_size=115000, discount=0.9, td_steps=10, new_priority=1000.0, priority_beta=0.4,
                bootstrap_truncated=False)
    return ReplaySettings(**{**orig, **over})


def make_buffer(seed: int = 0, **cfg) -> ReplayBuffer:
    return ReplayBuffer(settings(**cfg), stack_moves=2, num_actions=3, rng=np.random.default_rng(seed))


def two_game_buffer(seed: int = 0) -> ReplayBuffer:
    """Game 0 with position priorities [1, 3] (sum 4), game 1 with [2, 2, 8] (sum 12); total 16."""
    buf = make_buffer(seed, window_size=100, priority_beta=0.4)
    assert buf.add(make_game(2, seed=1)) == 0
    assert buf.add(make_game(3, seed=2)) == 1
    # the 99 is game 0's position 2, past its end: ignored
    buf.update_priorities(np.array([0, 1]), np.array([0, 0]), np.array([[1.0, 3.0, 99.0], [2.0, 2.0, 8.0]]))
    np.testing.assert_array_equal(buf.position_priorities(0), [1.0, 3.0])
    np.testing.assert_array_equal(buf.position_priorities(1), [2.0, 2.0, 8.0])
    return buf


# P(g) P(p|g) by hand: P(g0) = 4/16, P(g1) = 12/16; P(p|g0) = [1/4, 3/4], P(p|g1) = [2/12, 2/12, 8/12]
P_HAND = {
    (0, 0): 1 / 16,  # 4/16 * 1/4
    (0, 1): 3 / 16,  # 4/16 * 3/4
    (1, 0): 2 / 16,  # 12/16 * 2/12
    (1, 1): 2 / 16,  # 12/16 * 2/12
    (1, 2): 8 / 16,  # 12/16 * 8/12
}


def test_new_games_get_new_priority():
    buf = make_buffer(new_priority=1000.0)
    buf.add(make_game(4))
    np.testing.assert_array_equal(buf.position_priorities(0), [1000.0] * 4)
    assert buf.num_games == 1 and buf.num_moves == 4 and buf.total_moves_added == 4


def test_sampling_frequencies_match_hand_probabilities():
    buf = two_game_buffer()
    n = 20000
    batch = buf.sample(n, 1)
    for (g, p), prob in P_HAND.items():
        freq = np.mean((batch.game_ids == g) & (batch.positions == p))
        assert abs(freq - prob) < 0.015, (g, p, freq, prob)
    assert abs(np.mean(batch.game_ids == 0) - 0.25) < 0.015   # P(g0) = 4/16


def test_importance_weights_by_hand():
    buf = two_game_buffer()
    batch = buf.sample(20000, 1)  # contains every position, so the batch max is 1/P(g0, p0) = 16
    # w = ((1/P) / 16) ** 0.4 = (1 / priority) ** 0.4 here, since 1/P = 16 / priority
    w_hand = {(0, 0): 1.0,                # 1 ** 0.4
              (0, 1): 0.644394,           # (1/3) ** 0.4
              (1, 0): 0.757858,           # (1/2) ** 0.4
              (1, 1): 0.757858,           # (1/2) ** 0.4
              (1, 2): 0.435275}           # (1/8) ** 0.4
    expected = np.array([w_hand[(g, p)] for g, p in zip(batch.game_ids, batch.positions)])
    np.testing.assert_allclose(batch.weights, expected, rtol=1e-5)
    # a small batch: normalised by its own max
    small = buf.sample(6, 2)
    inv_p = np.array([1 / P_HAND[(g, p)] for g, p in zip(small.game_ids, small.positions)])
    np.testing.assert_allclose(small.weights, (inv_p / inv_p.max()) ** 0.4, rtol=1e-5)
    assert small.weights.max() == pytest.approx(1.0) and np.all(small.weights > 0)


def test_update_priorities_changes_sampling():
    buf = make_buffer(window_size=100)
    buf.add(make_game(3, seed=1))
    buf.add(make_game(3, seed=2))
    assert abs(np.mean(buf.sample(4000, 1).game_ids == 0) - 0.5) < 0.04   # equal sums at first
    buf.update_priorities(np.array([0]), np.array([0]), np.array([[1e-3, 1e-3, 1e-3]]))
    # P(g0) = 3e-3 / (3e-3 + 3000) = 1e-6
    assert np.all(buf.sample(2000, 1).game_ids == 1)
    # inside game 1: position 2 gets 9/10 of the mass
    buf.update_priorities(np.array([1]), np.array([1]), np.array([[0.5, 9.0]]))
    buf.update_priorities(np.array([1]), np.array([0]), np.array([[0.5]]))
    pos = buf.sample(4000, 1).positions
    assert abs(np.mean(pos == 2) - 0.9) < 0.02   # 9 / (0.5 + 0.5 + 9)


def test_update_priorities_mask_and_bad_values():
    buf = make_buffer()
    buf.add(make_game(3))
    buf.update_priorities(np.array([0]), np.array([0]), np.array([[5.0, 6.0, 7.0]]), mask=np.array([[1, 0, 1]]))
    np.testing.assert_array_equal(buf.position_priorities(0), [5.0, 1000.0, 7.0])
    with pytest.raises(ValueError):
        buf.update_priorities(np.array([0]), np.array([0]), np.array([[0.0]]))
    with pytest.raises(ValueError):
        buf.update_priorities(np.array([0]), np.array([0]), np.array([[np.nan]]))


def test_window_evicts_oldest_games_whole():
    buf = make_buffer(window_size=10)
    for seed in range(3):
        buf.add(make_game(4, seed=seed))          # 4, 8, 12 > 10: game 0 leaves
    assert list(buf.game_ids) == [1, 2]
    assert buf.num_moves == 8 and buf.total_moves_added == 12
    assert buf.add(make_game(15, seed=3)) == 3    # alone over the window: kept, all others leave
    assert list(buf.game_ids) == [3] and buf.num_games == 1
    assert buf.num_moves == 15 and buf.total_moves_added == 27
    assert np.all(buf.sample(50, 2).game_ids == 3)
    buf.add(make_game(2, seed=4))                  # 17 > 10: game 3 leaves, the new one stays
    assert list(buf.game_ids) == [4] and buf.num_moves == 2
    # sampled ids of evicted games are ignored
    buf.update_priorities(np.array([0, 3, 4]), np.array([0, 0, 0]), np.array([[1.0], [1.0], [2.0]]))
    np.testing.assert_array_equal(buf.position_priorities(4), [2.0, 1000.0])
    with pytest.raises(KeyError):
        buf.position_priorities(3)


def _check_batch_against_games(batch, games, stack, k, discount, td_steps):
    """Every sample equals what the per-game functions compute from the original record."""
    for b in range(batch.observations.shape[0]):
        g = games[batch.game_ids[b]]
        t = batch.positions[b]
        direct = stack_observations(g.frames, g.actions, np.array([t]), stack, 3)[0]
        np.testing.assert_array_equal(batch.observations[b], direct)
        z = value_targets(g.rewards, g.root_values, discount, td_steps)
        for step in range(k + 1):
            if t + step < g.length:
                assert batch.target_values[b, step] == z[t + step]
                np.testing.assert_array_equal(batch.target_policies[b, step], g.policies[t + step])
            else:
                assert batch.target_values[b, step] == 0
                np.testing.assert_allclose(batch.target_policies[b, step], 1 / 3)
            if step < k and t + step < g.length:
                assert batch.actions[b, step] == g.actions[t + step]
            if step >= 1:
                expected = g.rewards[t + step - 1] if t + step - 1 < g.length else 0.0
                assert batch.target_rewards[b, step] == expected


def test_batch_matches_stack_observations_and_targets():
    cfg = settings(discount=0.9, td_steps=3)
    buf = ReplayBuffer(cfg, stack_moves=3, num_actions=3, rng=np.random.default_rng(5))
    games = [make_game(t, image=True, seed=t) for t in (6, 9, 4)]
    for g in games:
        buf.add(g)
    batch = buf.sample(32, 2)
    assert batch.observations.shape == (32, 3 * (2 * 3 + 1), 4, 4)
    assert batch.observations.dtype == np.float32
    assert len(np.unique(batch.game_ids)) > 1
    _check_batch_against_games(batch, games, 3, 2, 0.9, 3)
    assert games[0].frames.dtype == np.uint8   # stored frames are never converted


def test_ring_wraps_and_grows_without_mixing_games():
    # a small window makes the ring wrap many times; a game longer than the window makes it grow
    cfg = settings(discount=0.8, td_steps=2, window_size=20)
    buf = ReplayBuffer(cfg, stack_moves=4, num_actions=3, rng=np.random.default_rng(2))
    games = [make_game(t, seed=i) for i, t in enumerate([7, 5, 9, 3, 8, 6, 11, 4, 27, 5, 9, 7, 6])]
    for i, g in enumerate(games):
        buf.add(g)
        assert buf.num_moves <= 20 or buf.num_games == 1
        batch = buf.sample(64, 3)
        assert set(batch.game_ids) <= set(buf.game_ids)
        _check_batch_against_games(batch, games, 4, 3, 0.8, 2)
    assert buf.total_moves_added == sum(g.length for g in games)


def test_game_shorter_than_k():
    buf = make_buffer()
    buf.add(make_game(2, seed=3))
    batch = buf.sample(16, 5)
    assert batch.actions.shape == (16, 5) and batch.target_values.shape == (16, 6)
    for b in range(16):
        t = batch.positions[b]
        inside = 2 - t                                   # steps 0..inside-1 are in the game
        assert np.all(batch.target_values[b, inside:] == 0)
        np.testing.assert_allclose(batch.target_policies[b, inside:], 1 / 3)
        assert np.all(batch.target_rewards[b, inside + 1:] == 0)
    assert np.all((batch.actions >= 0) & (batch.actions < 3))
    buf.update_priorities(np.array([0]), np.array([0]), np.array([[5.0, 6.0, 7.0, 8.0, 9.0, 10.0]]))
    np.testing.assert_array_equal(buf.position_priorities(0), [5.0, 6.0])


def test_same_seed_same_batch():
    batches = []
    for _ in range(2):
        buf = make_buffer(seed=11)
        for seed in range(3):
            buf.add(make_game(5, seed=seed))
        batches.append(buf.sample(8, 3))
    for x, y in zip(*batches):
        np.testing.assert_array_equal(x, y)


def test_rejects_bad_games_and_empty_sampling():
    buf = make_buffer()
    with pytest.raises(ValueError):
        buf.sample(4, 1)
    with pytest.raises(ValueError):
        buf.add(make_game(3, num_actions=4))
    bad = make_game(3)
    bad.rewards = bad.rewards[:2]
    with pytest.raises(ValueError):
        buf.add(bad)


@pytest.mark.parametrize("bootstrap", [False, True])
def test_truncated_games_bootstrap_and_mask_past_the_end(bootstrap):
    cfg = settings(discount=0.5, td_steps=2, bootstrap_truncated=bootstrap)
    buf = ReplayBuffer(cfg, stack_moves=1, num_actions=3, rng=np.random.default_rng(0))
    cut = make_game(3, seed=1)
    cut.meta["terminated"] = False                       # cut short by a time limit
    ended = make_game(3, seed=2)
    ended.meta["terminated"] = True
    buf.add(cut)
    buf.add(ended)
    batch = buf.sample(200, 2)
    for b in range(200):
        g = (cut, ended)[batch.game_ids[b]]
        t = batch.positions[b]
        end = float(g.root_values[-1]) if (bootstrap and g is cut) else 0.0
        z = value_targets(g.rewards, g.root_values, 0.5, 2, end_value=end)
        assert batch.target_values[b, 0] == pytest.approx(z[t])
        inside = t + np.arange(3) < 3
        expected = inside | (not (bootstrap and g is cut))   # past the end: only real endings have targets
        assert (batch.mask[b] == expected).all()


def test_game_ring_stores_games_back_to_back_and_wraps():
    ring = GameRing(window_size=6, num_actions=3)
    games = [make_game(4, seed=1), make_game(3, seed=2), make_game(3, seed=3)]
    for i, g in enumerate(games):
        z = np.arange(g.length, dtype=np.float32) + 10 * i
        assert ring.add(g, z, absorbing=i != 1, priority=float(i + 1)) == i
    # 4 + 3 > 6: game 0 left when game 1 came; the ring has 6 + 4 = 10 slots, game 2 wraps past its end
    assert ring.capacity == 10 and list(ring.game_ids) == [1, 2] and ring.num_moves == 6
    assert ring.total_moves_added == 10
    np.testing.assert_array_equal(ring.slots(2), [7, 8, 9])
    np.testing.assert_array_equal(ring.frames[ring.slots(1)], games[1].frames)
    np.testing.assert_array_equal(ring.z[ring.slots(2)], [20.0, 21.0, 22.0])
    np.testing.assert_array_equal(ring.move_number[ring.slots(1)], [0, 1, 2])
    np.testing.assert_array_equal(ring.remaining[ring.slots(1)], [3, 2, 1])
    assert list(ring.game_of[ring.slots(2)]) == [2] * 3 and not ring.absorbing[ring.slots(1)].any()
    np.testing.assert_array_equal(ring.priorities[:4], 0.0)          # game 0's slots: empty, never drawn
    ring.add(make_game(3, seed=4), np.zeros(3, np.float32), absorbing=True, priority=1.0)
    np.testing.assert_array_equal(ring.slots(3), [0, 1, 2])          # wrapped to the start of the ring
    with pytest.raises(KeyError):
        ring.slots(1)


def test_game_ring_locate_marks_positions_outside_live_games():
    ring = GameRing(window_size=10, num_actions=3)
    ids, pos = np.array([0, 5]), np.array([[0, 1], [0, 1]])
    assert not ring.locate(ids, pos)[1].any()                          # empty ring
    ring.add(make_game(2, seed=1), np.zeros(2, np.float32), absorbing=True, priority=1.0)
    slots, inside = ring.locate(np.array([0, 0, 5]), np.array([[0, 1], [1, 2], [0, 1]]))
    np.testing.assert_array_equal(inside, [[True, True], [True, False], [False, False]])
    np.testing.assert_array_equal(slots[inside], [0, 1, 1])
    with pytest.raises(ValueError):
        ring.check(make_game(2, image=True))                           # frames of another shape


@pytest.mark.parametrize("image", [False, True])
def test_sampled_inputs_are_their_games_stacks_across_the_ring_wrap(image):
    """A small window makes the ring wrap, so a game's positions cross the ring's end; each sample's input
    is stack_observations of its own game at its position (zeros before the game's start)."""
    buf = ReplayBuffer(settings(window_size=20), stack_moves=2, num_actions=3, rng=np.random.default_rng(4))
    games = [make_game(t, image=image, seed=i) for i, t in enumerate([7, 5, 9, 3, 8, 6])]
    checked = 0
    for i, g in enumerate(games):
        assert buf.add(g) == i                     # game id = index in games
        batch = buf.sample(64, 3)
        assert batch.observations.dtype == np.float32
        for b in range(64):
            game, t = games[int(batch.game_ids[b])], int(batch.positions[b])
            want = stack_observations(game.frames, game.actions, np.array([t]), 2, 3)[0]
            np.testing.assert_array_equal(batch.observations[b], want)
            checked += 1
    assert checked == 6 * 64


def test_fresh_bootstrap_batch_gives_back_the_stored_targets():
    """With value_bootstrap fresh, rewards part + weight * v(bootstrap input) equals the stored-value target
    when v reads the root value at that position: here each frame holds its root value, so v = input[0]."""
    rng = np.random.default_rng(3)
    games = []
    for i, t_len in enumerate([7, 12, 4]):
        g = make_game(t_len, seed=10 + i)
        frames = np.stack([g.root_values, rng.normal(size=t_len)], axis=1).astype(np.float32)   # [T, 2]
        games.append(dataclasses.replace(g, frames=frames))
    stored = ReplayBuffer(settings(td_steps=3, discount=0.8), stack_moves=1, num_actions=3,
                          rng=np.random.default_rng(0))
    fresh = ReplayBuffer(settings(td_steps=3, discount=0.8, fresh_bootstrap=True), stack_moves=1, num_actions=3,
                         rng=np.random.default_rng(0))
    for g in games:
        stored.add(g)
        fresh.add(g)
    k = 2
    a, b = stored.sample(200, k), fresh.sample(200, k)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert a.bootstrap_observations is None and a.bootstrap_discounts is None
    assert b.bootstrap_observations.shape == (200 * (k + 1), 2 + 3)             # stack 1: frame [2] + one-hot [3]
    v = b.bootstrap_observations[:, 0].reshape(200, k + 1)                       # the root value at t+k+n
    np.testing.assert_allclose(b.target_values + b.bootstrap_discounts * v, a.target_values, rtol=1e-5, atol=1e-6)
    # near the end the weight is 0 (the target ends with the game), elsewhere 0.8^3
    np.testing.assert_allclose(np.unique(b.bootstrap_discounts), [0.0, 0.8 ** 3], rtol=1e-6)


def test_frame_targets_are_the_frames_at_each_step():
    buf = ReplayBuffer(settings(frame_targets=True), stack_moves=2, num_actions=3, rng=np.random.default_rng(1))
    games = [make_game(6, seed=20), make_game(3, seed=21)]
    for g in games:
        buf.add(g)
    k = 3
    b = buf.sample(300, k)
    assert b.target_frames.shape == (300, k + 1, 2) and b.target_frames.dtype == np.float32
    for i in range(300):
        g = games[int(b.game_ids[i])]
        for step in range(k + 1):
            t = int(b.positions[i]) + step
            want = g.frames[t] if t < len(g.actions) else np.zeros(2)     # past the end: zeros (masked)
            np.testing.assert_array_equal(b.target_frames[i, step], want)
    plain = make_buffer()
    plain.add(games[0])
    assert plain.sample(4, k).target_frames is None
