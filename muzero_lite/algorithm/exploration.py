"""Temporally extended exploration for self-play (docs/algorithm.md §3.8): εz-greedy (Dabney et al. 2020).

At a move that is not already part of one, with probability ε self-play starts a stretch of random
play: one uniformly random action, held for n moves, n drawn from the zeta distribution with
exponent μ (P(n) ∝ n^-μ: mostly 1, now and then tens of moves). A held push, swing or run-and-jump
reaches states that a fresh random move at every step almost never does. The search still runs
at every position, so its policy and root value are stored as usual; only the move played is
the explorer's. A pure state machine with no env or network: the game hands it its generator.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def game_epsilon(rng: np.random.Generator, epsilon: float, spread: float) -> float:
    """One game's ε: epsilon^(1 + spread·u), u ~ U(0, 1) drawn from the game's generator (no draw when
    spread is 0). Ape-X's ladder of actors (ε 0.4, spread 7) as a distribution over games: most games play
    close to the search's choice, a few explore a lot, so an env that needs no exploration still gets
    near-greedy games, and one that needs it gets wild ones."""
    return epsilon if spread <= 0 else float(epsilon ** (1 + spread * rng.random()))


def hold_length(rng: np.random.Generator, mu: float, cap: int) -> int:
    """n >= 1 moves from the zeta distribution with exponent mu > 1 (numpy's zipf), at most cap."""
    return int(min(rng.zipf(mu), cap))


class HeldExploration:
    """One game's εz-greedy state: the held action and how many moves of it are left."""

    def __init__(self, epsilon: float, mu: float, num_actions: int, cap: int):
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon {epsilon} must be in [0, 1]")
        if mu <= 1:
            raise ValueError(f"mu {mu} must be > 1 (the zeta distribution needs it)")
        self.epsilon, self.mu, self.num_actions, self.cap = epsilon, mu, num_actions, cap
        self.action, self.left = 0, 0

    def next(self, rng: np.random.Generator) -> Optional[int]:
        """The explorer's move at this position, or None when the search's choice stands.

        Draws from rng only when no stretch is held and ε > 0: one uniform for ε, and, when a stretch
        starts, the action and its length. With ε = 0 it draws nothing: games play as without it.
        """
        if self.left > 0:
            self.left -= 1
            return self.action
        if self.epsilon <= 0 or rng.random() >= self.epsilon:
            return None
        self.action = int(rng.integers(self.num_actions))
        self.left = hold_length(rng, self.mu, self.cap) - 1
        return self.action
