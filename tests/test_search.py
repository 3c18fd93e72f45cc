"""Truncated search against a hand-built model whose answers are computed by hand."""
import numpy as np
import pytest
import torch

from muzero_lite.algorithm.search import (
    completed_q_policy,
    normalise_q,
    policy_value,
    sample_actions,
    sample_policy,
    select_actions,
    truncated_search,
)
from muzero_lite.algorithm.types import InferenceOutput

REWARD = torch.tensor([1.0, 2.0, 3.0])      # reward of taking action a
VALUE = torch.tensor([10.0, 20.0, 30.0])    # value of the state after taking action a
NEXT_LOGITS = torch.tensor([5.0, 0.0, 0.0])  # every later state prefers action 0


def recurrent(hidden, action):
    n = hidden.shape[0]
    return InferenceOutput(hidden + 1, VALUE[action], REWARD[action], NEXT_LOGITS.expand(n, 3))


def root(logits, value=4.0):
    logits = torch.tensor(logits, dtype=torch.float32)
    b = logits.shape[0]
    return InferenceOutput(torch.zeros(b, 2), torch.full((b,), value), torch.zeros(b), logits)


def test_seed_rule_by_hand():
    # root logits rank actions 1, 2, 0; k=2 searches 1 and 2; depth 2, discount 0.5, v0 = 4
    # a=1: r1=2, v1=20, then action 0: r2=1, v2=10 -> mean(4, 20, 0.5*10) + 2 + 0.5*1 = 29/3 + 2.5
    # a=2: r1=3, v1=30, then action 0: r2=1, v2=10 -> mean(4, 30, 5) + 3 + 0.5 = 13 + 3.5 = 16.5
    r = truncated_search(root([[0.1, 2.0, 1.0]]), recurrent, root_actions=2, search_depth=2, discount=0.5)
    q1 = 29 / 3 + 2.5
    assert r.searched.tolist() == [[1, 2]]
    assert r.q[0].tolist() == pytest.approx([q1, q1, 16.5])          # action 0 unsearched -> min
    assert r.root_value[0] == pytest.approx((2 * q1 + 16.5) / 3)
    lo = 0.001 / (16.5 - q1 + 0.001)
    assert r.normalised_q[0].tolist() == pytest.approx([lo, lo, 1.0], rel=1e-5)
    assert r.policy[0].tolist() == pytest.approx([lo / (1 + 2 * lo), lo / (1 + 2 * lo), 1 / (1 + 2 * lo)], rel=1e-5)


def test_nstep_rule_by_hand():
    # a=1: 2 + 0.5*1 + 0.25*10 = 5; a=2: 3 + 0.5*1 + 0.25*10 = 6; a=0 (k=3): 1 + 0.5 + 2.5 = 4
    r = truncated_search(root([[0.1, 2.0, 1.0]]), recurrent, root_actions=3, search_depth=2, discount=0.5,
                         q_rule="nstep")
    assert r.q[0].tolist() == pytest.approx([4.0, 5.0, 6.0])
    assert r.root_value[0] == pytest.approx(5.0)
    assert r.policy[0].tolist() == pytest.approx(np.array([0.001, 1.001, 2.001]) / 2.001 / (3.003 / 2.001))


def test_k1_gives_uniform_policy():
    r = truncated_search(root([[0.0, 0.0, 9.0]]), recurrent, root_actions=1, search_depth=3, discount=0.9)
    assert r.searched.tolist() == [[2]]
    assert np.allclose(r.q[0], r.q[0, 2]) and np.allclose(r.policy[0], 1 / 3)


def test_ties_rank_lower_index_first():
    r = truncated_search(root([[1.0, 1.0, 1.0]]), recurrent, root_actions=2, search_depth=1, discount=1.0)
    assert r.searched.tolist() == [[0, 1]]
    # depth 1: q = mean(v0, v1) + r1: a=0 -> (4+10)/2 + 1 = 8; a=1 -> (4+20)/2 + 2 = 14
    assert r.q[0].tolist() == pytest.approx([8.0, 14.0, 8.0])


def test_batch_items_do_not_influence_each_other():
    logits = [[0.1, 2.0, 1.0], [3.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    together = truncated_search(root(logits), recurrent, root_actions=2, search_depth=3, discount=0.9)
    for i, row in enumerate(logits):
        alone = truncated_search(root([row]), recurrent, root_actions=2, search_depth=3, discount=0.9)
        assert np.allclose(together.q[i], alone.q[0]) and np.allclose(together.policy[i], alone.policy[0])


def test_one_network_call_per_depth():
    calls = []

    def counting(hidden, action):
        calls.append(hidden.shape[0])
        return recurrent(hidden, action)

    truncated_search(root([[0.1, 2.0, 1.0]] * 4), counting, root_actions=3, search_depth=3, discount=0.9)
    assert calls == [12, 12, 12]


def test_normalise_q_by_hand():
    assert normalise_q(np.array([[1.0, 3.0, 2.0]])).tolist()[0] == pytest.approx([0.001 / 2.001, 1.0, 1.001 / 2.001])


def test_selection_probabilities_match_softmax():
    rng = np.random.default_rng(0)
    nq = np.tile(np.array([[0.0, 0.5, 1.0]]), (40000, 1))
    picks = select_actions(nq, 2.0, rng)
    expected = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()       # softmax(2 * nq)
    assert np.abs(np.bincount(picks, minlength=3) / 40000 - expected).max() < 0.01


def test_selection_seeded_and_greedy():
    nq = np.random.default_rng(1).random((50, 4))
    a = select_actions(nq, 1.0, np.random.default_rng(7))
    b = select_actions(nq, 1.0, np.random.default_rng(7))
    assert (a == b).all()
    assert (select_actions(nq, 1.0, np.random.default_rng(7), greedy=True) == nq.argmax(1)).all()


def test_sample_actions_keeps_the_first_choice_and_draws_the_rest_from_the_policy():
    # logits ln[1, 6, 3, 1] -> first choice 1; the second of k=2 is drawn from {0, 2, 3} with
    # probabilities 1/5, 3/5, 1/5; k=3 adds a third without replacement, never a repeat
    logits = torch.log(torch.tensor([[1.0, 6.0, 3.0, 1.0]])).repeat(20000, 1)
    two = sample_actions(logits, 2, np.random.default_rng(0)).numpy()
    assert (two[:, 0] == 1).all()
    freq = np.bincount(two[:, 1], minlength=4) / len(two)
    assert np.abs(freq - [0.2, 0.0, 0.6, 0.2]).max() < 0.01
    three = sample_actions(logits, 3, np.random.default_rng(1)).numpy()
    assert (three[:, 0] == 1).all() and all(len(set(row)) == 3 for row in three)
    # P(second = 2, third = 0) = 3/5 * (1/2) = 0.3
    assert abs(np.mean((three[:, 1] == 2) & (three[:, 2] == 0)) - 0.3) < 0.01


def test_sampled_search_values_the_actions_it_drew():
    # k=2 over ranks 1, 2, 0: with sampling, the second searched action is 0 or 2. The model of
    # test_seed_rule_by_hand: a=2 -> 16.5 as there; a=0: r1=1, v1=10, then action 0: r2=1, v2=10
    # -> mean(4, 10, 0.5*10) + 1 + 0.5*1. The action not searched gets the minimum.
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(40):
        r = truncated_search(root([[0.1, 2.0, 1.0]]), recurrent, root_actions=2, search_depth=2, discount=0.5,
                             sample_rng=rng)
        first, second = r.searched[0]
        assert first == 1
        seen.add(int(second))
        q_by_hand = {0: (4 + 10 + 0.5 * 10) / 3 + 1 + 0.5, 2: 16.5}[int(second)]
        assert r.q[0, second] == pytest.approx(q_by_hand, rel=1e-6)
        other = 2 if second == 0 else 0
        assert r.q[0, other] == pytest.approx(min(r.q[0, 1], r.q[0, second]))
    assert seen == {0, 2}


def test_completed_q_policy_by_hand():
    # prior (0.5, 0.3, 0.2); actions 0 and 1 searched with Q 1 and 0
    # unsearched action 2 completed with (0.5 * 1 + 0.3 * 0) / 0.8 = 0.625
    # completed Q (1, 0, 0.625) is already in [0, 1]; sigma = 51 * 0.1 * q = (5.1, 0, 3.1875)
    p = completed_q_policy(np.log([[0.5, 0.3, 0.2]]), np.array([[0, 1]]), np.array([[1.0, 0.0]]))
    raw = np.array([0.5 * np.exp(5.1), 0.3, 0.2 * np.exp(3.1875)])
    assert p[0].tolist() == pytest.approx((raw / raw.sum()).tolist(), rel=1e-9)


def test_completed_q_policy_rescales_q_and_keeps_the_prior_where_q_is_flat():
    # Q scaled by 100 and shifted gives the same policy: only the rescaled Q counts
    args = np.log([[0.5, 0.3, 0.2]]), np.array([[0, 1]])
    assert np.allclose(completed_q_policy(*args, np.array([[1.0, 0.0]])), completed_q_policy(*args, np.array([[107.0, 7.0]])))
    # every searched Q equal: the target is the prior
    assert completed_q_policy(*args, np.array([[2.0, 2.0]]))[0].tolist() == pytest.approx([0.5, 0.3, 0.2])


def test_completed_q_policy_rows_are_independent():
    # row 1 searches actions 2 and 0 with Q 3 and 1 under a uniform prior: action 1 gets (3 + 1) / 2 = 2,
    # rescaled 0.5; row 0 is the hand case above, unchanged by row 1 beside it
    logits = np.log([[0.5, 0.3, 0.2], [1 / 3, 1 / 3, 1 / 3]])
    p = completed_q_policy(logits, np.array([[0, 1], [2, 0]]), np.array([[1.0, 0.0], [3.0, 1.0]]))
    raw0 = np.array([0.5 * np.exp(5.1), 0.3, 0.2 * np.exp(3.1875)])
    raw1 = np.exp([0.0, 2.55, 5.1])
    assert p[0].tolist() == pytest.approx((raw0 / raw0.sum()).tolist(), rel=1e-9)
    assert p[1].tolist() == pytest.approx((raw1 / raw1.sum()).tolist(), rel=1e-9)


def test_search_with_completed_q_target():
    # nstep, k=2: Q(1) = 5, Q(2) = 6 (test_nstep_rule_by_hand); prior softmax(0.1, 2, 1) = (e^0.1, e^2, e) / sum
    # action 0 completed with (e^2 * 5 + e * 6) / (e^2 + e) = 5.268941; completed (5.268941, 5, 6) rescales to
    # (0.268941, 0, 1): the unsearched action sits between the searched ones
    logits = [[0.1, 2.0, 1.0]]
    r = truncated_search(root(logits), recurrent, root_actions=2, search_depth=2, discount=0.5, q_rule="nstep",
                         policy_target="completed_q")
    raw = np.exp(np.array(logits[0]) + 5.1 * np.array([0.268941, 0.0, 1.0]))
    assert r.policy[0].tolist() == pytest.approx((raw / raw.sum()).tolist(), rel=1e-4)
    # Q, root value and the normalised Q that actions are chosen from are the seed's
    seed = truncated_search(root(logits), recurrent, root_actions=2, search_depth=2, discount=0.5, q_rule="nstep")
    assert np.array_equal(r.q, seed.q) and np.array_equal(r.normalised_q, seed.normalised_q)
    with pytest.raises(ValueError, match="policy_target 'gumbel'"):
        truncated_search(root(logits), recurrent, root_actions=2, search_depth=2, discount=0.5, policy_target="gumbel")


def test_policy_root_value_by_hand():
    # nstep, k=2: Q(1) = 5, Q(2) = 6 (test_nstep_rule_by_hand); prior softmax(0.1, 2, 1): the searched
    # actions weigh e^2 and e^1, so v = (5 e^2 + 6 e) / (e^2 + e) = 5.268941 (the mean rule: (5 + 5 + 6) / 3)
    logits = [[0.1, 2.0, 1.0]]
    args = dict(root_actions=2, search_depth=2, discount=0.5, q_rule="nstep")
    mean = truncated_search(root(logits), recurrent, **args)
    policy = truncated_search(root(logits), recurrent, root_value="policy", **args)
    assert mean.root_value[0] == pytest.approx(16 / 3)
    assert policy.root_value[0] == pytest.approx((5 * np.e ** 2 + 6 * np.e) / (np.e ** 2 + np.e), rel=1e-6)
    # only the stored value changes: Q, the target policy and what is played stay the same
    assert np.array_equal(mean.q, policy.q) and np.array_equal(mean.policy, policy.policy)
    with pytest.raises(ValueError, match="root_value 'max'"):
        truncated_search(root(logits), recurrent, root_value="max", **args)


def test_policy_value_ignores_unsearched_actions():
    # a prior of (0.5, 0.3, 0.2) that searched 2 and 0 with Q -1 and 3: (0.2 * -1 + 0.5 * 3) / 0.7
    v = policy_value(np.log([[0.5, 0.3, 0.2]]), np.array([[2, 0]]), np.array([[-1.0, 3.0]]))
    assert v.tolist() == pytest.approx([1.3 / 0.7])


def test_sample_policy_draws_by_the_cumulative_row():
    policy = np.array([[0.2, 0.5, 0.3], [0.2, 0.5, 0.3], [0.0, 0.0, 1.0]])
    # u 0.1 < 0.2 -> 0; u 0.69 in [0.2, 0.7) -> 1; u 0.95 -> 2 (the last action takes what rounding leaves)
    class Fixed:                                   # a row's generator whose one uniform is given
        def __init__(self, u):
            self.u = u

        def random(self, n):
            return np.full(n, self.u)

    rngs = [Fixed(u) for u in (0.1, 0.69, 0.95)]
    assert sample_policy(policy, rngs).tolist() == [0, 1, 2]
    draws = sample_policy(np.tile([[0.2, 0.5, 0.3]], (20000, 1)), np.random.default_rng(0))
    assert np.bincount(draws, minlength=3) / 20000 == pytest.approx([0.2, 0.5, 0.3], abs=0.015)
