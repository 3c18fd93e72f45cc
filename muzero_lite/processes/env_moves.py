"""The run's env-move count: the moves of every game the trainer has loaded, across its restarts.

It is the x axis of every curve and the denominator of the pinned replay ratio (samples trained per
env move), so it has one owner, the trainer, which counts each game as it loads it (`add`). Where
it is written down: each game's row in checkpoints/selfplay_metrics.csv (the running total), each
checkpoint (`save_checkpoint(env_moves=...)`), pace.json and the train rows. A restarted trainer
continues from the selfplay CSV (`resume`): the total its last row reached, and the games it had
counted that are still in games/, which are loaded again but not counted again.
"""
from __future__ import annotations

from pathlib import Path

from ..data.gamefile import list_game_files
from ..reporting.metrics import SELFPLAY_CSV, column, read_rows


class EnvMoves:
    """Env moves loaded so far (`total`), and the names of games already counted by an earlier trainer."""

    def __init__(self, total: int = 0, counted: set[str] | None = None):
        self.total = int(total)
        self.counted = set(counted or ())

    @classmethod
    def resume(cls, checkpoints: Path, games: Path) -> "EnvMoves":
        """The count an earlier trainer of this run folder reached, from its selfplay CSV (0 if none)."""
        rows = read_rows(Path(checkpoints) / SELFPLAY_CSV)
        moves = [x for x in column(rows, "env_moves") if x is not None]
        present = {p.name for p in list_game_files(games)}
        return cls(int(max(moves, default=0)), {r["game"] for r in rows if r.get("game") in present})

    def add(self, name: str, length: int) -> bool:
        """Count a loaded game; False (not counted) for one an earlier trainer counted already."""
        if name in self.counted:
            self.counted.discard(name)
            return False
        self.total += int(length)
        return True
