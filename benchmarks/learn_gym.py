"""The Gymnasium template's suite: configs/gym.yaml on CartPole, Acrobot, MountainCar and LunarLander,
changing only env.id, learning curves by env moves over seeds, against the issue's targets.

For each env, one after another: `curves.learn_curves` (the seeds at once, replay ratio pinned, 20 greedy
eval games per curve point, the random agent under the same protocol) to the env's budget, then one
table: per env the median and worst at the budget, where the median first reached its target, the
worst seed's first point at its own target, the random agent, and the rl-baselines3-zoo DQN figure at
its budget as an anchor. LunarLander needs the box2d extra (`make setup` installs it).

    .venv/bin/python benchmarks/learn_gym.py [--envs CartPole-v1 ...] [--seeds 0 1 2] [--root DIR]
        [--config configs/gym.yaml] [--set selfplay.explore_epsilon=0.1 ...] [--moves N --every M]
        [--out benchmarks/results/learn_gym]
"""
from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path
from typing import NamedTuple, Optional

from common import ROOT, parse_sets, print_columns, stop_on_signals
from curves import learn_curves, run_dir_of


class Target(NamedTuple):
    """An env's budget, curve spacing, the median's and the worst seed's targets, and the zoo anchor."""
    moves: int
    every: int
    median: float
    worst: float
    # the worst seed's target must be met by this many moves (the budget unless said)
    worst_by: Optional[int]
    anchor: str


# issue "Learning that explores": the done-when targets; anchors from rl-baselines3-zoo's benchmark table
TARGETS = {
    "CartPole-v1": Target(50_000, 5_000, 475.0, 475.0, 50_000, "DQN 500 within 50k"),
    "Acrobot-v1": Target(100_000, 10_000, -100.0, -150.0, None, "DQN -76.6 at 100k"),
    "MountainCar-v0": Target(200_000, 20_000, -130.0, -160.0, None, "DQN -100.8 at 120k"),
    "LunarLander-v3": Target(500_000, 50_000, 200.0, 100.0, None, "DQN 154.4 at 100k (v2)"),
}
# CartPole's median target is due by 20k (and must hold at 3 of the next 5 points), the others at the budget
MEDIAN_BY = {"CartPole-v1": 20_000}


def first_at(rows: list[dict], key: str, target: float) -> Optional[int]:
    """Env moves of the first point whose `key` reaches target (None: never)."""
    return next((int(r["env_moves"]) for r in rows if r[key] >= target), None)


def verdict(env_id: str, rows: list[dict], t: Target) -> str:
    """Whether the env met its targets: "met", or what was missed."""
    median_by = MEDIAN_BY.get(env_id, t.moves)
    worst_by = t.worst_by or t.moves
    missed = []
    m = first_at(rows, "median", t.median)
    if m is None or m > median_by:
        missed.append(f"median {t.median:g} by {median_by:,}")
    if env_id in MEDIAN_BY and m is not None and m <= median_by:
        later = [r for r in rows if r["env_moves"] > median_by][:5]
        if sum(r["median"] >= t.median for r in later) < min(3, len(later)):
            missed.append(f"median held at {sum(r['median'] >= t.median for r in later)} of the next {len(later)}")
    elif env_id not in MEDIAN_BY and rows and rows[-1]["median"] < t.median:
        missed.append(f"median {t.median:g} at the budget")
    w = first_at(rows, "worst", t.worst)
    if w is None or w > worst_by:
        missed.append(f"worst {t.worst:g} by {worst_by:,}")
    return "met" if not missed else "missed: " + "; ".join(missed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "gym.yaml")
    ap.add_argument("--envs", nargs="+", default=list(TARGETS), help="Gymnasium ids (default: the four of the suite)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--moves", type=int, default=None, help="env moves per seed for every env (default: its budget)")
    ap.add_argument("--every", type=int, default=None, help="env moves between curve points (default: the env's)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="config change for every env and seed (repeatable)")
    ap.add_argument("--root", type=Path, default=None, help="folder of the runs (default: a new temporary one)")
    ap.add_argument("--eval-only", action="store_true", help="skip the runs; evaluate --root's curve checkpoints")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "learn_gym",
                    help="prefix of the output files (<prefix>_<env>.csv ... and <prefix>_table.csv)")
    args = ap.parse_args()
    unknown = [e for e in args.envs if e not in TARGETS and (args.moves is None or args.every is None)]
    if unknown:
        ap.error(f"--envs {' '.join(unknown)}: no budget known; give --moves and --every (known: {', '.join(TARGETS)})")
    if args.eval_only and args.root is None:
        ap.error("--eval-only needs --root")
    changes = parse_sets(args.sets)
    stop_on_signals()
    root = args.root or Path(tempfile.mkdtemp(prefix="learn_gym_"))
    table = []
    for env_id in args.envs:
        t = TARGETS.get(env_id, Target(args.moves or 0, args.every or 0, float("inf"), float("inf"), None, "-"))
        moves, every = args.moves or t.moves, args.every or t.every
        prefix = Path(f"{args.out}_{env_id}")
        env_changes = {**changes, "env": {**changes.get("env", {}), "id": env_id}}
        print(f"\n== {env_id}: {moves:,} env moves, a point every {every:,}", flush=True)
        rows, rand = learn_curves(args.config, args.seeds, moves, every, root / env_id, "mean_return", prefix,
                                  f"{env_id}: {args.config.name} (env.id only), median and worst of seeds {args.seeds}",
                                  eval_only=args.eval_only, changes=env_changes)
        last = rows[-1] if rows else {}
        table.append({"env": env_id, "moves": moves, "median": last.get("median"), "worst": last.get("worst"),
                      "median first at target": first_at(rows, "median", t.median),
                      "worst first at target": first_at(rows, "worst", t.worst),
                      "random": rand["mean_return"], "targets": f"{t.median:g} / {t.worst:g}", "anchor": t.anchor,
                      "verdict": verdict(env_id, rows, t) if env_id in TARGETS else "-"})
        print(f"runs of {env_id}: {', '.join(str(run_dir_of(root / env_id, s)) for s in args.seeds)}", flush=True)
    keys = list(table[0])
    print("\nThe template's suite (greedy eval mean return at the budget; median / worst of seeds "
          f"{' '.join(map(str, args.seeds))})")
    print_columns(keys, [[_cell(row[k]) for k in keys] for row in table])
    with open(f"{args.out}_table.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(table)
    print(f"\nwritten: {args.out}_table.csv")


def _cell(v) -> str:
    """A table cell: floats to 1 decimal, None as -."""
    if v is None:
        return "-"
    return f"{v:.1f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)


if __name__ == "__main__":
    main()
