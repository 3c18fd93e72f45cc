"""Self-play moves/s: N local worker processes against N Ray actors on a 2-node Ray cluster of this machine.

For each N in --actors, alternating --rounds times: N `muzero-lite selfplay` processes on an empty
run folder for --seconds, then N actors (`ray_selfplay.RaySelfplay`) on a `ray.cluster_utils.Cluster`
(a head and a second node, all on 127.0.0.1; the actors alternate between the nodes) for as long.
Both count the env moves of the game files written after a warm-up, so both pay for writing them;
no trainer runs (the networks are the uniform ones of a run's first games, `selfplay.random_games`).
Prints moves/s of each and the Ray/local ratio, the median over the rounds. A worker's 16 games land
in bursts (up to 550 moves each): windows under a few minutes count bursts, not speed (a 40 s try
gave 1 local process 11.6 moves/s and 2 processes 70.2), hence the 300 s default; fewer games in flight
(--games-in-flight, for both sides) make the bursts smaller.

    .venv/bin/python benchmarks/ray_speed.py [--config configs/mario.yaml] [--actors 1 2 3] [--seconds 300] [--rounds 2]
        [--games-in-flight N]
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"    # all of Ray on 127.0.0.1
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import numpy as np  # noqa: E402
from common import ROOT, print_columns, write_run_config  # noqa: E402

from muzero_lite.config import load_config  # noqa: E402
from muzero_lite.data.gamefile import list_game_files, read_game  # noqa: E402
from muzero_lite.data.runfolder import RunPaths  # noqa: E402

WARMUP_S = 20.0


def _moves_since(games: Path, t0: float) -> int:
    """Env moves of the game files in games/ written at or after t0."""
    total = 0
    for p in list_game_files(games):
        try:
            if p.stat().st_mtime >= t0:
                total += read_game(p).length
        except (OSError, ValueError):
            pass
    return total


def local_rate(cfg_path: Path, n: int, seconds: float) -> float:
    """moves/s of n local selfplay processes after the warm-up."""
    run = Path(tempfile.mkdtemp(prefix="ray_speed_local_"))
    procs = [subprocess.Popen([sys.executable, "-m", "muzero_lite", "selfplay", "--config", str(cfg_path), "--run-dir",
                               str(run), "--worker", f"w{i}", "--seed", str(i)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT) for i in range(n)]
    try:
        time.sleep(WARMUP_S)
        t0 = time.time()
        time.sleep(seconds)
        moves = _moves_since(run / "games", t0)
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(timeout=60)
    return moves / seconds


def ray_rate(cfg_path: Path, n: int, seconds: float) -> float:
    """moves/s of n Ray actors on a 2-node cluster of this machine after the warm-up."""
    import ray
    from ray.cluster_utils import Cluster

    from muzero_lite.processes.ray_selfplay import RaySelfplay
    cores = os.cpu_count() or 2
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cores, "include_dashboard": False,
                                                             "resources": {"head": 100}})
    cluster.add_node(num_cpus=cores, resources={"second": 100})
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    cfg = load_config(cfg_path)
    run = Path(tempfile.mkdtemp(prefix="ray_speed_ray_"))
    paths = RunPaths.of(cfg, run)
    paths.make()
    pool = RaySelfplay(cfg, paths, n, io.StringIO(), [{"head" if i % 2 == 0 else "second": 1} for i in range(n)])
    try:
        end = time.time() + WARMUP_S
        while time.time() < end:
            pool.tick()
        t0 = time.time()
        while time.time() < t0 + seconds:
            pool.tick()
        moves = _moves_since(paths.games, t0)
    finally:
        pool.stop()
        ray.shutdown()
        cluster.shutdown()
    return moves / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "mario.yaml")
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--games-in-flight", type=int, default=None,
                    help="selfplay.games_in_flight of every process (default: the config's)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ray_speed_cfg_"))
    # uniform networks throughout (no trainer), gifs as the config says
    flight = {"games_in_flight": args.games_in_flight} if args.games_in_flight else {}
    cfg_path = write_run_config(args.config, folder, {"selfplay": {"random_games": 10**9, **flight}})
    print(f"{args.config.name}, selfplay.games_in_flight {load_config(cfg_path).selfplay.games_in_flight}, "
          f"windows of {args.seconds:g} s "
          f"after {WARMUP_S:g} s of warm-up, {args.rounds} round(s)", flush=True)
    rows = []
    for n in args.actors:
        local, remote = [], []
        for r in range(args.rounds):
            local.append(local_rate(cfg_path, n, args.seconds))
            remote.append(ray_rate(cfg_path, n, args.seconds))
            print(f"  {n} process(es), round {r + 1}: local {local[-1]:.1f} moves/s, Ray {remote[-1]:.1f} moves/s",
                  flush=True)
        rows.append([n, f"{np.median(local):.1f}", f"{np.median(remote):.1f}",
                     f"{np.median(remote) / np.median(local):.2f}"])
    print_columns(["processes", "local moves/s", "Ray moves/s (2 nodes)", "Ray / local"], rows)


if __name__ == "__main__":
    main()
