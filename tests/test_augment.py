"""DrQ's random shift, by hand."""
import pytest
import torch

from muzero_lite.algorithm.augment import random_shift, shift


def test_shift_crops_the_edge_padded_image_at_the_offsets():
    x = torch.arange(9.0).view(1, 1, 3, 3)              # [[0 1 2] [3 4 5] [6 7 8]]
    x = torch.cat([x, 10 * x])                           # two samples, each its own offset
    out = shift(x, 1, torch.tensor([[0, 0], [2, 1]]))
    # sample 0 from the padded image's top-left: the first row and column repeated
    assert out[0, 0].tolist() == [[0, 0, 1], [0, 0, 1], [3, 3, 4]]
    # sample 1 two rows down, one column right: the last row repeated, columns unmoved
    assert out[1, 0].tolist() == [[30, 40, 50], [60, 70, 80], [60, 70, 80]]
    assert torch.equal(shift(x, 1, torch.tensor([[1, 1], [1, 1]])), x)    # (pad, pad): unchanged


def test_random_shift_moves_every_channel_of_a_sample_alike_within_the_pad():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 8, 8)
    x[:, 1] = x[:, 0]                                    # channel 1 a copy of channel 0
    out = random_shift(x, 2, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and torch.equal(out[:, 1], out[:, 0])
    moved = [not torch.equal(out[b], x[b]) for b in range(64)]
    assert 50 < sum(moved) < 64                          # 1 in 25 offsets is (2, 2): unchanged
    assert random_shift(x, 0) is x


def test_shift_refuses_other_shapes():
    with pytest.raises(ValueError, match=r"x \(3, 8, 8\) must be \[B, C, H, W\]"):
        shift(torch.zeros(3, 8, 8), 1, torch.zeros(3, 2, dtype=torch.long))
