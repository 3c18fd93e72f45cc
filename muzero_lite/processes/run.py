"""`muzero-lite run`: N self-play worker processes and one trainer on the same folders.

Children are real processes (`python -m muzero_lite selfplay|train`) in their own sessions, so
a terminal's Ctrl-C reaches only this supervisor, which then stops each child exactly once with
SIGTERM (handled like Ctrl-C: the game in flight is dropped, the trainer saves a checkpoint).
A child that exits with code 2 met a config or checkpoint error, which a restart would meet again:
the run stops and says so. A child that dies otherwise is reported and restarted; one that dies
MAX_RESTARTS times within RESTART_WINDOW_S seconds stops the whole run, since it would only keep failing.

What a person reads: every `status_every` seconds one combined line (`status_lines.run_line`) made from
the run folder's files (`RunStatus`: the trainer's CSVs, else the game files and checkpoints).
Children's lines are shown when they warn or fail (`ChildLines`), or all of them with verbose.
"""
from __future__ import annotations

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

from ..algorithm.networks import pick_device
from ..config import Config
from ..data.checkpoints import PassedOver, newest_checkpoint
from ..data.runfolder import RunPaths, save_resolved_config
from ..data.trainer_lock import held_by
from ..reporting.run_status import RunStatus
from ..reporting.status_lines import run_line
from .plan import PLANNED_CONFIG, kept_batch, needs, planned_config
from .speed_probe import plan_for_machine

MAX_RESTARTS = 3
RESTART_WINDOW_S = 300.0
STOP_GRACE_S = 30.0
# a child's exit code for a config or checkpoint error (cli.main): restarting it would fail the same way
CONFIG_ERROR_EXIT = 2
# lines of a child kept back (not shown) that are shown if it dies
TAIL_LINES = 10
# seconds to wait for a child's last lines to be copied after it ended
DRAIN_S = 2.0
# a child's line that is shown without verbose
_NOTABLE = re.compile(r"warning|error|traceback", re.IGNORECASE)
_TRACEBACK = "Traceback (most recent call last)"
# one writer at a time: the children's pump threads and the supervisor share the output
_out_lock = threading.Lock()
# set when the output cannot be written (a closed pipe, as after `| head`): the run stops its children
_output_lost = threading.Event()


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
            verbose: bool = False, ray_address: Optional[str] = None, ray_resource: Optional[str] = None,
            ray_actor_resources: Optional[list] = None) -> int:
    """Supervise the loop until Ctrl-C/SIGTERM or `seconds`.

    Returns 0; 2 when a child met a config or checkpoint error (exit code 2), or for a bad argument;
    1 when a child kept dying. Raises CheckpointError when the run folder's newest checkpoint was
    made for other networks (each child would refuse it), before any folder is made.
    status_every: seconds between combined status lines (0: none). verbose: every line of every
    child (and the workers' line for every game). ray_address: self-play as `workers` Ray actors
    instead of child processes (`ray_selfplay.RaySelfplay`): "local" starts a Ray instance here, any other
    value is ray.init's address ("auto": the cluster this machine joined). ray_resource: a custom
    resource every actor needs; ray_actor_resources: one resources dict per actor instead.
    """
    if workers is not None and workers < 1:
        print(f"muzero-lite: --workers = {workers}: must be >= 1", file=sys.stderr)
        return 2
    if status_every < 0:
        print(f"muzero-lite: --status-every = {status_every:g}: must be >= 0 (0: no status lines)", file=sys.stderr)
        return 2
    paths = RunPaths.of(cfg, run_dir)
    holder = held_by(paths.checkpoints)           # a live trainer's folder: refused before any child starts
    if holder is not None:
        print(f"muzero-lite: {paths.checkpoints}: a live trainer holds this run folder ({holder}); "
              f"stop it, or use another --run-dir", file=sys.stderr)
        return 2
    # another config's checkpoint: CheckpointError, before any child
    newest_checkpoint(paths.checkpoints, cfg, PassedOver(out, "[run]"))
    cfg, config_path, workers = _plan(cfg, paths, workers, out)
    more = ["--verbose"] if verbose else []
    children = [Child("train", _argv("train", config_path, run_dir), verbose)]
    pool = None
    if ray_address is not None:
        pool = _start_ray(cfg, paths, workers, ray_address, ray_resource, ray_actor_resources, out)
    else:
        children += [Child(f"w{i}", _argv("selfplay", config_path, run_dir, "--worker", f"w{i}", "--seed",
                                          str(cfg.seed + 1 + i), *more), verbose)
                     for i in range(workers)]
    status, started = 0, time.time()
    _output_lost.clear()
    watch = RunStatus(paths, started) if status_every else None
    if watch is not None:
        _run_line_or_why(watch, cfg.env.is_mario)     # what the folder held before: the base of moves/s
    where = "Ray actor(s)" if pool is not None else "worker(s)"
    _emit(out, f"[run] {workers} self-play {where} + 1 trainer in {Path(run_dir).resolve()}; Ctrl-C stops all")
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
            if pool is not None:
                pool.tick()                       # waits up to 0.1 s for an actor's games
            time.sleep(0.2 if pool is None else 0.05)
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
                _emit(out, _run_line_or_why(watch, cfg.env.is_mario))
                next_status = time.time() + status_every
    finally:
        if pool is not None:
            _stop_ray(pool, out)
        _stop_children(children, out)
        signal.signal(signal.SIGINT, prev_int)
        signal.signal(signal.SIGTERM, prev_term)
    _emit(out, f"[run] stopped after {time.time() - started:.0f} s")
    return status


def _plan(cfg: Config, paths: RunPaths, workers: Optional[int], out) -> tuple[Config, Path, int]:
    """Share the machine (`plan`): measure what the plan needs, say it in one line, and write the planned
    config that every child starts with; returns it, its path and the number of workers."""
    cores, gpu = len(os.sched_getaffinity(0)), pick_device(cfg.train.device).type == "cuda"
    kept = kept_batch(paths.checkpoints)          # a resumed run trains on with its batch
    if any(needs(cfg, gpu, workers, kept)):
        _emit(out, "[run] measuring self-play and the trainer on this machine for the plan (a few seconds)")
    plan = plan_for_machine(cfg, workers, cores, gpu, kept)
    _emit(out, plan.line(cfg))
    planned = planned_config(cfg, plan.trainer_threads, plan.batch_size, plan.catch_up_threads)
    paths.make()
    return planned, save_resolved_config(planned, paths.checkpoints, PLANNED_CONFIG), plan.workers


def _start_ray(cfg: Config, paths: RunPaths, actors: int, address: str, resource: Optional[str],
               per_actor: Optional[list], out):
    """Connect to (or start) Ray and start the self-play actors (`ray_selfplay.RaySelfplay`)."""
    from .ray_actor import import_ray
    from .ray_selfplay import RaySelfplay
    ray = import_ray()
    owns = not ray.is_initialized()
    if owns:
        ray.init(address=None if address == "local" else address, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    resources = per_actor or ([{resource: 1}] * actors if resource else None)
    _emit(out, f"[run] Ray: {len(ray.nodes())} node(s), {ray.cluster_resources().get('CPU', 0):g} CPUs")
    try:
        pool = RaySelfplay(cfg, paths, actors, out, resources)
    except BaseException:
        if owns:
            ray.shutdown()
        raise
    pool.owns_ray = owns
    return pool


def _stop_ray(pool, out) -> None:
    """Stop the actors and say what travelled: games written, refused, lost in transit (always 0)."""
    pool.stop()
    if getattr(pool, "owns_ray", False):
        pool.ray.shutdown()
    _emit(out, f"[run] Ray actors stopped: {pool.written} games written, {pool.rejected} refused, "
               f"{pool.games_lost} lost in transit; {pool.deaths} actor losses, {pool.lost_with_actor} finished "
               f"games lost with their actor before being handed over")


def _run_line_or_why(watch: "RunStatus", is_mario: bool) -> str:
    """The combined line now; a failure to read the folder is said in the line, never ends the run."""
    try:
        return run_line(watch.read(), is_mario)
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
