"""What the self-play games of a run say about its search, block by block (reads games/, writes nothing).

    .venv/bin/python benchmarks/selfplay_diagnostics.py RUN_DIR [--block 150] [--config FILE] [--csv OUT] [--where N]

Per block of consecutive game files (in the order they were written; numbers count every file):
checkpoint steps, mean and max of max-x (Mario) or return, flags, the policy network's mean entropy at
the searched positions (nats; ln 12 = 2.48 is uniform over Mario's 12 actions), the share of positions
where the search's best action was not the policy's first choice, and the value error: mean
|root value - discounted return actually collected| over the positions whose return is known (every
position of a game that ended; for a game cut by a time limit, positions at least `horizon` moves
before the cut, where discount^horizon < 0.01). The root values were predicted before the trainer saw
the game, so this is the search's value error on games it had not learned from. The root value is
SPEC's mean of Q over all actions with the unsearched ones at the minimum, so it is biased low: the
error holds that bias as well as the networks' error. Games written before these fields existed show
"-" for entropy and changed.

--where N (Mario) adds where the last N games stopped: their max-x in 100-pixel bands, and in each band
how many games ended there (a death, or the flag) and how many were cut by env.max_moves or ended by
env.stall_moves (Mario stuck, e.g. at a pipe). Bands that hold many games are the obstacles the agent
has not learned to pass. For the cut or stalled games it also prints how many moves each played after
its last move with a positive reward (x progress or a coin: the stall) and which actions those moves were.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from common import print_columns, stall_start, stuck

from muzero_lite.algorithm.targets import value_targets
from muzero_lite.config import load_config
from muzero_lite.data.gamefile import GameFileError, list_game_files, read_game
from muzero_lite.envs.mario_actions import action_sets


def discounted_returns(rewards: np.ndarray, discount: float) -> np.ndarray:
    """[T] rewards -> [T] sum_i discount^i r_(t+i) to the end of the game (nothing after it)."""
    return value_targets(rewards, np.zeros_like(rewards), discount, td_steps=max(len(rewards), 1))


def value_error(root_values: np.ndarray, rewards: np.ndarray, discount: float, ended: bool) -> tuple[float, int]:
    """(sum of |root value - return|, positions counted) of one game; see the module doc for which."""
    g = discounted_returns(rewards, discount)
    n = len(rewards)
    if not ended:
        horizon = math.ceil(math.log(0.01) / math.log(discount)) if discount < 1 else n
        n = max(n - horizon, 0)
    return float(np.abs(root_values[:n] - g[:n]).sum()), n


def _mean(xs: list) -> str:
    """The mean of the values that are not None, as table text ("-" if none are)."""
    xs = [x for x in xs if x is not None]
    return f"{sum(xs) / len(xs):.3f}" if xs else "-"


class Game(NamedTuple):
    """What one game file says about its search (one row of input to the per-block table)."""
    number: int                     # position among all game files, from 1
    step: Optional[int]             # training step of the checkpoint that played it (None: uniform)
    score: float                    # max-x (Mario) or return
    flag: bool
    entropy: Optional[float]
    changed: Optional[float]
    error: float                    # sum of |root value - return| over the counted positions
    counted: int
    ended: bool                     # ended by the game (death, flag, stall), not cut by the move limit
    stall: Optional[np.ndarray] = None   # a cut or stalled game's actions after its last positive reward


BAND = 100                          # pixels of max-x per band in --where


def stop_bands(games: list[Game]) -> list[tuple[int, int, int]]:
    """[(band start, games that died or won there, games cut by the move limit or a stall there)] by max-x band."""
    counts: dict[int, list[int]] = {}
    for g in games:
        c = counts.setdefault(int(g.score) // BAND * BAND, [0, 0])
        c[1 if g.stall is not None else 0] += 1
    return [(x, *counts[x]) for x in sorted(counts)]


def stall_actions(rewards: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The actions after the last move with a positive reward (all of them if none had one)."""
    return actions[stall_start(rewards):]


def print_stalls(games: list[Game], names: list[str]) -> None:
    """The cut or stalled games' moves after their last positive reward: how many, and their actions' shares."""
    stalls = [g.stall for g in games if g.stall is not None]
    if not stalls:
        return
    moves = np.concatenate(stalls)
    shares = np.bincount(moves, minlength=len(names)) / max(len(moves), 1)
    print(f"{len(stalls)} cut or stalled games: moves after the last positive reward, median {np.median([len(a) for a in stalls]):.0f}; "
          f"their actions: " + ", ".join(f"{'+'.join(n)} {sh:.2f}" for n, sh in zip(names, shares)))


def print_where(games: list[Game]) -> None:
    """Where the games stopped, by max-x band, as text bars."""
    print(f"where the last {len(games)} games stopped (max-x band: died or won there / cut by the move limit or a stall there)")
    bands = stop_bands(games)
    scale = max(1.0, max(e + c for _, e, c in bands) / 60)     # bars at most 60 characters
    for x, ended, cut in bands:
        print(f"  {x:5d}-{x + BAND - 1:<5d} {ended:4d} / {cut:<4d} {'#' * round((ended + cut) / scale)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--block", type=int, default=150, help="games per row")
    ap.add_argument("--config", help="default: RUN_DIR/games/config.yaml (the run's resolved config)")
    ap.add_argument("--csv", help="also write the rows here")
    ap.add_argument("--where", type=int, default=0, metavar="N", help="Mario: where the last N games stopped")
    args = ap.parse_args()
    run = Path(args.run_dir)
    cfg = load_config(args.config or run / "games" / "config.yaml")
    if args.where < 0 or (args.where and not cfg.env.is_mario):
        print(f"--where {args.where}: must be a number of games >= 1, for a Mario run ({cfg.env.id} here)", file=sys.stderr)
        return 2
    files = list_game_files(run / "games")
    if not files:
        print(f"{run / 'games'}: no game files", file=sys.stderr)
        return 2
    header = ["games", "ckpt_steps", "mean_score", "max_score", "flags", "entropy", "search_changed", "value_error"]
    games: list[Game] = []
    for number, path in enumerate(files, 1):
        try:
            rec = read_game(path)
        except GameFileError as e:
            print(f"skipped: {e}", file=sys.stderr)
            continue
        m = rec.meta
        ended = bool(m.get("terminated", True))
        err, n = value_error(rec.root_values, rec.rewards, cfg.env.discount, ended)
        games.append(Game(number, m.get("checkpoint_step"), m["max_x"] if m.get("max_x") is not None else m["return"],
                          bool(m.get("flag")), m.get("policy_entropy"), m.get("search_changed"), err, n, ended,
                          stall_actions(rec.rewards, rec.actions) if stuck(m) else None))
    rows = []
    for i in range(0, len(games), args.block):
        block = games[i:i + args.block]
        steps = [g.step for g in block if g.step is not None]
        scores = [g.score for g in block]
        counted = sum(g.counted for g in block)
        rows.append([f"{block[0].number}-{block[-1].number}", f"{min(steps)}-{max(steps)}" if steps else "uniform",
                     f"{np.mean(scores):.1f}", f"{max(scores):.0f}", sum(g.flag for g in block),
                     _mean([g.entropy for g in block]), _mean([g.changed for g in block]),
                     f"{sum(g.error for g in block) / counted:.3f}" if counted else "-"])
    print_columns(header, rows)
    if args.where:
        print_where(games[-args.where:])
        print_stalls(games[-args.where:], action_sets()[cfg.env.action_set])
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            csv.writer(f).writerows([header] + rows)
        print(f"written {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
