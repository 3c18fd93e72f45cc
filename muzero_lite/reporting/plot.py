"""`muzero-lite plot`: one PNG of a run's progress, drawn from the CSV files its trainer writes.

Reads checkpoints/selfplay_metrics.csv, train_metrics.csv and (when there is one)
eval_metrics.csv (`muzero_lite.reporting.metrics`) and writes plots/run.png in the run folder, six panels:

  return by env moves            max-x by env moves (Mario), else self-play moves/s
  losses by training step        replay ratio and samples/s by training step
  policy entropy and how often   eval: mean return (and mean max-x) by env moves
  the search changed the move

Self-play panels draw each game as a faint point and the moving average of 100 games bold, and
mark games that reached the flag. Matplotlib draws off-screen (Agg canvas, never a display).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from ..data.atomic import atomic_write
from .metrics import EVAL_CSV, SELFPLAY_CSV, TRAIN_CSV, column, read_rows

PLOTS = "plots"
PNG = "run.png"
# games in the moving average of the self-play panels
AVERAGE_GAMES = 100
# figure size in inches at DPI: the PNG is 1400 x 1200 pixels
FIGSIZE, DPI = (14, 12), 100


class PlotError(ValueError):
    """A run folder with nothing to plot; the message is one line naming the folder."""


def moving_average(values: np.ndarray, n: int = AVERAGE_GAMES) -> np.ndarray:
    """Trailing mean over the last n values (fewer at the start, where fewer exist)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    sums = np.cumsum(np.concatenate([[0.0], values]))
    idx = np.arange(1, values.size + 1)
    start = np.maximum(idx - n, 0)
    return (sums[idx] - sums[start]) / (idx - start)


def _pairs(x: list, y: list) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) points where both are numbers, as arrays."""
    keep = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    if not keep:
        return np.zeros(0), np.zeros(0)
    arr = np.asarray(keep, dtype=np.float64)
    return arr[:, 0], arr[:, 1]


def _empty(ax, title: str, why: str) -> None:
    """A panel with nothing to draw: its title and why."""
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def _games_panel(ax, games: list[dict], key: str, title: str, ylabel: str, color: str) -> None:
    """One self-play figure by env moves: each game faint, the moving average bold, flags marked."""
    x, y = _pairs(column(games, "env_moves"), column(games, key))
    if x.size == 0:
        _empty(ax, title, "no games loaded yet")
        return
    ax.plot(x, y, ".", ms=3, alpha=0.25, color=color, label="one game")
    ax.plot(x, moving_average(y), lw=2.2, color=color, label=f"mean of {AVERAGE_GAMES} games")
    fx, fy = _pairs(column(games, "env_moves"), [v if f == 1 else None for v, f in
                                                 zip(column(games, key), column(games, "flag"))])
    if fx.size:
        ax.plot(fx, fy, "*", ms=9, color="gold", mec="black", mew=0.5, label=f"flag ({fx.size})")
    ax.set_title(f"{title} ({x.size} games)")
    ax.set_xlabel("env moves")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)


def _titled(ax, drawn: int, name: str, why_empty: str, title: str, xlabel: str, legend_at: str) -> None:
    """A panel's title, x label, grid and legend once something was drawn; else the empty panel."""
    if not drawn:
        _empty(ax, name, why_empty)
        return
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend_at, fontsize=8)


def _losses_panel(ax, train: list[dict]) -> None:
    """The losses by training step: the parts, their total and the optimised (weighted) loss."""
    steps = column(train, "train/step")
    lines = [("train/loss", "loss (sum of parts)", "black", "-", 2.0),
             ("train/weighted_loss", "weighted (optimised)", "black", "--", 1.2),
             ("train/value_loss", "value", "tab:blue", "-", 1.2), ("train/reward_loss", "reward", "tab:orange", "-", 1.2),
             ("train/policy_loss", "policy", "tab:green", "-", 1.2),
             ("train/exploration_loss", "exploration", "tab:purple", "-", 1.0)]
    drawn = 0
    for key, label, color, style, lw in lines:
        x, y = _pairs(steps, column(train, key))
        if x.size:
            ax.plot(x, y, style, color=color, lw=lw, label=label)
            drawn += 1
    _titled(ax, drawn, "losses", "no training steps yet", "losses by training step", "training step",
            "best")                            # a few hundred points at most: "best" stays fast


def _speed_panel(ax, train: list[dict]) -> None:
    """Replay ratio (left axis) and training samples/s (right axis) by training step."""
    steps = column(train, "train/step")
    rx, ry = _pairs(steps, column(train, "train/replay_ratio"))
    sx, sy = _pairs(steps, column(train, "train/samples_per_s"))
    if not rx.size and not sx.size:
        _empty(ax, "replay ratio and samples/s", "no training steps yet")
        return
    ax.plot(rx, ry, color="tab:red", lw=1.5, label="replay ratio")
    ax.set_ylabel("replay ratio (samples / moves loaded)", color="tab:red")
    right = ax.twinx()
    right.plot(sx, sy, color="tab:gray", lw=1.0, alpha=0.8, label="samples/s")
    right.set_ylabel("samples/s", color="tab:gray")
    ax.set_title("replay ratio and samples/s by training step")
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)


def _search_panel(ax, games: list[dict]) -> None:
    """Self-play's policy entropy and the share of moves where the search overruled the policy."""
    moves = column(games, "env_moves")
    drawn = 0
    for key, label, color in (("policy_entropy", "policy entropy (nats)", "tab:blue"),
                              ("search_changed", "search changed the move (share)", "tab:orange")):
        x, y = _pairs(moves, column(games, key))
        if x.size:
            ax.plot(x, y, ".", ms=3, alpha=0.2, color=color)
            ax.plot(x, moving_average(y), lw=2, color=color, label=label)
            drawn += 1
    _titled(ax, drawn, "self-play search", "no searched games yet (random games have none)",
            "self-play search by env moves", "env moves", "upper right")


def _eval_panel(ax, evals: list[dict], mario: bool) -> None:
    """Eval's mean return per level by env moves (and mean max-x for Mario, right axis)."""
    if not evals:
        _empty(ax, "eval", f"no eval rows yet ({EVAL_CSV})")
        return
    levels = list(dict.fromkeys(r.get("level") or "" for r in evals))
    right = ax.twinx() if mario else None
    for i, level in enumerate(levels):
        rows = [r for r in evals if (r.get("level") or "") == level]
        color = f"C{i % 10}"
        x, y = _pairs(column(rows, "env_moves"), column(rows, "mean_return"))
        ax.plot(x, y, "o-", color=color, label=f"{level} mean return")
        if right is not None:
            mx, my = _pairs(column(rows, "env_moves"), column(rows, "mean_max_x"))
            right.plot(mx, my, "s--", color=color, alpha=0.6, label=f"{level} mean max-x")
    if right is not None:
        right.set_ylabel("mean max-x (squares)")
    ax.set_title("eval (greedy games) by env moves")
    ax.set_xlabel("env moves")
    ax.set_ylabel("mean return")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)


def run_plot(run_dir: str | os.PathLike = ".", out=sys.stdout, checkpoints: Optional[str | os.PathLike] = None) -> Path:
    """Draw the run in run_dir as <run_dir>/plots/run.png (1400 x 1200 pixels); prints and returns its path.

    checkpoints: the folder holding the CSV files (default <run_dir>/checkpoints). Raises
    PlotError when it holds neither selfplay_metrics.csv nor train_metrics.csv.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run = Path(run_dir)
    folder = run / "checkpoints" if checkpoints is None else Path(checkpoints)
    if not (folder / SELFPLAY_CSV).is_file() and not (folder / TRAIN_CSV).is_file():
        raise PlotError(f"{folder}: no {SELFPLAY_CSV} or {TRAIN_CSV} to plot (the trainer writes them; "
                        f"is {run} a run folder?)")
    games, train, evals = (read_rows(folder / name) for name in (SELFPLAY_CSV, TRAIN_CSV, EVAL_CSV))
    mario = any(x is not None for x in column(games, "max_x"))

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 2)
    _games_panel(axes[0, 0], games, "return", "self-play return by env moves", "return", "tab:blue")
    if mario:
        _games_panel(axes[0, 1], games, "max_x", "self-play max-x by env moves", "max x", "tab:green")
    else:
        _games_panel(axes[0, 1], games, "moves_per_s", "self-play speed by env moves", "moves/s of the worker",
                     "tab:gray")
    _losses_panel(axes[1, 0], train)
    _speed_panel(axes[1, 1], train)
    _search_panel(axes[2, 0], games)
    _eval_panel(axes[2, 1], evals, mario)
    moves = max((x for x in column(games, "env_moves") if x is not None), default=0)
    step = max((x for x in column(train, "train/step") if x is not None), default=0)
    fig.suptitle(f"{run.resolve().name}: {len(games)} games, {int(moves)} env moves, training step {int(step)}")
    fig.tight_layout(rect=(0, 0, 1, 0.97))

    path = run / PLOTS / PNG
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))
    print(path, file=out, flush=True)
    return path
