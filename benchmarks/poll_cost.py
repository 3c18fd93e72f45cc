"""What the trainer's look at games/ costs: the listings of one poll (the loader's scan for new and
irregular files, and prune_games' count), for two or more checkouts side by side on one folder.

Each checkout is timed in its own child process (cwd = the checkout, so its muzero_lite is imported),
alternately, --rounds times; the median ms per poll of each is printed, then its ratio to the first.
The folder is only listed, never changed (prune_games is given a keep larger than the file count).

    .venv/bin/python benchmarks/poll_cost.py --games RUN/games --checkouts /tmp/before . [--polls 50] [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

# run in a checkout: its own way of listing what one poll lists, timed over `polls` polls
CHILD = r"""
import sys, time
from pathlib import Path
import muzero_lite.data.gameloader as gl
from muzero_lite.data.gamefile import list_game_files
from muzero_lite.data.runfolder import prune_games
folder, polls = Path(sys.argv[1]), int(sys.argv[2])
names = {p.name for p in list_game_files(folder)}
if hasattr(gl, "game_file_names"):                     # one scan of names (2026-11-30, late)
    def poll():
        gl.game_file_names(folder); prune_games(folder, len(names) + 1, names)
else:                                                  # a Path per file, two scans
    def poll():
        list_game_files(folder); gl._irregular_game_entries(folder); prune_games(folder, len(names) + 1, names)
for _ in range(3):
    poll()
t = time.perf_counter()
for _ in range(polls):
    poll()
print(len(names), 1000 * (time.perf_counter() - t) / polls)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", required=True, help="a games/ folder to list (e.g. a finished run's)")
    ap.add_argument("--checkouts", nargs="+", required=True)
    ap.add_argument("--polls", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    games = str(Path(args.games).resolve())
    times: dict[str, list[float]] = {c: [] for c in args.checkouts}
    files = 0
    for _ in range(args.rounds):
        for c in args.checkouts:
            done = subprocess.run([sys.executable, "-c", CHILD, games, str(args.polls)], cwd=c,
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"poll_cost: {c}: {done.stderr.strip()[-400:]}")
            n, ms = done.stdout.split()
            files = int(n)
            times[c].append(float(ms))
    first = statistics.median(times[args.checkouts[0]])
    print(f"{files} game files in {games}; ms per poll (median of {args.rounds} rounds of {args.polls} polls)")
    for c, ms in times.items():
        m = statistics.median(ms)
        print(f"  {c}: {m:.2f} ms  ({m / first:.2f}x the first)")


if __name__ == "__main__":
    main()
