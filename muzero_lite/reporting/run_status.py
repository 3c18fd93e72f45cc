"""The numbers of `run`'s combined status line, read from the run folder's files.

Every `status_every` seconds the supervisor prints one line (`status_lines.run_line`) of numbers read by
`RunStatus`: the trainer's CSVs (checkpoints/train_metrics.csv, selfplay_metrics.csv), read by
column name and only their new rows each time, else the game files and checkpoints themselves.
"""
from __future__ import annotations

import csv
import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Optional

from ..data.checkpoints import list_checkpoints
from ..data.gamefile import DEFAULT_MAX_BYTES, list_game_files
from ..data.pace import read_pace
from ..data.runfolder import RunPaths
from ..data.safe_npz import open_npz, open_regular
from .metrics import as_number, cell_number
from .status_lines import StatusNumbers

# the status line's means cover this many of the newest games
RECENT_GAMES = 100
# the trainer's CSV names the replay ratio one of these (newer name first)
REPLAY_RATIO_COLUMNS = ("train/replay_ratio", "perf/replay_ratio")


def _share(value) -> Optional[float]:
    """A share from pace.json: a number in [0, 1], else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
    return float(value) if ok else None


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
            self.from_csv.add(cell_number(row, "return"), cell_number(row, "max_x"), _truthy(row.get("flag")),
                              cell_number(row, "moves"))
            env_moves = cell_number(row, "env_moves")
            if env_moves is not None:
                self.from_csv.last_env_moves = int(env_moves)
        games = self.from_csv if self.games_csv.exists else self._tally_game_files()
        games.fill(n)
        train_moves = cell_number(self.train_row, "env_moves")
        for moves in (self.from_csv.last_env_moves, train_moves, games.moves_total):
            if moves is not None:
                n.env_moves = int(moves)
                break
        if self.previous is not None and now > self.previous[0] and n.env_moves >= self.previous[1]:
            n.moves_per_s = (n.env_moves - self.previous[1]) / (now - self.previous[0])
        self.previous = (now, n.env_moves)
        ratios = [cell_number(self.train_row, c) for c in REPLAY_RATIO_COLUMNS]
        n.replay_ratio = next((r for r in ratios if r is not None), None)
        newest = list_checkpoints(self.paths.checkpoints)
        steps = [s for s in (cell_number(self.train_row, "train/step"), newest[0][0] if newest else None) if s is not None]
        n.train_step = int(max(steps)) if steps else None
        pace = read_pace(self.paths.checkpoints) or {}
        n.trainer_wait_share, n.selfplay_wait_share = (_share(pace.get(k)) for k in
                                                       ("trainer_wait_share", "selfplay_wait_share"))
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
                ret, max_x, moves = (as_number(meta.get(k)) for k in ("return", "max_x", "moves"))
                self.from_files.add(ret, max_x, _truthy(meta.get("flag")), moves)
        return self.from_files
