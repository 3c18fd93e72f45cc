"""n-step value targets and unroll targets on hand-made games, expected numbers worked out by hand."""
import numpy as np
import pytest

from muzero_lite.algorithm.targets import unroll_targets, value_targets

# A 4-move game: r_t rewards of moves 0..3, v_t root values, pi_t policies over A = 3 actions.
R = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
V = np.array([10.0, 20.0, 30.0, 40.0], dtype=np.float32)
PI = np.array([[0.5, 0.3, 0.2],
               [0.1, 0.8, 0.1],
               [0.2, 0.2, 0.6],
               [0.0, 0.0, 1.0]], dtype=np.float32)
A_T = np.array([0, 1, 2, 1])


def test_value_targets_discount_half_two_steps():
    z = value_targets(R, V, discount=0.5, td_steps=2)
    expected = [
        9.5,   # 1 + 0.5*2 + 0.25*30  (bootstrap v_2)
        13.5,  # 2 + 0.5*3 + 0.25*40  (bootstrap v_3)
        5.0,   # 3 + 0.5*4            (t+n = 4 >= T: no bootstrap)
        4.0,   # 4                    (r_4 does not exist)
    ]
    np.testing.assert_allclose(z, expected, rtol=1e-6)
    assert z.dtype == np.float32 and z.shape == (4,)


def test_value_targets_discount_one():
    z = value_targets(R, V, discount=1.0, td_steps=2)
    expected = [
        33.0,  # 1 + 2 + 30
        45.0,  # 2 + 3 + 40
        7.0,   # 3 + 4
        4.0,   # 4
    ]
    np.testing.assert_allclose(z, expected, rtol=1e-6)


def test_value_targets_one_step():
    z = value_targets(R, V, discount=0.5, td_steps=1)
    expected = [
        11.0,  # 1 + 0.5*20
        17.0,  # 2 + 0.5*30
        23.0,  # 3 + 0.5*40
        4.0,   # 4 + 0 (no v_4)
    ]
    np.testing.assert_allclose(z, expected, rtol=1e-6)


def test_value_targets_game_shorter_than_td_steps():
    r = np.array([1.0, 2.0, 4.0])
    v = np.array([100.0, 100.0, 100.0])  # never used: every bootstrap t+5 is past the end
    z = value_targets(r, v, discount=0.5, td_steps=5)
    expected = [
        3.0,  # 1 + 0.5*2 + 0.25*4
        4.0,  # 2 + 0.5*4
        4.0,  # 4
    ]
    np.testing.assert_allclose(z, expected, rtol=1e-6)
    z1 = value_targets(r, v, discount=1.0, td_steps=5)
    np.testing.assert_allclose(z1, [7.0, 6.0, 4.0])  # 1+2+4, 2+4, 4


def test_value_targets_negative_rewards():
    z = value_targets(np.array([-15.0, 2.0]), np.array([-3.0, -1.0]), discount=0.9, td_steps=1)
    np.testing.assert_allclose(z, [-15.9, 2.0], rtol=1e-6)  # -15 + 0.9*(-1), 2


def test_value_targets_rejects_bad_shapes():
    with pytest.raises(ValueError):
        value_targets(R, V[:3], 0.9, 2)
    with pytest.raises(ValueError):
        value_targets(R, V, 0.9, 0)


def test_unroll_targets_near_the_end():
    z = np.array([9.5, 13.5, 5.0, 4.0], dtype=np.float32)   # value_targets(R, V, 0.5, 2) above
    u = 1.0 / 3.0
    rng = np.random.default_rng(0)
    actions, values, rewards, policies, mask = unroll_targets(z, R, PI, A_T, np.array([0, 2, 3]), 2, rng)
    # position 0: all inside
    np.testing.assert_allclose(values[0], [9.5, 13.5, 5.0])     # z_0, z_1, z_2
    np.testing.assert_allclose(rewards[0], [0.0, 1.0, 2.0])     # -, r_0, r_1
    np.testing.assert_allclose(policies[0], PI[0:3])            # pi_0, pi_1, pi_2
    np.testing.assert_array_equal(actions[0], [0, 1])           # a_0, a_1
    np.testing.assert_array_equal(mask[0], [1, 1, 1])
    # position 2: step 2 is position 4, past the end
    np.testing.assert_allclose(values[1], [5.0, 4.0, 0.0])      # z_2, z_3, 0
    np.testing.assert_allclose(rewards[1], [0.0, 3.0, 4.0])     # -, r_2, r_3 (the last move's reward)
    np.testing.assert_allclose(policies[1], [PI[2], PI[3], [u, u, u]])
    np.testing.assert_array_equal(actions[1], [2, 1])           # a_2, a_3
    np.testing.assert_array_equal(mask[1], [1, 1, 0])
    # position 3 (the last): only step 0 inside, step 1 still rewarded with r_3
    np.testing.assert_allclose(values[2], [4.0, 0.0, 0.0])
    np.testing.assert_allclose(rewards[2], [0.0, 4.0, 0.0])     # -, r_3, r_4 does not exist
    np.testing.assert_allclose(policies[2], [PI[3], [u, u, u], [u, u, u]])
    assert actions[2, 0] == 1                                   # a_3
    assert 0 <= actions[2, 1] < 3                               # random past the end
    np.testing.assert_array_equal(mask[2], [1, 0, 0])
    assert actions.shape == (3, 2) and actions.dtype == np.int64
    assert values.shape == rewards.shape == mask.shape == (3, 3)
    assert policies.shape == (3, 3, 3) and policies.dtype == np.float32


def test_unroll_targets_game_shorter_than_k():
    # a 1-move game unrolled K = 3 steps: everything after step 0 is the absorbing state
    z = np.array([2.5], dtype=np.float32)
    r = np.array([-1.0], dtype=np.float32)
    pi = np.array([[0.25, 0.75]], dtype=np.float32)
    t = unroll_targets(z, r, pi, np.array([1]), np.array([0, 0]), 3, np.random.default_rng(1))
    np.testing.assert_allclose(t.target_values, [[2.5, 0, 0, 0]] * 2)
    np.testing.assert_allclose(t.target_rewards, [[0, -1.0, 0, 0]] * 2)   # r_0 only, at step 1
    np.testing.assert_allclose(t.target_policies[:, 0], [[0.25, 0.75]] * 2)
    np.testing.assert_allclose(t.target_policies[:, 1:], 0.5)
    np.testing.assert_array_equal(t.mask, [[1, 0, 0, 0]] * 2)
    np.testing.assert_array_equal(t.actions[:, 0], [1, 1])
    assert np.all((t.actions >= 0) & (t.actions < 2))


def test_unroll_targets_random_actions_are_seeded_and_uniform():
    z = np.zeros(1, dtype=np.float32)
    pi = np.full((1, 4), 0.25, dtype=np.float32)
    pos = np.zeros(2000, dtype=np.int64)
    a1 = unroll_targets(z, z, pi, np.array([3]), pos, 3, np.random.default_rng(7)).actions
    a2 = unroll_targets(z, z, pi, np.array([3]), pos, 3, np.random.default_rng(7)).actions
    np.testing.assert_array_equal(a1, a2)
    assert np.all(a1[:, 0] == 3)
    counts = np.bincount(a1[:, 1:].ravel(), minlength=4) / a1[:, 1:].size
    np.testing.assert_allclose(counts, 0.25, atol=0.03)


def test_unroll_targets_k_zero_and_bad_positions():
    t = unroll_targets(np.ones(2), np.ones(2), np.full((2, 2), 0.5), np.zeros(2, int), np.array([1]), 0,
                       np.random.default_rng(0))
    assert t.actions.shape == (1, 0) and t.target_values.shape == (1, 1)
    with pytest.raises(ValueError):
        unroll_targets(np.ones(2), np.ones(2), np.full((2, 2), 0.5), np.zeros(2, int), np.array([2]), 1,
                       np.random.default_rng(0))


def test_value_targets_bootstrap_a_game_cut_short():
    # r = [1, 2, 3], v = [10, 20, 30], discount 0.5, n = 2, value after the last move 8:
    # t=0: 1 + 0.5*2 + 0.25*v_2(30) = 9.5          (t+n < T: as before)
    # t=1: 2 + 0.5*3 + 0.25*end(8)  = 5.5          (t+n = T: the end value is the bootstrap)
    # t=2: 3 + 0.5*end(8)           = 7.0
    z = value_targets(np.array([1.0, 2, 3]), np.array([10.0, 20, 30]), 0.5, 2, end_value=8.0)
    np.testing.assert_allclose(z, [9.5, 5.5, 7.0])
    np.testing.assert_allclose(value_targets(np.array([1.0, 2, 3]), np.array([10.0, 20, 30]), 0.5, 2), [9.5, 3.5, 3.0])


def test_bootstrap_discounts_by_hand():
    from muzero_lite.algorithm.targets import bootstrap_discounts
    # n = 2, gamma = 0.5: weight 0.25 while t+k+2 < T, i.e. k + 2 < remaining
    w = bootstrap_discounts(np.array([10, 3, 1]), num_unroll_steps=2, discount=0.5, td_steps=2)
    np.testing.assert_array_equal(w, [[0.25, 0.25, 0.25], [0.25, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert w.dtype == np.float32


def test_rewards_part_plus_fresh_bootstrap_is_the_stored_target():
    # value_targets with v = 0, plus discount^n v_{t+n} where t+n < T, gives back value_targets with v
    from muzero_lite.algorithm.targets import bootstrap_discounts
    r = np.array([1.0, -2.0, 0.5, 3.0, -1.0])
    v = np.array([0.3, -0.7, 1.1, 2.0, -4.0])
    z = value_targets(r, v, 0.9, 2)
    z_r = value_targets(r, np.zeros(5), 0.9, 2)
    w = bootstrap_discounts(5 - np.arange(5), 0, 0.9, 2)[:, 0]                   # [T]
    v_ahead = np.concatenate([v[2:], [0.0, 0.0]])                                # v_{t+2}, 0 past the end
    np.testing.assert_allclose(z_r + w * v_ahead, z, rtol=1e-6)
    np.testing.assert_allclose(w, [0.81, 0.81, 0.81, 0.0, 0.0], rtol=1e-6)
