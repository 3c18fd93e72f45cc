"""Time `observations.stack_observations` of this checkout against a git revision's, side by side in one
process (alternating, same inputs): the trainer stacks a Mario batch of 64 inputs every step, and 64 x K
more for the consistency term. Checks that both give the same arrays.

    .venv/bin/python benchmarks/stack_speed.py [--base REV] [--rounds 10]
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT

from muzero_lite.algorithm import observations


def module_at(rev: str):
    """muzero_lite/observations.py as it was at git revision rev, imported from a temporary file."""
    text = subprocess.run(["git", "show", f"{rev}:muzero_lite/observations.py"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="stack_speed_")) / "observations_base.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("observations_base", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD~1", help="git revision to compare against (default HEAD~1)")
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    base = module_at(args.base)
    rng = np.random.default_rng(0)
    n = 50_000                                                   # a Mario replay window: 2 grey 64x64 frames a move
    frames = rng.integers(0, 256, (n, 2, 64, 64, 1), dtype=np.uint8)
    actions = rng.integers(0, 12, n)
    print(f"stack_observations, Mario inputs (stack 4, 2 frames of 64x64 a move), {args.rounds} rounds; "
          f"base {args.base} against this checkout")
    for b in (64, 320):                                          # a batch; a batch x K=5 (consistency term)
        pos = rng.integers(0, n, b)
        moves = rng.integers(0, 300, b)
        old = base.stack_observations(frames, actions, pos, 4, 12, game_positions=moves)
        new = observations.stack_observations(frames, actions, pos, 4, 12, game_positions=moves)
        assert np.array_equal(old, new), "the two give different inputs"
        times: dict[str, list[float]] = {"base": [], "now": []}
        for r in range(args.rounds):
            order = [("base", base), ("now", observations)]
            for name, mod in order if r % 2 == 0 else order[::-1]:
                t = time.perf_counter()
                mod.stack_observations(frames, actions, pos, 4, 12, game_positions=moves)
                times[name].append(time.perf_counter() - t)
        a, c = np.median(times["base"]) * 1e3, np.median(times["now"]) * 1e3
        print(f"  {b:4d} inputs: base {a:6.1f} ms, now {c:6.1f} ms, now/base {c / a:.2f} (same arrays)")


if __name__ == "__main__":
    main()
