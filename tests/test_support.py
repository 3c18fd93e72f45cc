import pytest
import torch

from muzero_lite.algorithm.support import h, h_inverse, logits_to_scalar, scalar_to_two_hot


def test_h_by_hand():
    # h(3) = sqrt(4) - 1 + 0.003 = 1.003; h(-8) = -(3 - 1) - 0.008 = -2.008
    assert h(torch.tensor([3.0, -8.0, 0.0])).tolist() == pytest.approx([1.003, -2.008, 0.0], abs=1e-6)


def test_h_round_trip_including_negatives():
    x = torch.tensor([-500.0, -15.0, -1.0, -0.25, 0.0, 0.5, 1.0, 7.0, 120.0, 3000.0], dtype=torch.float64)
    assert torch.allclose(h_inverse(h(x)), x, rtol=1e-6, atol=1e-6)


def test_two_hot_by_hand():
    # h(3) = 1.003 -> bins 1 and 2 with weights 0.997 and 0.003; h(-8) = -2.008 -> bins -3 (0.008), -2 (0.992)
    t = scalar_to_two_hot(torch.tensor([3.0, -8.0]), 5)       # support -5..5 -> index = value + 5
    assert t.shape == (2, 11)
    assert t[0, 6].item() == pytest.approx(0.997, abs=1e-5) and t[0, 7].item() == pytest.approx(0.003, abs=1e-5)
    assert t[1, 2].item() == pytest.approx(0.008, abs=1e-5) and t[1, 3].item() == pytest.approx(0.992, abs=1e-5)
    assert t.sum(1).tolist() == pytest.approx([1.0, 1.0])


def test_two_hot_clips_at_both_ends():
    t = scalar_to_two_hot(torch.tensor([1e6, -1e6]), 3)
    assert t[0, -1].item() == 1.0 and t[1, 0].item() == 1.0
    assert t.sum(1).tolist() == [1.0, 1.0]


def test_scalar_two_hot_scalar_round_trip():
    x = torch.tensor([-40.0, -3.5, -1.0, 0.0, 0.3, 2.5, 10.0, 150.0])
    logits = torch.log(scalar_to_two_hot(x, 20) + 1e-12)
    assert torch.allclose(logits_to_scalar(logits), x, rtol=1e-3, atol=1e-3)


def test_uniform_logits_mean_zero():
    assert logits_to_scalar(torch.zeros(4, 41)).abs().max().item() < 1e-6
