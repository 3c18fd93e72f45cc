"""The pure functions of the benchmark scripts, against hand-computed cases."""
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from selfplay_diagnostics import Game, stop_bands, value_error  # noqa: E402


def test_value_error_of_an_ended_game():
    # returns with discount 0.5: [1 + 0.5 + 0.25, 1 + 0.5, 1] = [1.75, 1.5, 1]
    err, n = value_error(np.array([1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0]), 0.5, ended=True)
    assert n == 3 and err == pytest.approx(0.75 + 0.5 + 0.0)


def test_value_error_skips_positions_whose_return_a_time_limit_hides():
    # discount 0.5: 0.5^7 < 0.01 <= 0.5^6, so the last 7 positions before a cut are not counted
    rewards = np.zeros(10)
    err, n = value_error(np.full(10, 2.0), rewards, 0.5, ended=False)
    assert n == 3 and err == pytest.approx(6.0)


def test_stop_bands_count_ended_and_cut_games_per_band():
    def game(x, ended):
        return Game(1, 0, x, x >= 3161, None, None, 0.0, 0, ended)
    games = [game(650, True), game(699, False), game(700, True), game(3161, True), game(612, True)]
    assert stop_bands(games) == [(600, 2, 1), (700, 1, 0), (3100, 1, 0)]
