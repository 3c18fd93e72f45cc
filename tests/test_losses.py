"""muzero_lite.algorithm.losses against numbers worked out by hand.

Conventions of the arithmetic below: c_0 = 1 and c_k = 1/K for the recurrent steps; with support
size 1 the bins are the integers -1, 0, 1 (S = 3) and a scalar target 0 is all on the middle bin,
so zero logits give every value and reward cross-entropy ln 3 and every 2-action policy one ln 2.
"""
import math

import pytest
import torch

from muzero_lite.algorithm.losses import Predictions, Targets, exploration_loss, muzero_loss

LN2, LN3 = math.log(2), math.log(3)


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


def zeros_unroll(b: int, k: int, a: int = 2, bins: int = 3, policy=(0.5, 0.5)) -> tuple[Predictions, Targets]:
    """Zero logits everywhere; value and reward targets 0, the given target policy, no mask."""
    p = Predictions(value_logits=torch.zeros(k + 1, b, bins), reward_logits=torch.zeros(k, b, bins),
                    policy_logits=torch.zeros(k + 1, b, a), exploration_logits=torch.zeros(k + 1, b, a))
    tg = Targets(values=torch.zeros(k + 1, b), rewards=torch.zeros(k, b),
                 policies=t(policy).expand(k + 1, b, a).clone(), mask=torch.ones(k + 1, b))
    return p, tg


def approx(x: float):
    return pytest.approx(x, rel=1e-5, abs=1e-6)


def test_value_and_reward_cross_entropy_against_two_hot_targets():
    # support size 2: bins -2..2 (S = 5); B = 1, K = 1 (c_1 = 1); policy and exploration at zero logits
    p, tg = zeros_unroll(b=1, k=1, bins=5, policy=(1.0, 0.0))
    # step 0 value: logits (0, 0, 0, ln 2, ln 4): softmax = (1, 1, 1, 2, 4) / 9
    # target 3: h(3) = (sqrt(4) - 1) + 0.001 * 3 = 1.003 -> 0.997 on bin 1, 0.003 on bin 2
    p.value_logits[0, 0] = t([0, 0, 0, LN2, 2 * LN2])
    tg.values[0, 0] = 3.0
    value0 = -(0.997 * math.log(2 / 9) + 0.003 * math.log(4 / 9))
    # step 1 value: zero logits, target 0 -> all on bin 0: ln 5
    value1 = math.log(5)
    # step 1 reward: logits (ln 4, ln 2, 0, 0, 0): softmax = (4, 2, 1, 1, 1) / 9
    # target -8: h(-8) = -(sqrt(9) - 1) - 0.008 = -2.008, clipped to -2 -> all on bin -2: -ln(4/9)
    p.reward_logits[0, 0] = t([2 * LN2, LN2, 0, 0, 0])
    tg.rewards[0, 0] = -8.0
    reward1 = math.log(9 / 4)
    total, parts = muzero_loss(p, tg, t([1.0]), support_size=2, exploration_weight=0.0)
    assert parts.value.item() == approx(value0 + value1)
    assert parts.reward.item() == approx(reward1)
    assert parts.policy.item() == approx(2 * LN2)            # zero logits, 2 actions, 2 steps
    assert parts.exploration.item() == approx(2 * LN2)       # reported, though its weight is 0 here
    assert total.item() == approx(value0 + value1 + reward1 + 2 * LN2)


def test_policy_cross_entropy_and_its_gradient():
    # B = 1, K = 1, support size 1 (every value / reward CE ln 3), exploration weight 0
    p, tg = zeros_unroll(b=1, k=1)
    # step 0: logits (ln 3, 0) -> softmax (3/4, 1/4), target (1/2, 1/2):
    #   CE = -(1/2 ln(3/4) + 1/2 ln(1/4)) = 2 ln 2 - 1/2 ln 3
    # step 1: logits (0, 0) -> (1/2, 1/2), target (0.2, 0.8): CE = ln 2
    p.policy_logits[0, 0] = t([LN3, 0])
    tg.policies[1, 0] = t([0.2, 0.8])
    logits = p.policy_logits.requires_grad_()
    total, parts = muzero_loss(p, tg, t([1.0]), support_size=1, exploration_weight=0.0)
    assert parts.policy.item() == approx(3 * LN2 - 0.5 * LN3)
    # 2 value CEs + 1 reward CE, each ln 3, plus the policy CEs
    assert total.item() == approx(3 * LN3 + 3 * LN2 - 0.5 * LN3)
    total.backward()
    # dCE/dlogits = softmax - target: step 0 (3/4 - 1/2, 1/4 - 1/2), step 1 (1/2 - 0.2, 1/2 - 0.8)
    assert logits.grad[0, 0].tolist() == [approx(0.25), approx(-0.25)]
    assert logits.grad[1, 0].tolist() == [approx(0.3), approx(-0.3)]


def test_recurrent_steps_count_one_over_k_and_masked_steps_count_nothing():
    # B = 2, K = 2: c = (1, 1/2, 1/2); support size 1; exploration weight 0
    # sample 1's game was cut short after step 0: mask (1, 0, 0)
    p, tg = zeros_unroll(b=2, k=2)
    tg.mask[1:, 1] = 0
    # past the end, sample 1's logits are off: value logits (ln 4, ln 2, 0) with target 0 (middle bin)
    # give CE -ln(2/7) = ln 3.5 at steps 1 and 2; so does its reward of step 2 (move t+1, past the end)
    p.value_logits[1:, 1] = t([2 * LN2, LN2, 0])
    p.reward_logits[1, 1] = t([2 * LN2, LN2, 0])
    ln35 = math.log(3.5)
    total, parts = muzero_loss(p, tg, t([1.0, 1.0]), support_size=1, exploration_weight=0.0)
    # sample 0: value + policy (ln 3 + ln 2) x (1 + 1/2 + 1/2) + rewards of steps 1, 2: ln 3 x (1/2 + 1/2)
    #   = 3 ln 3 + 2 ln 2
    # sample 1: step 0 only (ln 3 + ln 2) + the reward of step 1 (move t, mask of step 0 = 1): ln 3 / 2
    #   = 1.5 ln 3 + ln 2; the reward of step 2 (mask of step 1 = 0) and the ln 3.5s count nothing
    assert total.item() == approx((3 * LN3 + 2 * LN2 + 1.5 * LN3 + LN2) / 2)
    # the parts count every step, masked or not: value (2 ln 3 + (ln 3 + ln 3.5 / 2 + ln 3.5 / 2)) / 2,
    # reward (ln 3 + (ln 3 / 2 + ln 3.5 / 2)) / 2, policy 2 ln 2 for both samples
    assert parts.value.item() == approx((3 * LN3 + ln35) / 2)
    assert parts.reward.item() == approx((1.5 * LN3 + 0.5 * ln35) / 2)
    assert parts.policy.item() == approx(2 * LN2)


def test_importance_weights_scale_the_total_but_not_the_parts():
    # B = 2, K = 1 (c = (1, 1)), support size 1, weights (1, 1/2), exploration weight 0
    p, tg = zeros_unroll(b=2, k=1)
    # sample 1's step-0 value logits (ln 4, ln 2, 0), target 0: CE = -ln(2/7) = ln 3.5
    p.value_logits[0, 1] = t([2 * LN2, LN2, 0])
    ln35 = math.log(3.5)
    total, parts = muzero_loss(p, tg, t([1.0, 0.5]), support_size=1, exploration_weight=0.0)
    # L_0 = 2 value ln 3 + 1 reward ln 3 + 2 policy ln 2 = 3 ln 3 + 2 ln 2
    # L_1 = ln 3.5 + ln 3 + ln 3 + 2 ln 2 = 2 ln 3 + ln 3.5 + 2 ln 2
    # total = (1 x L_0 + 1/2 x L_1) / 2 = 2 ln 3 + ln 3.5 / 4 + 1.5 ln 2
    assert total.item() == approx(2 * LN3 + ln35 / 4 + 1.5 * LN2)
    # parts: plain batch means, weights ignored
    assert parts.value.item() == approx((2 * LN3 + ln35 + LN3) / 2)
    assert parts.reward.item() == approx(LN3)
    assert parts.policy.item() == approx(2 * LN2)


def test_exploration_term_is_subtracted_and_pushes_the_policy_away_from_its_prediction():
    # B = 1, K = 1 (c = (1, 1)), support size 1; policy logits 0 -> p = (1/2, 1/2) = the target policy,
    # so the policy CE has no gradient; exploration logits (ln 3, 0) -> q = (3/4, 1/4) at both steps
    p, tg = zeros_unroll(b=1, k=1)
    p.exploration_logits[:, 0] = t([LN3, 0])
    policy, explore = p.policy_logits.requires_grad_(), p.exploration_logits.requires_grad_()
    w = 0.1
    total, parts = muzero_loss(p, tg, t([1.0]), support_size=1, exploration_weight=w)
    # CE(p, q) = -(1/2 ln(3/4) + 1/2 ln(1/4)) = 2 ln 2 - 1/2 ln 3 per step, two steps
    assert parts.exploration.item() == approx(4 * LN2 - LN3)
    # the rest: 2 value + 1 reward CE (ln 3 each) + 2 policy CE (ln 2 each); the term DEcreases the total
    assert total.item() == approx(3 * LN3 + 2 * LN2 - w * (4 * LN2 - LN3))
    total.backward()
    # dCE/dl_j = -p_j (ln q_j - sum_a p_a ln q_a), sum_a p_a ln q_a = 1/2 ln 3 - 2 ln 2:
    #   j = 0: -1/2 (ln 3 - 2 ln 2 - 1/2 ln 3 + 2 ln 2) = -ln 3 / 4;  j = 1: +ln 3 / 4
    # d total / dl = -w dCE/dl = (w ln 3 / 4, -w ln 3 / 4): descent lowers the move the exploration
    # network expects (q = 3/4) and raises the other
    for k in range(2):
        assert policy.grad[k, 0].tolist() == [approx(w * LN3 / 4), approx(-w * LN3 / 4)]
        assert policy.grad[k, 0, 0] > 0 > policy.grad[k, 0, 1]
    # the term also reaches the exploration logits (and so the hidden states): -w (q - p)
    assert explore.grad[:, 0].tolist() == [[approx(-w / 4), approx(w / 4)]] * 2


def test_exploration_loss_learns_the_policy_and_leaves_it_alone():
    # K = 2 (c = (1, 1/2, 1/2)), B = 1; policy logits 0 -> p = (1/2, 1/2)
    # exploration logits (ln 3, 0) -> q = (3/4, 1/4) at steps 0 and 1, (0, 0) -> (1/2, 1/2) at step 2
    policy = torch.zeros(3, 1, 2, requires_grad=True)
    explore = t([[[LN3, 0]], [[LN3, 0]], [[0, 0]]]).requires_grad_()
    loss = exploration_loss(policy, explore)
    # (2 ln 2 - 1/2 ln 3) x (1 + 1/2) + ln 2 x 1/2 = 3.5 ln 2 - 0.75 ln 3
    assert loss.item() == approx(3.5 * LN2 - 0.75 * LN3)
    loss.backward()
    # c_k (q - p): (1/4, -1/4), (1/8, -1/8), (0, 0); the policy is the target: no gradient
    assert explore.grad[:, 0].tolist() == [[approx(0.25), approx(-0.25)], [approx(0.125), approx(-0.125)],
                                           [approx(0.0), approx(0.0)]]
    assert policy.grad is None


def test_batch_major_targets_are_refused():
    p, tg = zeros_unroll(b=3, k=1)
    with pytest.raises(ValueError, match="values"):
        muzero_loss(p, tg._replace(values=torch.zeros(3, 2)), t([1.0, 1.0, 1.0]), support_size=1,
                    exploration_weight=0.0)


def test_observation_loss_by_hand():
    from muzero_lite.algorithm.losses import observation_loss
    # K = 1, B = 2, O = 2; c_0 = 1, c_1 = 1/1; sample 1's step 1 is past its game's end (mask 0)
    decoded = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[2.0, 2.0], [5.0, -5.0]]])     # [K+1, B, O]
    frames = torch.tensor([[[0.0, 0.0], [1.0, 1.0]], [[0.0, 2.0], [0.0, 0.0]]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    weights = torch.tensor([1.0, 0.5])
    # sample 0: step 0 mean((1, 0)^2) = 0.5, step 1 mean((2, 0)^2) = 2 -> 2.5; sample 1: step 0 mean(1, 1) = 1 -> 1
    total, report = observation_loss(decoded, frames, mask, weights)
    assert report.item() == pytest.approx((2.5 + 1.0) / 2)
    assert total.item() == pytest.approx((2.5 * 1.0 + 1.0 * 0.5) / 2)
    # the frames are targets: no gradient reaches them
    frames.requires_grad_(True)
    decoded.requires_grad_(True)
    observation_loss(decoded, frames, mask, weights)[0].backward()
    assert frames.grad is None and decoded.grad is not None
    with pytest.raises(ValueError, match=r"\[K\+1, B, O\]"):
        observation_loss(decoded, frames[:, :1], mask, weights)
