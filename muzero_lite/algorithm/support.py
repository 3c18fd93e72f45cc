"""Value and reward as categorical distributions over a symmetric support (docs/algorithm.md §2).

Scalars x are squashed by MuZero's invertible transform h(x) = sign(x)(sqrt(|x|+1) - 1) + eps*x,
then spread over the two neighbouring integers of [-S, S] ("two-hot"). The support is symmetric so
that negative rewards and values (death, the clock) are represented, not clipped to 0.
"""
from __future__ import annotations

import torch

EPS = 0.001


def h(x: torch.Tensor) -> torch.Tensor:
    """h(x) = sign(x)(sqrt(|x|+1) - 1) + eps*x."""
    return torch.sign(x) * (torch.sqrt(torch.abs(x) + 1) - 1) + EPS * x


def h_inverse(y: torch.Tensor) -> torch.Tensor:
    """The exact inverse of h: sign(y)(((sqrt(1 + 4eps(|y| + 1 + eps)) - 1) / (2eps))^2 - 1)."""
    a = (torch.sqrt(1 + 4 * EPS * (torch.abs(y) + 1 + EPS)) - 1) / (2 * EPS)
    return torch.sign(y) * (a * a - 1)


def scalar_to_two_hot(x: torch.Tensor, support_size: int) -> torch.Tensor:
    """[...] scalars -> [..., 2S+1] two-hot over the integers -S..S of h(x) (clipped to the ends)."""
    y = h(x.float()).clamp(-support_size, support_size)
    low = torch.floor(y)
    upper_w = y - low                                  # weight of the upper neighbour
    idx = (low + support_size).long()                  # index of the lower neighbour
    out = torch.zeros(*x.shape, 2 * support_size + 1, dtype=torch.float32, device=x.device)
    out.scatter_(-1, idx.unsqueeze(-1), (1 - upper_w).unsqueeze(-1))
    # at y == S the upper neighbour is out of range and its weight is 0: clamp the index
    upper_idx = (idx + 1).clamp(max=2 * support_size).unsqueeze(-1)
    out.scatter_add_(-1, upper_idx, torch.where(idx + 1 <= 2 * support_size, upper_w, torch.zeros_like(upper_w)).unsqueeze(-1))
    return out


def logits_to_scalar(logits: torch.Tensor) -> torch.Tensor:
    """[..., 2S+1] logits -> [...] scalars: h^-1 of the expected support value."""
    s = (logits.shape[-1] - 1) // 2
    support = torch.arange(-s, s + 1, dtype=logits.dtype, device=logits.device)
    expected = (torch.softmax(logits, dim=-1) * support).sum(-1)
    # float32 loses h^-1(0) = 0 to rounding (2.6e-5): invert in float64
    return h_inverse(expected.double()).to(logits.dtype)
