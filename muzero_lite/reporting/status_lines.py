"""The lines a person reads while a run goes on, as pure functions of numbers already gathered.

Three processes print them: a self-play worker one per finished game (`game_line`), the trainer one
per status interval (`train_line`), and `muzero-lite run` one combined line from the run folder's
files (`run_line`, from the `StatusNumbers` that `run_status.RunStatus` reads).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..algorithm.types import GameRecord


def game_line(n: int, rec: GameRecord, step: Optional[int], rate: float, is_mario: bool) -> str:
    """A self-play worker's line for a finished game (`selfplay.play_worker`)."""
    m = rec.meta
    parts = [f"game {n}", f"level {m['level']}" if is_mario else m["env"], f"moves {m['moves']}",
             f"return {m['return']:.1f}"]
    if is_mario:
        parts += [f"max_x {m['max_x']}", f"flag {'yes' if m['flag'] else 'no'}"]
        parts += ["stalled"] if m.get("stalled") else []
    if m.get("policy_entropy") is not None:
        parts += [f"entropy {m['policy_entropy']:.2f}", f"search changed {100 * m['search_changed']:.0f}%"]
        parts += [f"explored {m['explored']}"] if m.get("explored") else []
    parts += [f"ckpt {step if step is not None else 'uniform'}", f"moves/s {rate:.1f}"]
    return " | ".join(parts)


def _percent(share: Optional[float]) -> str:
    """0.342 -> 34%; None -> -."""
    return "-" if share is None else f"{100 * share:.0f}%"


def waiting(trainer: Optional[float], selfplay: Optional[float]) -> str:
    """Where the time goes: the trainer's share waiting for games, self-play's waiting for the trainer."""
    return f"waiting: trainer {_percent(trainer)}, self-play {_percent(selfplay)}"


def train_line(step: int, metrics, exploration_weight: float, games: int, moves: int, rejected: int, pruned: int,
               rate: float, ratio: float, waits: tuple = (None, None), observation_weight: float = 0.0) -> str:
    """The trainer's line at each status interval: losses, what is loaded, speed and replay ratio.

    `loss` is the sum of the printed parts (value + reward + policy - exploration_weight * explore, each a
    plain batch mean); `weighted` is the loss that is optimised: importance-weighted and masked past
    the end of games cut short, so it differs from `loss`. waits: the shares of the interval that the
    trainer waited for games and that it asked self-play to wait for it (None: not known).
    """
    m = metrics
    observed = f" + {observation_weight:g} x observation {m.observation:.3f}" if observation_weight else ""
    return (f"[train] step {step} | loss {m.unweighted:.3f} = value {m.value:.3f} + reward {m.reward:.3f} "
            f"+ policy {m.policy:.3f} - {exploration_weight:g} x explore {m.exploration:.3f}{observed} | "
            f"weighted {m.total:.3f} | games {games} moves {moves} rejected {rejected} pruned {pruned} | "
            f"samples/s {rate:.0f} | replay ratio {ratio:.2f} | {waiting(*waits)}")


@dataclass
class StatusNumbers:
    """What `run`'s combined line says; None where the run folder does not tell (yet)."""
    # seconds since the run started
    elapsed_s: float
    # env moves played (loaded by the trainer, or in the game files)
    env_moves: Optional[int] = None
    # env moves per second since the previous line
    moves_per_s: Optional[float] = None
    # the trainer's step
    train_step: Optional[int] = None
    # samples trained per move loaded
    replay_ratio: Optional[float] = None
    # the newest games that the means cover (at most RECENT_GAMES)
    games: int = 0
    mean_return: Optional[float] = None
    # Mario: mean of each game's largest x, and how many of those games reached the flag
    mean_max_x: Optional[float] = None
    flags: int = 0
    # Mario: flags reached in all games seen
    flags_total: int = 0
    # the newest checkpoint's step, and seconds since it was written
    checkpoint_step: Optional[int] = None
    checkpoint_age_s: Optional[float] = None
    # shares of the trainer's last status interval: it waiting for games, self-play waiting for it (pace.json)
    trainer_wait_share: Optional[float] = None
    selfplay_wait_share: Optional[float] = None


def _duration(seconds: float) -> str:
    """45s, 12m05s or 3h02m05s."""
    s = max(0, int(seconds))
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def run_line(n: StatusNumbers, is_mario: bool) -> str:
    """`run`'s combined line, from numbers already read (a pure function)."""
    moves = "env moves -" if n.env_moves is None else f"env moves {n.env_moves:,}"
    if n.moves_per_s is not None:
        moves += f" ({n.moves_per_s:,.0f}/s)"
    step = "train step -" if n.train_step is None else f"train step {n.train_step:,}"
    if n.replay_ratio is not None:
        step += f" (replay ratio {n.replay_ratio:.2f})"
    if n.games:
        games = f"last {n.games} games: return " + ("-" if n.mean_return is None else f"{n.mean_return:.1f}")
        if is_mario:
            games += ", max_x " + ("-" if n.mean_max_x is None else f"{n.mean_max_x:.0f}")
            games += f", flags {n.flags} ({n.flags_total} in all)"
    else:
        games = "no games yet"
    ckpt = "no checkpoint yet" if n.checkpoint_step is None else f"checkpoint {n.checkpoint_step:,}"
    if n.checkpoint_step is not None and n.checkpoint_age_s is not None:
        ckpt += f" ({_duration(n.checkpoint_age_s)} old)"
    parts = [f"[run] {_duration(n.elapsed_s)}", moves, step, games, ckpt]
    if n.trainer_wait_share is not None or n.selfplay_wait_share is not None:
        parts.append(waiting(n.trainer_wait_share, n.selfplay_wait_share))
    return " | ".join(parts)
