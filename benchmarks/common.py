"""What several benchmark scripts share: the import path, a run folder's networks, the benchmark eval
protocol, column printing, launching and stopping `muzero-lite run`, and reading
processes from /proc.

The eval protocol (`eval_checkpoint`, `eval_loaded`): EVAL_GAMES greedy games on
EVAL_LEVEL from no-op starts drawn with np.random.default_rng(EVAL_SEED), so the same weights always
give the same figures; the random agent plays the same no-op starts.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from muzero_lite.algorithm.networks import MuZeroNetworks, build_networks  # noqa: E402
from muzero_lite.config import Config, load_config  # noqa: E402
from muzero_lite.data.checkpoints import eval_weights, load_checkpoint  # noqa: E402
from muzero_lite.data.runfolder import sigterm_as_interrupt  # noqa: E402
from muzero_lite.envs.make import game_spec  # noqa: E402
from muzero_lite.processes.evaluate import evaluate  # noqa: E402

EVAL_LEVEL = "1-1"
EVAL_GAMES = 20
EVAL_SEED = 2024
KEEP_ALL_CHECKPOINTS = {"train": {"keep_checkpoints": 100000}}


def run_networks(run_dir: Path) -> tuple[Config, MuZeroNetworks]:
    """The run folder's config (run_dir/config.yaml) and fresh networks of it to load its checkpoints into (eval mode)."""
    cfg = load_config(run_dir / "config.yaml")
    return cfg, build_networks(cfg, game_spec(cfg.env)).eval()


def eval_checkpoint(cfg: Config, net: MuZeroNetworks, path: Path, step: int, games: int = EVAL_GAMES) -> dict:
    """The benchmark's eval of one checkpoint (the weights eval plays: averaged where it has them)."""
    return eval_loaded(cfg, net, eval_weights(load_checkpoint(path)), step, games)


def eval_loaded(cfg: Config, net: MuZeroNetworks, weights: dict, step: int, games: int = EVAL_GAMES) -> dict:
    """The benchmark's eval of some weights, loaded into net: `evaluate`'s row."""
    net.load_state_dict(weights)
    return evaluate(cfg, net, EVAL_LEVEL, games, np.random.default_rng(EVAL_SEED), step)


def eval_summary(row: dict) -> str:
    """An eval row's Mario figures on one line: mean and max of max-x, and flags."""
    return f"eval mean max-x {row['mean_max_x']:.1f} max {row['max_max_x']} flags {row['flags']}"


def print_columns(header: list, rows: list[list]) -> None:
    """Print header and rows as right-aligned columns, two spaces apart."""
    widths = [max(len(str(r[j])) for r in rows + [header]) for j in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(v).rjust(w) for v, w in zip(r, widths)))


def stop_on_signals() -> None:
    """SIGTERM and SIGINT raise KeyboardInterrupt, so that the finally blocks that stop a launched run
    always run: on SIGTERM, and on Ctrl-C even when the script was started in the background (a shell's
    `cmd &` starts it with SIGINT ignored)."""
    sigterm_as_interrupt()
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _worker_signals() -> None:
    """A pool worker dies on SIGINT and SIGTERM (default actions): the script that owns it stops it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def process_pool(procs: int) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor of `procs` workers that a stopped script does not wait for: when the block
    ends with an exception (Ctrl-C, SIGTERM under `stop_on_signals`), the tasks not started are cancelled
    and the workers are terminated, instead of the pool playing every queued eval before it exits."""
    pool = ProcessPoolExecutor(max_workers=procs, initializer=_worker_signals)
    try:
        yield pool
    except BaseException:
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.join(5)
        raise
    pool.shutdown()


def write_run_config(config: Path, run_dir: Path, changes: dict) -> Path:
    """Write run_dir/config.yaml: the YAML file `config` with `changes` merged in (a dict value updates
    that section, any other value sets the top-level key); returns its path."""
    data = yaml.safe_load(config.read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def parse_sets(pairs: list[str]) -> dict:
    """{"section": {"key": value}} from KEY=VALUE strings (section.key=YAML value)."""
    changes: dict = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        section, _, name = key.partition(".")
        if not name or not _:
            raise SystemExit(f"--set {pair}: expected section.key=value")
        changes.setdefault(section, {})[name] = yaml.safe_load(value)
    return changes


@contextmanager
def muzero_run(cfg_path: Path, run_dir: Path, workers: int | None = None,
               stop_timeout: float = 120.0, extra: tuple = ()) -> Iterator[subprocess.Popen]:
    """`muzero-lite run --verbose [extra]` on run_dir while the with block runs (workers None: its default),
    all its children's lines in run_dir/run.log. At the block's end, an exception's too, it is stopped the
    Ctrl-C way (SIGINT) and waited for; killed if it has not ended within stop_timeout seconds. The run
    starts in the repository (as `python -m muzero_lite`): paths relative to the caller's folder are made
    absolute first."""
    cfg_path, run_dir = Path(cfg_path).resolve(), Path(run_dir).resolve()
    argv = [sys.executable, "-m", "muzero_lite", "run", "--verbose", "--config", str(cfg_path), "--run-dir", str(run_dir),
            *extra]
    if workers:
        argv += ["--workers", str(workers)]
    with open(run_dir / "run.log", "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def worktree(rev: str | None, where: Path) -> Iterator[Path | None]:
    """A detached git worktree of this repository at rev in the folder `where` while the block runs (removed
    after it); None (and nothing made) when rev is None."""
    if rev is None:
        yield None
        return
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield where
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False)


def parent_pids() -> dict[int, int]:
    """{pid: parent pid} of the processes now running, from /proc (ones that end meanwhile are left out)."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    out[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return out


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants now running, from /proc."""
    children: dict[int, list[int]] = {}
    for child, ppid in parent_pids().items():
        children.setdefault(ppid, []).append(child)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def status_kb(field: str, pid: int | str = "self") -> int:
    """A kB field of /proc/PID/status (VmRSS, VmHWM, ...); KeyError if it has none, OSError if it has ended."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)
