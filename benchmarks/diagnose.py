"""Why self-play does (not) find what pays: the search's figures of every self-play game, by env moves.

Reads checkpoints/selfplay_metrics.csv of one or more run folders (seeds of one config) and pools their
games into buckets of --bucket env moves. Per bucket: games, mean return, the share of games that
ended by the env's own termination (Acrobot's and MountainCar's goal, CartPole's fall, Mario's death
or flag), the policy's entropy (nats) and its maximum log A, the prior's mass on the move played, how
often the search's best move was not the policy's first choice, the spread of the searched actions' Q
against |the root value| (how much the soft move choice amplifies: min-max normalisation turns any
spread into 0..1), and the share of moves the held explorer played. --values: whether the value
carries a goal back (each run's newest value d moves before the end of the games the env ended).
--play: what each run's newest checkpoint plays, greedy and sampled (action shares, runs of one action). For Mario also where games end:
deaths by cause (pit, enemy, clock), stalls, time limits, flags, and the x where the last bucket's
games most often ended; --by-level: Mario's figures per level and bucket (the overworld). Writes <out>.csv and
<out>.png (one panel per figure), and with --by-level <out>_levels.csv.

    .venv/bin/python benchmarks/diagnose.py RUN_DIR [RUN_DIR ...] [--bucket 10000] [--out PREFIX] [--values] [--play]
        [--by-level]
"""
from __future__ import annotations

import argparse
import csv
import math
from collections import Counter
from pathlib import Path

import numpy as np
from common import print_columns

from muzero_lite.config import load_config
from muzero_lite.reporting.metrics import SELFPLAY_CSV, cell_number, read_rows

PANELS = [("return", "mean return"), ("ended", "ended by the env (share)"), ("entropy", "policy entropy (nats)"),
          ("chosen_prior", "prior mass on the move played"), ("changed", "search overruled the prior (share)"),
          ("spread_ratio", "Q spread / |root value|"), ("explored", "moves by the explorer (share)")]


def games_of(run_dirs: list[Path]) -> list[dict]:
    """Every self-play game row of the runs (their env moves kept per run)."""
    rows = []
    for d in run_dirs:
        rows += read_rows(Path(d) / "checkpoints" / SELFPLAY_CSV)
    return rows


def _mean(rows: list[dict], key: str, weight: str | None = None) -> float:
    """Mean of a column over rows (weighted by another column), NaN where no row has it."""
    pairs = [(cell_number(r, key), cell_number(r, weight) if weight else 1.0) for r in rows]
    pairs = [(x, w) for x, w in pairs if x is not None and w]
    return sum(x * w for x, w in pairs) / sum(w for _, w in pairs) if pairs else math.nan


def bucket_figures(rows: list[dict]) -> dict:
    """The figures of one bucket of game rows (search figures weighted by each game's moves)."""
    moves = sum(cell_number(r, "moves") or 0 for r in rows)
    explored = sum(cell_number(r, "explored") or 0 for r in rows)
    spread, scale = _mean(rows, "q_spread", "moves"), _mean(rows, "value_scale", "moves")
    deaths = Counter(r.get("death") or "" for r in rows)
    n = len(rows)
    return {"games": n, "return": _mean(rows, "return"), "ended": _mean(rows, "terminated"),
            "entropy": _mean(rows, "policy_entropy", "moves"), "chosen_prior": _mean(rows, "chosen_prior", "moves"),
            "changed": _mean(rows, "search_changed", "moves"), "q_spread": spread, "value_scale": scale,
            "spread_ratio": spread / scale if scale else math.nan, "explored": explored / moves if moves else math.nan,
            "max_x": _mean(rows, "max_x"), "flags": _mean(rows, "flag"), "stalled": _mean(rows, "stalled"),
            "pit": deaths["pit"] / n, "enemy": deaths["enemy"] / n, "clock": deaths["clock"] / n}


def buckets(rows: list[dict], size: int) -> list[tuple[int, dict]]:
    """(bucket end in env moves, figures) for each bucket that holds games."""
    by: dict[int, list[dict]] = {}
    for r in rows:
        at = cell_number(r, "env_moves")
        if at is not None:
            by.setdefault(int(math.ceil(at / size)) * size, []).append(r)
    return [(end, bucket_figures(by[end])) for end in sorted(by)]


LEVEL_FIGURES = ["games", "max_x", "flags", "pit", "enemy", "stalled"]


def level_buckets(rows: list[dict], size: int) -> list[tuple[str, int, dict]]:
    """Mario with several levels: (level, bucket end, figures) per level in the order first played, each
    level's buckets as `buckets` makes them; rows without a level are left out."""
    levels = list(dict.fromkeys(r["level"] for r in rows if r.get("level")))
    return [(level, end, fig) for level in levels
            for end, fig in buckets([r for r in rows if r.get("level") == level], size)]


def where_games_end(rows: list[dict], bin_px: int = 50, top: int = 6) -> list[tuple[int, int]]:
    """Mario: (x bin start, games) of the bins of max_x where most games ended by death or stall."""
    ends = Counter(int(x // bin_px) * bin_px for r in rows
                   if (x := cell_number(r, "max_x")) is not None and (r.get("death") or cell_number(r, "stalled")))
    return ends.most_common(top)


def value_by_distance(run_dir: Path, distances=(1, 10, 50, 100)) -> dict:
    """Does the value carry the goal back? The newest checkpoint's value (averaged weights) at positions d
    moves before the end of the self-play games in run_dir/games that ended by the env (a goal in
    Acrobot or MountainCar), beside its mean over the games that did not: {"d": mean value, ..., "not
    ended": mean value, "games": (ended, not)}; None without a checkpoint or an ended game."""
    import torch
    from common import run_networks

    from muzero_lite.algorithm.observations import stack_observations
    from muzero_lite.data.checkpoints import eval_weights, list_checkpoints, load_checkpoint
    from muzero_lite.data.gamefile import list_game_files, read_game
    cfg, net = run_networks(Path(run_dir))
    newest = list_checkpoints(Path(run_dir) / cfg.paths.checkpoints)
    if not newest:
        return None
    net.load_state_dict(eval_weights(load_checkpoint(newest[0][1])))
    ended, other = [], []
    for f in list_game_files(Path(run_dir) / cfg.paths.games):
        rec = read_game(f)
        t = np.arange(len(rec.actions))
        obs = torch.from_numpy(stack_observations(rec.frames, rec.actions, t, cfg.env.stack_moves, rec.policies.shape[1],
                                                  action_history=cfg.env.action_history))
        with torch.no_grad():
            v = net.initial_inference(obs).value.numpy()                              # [T]
        (ended if rec.meta.get("terminated") else other).append(v)
    if not ended:
        return None
    out = {str(d): float(np.mean([v[-d] for v in ended if len(v) >= d])) for d in distances}
    out["not ended"] = float(np.mean(np.concatenate(other))) if other else math.nan
    out["games"] = (len(ended), len(other))
    return out


def play_probe(run_dir: Path, seed: int = 5) -> list[str]:
    """One greedy and one sampled game with the run's newest checkpoint (averaged weights): the share of
    each action, the mean length of a run of one action, and the first 40 moves. A greedy game that
    holds one action throughout says the Q differences carry an action bias, not the state."""
    from common import run_networks

    from muzero_lite.data.checkpoints import eval_weights, list_checkpoints, load_checkpoint
    from muzero_lite.envs.make import make_env
    from muzero_lite.processes.acting import play_game
    cfg, net = run_networks(Path(run_dir))
    newest = list_checkpoints(Path(run_dir) / cfg.paths.checkpoints)
    if not newest:
        return ["no checkpoint"]
    net.load_state_dict(eval_weights(load_checkpoint(newest[0][1])))
    env = make_env(cfg.env, 0)
    lines = []
    try:
        for greedy in (True, False):
            rec, _ = play_game(env, net, cfg, np.random.default_rng(seed), greedy=greedy, render=False)
            a = rec.actions
            runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, a, -1]) != 0))           # lengths of runs of one action
            shares = np.bincount(a, minlength=env.num_actions) / len(a)
            lines.append(f"{'greedy' if greedy else 'sampled'}: return {rec.meta['return']:.1f}, action shares "
                         f"{' '.join(f'{x:.2f}' for x in shares)}, mean run {runs.mean():.1f}, first 40 "
                         + "".join(str(int(x)) for x in a[:40]))
    finally:
        env.close()
    return lines


def lookahead_probe(run_dir: Path, games: int = 3, seed: int = 5, prev_onehot: bool = True) -> list[str]:
    """The learned value with a perfect model: greedy games on a classic-control env (Acrobot, MountainCar,
    CartPole: its state can be set) where each move is argmax_a r_a + γ v(o'_a), o'_a the real env's next
    observation after a. At each move also the learned model's own one-step look, r̂(s, a) + γ v̂(g(s, a)):
    how often its best action is the real look's, and how often it picks the same action whatever the state.
    Real look good and model look poor: the dynamics are what fails; both poor: the value is."""
    import copy

    import torch
    from common import run_networks

    from muzero_lite.algorithm.support import logits_to_scalar
    from muzero_lite.data.checkpoints import eval_weights, list_checkpoints, load_checkpoint
    from muzero_lite.envs.make import make_env
    cfg, net = run_networks(Path(run_dir))
    newest = list_checkpoints(Path(run_dir) / cfg.paths.checkpoints)
    if not newest:
        return ["no checkpoint"]
    net.load_state_dict(eval_weights(load_checkpoint(newest[0][1])))
    env = make_env(cfg.env, seed)
    inner = getattr(env, "_env", None)
    if inner is not None:
        env.reset(np.random.default_rng(seed))       # MountainCar has a state only once it is reset
    if inner is None or not hasattr(inner.unwrapped, "state") or cfg.env.stack_moves != 1 or cfg.env.frame_skip != 1:
        env.close()
        return ["lookahead: only for classic-control envs with stack_moves 1 and frame_skip 1"]
    a_n, gamma = env.num_actions, cfg.env.discount

    def inputs(frames: np.ndarray, prev: np.ndarray, first: bool = False) -> torch.Tensor:
        """[N, O + A] network inputs of observations [N, O] reached by actions prev [N] (stack 1: the frame and
        the one-hot of the action that led there, none at a game's first position)."""
        x = frames.astype(np.float32)
        if cfg.env.action_history:
            x = np.concatenate([x, np.eye(a_n, dtype=np.float32)[prev] * (not first)], axis=1)
        return torch.from_numpy(x)

    returns, agree, model_best, real_best = [], 0, Counter(), Counter()
    rng = np.random.default_rng(seed)
    moves = 0
    try:
        for _ in range(games):
            frame, _ = env.reset(rng)
            prev, total, done, first = 0, 0.0, False, True
            while not done:
                saved = copy.deepcopy(inner.unwrapped.state)
                nxt, rew, goes_on = [], [], []
                for a in range(a_n):                      # the real env one move ahead, then back
                    inner.unwrapped.state = copy.deepcopy(saved)
                    o, r, term, _, _ = inner.unwrapped.step(a)
                    nxt.append(env._raw(o))                   # scaled as the run's env scales it
                    rew.append(r)
                    goes_on.append(not term)                  # no value after the game's end
                inner.unwrapped.state = copy.deepcopy(saved)
                with torch.no_grad():
                    # the value of o'_a as the net sees it, with a's one-hot (prev_onehot=False: the move before's)
                    led = np.arange(a_n) if prev_onehot else np.full(a_n, prev)
                    v_next = net.initial_inference(inputs(np.stack(nxt), led, first and not prev_onehot)).value.numpy()
                    real_q = np.array(rew) * cfg.env.reward_scale + gamma * v_next * np.array(goes_on)     # [A]
                    h = net.represent(inputs(frame.reshape(1, -1), np.array([prev]), first)).expand(a_n, -1)
                    h1, r_logits = net.dynamics_step(h, torch.arange(a_n))
                    v_logits, _ = net.predict(h1)
                    model_q = (logits_to_scalar(r_logits) + gamma * logits_to_scalar(v_logits)).numpy()     # [A]
                a_real, a_model = int(real_q.argmax()), int(model_q.argmax())
                agree += a_real == a_model
                model_best[a_model] += 1
                real_best[a_real] += 1
                moves += 1
                frame, r, done, _ = env.step(a_real)
                frame = frame.reshape(-1)
                total += r
                prev, first = a_real, False
            returns.append(total)
    finally:
        env.close()
    share = lambda c: " ".join(f"{c[a] / moves:.2f}" for a in range(a_n))                      # noqa: E731
    return [f"lookahead with the real env and the learned value: returns {' '.join(f'{x:.0f}' for x in returns)}; "
            f"the model's one-step best = the real one at {agree / moves:.0%} of {moves} moves; best-action shares "
            f"real {share(real_best)}, model {share(model_best)}"]


def plot(table: list[tuple[int, dict]], prefix: Path, title: str, mario: bool) -> None:
    """<prefix>.png: one panel per figure by env moves (and Mario's causes of the end)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    x = [end for end, _ in table]
    for ax, (key, label) in zip(axes.flat, PANELS):
        ax.plot(x, [f[key] for _, f in table], marker=".")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("env moves", fontsize=8)
    ax = axes.flat[len(PANELS)]
    if mario:
        for key in ("pit", "enemy", "stalled", "flags"):
            ax.plot(x, [f[key] for _, f in table], marker=".", label=key)
        ax.set_title("Mario: how games end (share)", fontsize=9)
        ax.legend(fontsize=7)
    else:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(f"{prefix}.png", dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+", help="run folders (seeds of one config)")
    ap.add_argument("--bucket", type=int, default=10000, help="env moves per bucket")
    ap.add_argument("--out", type=Path, default=None, help="prefix of the .csv and .png (default: none written)")
    ap.add_argument("--play", action="store_true",
                    help="also one greedy and one sampled game of each run's newest checkpoint: what it plays")
    ap.add_argument("--lookahead", action="store_true",
                    help="also greedy games of each run's newest value with the real env as the model (classic control)")
    ap.add_argument("--values", action="store_true",
                    help="also each run's newest value at positions d moves before the end of its ended games")
    ap.add_argument("--by-level", action="store_true",
                    help="also Mario's figures per level and bucket (overworld runs); --out adds <out>_levels.csv")
    args = ap.parse_args()
    if args.bucket <= 0:
        ap.error(f"--bucket must be > 0; got {args.bucket}")
    rows = games_of(args.runs)
    if not rows:
        ap.error(f"no self-play games in {', '.join(map(str, args.runs))} (checkpoints/{SELFPLAY_CSV})")
    table = buckets(rows, args.bucket)
    mario = any(cell_number(r, "max_x") is not None for r in rows)
    keys = ["games", "return", "ended", "entropy", "chosen_prior", "changed", "q_spread", "value_scale", "explored"]
    keys += ["max_x", "flags", "pit", "enemy", "stalled"] if mario else []
    print(f"{len(rows)} self-play games of {len(args.runs)} runs, by {args.bucket:,} env moves")
    print_columns(["env moves"] + keys, [[f"{end:,}"] + [_fmt(f[k]) for k in keys] for end, f in table])
    if mario:
        last = [r for r in rows if (cell_number(r, "env_moves") or 0) > table[-1][0] - args.bucket]
        print("where the last bucket's games ended (max_x bin of 50 px: games): "
              + ", ".join(f"{x}: {n}" for x, n in where_games_end(last)))
    by_level = level_buckets(rows, args.bucket) if args.by_level else []
    if by_level:
        print("\nby level (mean max_x, flags of games):")
        ends = sorted({end for _, end, _ in by_level})
        cells = {(level, end): f for level, end, f in by_level}
        print_columns(["level"] + [f"{end:,}" for end in ends],
                      [[level] + [f"{f['max_x']:.0f}, {round(f['flags'] * f['games'])} of {f['games']}"
                                  if (f := cells.get((level, end))) else "-" for end in ends]
                       for level in dict.fromkeys(level for level, _, _ in by_level)])
    for run in args.runs if args.values else []:
        v = value_by_distance(run)
        print(f"{run}: " + ("no checkpoint or no ended game" if v is None else
                             f"value d moves before the end of {v['games'][0]} ended games: "
                             + ", ".join(f"d {d}: {v[str(d)]:.1f}" for d in (1, 10, 50, 100))
                             + f"; over the {v['games'][1]} other games: {v['not ended']:.1f}"))
    for run in args.runs if args.lookahead else []:
        history = load_config(run / "config.yaml").env.action_history
        for onehot in (True, False) if history else (True,):      # without the moves in the input both are one
            for line in lookahead_probe(run, prev_onehot=onehot):
                print(f"{run}: {'' if onehot else '(the one-hot of the move before, not of a) '}{line}")
    for run in args.runs if args.play else []:
        for line in play_probe(run):
            print(f"{run}: {line}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{args.out}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["env_moves"] + list(table[0][1]))
            w.writeheader()
            w.writerows({"env_moves": end, **{k: _round(v) for k, v in fig.items()}} for end, fig in table)
        plot(table, args.out, " + ".join(str(r) for r in args.runs), mario)
        print(f"wrote {args.out}.csv and {args.out}.png")
    if args.out and by_level:
        with open(f"{args.out}_levels.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["level", "env_moves"] + LEVEL_FIGURES)
            w.writeheader()
            w.writerows({"level": level, "env_moves": end, **{k: _round(fig[k]) for k in LEVEL_FIGURES}}
                        for level, end, fig in by_level)
        print(f"wrote {args.out}_levels.csv")


def _fmt(v: float) -> str:
    """A table cell: integers as they are, others to 3 significant digits, NaN as -."""
    if isinstance(v, int):
        return str(v)
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3g}"


def _round(v):
    """A CSV cell: 4 significant digits for floats."""
    return float(f"{v:.4g}") if isinstance(v, float) and math.isfinite(v) else v


if __name__ == "__main__":
    main()
