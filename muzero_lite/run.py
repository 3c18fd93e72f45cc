"""`muzero-lite run`: N self-play worker processes and one trainer on the same folders.

Children are real processes (`python -m muzero_lite selfplay|train`) in their own sessions, so
a terminal's Ctrl-C reaches only this supervisor, which then stops each child exactly once with
SIGTERM (handled like Ctrl-C: the game in flight is dropped, the trainer saves a checkpoint).
A child that exits with code 2 met a config or checkpoint error, which a restart would meet again:
the run stops and says so. A child that dies otherwise is reported and restarted; one that dies
MAX_RESTARTS times within RESTART_WINDOW_S seconds stops the whole run, since it would only keep failing.

What a person reads: every `status_every` seconds one combined line (`format_status`) made from
the run folder's files (`RunStatus`: the trainer's CSVs, else the game files and checkpoints).
Children's lines are shown when they warn or fail (`ChildLines`), or all of them with verbose.
"""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .checkpoints import list_checkpoints, newest_checkpoint
from .config import Config
from .gamefile import DEFAULT_MAX_BYTES, list_game_files
from .runfolder import RunPaths
from .safe_npz import open_npz, open_regular

MAX_RESTARTS = 3
RESTART_WINDOW_S = 300.0
STOP_GRACE_S = 30.0
# a child's exit code for a config or checkpoint error (cli.main): restarting it would fail the same way
CONFIG_ERROR_EXIT = 2
# the status line's means cover this many of the newest games
RECENT_GAMES = 100
# lines of a child kept back (not shown) that are shown if it dies
TAIL_LINES = 10
# seconds to wait for a child's last lines to be copied after it ended
DRAIN_S = 2.0
# the trainer's CSV names the replay ratio one of these (newer name first)
REPLAY_RATIO_COLUMNS = ("train/replay_ratio", "perf/replay_ratio")
# a child's line that is shown without verbose
_NOTABLE = re.compile(r"warning|error|traceback", re.IGNORECASE)
_TRACEBACK = "Traceback (most recent call last)"
# one writer at a time: the children's pump threads and the supervisor share the output
_out_lock = threading.Lock()
# set when the output cannot be written (a closed pipe, as after `| head`): the run stops its children
_output_lost = threading.Event()


def default_workers() -> int:
    """Self-play processes that fit beside the trainer: one a core, less one for the trainer."""
    return max(1, (os.cpu_count() or 2) - 1)


def _emit(out, line: str) -> None:
    """Write one line to out, whole, and flush it; a failed write sets _output_lost instead of raising."""
    with _out_lock:
        if _output_lost.is_set():
            return
        try:
            out.write(line.rstrip("\n") + "\n")
            out.flush()
        except (OSError, ValueError):     # a closed pipe or file: nobody reads on, so the run stops
            _output_lost.set()


# ---------------------------------------------------------------- children and their lines

class ChildLines:
    """Which of one child's lines reach the run's output.

    With verbose (or once the child is being stopped: its last words) every line; otherwise lines
    that mention a warning or an error, and each traceback whole, from its first line to the
    exception's. The newest lines held back are kept, to be shown if the child dies. Lines without
    a "[name]" prefix of their own (tracebacks, warnings) get the child's.
    """

    def __init__(self, name: str, verbose: bool = False):
        self.name = name
        self.show_all = verbose
        self.in_traceback = False
        self.held: deque[str] = deque(maxlen=TAIL_LINES)

    def take(self, line: str) -> Optional[str]:
        """The line as it is to be shown, or None when it is held back."""
        line = line.rstrip("\n")
        text = line if line.startswith("[") else f"[{self.name}] {line}"
        if self.show_all or self._notable(line):
            self.held.clear()                 # held lines came before this one: their moment has passed
            return text
        self.held.append(text)
        return None

    def _notable(self, line: str) -> bool:
        """A warning, an error, or a line of a traceback."""
        if _TRACEBACK in line:
            self.in_traceback = True
            return True
        if self.in_traceback:
            if line and not line[0].isspace():   # the exception's own line ends the traceback
                self.in_traceback = False
            return True
        return bool(_NOTABLE.search(line))

    def release(self) -> list[str]:
        """The lines held back since the last one shown, oldest first (then forgotten)."""
        lines = list(self.held)
        self.held.clear()
        return lines


@dataclass
class Child:
    """One supervised process and how to start it again."""
    name: str
    argv: list[str]
    verbose: bool = False
    proc: Optional[subprocess.Popen] = None
    deaths: list[float] = field(default_factory=list)
    lines: Optional[ChildLines] = None
    pump: Optional[threading.Thread] = None

    def start(self, out) -> None:
        """Start the process in its own session, its lines copied to out (or held back) as they come."""
        self.lines = ChildLines(self.name, self.verbose)
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1, start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.pump = threading.Thread(target=_pump, args=(self.proc, self.lines, out), daemon=True)
        self.pump.start()

    def drain(self) -> None:
        """Wait (briefly) until the ended process's last lines are copied."""
        if self.pump is not None:
            self.pump.join(DRAIN_S)


def _pump(proc: subprocess.Popen, lines: ChildLines, out) -> None:
    """Copy a child's lines to our output as they come, those that its ChildLines shows."""
    for line in proc.stdout:
        shown = lines.take(line)
        if shown is not None:
            _emit(out, shown)


def _argv(command: str, config_path: str, run_dir: str, *extra: str) -> list[str]:
    """The command line of one child: this Python running `muzero_lite <command>`."""
    return [sys.executable, "-m", "muzero_lite", command, "--config", str(config_path), "--run-dir", str(run_dir), *extra]


def _exit_words(code: int) -> str:
    """How a child ended: "exited with code N" or "was killed by SIGNAME"."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    return f"exited with code {code}"


# ---------------------------------------------------------------- the supervisor

def run_all(cfg: Config, config_path: str, run_dir: str | os.PathLike = ".", workers: Optional[int] = None,
            seconds: Optional[float] = None, out=sys.stdout, status_every: float = 30.0,
            verbose: bool = False) -> int:
    """Supervise the loop until Ctrl-C/SIGTERM or `seconds`.

    Returns 0; 2 when a child met a config or checkpoint error (exit code 2), or for a bad argument;
    1 when a child kept dying. Raises CheckpointError when the run folder's newest checkpoint was
    made for other networks (each child would refuse it), before any folder is made.
    status_every: seconds between combined status lines (0: none). verbose: every line of every
    child (and the workers' line for every game).
    """
    workers = default_workers() if workers is None else workers
    if workers < 1:
        print(f"muzero-lite: --workers = {workers}: must be >= 1", file=sys.stderr)
        return 2
    if status_every < 0:
        print(f"muzero-lite: --status-every = {status_every:g}: must be >= 0 (0: no status lines)", file=sys.stderr)
        return 2
    paths = RunPaths.of(cfg, run_dir)
    newest_checkpoint(paths.checkpoints, cfg)     # another config's checkpoint: CheckpointError, before any child
    paths.make()
    more = ["--verbose"] if verbose else []
    children = [Child("train", _argv("train", config_path, run_dir), verbose)]
    children += [Child(f"w{i}", _argv("selfplay", config_path, run_dir, "--worker", f"w{i}", "--seed",
                                      str(cfg.seed + 1 + i), *more), verbose)
                 for i in range(workers)]
    status, started = 0, time.time()
    _output_lost.clear()
    watch = RunStatus(paths, started) if status_every else None
    if watch is not None:
        _status_line(watch, cfg.env.is_mario)     # what the folder held before: the base of moves/s
    _emit(out, f"[run] {workers} self-play worker(s) + 1 trainer in {Path(run_dir).resolve()}; Ctrl-C stops all")
    for c in children:
        c.start(out)
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
    prev_int = signal.signal(signal.SIGINT, on_signal)
    prev_term = signal.signal(signal.SIGTERM, on_signal)
    next_status = started + status_every
    try:
        while not stop["flag"] and not _output_lost.is_set() and (seconds is None or time.time() - started < seconds):
            time.sleep(0.2)
            for c in children:
                code = c.proc.poll()
                if code is None:
                    continue
                c.drain()
                if code == CONFIG_ERROR_EXIT:
                    _emit(out, f"[run] {c.name} exited with code {code} (a config or checkpoint error, which a "
                               f"restart would repeat): stopping the run")
                    stop["flag"], status = True, CONFIG_ERROR_EXIT
                    break
                for line in c.lines.release():
                    _emit(out, line)
                now = time.time()
                c.deaths = [t for t in c.deaths if now - t < RESTART_WINDOW_S] + [now]
                if len(c.deaths) >= MAX_RESTARTS:
                    _emit(out, f"[run] {c.name} {_exit_words(code)} {len(c.deaths)} times in "
                               f"{RESTART_WINDOW_S:.0f} s: stopping the run (see its lines above)")
                    stop["flag"], status = True, 1
                    break
                _emit(out, f"[run] {c.name} {_exit_words(code)}: restarting it")
                c.start(out)
            if watch is not None and not stop["flag"] and time.time() >= next_status:
                _emit(out, _status_line(watch, cfg.env.is_mario))
                next_status = time.time() + status_every
    finally:
        _stop_children(children, out)
        signal.signal(signal.SIGINT, prev_int)
        signal.signal(signal.SIGTERM, prev_term)
    _emit(out, f"[run] stopped after {time.time() - started:.0f} s")
    return status


def _status_line(watch: "RunStatus", is_mario: bool) -> str:
    """The combined line now; a failure to read the folder is said in the line, never ends the run."""
    try:
        return format_status(watch.read(), is_mario)
    except Exception as e:  # the run's children matter more than its status line
        return f"[run] no status line: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def _stop_children(children: list[Child], out) -> None:
    """SIGTERM each live child once, wait for them to finish cleanly, SIGKILL what hangs.

    From here on every line of the children is shown: how each stopped is worth reading.
    """
    live = [c for c in children if c.proc and c.proc.poll() is None]
    for c in live:
        c.lines.show_all = True
        try:
            c.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + STOP_GRACE_S
    for c in live:
        try:
            c.proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            _emit(out, f"[run] {c.name} did not stop in {STOP_GRACE_S:.0f} s: killing it")
            c.proc.kill()
            c.proc.wait()
    for c in live:
        c.drain()


# ---------------------------------------------------------------- the combined status line

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


def _duration(seconds: float) -> str:
    """45s, 12m05s or 3h02m05s."""
    s = max(0, int(seconds))
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def format_status(n: StatusNumbers, is_mario: bool) -> str:
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
    return " | ".join([f"[run] {_duration(n.elapsed_s)}", moves, step, games, ckpt])


def _number(row: dict, column: str) -> Optional[float]:
    """A CSV cell as a number; None when the column is missing, empty or not a number."""
    try:
        value = float(row[column])
    except (KeyError, TypeError, ValueError):
        return None
    return value if value == value else None          # NaN says nothing


def _truthy(value) -> bool:
    """A flag cell or meta value: True, "True", "true", "1", "yes"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "1.0")
    return bool(value)


class CsvTail:
    """The rows appended to a CSV file since the last look, by column name.

    A file that is replaced or shrinks is read again from the start. A row repeating the header's
    first cell starts a new header (a writer of other columns appended to the file); a row whose
    length does not match its header is skipped.
    """

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.inode: Optional[int] = None
        self.header: Optional[list[str]] = None
        # the last call read the file from its start (a new or replaced file): totals kept from it start over
        self.restarted = False

    def new_rows(self) -> list[dict]:
        """Rows completed since the last call (none when the file is missing or unreadable)."""
        self.restarted = False
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                self.restarted = st.st_ino != self.inode or st.st_size < self.offset
                if self.restarted:
                    self.inode, self.offset, self.header = st.st_ino, 0, None
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        data = data[:data.rfind(b"\n") + 1]              # a line being written is read next time
        self.offset += len(data)
        rows = []
        for cells in csv.reader(data.decode("utf-8", errors="replace").splitlines()):
            if not cells:
                continue
            if self.header is None or cells[0] == self.header[0]:
                self.header = [c.strip() for c in cells]
            elif len(cells) == len(self.header):
                rows.append(dict(zip(self.header, cells)))
        return rows

    @property
    def exists(self) -> bool:
        """The file has been seen with a header."""
        return self.header is not None


class GameTally:
    """The newest RECENT_GAMES games' return, max_x and flag, and totals over all games added."""

    def __init__(self):
        self.recent: deque[tuple[Optional[float], Optional[float], bool]] = deque(maxlen=RECENT_GAMES)
        self.flags_total = 0
        self.moves_total = 0
        self.last_env_moves: Optional[int] = None

    def add(self, ret: Optional[float], max_x: Optional[float], flag: bool, moves: Optional[float]) -> None:
        """One finished game."""
        self.recent.append((ret, max_x, flag))
        self.flags_total += bool(flag)
        self.moves_total += int(moves or 0)

    def fill(self, n: StatusNumbers) -> None:
        """Put the means over the recent games into n."""
        n.games = len(self.recent)
        n.mean_return = _mean([r for r, _, _ in self.recent])
        n.mean_max_x = _mean([x for _, x, _ in self.recent])
        n.flags = sum(f for _, _, f in self.recent)
        n.flags_total = self.flags_total


def _mean(values: list) -> Optional[float]:
    """The mean of the values that are not None; None when there are none."""
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _game_meta(path: Path) -> Optional[dict]:
    """The meta of a game file, read alone (the frames are never decompressed); None when unreadable."""
    try:
        with open_regular(path, DEFAULT_MAX_BYTES) as f, open_npz(f, DEFAULT_MAX_BYTES) as npz:
            raw = npz.read("meta")
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except Exception:  # a bad or vanished file only leaves a game out of a status line
        return None
    return meta if isinstance(meta, dict) else None


class RunStatus:
    """Reads the numbers of the combined line from a run folder, a little more at each look.

    checkpoints/train_metrics.csv gives the training step, replay ratio and env moves;
    checkpoints/selfplay_metrics.csv (one row per game the trainer loaded) the games and env moves.
    Every column is read by name; where a file or column is missing, the game files in games/ (their
    meta alone) and the checkpoint files stand in.
    """

    def __init__(self, paths: RunPaths, started: float):
        self.paths, self.started = paths, started
        self.train_csv = CsvTail(paths.checkpoints / "train_metrics.csv")
        self.games_csv = CsvTail(paths.checkpoints / "selfplay_metrics.csv")
        self.train_row: dict = {}
        self.from_csv = GameTally()
        self.from_files = GameTally()
        self.files_seen: set[str] = set()
        self.previous: Optional[tuple[float, int]] = None    # (time, env moves) of the last look

    def read(self, now: Optional[float] = None) -> StatusNumbers:
        """The numbers now; moves/s is over the time since the previous call."""
        now = time.time() if now is None else now
        n = StatusNumbers(elapsed_s=now - self.started)
        rows = self.train_csv.new_rows()
        if rows:
            self.train_row = rows[-1]
        game_rows = self.games_csv.new_rows()
        if self.games_csv.restarted:
            self.from_csv = GameTally()
        for row in game_rows:
            self.from_csv.add(_number(row, "return"), _number(row, "max_x"), _truthy(row.get("flag")),
                              _number(row, "moves"))
            env_moves = _number(row, "env_moves")
            if env_moves is not None:
                self.from_csv.last_env_moves = int(env_moves)
        games = self.from_csv if self.games_csv.exists else self._tally_game_files()
        games.fill(n)
        train_moves = _number(self.train_row, "env_moves")
        for moves in (self.from_csv.last_env_moves, train_moves, games.moves_total):
            if moves is not None:
                n.env_moves = int(moves)
                break
        if self.previous is not None and now > self.previous[0] and n.env_moves >= self.previous[1]:
            n.moves_per_s = (n.env_moves - self.previous[1]) / (now - self.previous[0])
        self.previous = (now, n.env_moves)
        ratios = [_number(self.train_row, c) for c in REPLAY_RATIO_COLUMNS]
        n.replay_ratio = next((r for r in ratios if r is not None), None)
        newest = list_checkpoints(self.paths.checkpoints)
        steps = [s for s in (_number(self.train_row, "train/step"), newest[0][0] if newest else None) if s is not None]
        n.train_step = int(max(steps)) if steps else None
        if newest:
            n.checkpoint_step = newest[0][0]
            try:
                n.checkpoint_age_s = max(0.0, now - newest[0][1].stat().st_mtime)
            except OSError:                   # deleted by the trainer's keep_checkpoints meanwhile
                pass
        return n

    def _tally_game_files(self) -> GameTally:
        """Add the game files not seen before (oldest first) to the files' tally."""
        files = list_game_files(self.paths.games)
        names = {f.name for f in files}
        self.files_seen &= names              # files deleted by the trainer's retention need no memory
        for f in files:
            if f.name in self.files_seen:
                continue
            self.files_seen.add(f.name)
            meta = _game_meta(f)
            if meta is not None:
                ret, max_x, moves = (_meta_number(meta, k) for k in ("return", "max_x", "moves"))
                self.from_files.add(ret, max_x, _truthy(meta.get("flag")), moves)
        return self.from_files


def _meta_number(meta: dict, key: str) -> Optional[float]:
    """A number of a game's meta; None when it is missing or not a number."""
    value = meta.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
