"""What the trainer reports: its status line, and the same figures as CSV rows beside the checkpoints."""
from __future__ import annotations

import csv
import time
from pathlib import Path


class MetricsLog:
    """train/, buffer/ and perf/ scalars as CSV rows in the checkpoints folder (appended across restarts)."""

    FIELDS = ["time", "train/step", "train/loss", "train/value_loss", "train/reward_loss", "train/policy_loss",
              "train/exploration_loss", "buffer/games", "buffer/moves", "buffer/rejected", "perf/samples_per_s",
              "perf/replay_ratio"]

    def __init__(self, path: Path):
        self.path = path
        new = not path.exists()
        self.f = open(path, "a", newline="")
        self.w = csv.writer(self.f)
        if new:
            self.w.writerow(self.FIELDS)

    def write(self, step: int, metrics, games: int, moves: int, rejected: int, rate: float, ratio: float) -> None:
        """One row: the step's losses (`learner.StepMetrics`), the buffer's size, samples/s and replay ratio."""
        self.w.writerow([f"{time.time():.1f}", step, metrics.total, metrics.value, metrics.reward, metrics.policy,
                         metrics.exploration, games, moves, rejected, f"{rate:.1f}", f"{ratio:.3f}"])
        self.f.flush()

    def close(self) -> None:
        """Close the file (every row is already flushed)."""
        self.f.close()


def status_line(step: int, metrics, games: int, moves: int, rejected: int, pruned: int, rate: float,
                ratio: float) -> str:
    """The trainer's periodic line: losses, what is loaded, speed and replay ratio."""
    return (f"[train] step {step} | loss {metrics.total:.3f} (value {metrics.value:.3f} reward "
            f"{metrics.reward:.3f} policy {metrics.policy:.3f} explore {metrics.exploration:.3f}) | "
            f"games {games} moves {moves} rejected {rejected} pruned {pruned} | "
            f"samples/s {rate:.0f} | replay ratio {ratio:.2f}")
