"""Mario's action sets (button combinations) and the controller byte of each move."""
from __future__ import annotations

# nes-py's controller bitmap: one bit a button.
BUTTON_BITS = {"right": 7, "left": 6, "down": 5, "up": 4, "start": 3, "select": 2, "B": 1, "A": 0}


# The action sets of gym_super_mario_bros.actions, written out so that validating a config does not
# import the emulator (and gym, which prints a notice on import); a test checks they still match.
RIGHT_ONLY = [["NOOP"], ["right"], ["right", "A"], ["right", "B"], ["right", "A", "B"]]
SIMPLE_MOVEMENT = RIGHT_ONLY + [["A"], ["left"]]
COMPLEX_MOVEMENT = SIMPLE_MOVEMENT + [["left", "A"], ["left", "B"], ["left", "A", "B"], ["down"], ["up"]]


def action_sets() -> dict:
    """The three action sets by config name."""
    return {"complex": COMPLEX_MOVEMENT, "simple": SIMPLE_MOVEMENT, "right_only": RIGHT_ONLY}


def action_count(name: str) -> int:
    """The number of moves of the action set called name."""
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


def action_names(name: str) -> list[str]:
    """Name of each move of an action set, its buttons joined by "+" (e.g. "right+A+B", "NOOP")."""
    return ["+".join(buttons) for buttons in action_sets()[name]]
