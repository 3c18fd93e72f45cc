"""What a run records: CSV files beside the checkpoints and TensorBoard scalars.

The trainer is the one writer of a run's training and self-play figures (`RunLog`):

  checkpoints/train_metrics.csv     one row per status line (TRAIN_FIELDS)
  checkpoints/selfplay_metrics.csv  one row per game the trainer loads (SELFPLAY_FIELDS), from the
                                    meta of its game file
  runs/trainer/                     TensorBoard event files: the same figures as scalars named
                                    train/... and selfplay/...

Eval rows come from whoever evaluates (`log_eval`): checkpoints/eval_metrics.csv and runs/eval/
(scalars eval/<level>/<figure>). Every x axis (TensorBoard's global_step, the CSVs' env_moves) is
the run's env-move count, which the trainer owns (`processes.env_moves.EnvMoves`) and passes in: the
self-play moves it has loaded, in the order it loaded them, continued across trainer restarts. Every
row is flushed when written, so a killed process leaves readable files. SummaryWriter writes local
files only.
"""
from __future__ import annotations

import csv
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Optional

TRAIN_CSV = "train_metrics.csv"
SELFPLAY_CSV = "selfplay_metrics.csv"
EVAL_CSV = "eval_metrics.csv"
# TensorBoard's folder in the run directory; one subfolder per writer, so that each shows as one run
RUNS = "runs"
TRAINER_RUN = "trainer"
EVAL_RUN = "eval"

TRAIN_FIELDS = ["time", "env_moves", "train/step", "train/loss", "train/weighted_loss", "train/value_loss",
                "train/reward_loss", "train/policy_loss", "train/exploration_loss", "train/lr",
                "train/replay_ratio", "train/samples_per_s", "selfplay/buffer_games", "selfplay/buffer_moves",
                "selfplay/rejected_files"]
# game: the game file's name, so that a restarted trainer neither logs nor counts a game twice
# the search's figures of a game (acting.SearchStats): means over its searched positions, explored a count
SEARCH_FIGURES = ["policy_entropy", "search_changed", "chosen_prior", "q_spread", "value_scale", "explored"]
GAME_FIGURES = ["moves", "return", "max_x", "flag", "stalled", "terminated", *SEARCH_FIGURES, "moves_per_s",
                "checkpoint_step"]
# death: Mario's cause of death (pit, enemy, clock; empty when he lived)
SELFPLAY_FIELDS = ["time", "env_moves", *GAME_FIGURES, "worker", "level", "death", "game"]
EVAL_FIELDS = ["time", "env_moves", "training_step", "level", "games", "mean_return", "min_return", "max_return",
               "mean_max_x", "max_max_x", "flags", "mean_moves", "distinct"]
# eval row figures that become eval/<level>/<figure> scalars
EVAL_SCALARS = ["mean_return", "min_return", "max_return", "mean_max_x", "max_max_x", "flags", "mean_moves",
                "distinct"]
# longest text kept from a game's meta (worker, level): the meta is untrusted data
MAX_TEXT = 64


# ---------------------------------------------------------------- values

def as_number(value: Any) -> Optional[float]:
    """A finite float from a JSON value, or None (bools, strings, NaN, inf, huge ints, None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        x = float(value)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def _text(value: Any) -> str:
    """A short printable one-line string of a meta value ("" for None)."""
    if value is None:
        return ""
    return "".join(c if c.isprintable() else "?" for c in str(value)[:MAX_TEXT])


def _cell(x: Optional[float]) -> str:
    """A CSV cell: "" for missing, integers without a fraction, other floats to 6 significant digits."""
    if x is None:
        return ""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def game_figures(meta: dict[str, Any], length: int) -> dict[str, Optional[float]]:
    """The numbers of one game for CSV and TensorBoard, from its meta (untrusted) and its length (checked).

    None where the meta lacks a figure or holds something that is not a finite number: max_x
    outside Mario, the search figures (SEARCH_FIGURES) for games played without search.
    """
    wall = as_number(meta.get("wall_time"))
    # a worker's moves/s where it says (its games in flight share its time), else this game's own
    rate = as_number(meta.get("worker_moves_per_s"))
    rate = rate if rate is not None else length / wall if wall and wall > 0 else None
    return {"moves": float(length), "return": as_number(meta.get("return")), "max_x": as_number(meta.get("max_x")),
            "flag": float(meta.get("flag") is True), "stalled": float(meta.get("stalled") is True),
            "terminated": float(meta.get("terminated") is True),
            **{key: as_number(meta.get(key)) for key in SEARCH_FIGURES},
            "moves_per_s": rate,
            "checkpoint_step": as_number(meta.get("checkpoint_step"))}


# ---------------------------------------------------------------- CSV files

class CsvLog:
    """Rows appended to a CSV file with a fixed header, each write flushed.

    An existing file with this header is appended to (a partial last line, left by a killed
    writer, is cut off first). An existing file with another header (an older version's columns)
    is renamed to <stem>.<time>.csv with one line on `out`, and a new file started, so that no row
    is ever written under the wrong header.
    """

    def __init__(self, path: Path, fields: list[str], out=sys.stdout, who: str = "[train]"):
        self.path, self.fields = Path(path), list(fields)
        header = ",".join(self.fields)
        existing = _first_line(self.path)
        if existing is not None and existing != header:
            kept = self.path.with_name(f"{self.path.stem}.{time.strftime('%Y%m%dT%H%M%S')}{self.path.suffix}")
            os.replace(self.path, kept)
            print(f"{who} {self.path} has other columns than this version writes: kept as {kept.name}, "
                  f"starting a new {self.path.name}", file=out, flush=True)
            existing = None
        if existing is not None:
            _cut_partial_line(self.path)
        self.f = open(self.path, "a", newline="")
        self.w = csv.writer(self.f)
        if existing is None:
            self.w.writerow(self.fields)
            self.f.flush()

    def write(self, rows: Iterable[list]) -> None:
        """Append rows (lists in field order) and flush them."""
        self.w.writerows(rows)
        self.f.flush()

    def close(self) -> None:
        """Close the file (every row is already flushed)."""
        self.f.close()


def _first_line(path: Path) -> Optional[str]:
    """The first line of path without its newline, or None when there is no file or it is empty."""
    try:
        with open(path, newline="", errors="replace") as f:
            line = f.readline()
    except FileNotFoundError:
        return None
    return line.rstrip("\r\n") if line else None


def _cut_partial_line(path: Path, tail: int = 1 << 16) -> None:
    """Truncate path after its last newline (a row cut short by a kill); the header line is complete."""
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - tail)
        f.seek(start)
        data = f.read()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n")
        if cut >= 0:
            f.truncate(start + cut + 1)
        else:
            f.write(b"\n")            # no newline in the tail: close the line rather than cut a long one


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file as dicts ([] when it is missing); a short or garbled row is kept as far as it goes."""
    try:
        with open(path, newline="", errors="replace") as f:
            return [row for row in csv.DictReader(f)]
    except FileNotFoundError:
        return []
    except csv.Error:
        return []


def cell_number(row: dict[str, str], name: str) -> Optional[float]:
    """A CSV row's cell as a finite float; None where it is missing, empty or not a number."""
    try:
        x = float(row.get(name) or "")
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def column(rows: list[dict[str, str]], name: str) -> list[Optional[float]]:
    """One column of read_rows as floats, None where a cell is missing or not a number."""
    return [cell_number(row, name) for row in rows]


# ---------------------------------------------------------------- the trainer's writer

class RunLog:
    """The trainer's CSV files and TensorBoard scalars (train/..., selfplay/...).

    `game`: one selfplay CSV row and the selfplay/ scalars per game the trainer counted; `polled`
    writes the buffer's size after a poll that loaded games and flushes; `train` writes the status
    interval's train/ row and scalars. Every x is the run's env-move count, which the trainer owns
    (`processes.env_moves.EnvMoves`) and passes in.
    """

    def __init__(self, run_dir: str | os.PathLike, checkpoints: Path, out=sys.stdout):
        from torch.utils.tensorboard import SummaryWriter  # tensorboard's import takes ~0.3 s: trainer only
        self.out = out
        self.train_csv = CsvLog(checkpoints / TRAIN_CSV, TRAIN_FIELDS, out)
        self.selfplay_csv = CsvLog(checkpoints / SELFPLAY_CSV, SELFPLAY_FIELDS, out)
        # polled() and train() flush; max_queue holds a poll's game scalars until then, flush_secs is a fallback
        self.tb = SummaryWriter(str(Path(run_dir) / RUNS / TRAINER_RUN), max_queue=1000, flush_secs=30)
        self.pending: list[list] = []

    def game(self, name: str, meta: dict[str, Any], length: int, env_moves: int) -> None:
        """One counted game, env_moves the count with it: its CSV row (written at the next `polled`) and scalars."""
        now = time.time()
        f = game_figures(meta, length)
        self.pending.append([f"{now:.1f}", env_moves] + [_cell(f[k]) for k in GAME_FIGURES]
                            + [_text(meta.get(k)) for k in ("worker", "level", "death")] + [name])
        mario = f["max_x"] is not None
        for key in ("return", "max_x", "moves", "moves_per_s", *SEARCH_FIGURES):
            if f[key] is not None:
                self.tb.add_scalar(f"selfplay/{key}", f[key], env_moves, walltime=now)
        if mario:                      # a flag only exists in Mario
            self.tb.add_scalar("selfplay/flag", f["flag"], env_moves, walltime=now)

    def polled(self, buffer_games: int, buffer_moves: int, env_moves: int) -> None:
        """After the loader's poll: write the games' rows and the buffer's size, flush both files."""
        if not self.pending:
            return
        self.selfplay_csv.write(self.pending)
        self.pending = []
        self.tb.add_scalar("selfplay/buffer_games", buffer_games, env_moves)
        self.tb.add_scalar("selfplay/buffer_moves", buffer_moves, env_moves)
        self.tb.flush()

    def train(self, step: int, metrics, lr: float, games: int, moves: int, rejected: int, rate: float,
              ratio: float, env_moves: int, waits: tuple = (None, None)) -> None:
        """One status interval: the step's losses (`learner.StepMetrics`), lr, speed, replay ratio and buffer."""
        now = time.time()
        figures = {"train/loss": metrics.unweighted, "train/weighted_loss": metrics.total,
                   "train/value_loss": metrics.value, "train/reward_loss": metrics.reward,
                   "train/policy_loss": metrics.policy, "train/exploration_loss": metrics.exploration,
                   "train/lr": lr, "train/replay_ratio": ratio, "train/samples_per_s": rate}
        if metrics.observation:           # train.observation_weight > 0 (TensorBoard only: the CSV keeps its columns)
            figures["train/observation_loss"] = metrics.observation
        self.train_csv.write([[f"{now:.1f}", env_moves, step, *(repr(float(figures[k])) for k in TRAIN_FIELDS[3:12]),
                               games, moves, rejected]])
        for tag, value in figures.items():
            self.tb.add_scalar(tag, value, env_moves, walltime=now)
        self.tb.add_scalar("train/step", step, env_moves, walltime=now)
        # where the time goes (TensorBoard only: a CSV column would start a new file in every run folder)
        for tag, share in zip(("perf/trainer_wait_share", "perf/selfplay_wait_share"), waits):
            if share is not None:
                self.tb.add_scalar(tag, share, env_moves, walltime=now)
        self.tb.flush()

    def close(self) -> None:
        """Write what is pending and close the files."""
        if self.pending:
            self.selfplay_csv.write(self.pending)
            self.pending = []
        self.tb.close()
        self.train_csv.close()
        self.selfplay_csv.close()


# ---------------------------------------------------------------- eval rows

def env_moves_at(checkpoints: Path, training_step: int) -> int:
    """The env_moves the trainer had reached at training_step (its last status row at or before it; 0 if none)."""
    rows = read_rows(Path(checkpoints) / TRAIN_CSV)
    best = 0
    for step, moves in zip(column(rows, "train/step"), column(rows, "env_moves")):
        if step is not None and moves is not None and step <= training_step:
            best = int(moves)
    return best


def tb_name(level: str) -> str:
    """A row's level as one part of a TensorBoard tag ("1-2 (held out)" -> "1-2_held_out"; "" -> "env")."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", level).strip("_") or "env"


def log_eval(run_dir: str | os.PathLike, training_step: int, rows: list[dict], checkpoints: Optional[Path] = None,
             env_moves: Optional[int] = None, out=sys.stdout) -> int:
    """Record eval results: rows (evaluate.evaluate's, one per level) into checkpoints/eval_metrics.csv
    and as TensorBoard scalars eval/<level>/<figure> in runs/eval/; returns the env_moves used as x.

    checkpoints: the run's checkpoints folder (default <run_dir>/checkpoints). env_moves: the x of
    these points (the checkpoint's own record); None: the trainer's at training_step, from train_metrics.csv.
    """
    from torch.utils.tensorboard import SummaryWriter
    checkpoints = Path(run_dir) / "checkpoints" if checkpoints is None else Path(checkpoints)
    checkpoints.mkdir(parents=True, exist_ok=True)
    x = env_moves_at(checkpoints, training_step) if env_moves is None else int(env_moves)
    now = time.time()
    log = CsvLog(checkpoints / EVAL_CSV, EVAL_FIELDS, out, who="[eval]")
    try:
        log.write([[f"{now:.1f}", x, training_step, _text(r.get("level"))]
                   + [_cell(as_number(r.get(k))) for k in EVAL_FIELDS[4:]] for r in rows])
    finally:
        log.close()
    tb = SummaryWriter(str(Path(run_dir) / RUNS / EVAL_RUN))
    try:
        for r in rows:
            level = tb_name(_text(r.get("level")))
            for key in EVAL_SCALARS:
                value = as_number(r.get(key))
                if value is not None:
                    tb.add_scalar(f"eval/{level}/{key}", value, x, walltime=now)
        tb.add_scalar("eval/training_step", training_step, x, walltime=now)
    finally:
        tb.close()
    return x
