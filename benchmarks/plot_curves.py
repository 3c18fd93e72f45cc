"""Learning curves as PNG from the learning benchmarks' CSVs (needs the `plot` extra: matplotlib).

    .venv/bin/python benchmarks/plot_curves.py [--cartpole benchmarks/results/learn_cartpole.csv]
        [--mario benchmarks/results/learn_mario*.csv] [--out benchmarks/results]

CartPole: greedy eval mean (20 episodes) against run seconds, one line per seed, and the 475 target.
Mario: greedy eval mean max-x (20 no-op-start games) against run minutes, one line per CSV, named
after the file (learn_mario_sample_seed2.csv -> "sample seed2", dashed; patch runs dash-dotted;
completed_q runs dash-dot-dotted; runs evaluated with averaged weights, "average" in the name, dotted;
search_all runs (root_actions 12) long-dashed),
the random agent's mean max-x, the 1500 target and the flag (x 3161).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV file as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_cartpole(plt, path: Path, out: Path) -> Path:
    """learn_cartpole.png from learn_cartpole.py's CSV; returns its path."""
    rows = read_rows(path)
    fig, ax = plt.subplots(figsize=(7, 4))
    runs = sorted({(r.get("mode", "local"), r["seed"]) for r in rows}, key=lambda m: (m[0], int(m[1])))
    for mode, seed in runs:                    # learn_cartpole.py --ray: local and Ray runs of each seed
        pts = [(float(r["seconds"]), float(r["eval_mean"])) for r in rows
               if r["seed"] == seed and r.get("mode", "local") == mode]
        ax.plot(*zip(*pts), marker=".", linestyle="--" if mode == "ray" else "-",
                label=f"seed {seed}" + (" (Ray)" if mode == "ray" else ""))
    ax.axhline(475, color="grey", linestyle="--", label="target 475")
    ax.set(xlabel="run seconds (evals paused, not counted)", ylabel="greedy eval mean return (20 episodes)",
           title="CartPole-v1, configs/cartpole.yaml, 2-core CPU", ylim=(0, 520))
    ax.legend(loc="lower right", fontsize=8)
    return save(fig, out / "learn_cartpole.png")


# Mario runs whose CSV name holds one of these words (the config choice they measured) get its line style
LINESTYLES = {"sample": "--", "patch": "-.", "completed": (0, (3, 1, 1, 1, 1, 1)), "average": (0, (1, 1)),
              "search_all": (0, (8, 2))}


def plot_mario(plt, paths: list[Path], out: Path) -> Path:
    """learn_mario.png from learn_mario.py's CSVs, one line each; returns its path."""
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.set_prop_cycle(color=plt.cm.tab20.colors)  # 20 colours: up to 20 runs each get their own (the default cycle has 10)
    random = None
    for path in paths:
        rows = read_rows(path)
        # the file name after learn_mario_ says which run it is (e.g. seed0, sample_seed2)
        name = path.stem.removeprefix("learn_mario_").replace("_", " ")
        ax.plot([float(r["minute"]) for r in rows], [float(r["mean_max_x"]) for r in rows], marker="o",
                linestyle=next((style for word, style in LINESTYLES.items() if word in name), "-"), label=name)
        random = random or rows[0].get("random_mean_max_x")
    if random:
        ax.axhline(float(random), color="black", linestyle=":", label=f"random agent {float(random):.0f}")
    ax.axhline(1500, color="grey", linestyle="--", label="target 1500")
    ax.axhline(3161, color="green", linestyle="-.", label="flag 3161")
    ax.set(xlabel="run minutes", ylabel="greedy eval mean max-x (20 games)",
           title="Super Mario Bros 1-1, configs/mario.yaml, 2-core CPU", ylim=(0, 3300), xlim=(0, None))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7)  # beside the plot, off the curves
    return save(fig, out / "learn_mario.png")


def save(fig, path: Path) -> Path:
    """Write the figure as PNG to path; returns path."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cartpole", type=Path, default=RESULTS / "learn_cartpole.csv")
    ap.add_argument("--mario", type=Path, nargs="*", default=sorted(RESULTS.glob("learn_mario*.csv")))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_curves: matplotlib is not installed (pip install -e '.[plot]')")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.cartpole.exists():
        print(f"wrote {plot_cartpole(plt, args.cartpole, args.out)}")
    if args.mario:
        print(f"wrote {plot_mario(plt, args.mario, args.out)}")


if __name__ == "__main__":
    main()
