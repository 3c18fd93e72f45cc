"""benchmarks/gap_probe.py: its pure figures by hand, and its replay on the real 1-1 emulator."""
import sys

import numpy as np
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import gap_probe  # noqa: E402
from gap_probe import GAPS_1_1, Replay, continuations, gap_at, gap_rates, held_from, last_chance  # noqa: E402

from muzero_lite.envs.mario_actions import action_names  # noqa: E402


def test_gap_at_names_the_gap_a_game_ended_by():
    assert gap_at(1104 - 16, GAPS_1_1) == "gap 1" and gap_at(1136 + 31, GAPS_1_1) == "gap 1"
    assert gap_at(1104 - 17, GAPS_1_1) is None and gap_at(1136 + 32, GAPS_1_1) is None
    assert gap_at(1430, GAPS_1_1) == "gap 2" and gap_at(300, GAPS_1_1) is None


def test_gap_rates_count_arrivals_crossings_and_falls_by_hand():
    rows = [{"max_x": "300", "death": "enemy"},       # never reached gap 1
            {"max_x": "1120", "death": "pit"},        # reached gap 1, fell in
            {"max_x": "1150", "death": "enemy"},      # reached gap 1, neither over (< 1168) nor in a pit
            {"max_x": "1200", "death": "enemy"},      # over gap 1, not at gap 2
            {"max_x": "1400", "death": "pit"},        # over gap 1, in gap 2
            {"max_x": "2000", "death": ""}]           # over gaps 1 and 2
    assert gap_rates(rows, GAPS_1_1) == {"gap 1": (5, 3, 1), "gap 2": (2, 1, 1), "gap 3": (0, 0, 0)}


def test_continuations_wait_hold_a_jump_and_run_on():
    names = action_names("complex")
    conts = dict(continuations(names))
    run, jump = names.index("right+B"), names.index("right+A+B")
    assert len(conts) == len(gap_probe.WAITS) * len(gap_probe.HOLDS)
    assert conts["w2h3"][:6] == [run, run, jump, jump, jump, run]
    assert all(len(m) == gap_probe.CONTINUATION_MOVES for m in conts.values())


def test_last_chance_and_held_from():
    assert last_chance([True, True, False, True, False, False]) == 3
    assert last_chance([False, False]) is None and last_chance([]) is None
    a = np.array([1, 4, 4, 2, 3, 4])
    assert held_from(a, 1, {2, 4}) == 3 and held_from(a, 0, {2, 4}) == 0 and held_from(a, 5, {2, 4}) == 1


def test_replay_tries_a_way_and_comes_back_to_the_same_state_on_the_real_emulator():
    names = action_names("complex")
    run = names.index("right+B")
    replay = Replay("1-1", 4, "complex")
    try:
        for _ in range(5):
            replay.move(run)
        x0 = replay.x
        replay.emulator._backup()
        assert replay.crosses([run] * 20, x0 + 60)                 # running gets 60 px on
        assert not replay.crosses([names.index("NOOP")] * 20, x0 + 60)   # standing still does not
        assert replay.x == x0 and not replay.done
        replay.move(run)                                           # the game goes on as if nothing was tried
        x_after = replay.x
    finally:
        replay.close()
    straight = Replay("1-1", 4, "complex")
    try:
        for _ in range(6):
            straight.move(run)
        assert straight.x == x_after > x0
    finally:
        straight.close()
