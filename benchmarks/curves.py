"""Learning curves by env moves, shared by learn_mario.py and learn_cartpole.py.

Each seed is one `muzero-lite run` of the config with train.curve_every_moves = --every, so that its
trainer keeps a checkpoint at every multiple of that many env moves (taken once it has trained its
share of them: the replay ratio is pinned). The seeds run at the same time: with the ratio pinned,
a curve by env moves does not depend on how fast the machine is or how many runs share it. A run is
stopped once its checkpoint at --moves exists. Then every curve checkpoint is evaluated (the
averaged weights; `common.eval_checkpoint`'s protocol, several evals at once), and each point gets
its median and worst over the seeds; the random agent's row comes from the same protocol.
Output: <prefix>.csv (one row per seed and point), <prefix>_summary.csv (median and worst per
point) and <prefix>.png (env moves on the x axis).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from common import (
    EVAL_GAMES,
    EVAL_LEVEL,
    EVAL_SEED,
    eval_checkpoint,
    muzero_run,
    process_pool,
    run_networks,
    write_run_config,
)

from muzero_lite.algorithm.networks import configure_torch
from muzero_lite.data.atomic import atomic_write_bytes
from muzero_lite.data.checkpoints import eval_weights, list_curve_checkpoints, load_checkpoint
from muzero_lite.data.pace import read_pace
from muzero_lite.processes.evaluate import evaluate
from muzero_lite.reporting.metrics import TRAIN_CSV, column, read_rows

# what an eval row depends on besides the checkpoint: a kept row made under another protocol is played again
PROTOCOL = {"games": EVAL_GAMES, "seed": EVAL_SEED, "level": EVAL_LEVEL, "version": 1}
# the figures kept of an eval row
FIGURES = ["mean_return", "min_return", "mean_max_x", "max_max_x", "flags", "mean_moves", "distinct"]


def add_curve_arguments(ap: argparse.ArgumentParser, config: Path, moves: int, every: int, seeds: list[int],
                        out: Path) -> None:
    """The options every learning-curve script shares: --config --moves --every --seeds --workers --root
    --eval-only --eval-procs --out, with this script's defaults."""
    ap.add_argument("--config", type=Path, default=config)
    ap.add_argument("--moves", type=int, default=moves, help="env moves per seed")
    ap.add_argument("--every", type=int, default=every, help="env moves between curve points")
    ap.add_argument("--seeds", type=int, nargs="+", default=seeds)
    ap.add_argument("--workers", type=int, default=None, help="self-play workers per run (default: the run's)")
    ap.add_argument("--root", type=Path, default=None, help="folder of the runs (default: a new temporary one)")
    ap.add_argument("--eval-only", action="store_true", help="skip the runs; evaluate --root's curve checkpoints")
    ap.add_argument("--eval-procs", type=int, default=None, help="evals at once (default: one per core)")
    ap.add_argument("--out", type=Path, default=out, help="prefix of the output files")


def check_curve_arguments(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with argparse's one-line error when --moves, --every or --eval-only cannot work."""
    if args.moves <= 0 or args.every <= 0 or args.moves % args.every:
        ap.error(f"--moves and --every must be > 0, --moves a multiple of --every; got {args.moves} and {args.every}")
    if args.eval_only and args.root is None:
        ap.error("--eval-only needs --root")


def run_dir_of(root: Path, seed: int) -> Path:
    """The run folder of one seed under root."""
    return Path(root) / f"seed{seed}"


def run_seeds(config: Path, seeds: list[int], moves: int, every: int, root: Path, workers: Optional[int] = None,
              progress_s: float = 60.0, changes: Optional[dict] = None) -> list[Path]:
    """Run every seed at the same time until its curve checkpoint at `moves` exists; returns the run folders.
    changes: more config changes for every seed (`common.write_run_config`)."""
    if moves % every:
        raise ValueError(f"--moves {moves} must be a multiple of --every {every}")
    dirs = [run_dir_of(root, s) for s in seeds]
    with ExitStack() as stack:
        procs = {}
        for seed, d in zip(seeds, dirs):
            d.mkdir(parents=True, exist_ok=True)
            extra = dict(changes or {})
            # several runs share the machine: each trainer keeps one thread (the plan of a run alone would
            # give it all the cores while its self-play waits, and 3 such trainers on 2 cores ran at a third
            # of their speed); learning by env moves does not depend on it (the ratio is pinned)
            shared = {"threads": 1, "catch_up_threads": 1} if len(seeds) > 1 else {}
            extra["train"] = {**shared, **extra.get("train", {}), "curve_every_moves": every}
            cfg_path = write_run_config(config, d, {**extra, "seed": seed})
            procs[seed] = (d, stack.enter_context(muzero_run(cfg_path, d, workers)))
        start, shown = time.time(), 0.0
        done: set[int] = set()
        while len(done) < len(seeds):
            time.sleep(2)
            for seed, (d, proc) in procs.items():
                if seed in done:
                    continue
                if any(mark >= moves for mark, _ in list_curve_checkpoints(d / "checkpoints")):
                    proc.send_signal(2)             # SIGINT: the run stops the Ctrl-C way; the block waits for it
                    done.add(seed)
                elif proc.poll() is not None:
                    raise RuntimeError(f"seed {seed}: the run ended early (exit {proc.returncode}); see {d / 'run.log'}")
            if time.time() - start >= shown + progress_s:
                shown += progress_s
                parts = [f"seed {s}: {(read_pace(d / 'checkpoints') or {}).get('env_moves', 0):,}"
                         for s, (d, _) in procs.items()]
                print(f"  {(time.time() - start) / 60:5.1f} min | env moves " + " | ".join(parts), flush=True)
    return dirs


def kept_row(cache: Path, key: dict) -> Optional[dict]:
    """The eval row kept in `cache`, if it was made under this very key (protocol, checkpoint's mtime)."""
    try:
        kept = json.loads(Path(cache).read_text())
        if all(kept[k] == v for k, v in key.items()):
            return kept["row"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def kept_or_played(cache: Path, key: dict, play: Callable[[], dict]) -> dict:
    """The eval row kept in `cache` under `key`, or play() kept there with it (written atomically: another
    eval may read it), so that a second eval of the same thing does not play it again."""
    row = kept_row(cache, key)
    if row is None:
        row = play()
        atomic_write_bytes(Path(cache), json.dumps({**key, "row": row}).encode())
    return row


def _cache_path(path: str) -> Path:
    """Where a curve checkpoint's eval row is kept: beside it, <name>.eval.json."""
    return Path(f"{path}.eval.json")


def _eval_point(task: tuple) -> dict:
    """One curve point: (seed, run folder, mark, checkpoint path) -> its eval row (runs in a pool process);
    the row is kept beside the checkpoint, so that a second --eval-only does not play it again."""
    seed, run_dir, mark, path = task
    key = {"protocol": PROTOCOL, "checkpoint_mtime": os.stat(path).st_mtime}
    return kept_or_played(_cache_path(path), key, lambda: _play_point(task))


def _play_point(task: tuple) -> dict:
    """The eval of one curve point."""
    seed, run_dir, mark, path = task
    configure_torch(threads=1)
    cfg, net = run_networks(Path(run_dir))
    payload = load_checkpoint(path)
    step = int(payload["step"])
    if cfg.env.is_mario:
        row = eval_checkpoint(cfg, net, Path(path), step)
    else:
        net.load_state_dict(eval_weights(payload))
        row = evaluate(cfg, net, None, EVAL_GAMES, np.random.default_rng(EVAL_SEED), step)
    return {"seed": seed, "mark": mark, "env_moves": payload.get("env_moves"), "step": step,
            **{k: row[k] for k in FIGURES}}


def _eval_random(run_dir: str) -> dict:
    """The random agent's row under the same protocol (kept in <run folder>/random.eval.json)."""
    return kept_or_played(Path(run_dir) / "random.eval.json", {"protocol": PROTOCOL}, lambda: _play_random(run_dir))


def _play_random(run_dir: str) -> dict:
    """The random agent's eval."""
    configure_torch(threads=1)
    cfg, net = run_networks(Path(run_dir))
    level = EVAL_LEVEL if cfg.env.is_mario else None
    row = evaluate(cfg, net, level, EVAL_GAMES, np.random.default_rng(EVAL_SEED), 0, random_agent=True)
    return {k: row[k] for k in FIGURES}


def evaluate_runs(seeds: list[int], dirs: list[Path], procs: int) -> tuple[list[dict], dict]:
    """Every curve checkpoint of every run, `procs` evals at a time; (rows sorted by seed and mark, random row)."""
    tasks = [(s, str(d), mark, str(p)) for s, d in zip(seeds, dirs) for mark, p in list_curve_checkpoints(d / "checkpoints")]
    print(f"evaluating {len(tasks)} curve checkpoints and the random agent, {procs} at a time", flush=True)
    with process_pool(procs) as pool:
        rand = pool.submit(_eval_random, str(dirs[0]))
        rows = []
        for row in pool.map(_eval_point, tasks):
            rows.append(row)
            print(f"  seed {row['seed']} at {row['mark']:,} moves (step {row['step']}): mean return "
                  f"{row['mean_return']:.1f}, mean max-x {row['mean_max_x']:.1f}, flags {row['flags']}, "
                  f"distinct {row['distinct']}", flush=True)
        return sorted(rows, key=lambda r: (r["seed"], r["mark"])), rand.result()


def summarise(rows: list[dict], figure: str, seeds: list[int]) -> list[dict]:
    """Per point (mark) reached by every seed: the figure's median and worst (lowest) over the seeds."""
    by_mark: dict[int, dict[int, float]] = {}
    for r in rows:
        by_mark.setdefault(r["mark"], {})[r["seed"]] = r[figure]
    out = []
    for mark in sorted(by_mark):
        vals = by_mark[mark]
        if set(vals) >= set(seeds):
            v = [vals[s] for s in seeds]
            out.append({"env_moves": mark, "median": float(np.median(v)), "worst": float(np.min(v)),
                        **{f"seed{s}": vals[s] for s in seeds}})
    return out


def write_outputs(prefix: Path, rows: list[dict], summary: list[dict], rand: dict, figure: str,
                  seeds: list[int], title: str) -> None:
    """<prefix>.csv, <prefix>_summary.csv and <prefix>.png."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{prefix}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["seed", "mark", "env_moves", "step"] + FIGURES)
        w.writeheader()
        w.writerows(rows)
        w.writerow({"seed": "random", **rand})
    with open(f"{prefix}_summary.csv", "w", newline="") as f:
        flags = ["flags_median", "flags_worst"] if summary and "flags_median" in summary[0] else []
        w = csv.DictWriter(f, fieldnames=["env_moves", "median", "worst"] + [f"seed{s}" for s in seeds] + ["random"]
                           + flags)
        w.writeheader()
        w.writerows({**r, "random": rand[figure]} for r in summary)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for s in seeds:
        pts = [(r["mark"], r[figure]) for r in rows if r["seed"] == s]
        if pts:
            ax.plot(*zip(*pts), lw=0.8, alpha=0.6, marker=".", label=f"seed {s}")
    if summary:
        x = [r["env_moves"] for r in summary]
        ax.plot(x, [r["median"] for r in summary], lw=2.5, color="black", label="median")
        ax.plot(x, [r["worst"] for r in summary], lw=1.5, ls="--", color="black", label="worst")
    ax.axhline(rand[figure], color="grey", ls=":", label="random agent")
    ax.set_xlabel("env moves")
    ax.set_ylabel(f"eval {figure} ({EVAL_GAMES} games)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{prefix}.png", dpi=100)
    plt.close(fig)


def print_summary(summary: list[dict], rand: dict, figure: str, seeds: list[int]) -> None:
    """The summary table: one line per point."""
    print(f"\n{figure} by env moves (median and worst of seeds {' '.join(map(str, seeds))}; random agent "
          f"{rand[figure]:.1f})")
    flags = bool(summary) and "flags_median" in summary[0]
    print(f"{'env moves':>10}  {'median':>8}  {'worst':>8}  " + "  ".join(f"{'seed ' + str(s):>8}" for s in seeds)
          + (f"  flags of {EVAL_GAMES}: median / worst" if flags else ""))
    for r in summary:
        print(f"{r['env_moves']:>10,}  {r['median']:>8.1f}  {r['worst']:>8.1f}  "
              + "  ".join(f"{r[f'seed{s}']:>8.1f}" for s in seeds)
              + (f"  {r['flags_median']:g} / {r['flags_worst']:g}" if flags else ""))


def with_flags(summary: list[dict], rows: list[dict], seeds: list[int]) -> list[dict]:
    """The summary with each point's median and worst count of flags over the seeds (Mario's eval games)."""
    flags = {r["env_moves"]: r for r in summarise(rows, "flags", seeds)}
    return [{**r, "flags_median": flags[r["env_moves"]]["median"], "flags_worst": flags[r["env_moves"]]["worst"]}
            for r in summary]


def ratio_report(run_dir: Path, after: int) -> str:
    """How closely the run held its pinned replay ratio: the trainer's status rows past `after` env moves
    (checkpoints/train_metrics.csv): their count, the share within 5% of train.replay_ratio, min and median."""
    cfg, _ = run_networks(Path(run_dir))
    target = cfg.train.replay_ratio
    rows = read_rows(Path(run_dir) / cfg.paths.checkpoints / TRAIN_CSV)
    pairs = zip(column(rows, "env_moves"), column(rows, "train/replay_ratio"))
    vals = [r for m, r in pairs if m is not None and r is not None and m >= after]
    if not vals or not target:
        return f"no status rows past {after:,} env moves (or no pinned ratio)"
    within = np.mean([abs(v / target - 1) <= 0.05 for v in vals])
    return (f"replay ratio past {after:,} env moves: {len(vals)} status rows, {100 * within:.0f}% within 5% of "
            f"{target:g}, min {min(vals):.2f}, median {np.median(vals):.2f}")


def learn_curves(config: Path, seeds: list[int], moves: int, every: int, root: Path, figure: str, prefix: Path,
                 title: str, workers: Optional[int] = None, eval_only: bool = False,
                 eval_procs: Optional[int] = None, changes: Optional[dict] = None) -> tuple[list[dict], dict]:
    """Run (unless eval_only), evaluate, summarise and write the curves; returns the summary and the
    random agent's eval row."""
    if eval_only:
        dirs = [run_dir_of(root, s) for s in seeds]
    else:
        print(f"runs in {root}: seeds {seeds} at once, to {moves:,} env moves, a curve point every {every:,}", flush=True)
        dirs = run_seeds(config, seeds, moves, every, root, workers, changes=changes)
    for s, d in zip(seeds, dirs):
        print(f"seed {s}: {ratio_report(d, every)}", flush=True)
    rows, rand = evaluate_runs(seeds, dirs, eval_procs or os.cpu_count() or 1)
    summary = summarise(rows, figure, seeds)
    if figure == "mean_max_x":
        summary = with_flags(summary, rows, seeds)
    write_outputs(prefix, rows, summary, rand, figure, seeds, title)
    print_summary(summary, rand, figure, seeds)
    print(f"\nwritten: {prefix}.csv, {prefix}_summary.csv, {prefix}.png")
    return summary, rand
