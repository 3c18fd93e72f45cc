"""Uniform-model moves among a run's first 5k/10k/20k/30k moves (game files by time, checkpoint_step None).

    .venv/bin/python benchmarks/results/options_2026-11-30/count_uniform_moves.py RUN/games [RUN2/games ...]
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from muzero_lite.data.gamefile import list_game_files, read_game

for d in sys.argv[1:]:
    files = list_game_files(d)
    rows = []
    for f in files:
        r = read_game(f)
        m = r.meta
        rows.append((os.path.getmtime(f), m['moves'], m.get('checkpoint_step'), m.get('max_x')))
    rows.sort()
    cum = 0; uni = 0; out = []
    for mt, mv, st, x in rows:
        cum += mv
        if st is None: uni += mv
        for mark in (5000, 10000, 20000, 30000):
            if cum - mv < mark <= cum: out.append(f"{mark}: uniform {uni} ")
    print(d, len(rows), " ".join(out))
