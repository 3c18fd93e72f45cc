"""`muzero-lite run`: N self-play worker processes and one trainer on the same folders.

Children are real processes (`python -m muzero_lite selfplay|train`) in their own sessions, so
a terminal's Ctrl-C reaches only this supervisor, which then stops each child exactly once with
SIGTERM (handled like Ctrl-C: the game in flight is dropped, the trainer saves a checkpoint).
A child that dies is reported and restarted; one that dies MAX_RESTARTS times within
RESTART_WINDOW_S seconds stops the whole run with a message, since it would only keep failing.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .config import Config
from .runfolder import RunPaths

MAX_RESTARTS = 3
RESTART_WINDOW_S = 300.0
STOP_GRACE_S = 30.0


def default_workers() -> int:
    """Self-play processes that fit beside the trainer: one a core, less one for the trainer."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass
class Child:
    """One supervised process and how to start it again."""
    name: str
    argv: list[str]
    proc: Optional[subprocess.Popen] = None
    deaths: list[float] = field(default_factory=list)

    def start(self, out) -> None:
        """Start the process in its own session, its lines copied to out as they come."""
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1, start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=_pump, args=(self.proc, out), daemon=True).start()


def _pump(proc: subprocess.Popen, out) -> None:
    """Copy a child's lines to our output as they come (they carry their own [name] prefix)."""
    for line in proc.stdout:
        out.write(line)
        out.flush()


def _argv(command: str, config_path: str, run_dir: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "muzero_lite", command, "--config", str(config_path), "--run-dir", str(run_dir), *extra]


def run_all(cfg: Config, config_path: str, run_dir: str | os.PathLike = ".", workers: Optional[int] = None,
            seconds: Optional[float] = None, out=sys.stdout) -> int:
    """Supervise the loop until Ctrl-C/SIGTERM or `seconds`; returns 0, or 1 if a child kept dying."""
    workers = default_workers() if workers is None else workers
    if workers < 1:
        print(f"muzero-lite: --workers = {workers}: must be >= 1", file=sys.stderr)
        return 2
    RunPaths.of(cfg, run_dir).make()
    children = [Child("train", _argv("train", config_path, run_dir))]
    children += [Child(f"w{i}", _argv("selfplay", config_path, run_dir, "--worker", f"w{i}", "--seed", str(cfg.seed + 1 + i)))
                 for i in range(workers)]
    print(f"[run] {workers} self-play worker(s) + 1 trainer in {Path(run_dir).resolve()}; Ctrl-C stops all", file=out, flush=True)
    for c in children:
        c.start(out)
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
    prev_int = signal.signal(signal.SIGINT, on_signal)
    prev_term = signal.signal(signal.SIGTERM, on_signal)
    status, started = 0, time.time()
    try:
        while not stop["flag"] and (seconds is None or time.time() - started < seconds):
            time.sleep(0.2)
            for c in children:
                code = c.proc.poll()
                if code is None:
                    continue
                now = time.time()
                c.deaths = [t for t in c.deaths if now - t < RESTART_WINDOW_S] + [now]
                if len(c.deaths) >= MAX_RESTARTS:
                    print(f"[run] {c.name} exited with code {code} {len(c.deaths)} times in "
                          f"{RESTART_WINDOW_S:.0f} s: stopping the run (see its lines above)", file=out, flush=True)
                    stop["flag"], status = True, 1
                    break
                print(f"[run] {c.name} exited with code {code}: restarting it", file=out, flush=True)
                c.start(out)
    finally:
        _stop_children(children, out)
        signal.signal(signal.SIGINT, prev_int)
        signal.signal(signal.SIGTERM, prev_term)
    print(f"[run] stopped after {time.time() - started:.0f} s", file=out, flush=True)
    return status


def _stop_children(children: list[Child], out) -> None:
    """SIGTERM each live child once, wait for them to finish cleanly, SIGKILL what hangs."""
    live = [c for c in children if c.proc and c.proc.poll() is None]
    for c in live:
        try:
            c.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + STOP_GRACE_S
    for c in live:
        try:
            c.proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            print(f"[run] {c.name} did not stop in {STOP_GRACE_S:.0f} s: killing it", file=out, flush=True)
            c.proc.kill()
            c.proc.wait()
