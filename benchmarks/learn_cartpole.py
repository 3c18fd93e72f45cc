"""Learning benchmark: wall-clock seconds until CartPole-v1's greedy eval mean first reaches 475.

For each seed, one after another: `muzero-lite run` on an empty run folder with the shipped
config (default workers: fits the machine). Every --eval-every seconds of run time this script
pauses the run (SIGSTOP to its process tree), evaluates the newest checkpoint with 20 greedy
episodes, and resumes it (SIGCONT): the eval takes no CPU from the run, and the paused time is
not counted. The time of a point is when its checkpoint was written, in run seconds; env moves
are the self-play moves written by then. An eval stops early once 475 is out of reach. Prints
each seed's time, the curve as CSV, and the median and worst last.

    .venv/bin/python benchmarks/learn_cartpole.py [--seeds 0 1 2] [--budget 600] [--config configs/cartpole.yaml]
        [--ray]

With --ray, each seed runs twice, one run after the other: locally as above, then with its self-play
workers as Ray actors (`muzero-lite run --ray ADDRESS`, as many actors as local workers) on a
2-node Ray cluster of this machine (`ray.cluster_utils.Cluster`, all on 127.0.0.1, no dashboard): a
head with no CPUs for actors, where the run's supervisor connects, and a second node where the
actors play, so every game travels as bytes. The actors are paused with the run for evals. Prints
both medians and the Ray/local ratio.

With --moves N (and --every M): learning curves by env moves instead, as learn_mario.py makes them
(`curves`): the seeds run at the same time with the replay ratio pinned, each curve checkpoint gets
20 greedy episodes, and each point its median and worst over the seeds, beside a random agent.
This mode takes any Gymnasium config, e.g. `--config configs/mountaincar.yaml --moves 100000`.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
from common import KEEP_ALL_CHECKPOINTS, ROOT, muzero_run, process_tree, stop_on_signals, write_run_config
from curves import learn_curves

from muzero_lite.algorithm.networks import build_networks, configure_torch
from muzero_lite.config import load_config
from muzero_lite.data.checkpoints import eval_weights, list_checkpoints, load_checkpoint
from muzero_lite.data.gamefile import list_game_files, read_game
from muzero_lite.envs.make import game_spec
from muzero_lite.processes.evaluate import evaluate

TARGET = 475.0
EPISODES = 20


def eval_mean(cfg, networks, step: int, seed: int) -> float:
    """Mean greedy return over EPISODES, or a value below TARGET as soon as TARGET is out of reach
    (even max_moves in each episode left could not lift the mean to it)."""
    def out_of_reach(returns: list[float]) -> bool:
        return sum(returns) + (EPISODES - len(returns)) * cfg.env.max_moves < TARGET * EPISODES
    row = evaluate(cfg, networks, None, EPISODES, np.random.default_rng(seed), step, stop=out_of_reach)
    return row["mean_return"] if row["games"] == EPISODES else min(row["mean_return"], TARGET - 1e-3)


class MoveCounter:
    """Self-play moves written by a given time, from the game files' lengths and mtimes."""

    def __init__(self, folder: Path):
        self.folder, self.seen, self.stamps = folder, set(), []

    def moves_by(self, t: float) -> int:
        for p in list_game_files(self.folder):
            if p.name not in self.seen:
                self.seen.add(p.name)
                try:
                    self.stamps.append((p.stat().st_mtime, read_game(p).length))
                except (OSError, ValueError):
                    pass
        return sum(n for m, n in self.stamps if m <= t)


def _signal_tree(pids: list[int], sig: int) -> None:
    """Send sig to each of pids that still runs."""
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:                # ended meanwhile
            pass


class RunClock:
    """Run time: wall time since start less the time the run was paused for evals."""

    def __init__(self):
        self.start, self.pauses = time.time(), []       # pauses: (wall start, wall end)

    def run_time(self, wall: float) -> float:
        paused = sum(min(e, wall) - b for b, e in self.pauses if b < wall)
        return wall - self.start - paused


def _actor_pids() -> list[int]:
    """This script's self-play Ray actors: descendants of this process (the cluster's raylets are its
    children, the actors theirs) that Ray titled ray::SelfplayActor..."""
    pids = []
    for p in process_tree(os.getpid()):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if f.read().startswith(b"ray::SelfplayActor"):
                    pids.append(p)
        except OSError:
            continue
    return pids


def ray_cluster():
    """A 2-node Ray cluster on 127.0.0.1: a head with no CPUs for actors and a node with this machine's."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"     # before Ray starts: all of it on 127.0.0.1
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "num_gpus": 0, "include_dashboard": False,
                                                             "node_ip_address": "127.0.0.1"})
    cluster.add_node(num_cpus=os.cpu_count() or 2, node_ip_address="127.0.0.1")
    return cluster


def one_seed(config: Path, seed: int, budget: float, eval_every: float, workers, rows: list,
             ray_address: str | None = None) -> tuple:
    """Run one seed until TARGET or `budget` run seconds (self-play on Ray actors when ray_address);
    returns (seconds, env moves) or (None, moves)."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"learn_cartpole_{seed}_"))
    cfg_path = write_run_config(config, run_dir, {"seed": seed, **KEEP_ALL_CHECKPOINTS})
    cfg = load_config(cfg_path)
    networks = build_networks(cfg, game_spec(cfg.env)).eval()
    counter = MoveCounter(run_dir / cfg.paths.games)
    clock = RunClock()
    result, next_eval = None, eval_every
    try:
        extra = ("--ray", ray_address) if ray_address else ()
        with muzero_run(cfg_path, run_dir, workers, stop_timeout=60, extra=extra) as proc:
            while result is None:
                time.sleep(0.05)
                if clock.run_time(time.time()) < next_eval:
                    continue
                tree = process_tree(proc.pid) + (_actor_pids() if ray_address else [])
                _signal_tree(tree, signal.SIGSTOP)
                paused_at = time.time()
                try:
                    ckpts = list_checkpoints(run_dir / cfg.paths.checkpoints)
                    if ckpts:
                        step, path = ckpts[0]
                        t = clock.run_time(path.stat().st_mtime)
                        networks.load_state_dict(eval_weights(load_checkpoint(path)))
                        mean = eval_mean(cfg, networks, step, seed + 12345)
                        moves = counter.moves_by(path.stat().st_mtime)
                        rows.append({"mode": "ray" if ray_address else "local", "seed": seed, "seconds": round(t, 1),
                                     "step": step, "env_moves": moves, "eval_mean": round(mean, 1)})
                        print(f"  seed {seed}{' (Ray)' if ray_address else ''}: t {t:6.1f} s  step {step:5d}  env moves {moves:7d}  eval mean {mean:6.1f}",
                              flush=True)
                        if mean >= TARGET:
                            result = (t, moves)
                finally:
                    clock.pauses.append((paused_at, time.time()))
                    _signal_tree(tree, signal.SIGCONT)
                next_eval += eval_every
                if result is None and clock.run_time(time.time()) >= budget:
                    result = (None, counter.moves_by(time.time()))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return result


def main() -> None:
    stop_on_signals()          # the finally blocks that resume (SIGCONT) and stop a paused run must run
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "cartpole.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budget", type=float, default=600.0, help="seconds per seed before it counts as a failure")
    ap.add_argument("--eval-every", type=float, default=10.0, help="seconds between evaluated checkpoints")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--ray", action="store_true", help="each seed also with its self-play on a 2-node Ray cluster here")
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "out" / "learn_cartpole.csv")
    ap.add_argument("--moves", type=int, default=0, help="curves by env moves to N moves per seed instead")
    ap.add_argument("--every", type=int, default=10_000, help="with --moves: env moves between curve points")
    ap.add_argument("--root", type=Path, default=None, help="with --moves: folder of the runs (default: temporary)")
    ap.add_argument("--eval-only", action="store_true", help="with --moves: evaluate --root's curve checkpoints")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "learn_cartpole_moves",
                    help="with --moves: prefix of the CSV and PNG files")
    args = ap.parse_args()
    if args.ray and (args.moves or args.eval_only):
        ap.error("--ray times seconds to 475; it does not go with --moves or --eval-only")
    if args.moves:
        if args.moves < 0 or args.every <= 0 or args.moves % args.every:
            ap.error(f"--moves must be a multiple of --every (both > 0); got {args.moves} and {args.every}")
        root = args.root or Path(tempfile.mkdtemp(prefix="learn_cartpole_moves_"))
        env_id = load_config(args.config).env.id       # any Gymnasium config: e.g. configs/mountaincar.yaml
        learn_curves(args.config, args.seeds, args.moves, args.every, root, "mean_return", args.out,
                     f"{env_id}, {args.config.name}: eval mean return by env moves", args.workers,
                     args.eval_only, None)
        return
    configure_torch(threads=1)
    cluster = ray_cluster() if args.ray else None
    modes = [("local", None)] + ([("ray", cluster.address)] if cluster else [])
    rows, results = [], {mode: [] for mode, _ in modes}
    try:
        for seed in args.seeds:
            for mode, address in modes:
                print(f"seed {seed}{' (Ray)' if address else ''}: running (budget {args.budget:.0f} s)", flush=True)
                secs, moves = one_seed(args.config, seed, args.budget, args.eval_every, args.workers, rows, address)
                results[mode].append((seed, secs, moves))
                print(f"seed {seed}{' (Ray)' if address else ''}: " +
                      (f"reached {TARGET:.0f} at {secs:.1f} s after {moves} env moves" if secs is not None
                       else f"did not reach {TARGET:.0f} within {args.budget:.0f} s ({moves} env moves)"), flush=True)
    finally:
        if cluster is not None:
            cluster.shutdown()
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["mode", "seed", "seconds", "step", "env_moves", "eval_mean"])
        w.writeheader()
        w.writerows(rows)
    print(f"\ncurve written to {args.csv}")
    medians = {}
    for mode, _ in modes:
        times = [s if s is not None else float("inf") for _, s, _ in results[mode]]
        medians[mode] = float(np.median(times))
        label = "" if len(modes) == 1 else f"{mode}: "
        for seed, secs, moves in results[mode]:
            print(f"{label}seed {seed}: {'%.1f s' % secs if secs is not None else 'FAILED'}  ({moves} env moves)")
        print(f"{label}median seconds to eval mean >= {TARGET:.0f}: {medians[mode]:.1f}")
        print(f"{label}worst seed: {max(times):.1f} s (budget {args.budget:.0f} s)")
    if cluster is not None:
        print(f"Ray / local median: {medians['ray'] / medians['local']:.2f}", flush=True)


if __name__ == "__main__":
    main()
