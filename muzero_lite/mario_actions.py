"""Mario's action sets (button combinations) and the controller byte of each move."""
from __future__ import annotations

# nes-py's controller bitmap: one bit a button.
BUTTON_BITS = {"right": 7, "left": 6, "down": 5, "up": 4, "start": 3, "select": 2, "B": 1, "A": 0}


def action_sets() -> dict:
    """The three action sets of gym-super-mario-bros, by config name."""
    from gym_super_mario_bros.actions import COMPLEX_MOVEMENT, RIGHT_ONLY, SIMPLE_MOVEMENT
    return {"complex": COMPLEX_MOVEMENT, "simple": SIMPLE_MOVEMENT, "right_only": RIGHT_ONLY}


def action_count(name: str) -> int:
    return len(action_sets()[name])


def action_bytes(name: str) -> list[int]:
    """Controller byte of each move of an action set, in the set's order."""
    out = []
    for buttons in action_sets()[name]:
        byte = 0
        for b in buttons:
            if b != "NOOP":
                byte |= 1 << BUTTON_BITS[b]
        out.append(byte)
    return out
