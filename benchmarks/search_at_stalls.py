"""What the search makes of the positions where a Mario run got stuck (reads a run folder, writes nothing).

    .venv/bin/python benchmarks/search_at_stalls.py RUN_DIR [--games 20] [--positions 5] [--step STEP]

Takes the last N self-play games that got stuck (cut by env.max_moves, or ended by env.stall_moves),
P positions of each spread over its stall (the moves after its last positive reward), and plays the
checkpoint's newest weights there (what self-play plays; default the newest checkpoint). At each
position it runs the truncated search twice: over the config's root_actions top actions and over all
actions. Per action it prints the policy network's probability (prior), the stored target policy and
the probability that self-play picks the action (softmax of the inverse temperature at that step times
the normalised Q) for both searches, and how often the action has the largest Q when all are searched.
An action the model values but the top-k search never looks at shows a high "best" share beside a
prior, target and pick near 0 under top-k.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
from common import print_columns, run_networks, stall_start, stuck

from muzero_lite.algorithm.networks import configure_torch
from muzero_lite.algorithm.observations import stack_observations
from muzero_lite.algorithm.search import softmax
from muzero_lite.config import Config, temperature_at
from muzero_lite.data.checkpoints import checkpoint_at, load_checkpoint
from muzero_lite.data.gamefile import GameFileError, list_game_files, read_game
from muzero_lite.envs.mario_actions import action_sets
from muzero_lite.processes.acting import search


def stall_positions(rewards: np.ndarray, count: int) -> np.ndarray:
    """`count` positions spread evenly over the moves after the last positive reward (fewer if the
    stall is shorter; all moves if no reward was positive), as sorted unique indices into the game."""
    start = stall_start(rewards)
    if start >= len(rewards) or count < 1:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.linspace(start, len(rewards) - 1, count).round().astype(np.int64))


def searching(cfg: Config, root_actions: int) -> Config:
    """cfg with search.root_actions set to root_actions."""
    return dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, root_actions=root_actions))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--games", type=int, default=20, help="the last N stuck games")
    ap.add_argument("--positions", type=int, default=5, help="positions per game, spread over its stall")
    ap.add_argument("--step", type=int, help="checkpoint step (default: the newest)")
    args = ap.parse_args()
    if args.games < 1 or args.positions < 1:
        ap.error(f"--games and --positions must be >= 1, got {args.games} and {args.positions}")
    configure_torch(threads=1)
    run = args.run_dir
    cfg, net = run_networks(run)
    if not cfg.env.is_mario:
        ap.error(f"{run}: a Mario run is needed ({cfg.env.id} here)")
    try:
        step, path = checkpoint_at(run / "checkpoints", args.step)
    except ValueError as e:
        ap.error(str(e))
    net.load_state_dict(load_checkpoint(path)["networks"])
    games = []
    for path in reversed(list_game_files(run / "games")):
        if len(games) == args.games:
            break
        try:
            rec = read_game(path)
        except GameFileError:
            continue
        if stuck(rec.meta):
            games.append(rec)
    if not games:
        print(f"{run / 'games'}: no stuck games", file=sys.stderr)
        return 2
    s, a = cfg.search, len(action_sets()[cfg.env.action_set])
    ks = sorted({s.root_actions, a})
    prior, target, pick, best, n = 0.0, {k: 0.0 for k in ks}, {k: 0.0 for k in ks}, np.zeros(a), 0
    with torch.inference_mode():
        for rec in games:
            positions = stall_positions(rec.rewards, args.positions)
            if not len(positions):
                continue
            obs = torch.from_numpy(stack_observations(rec.frames, rec.actions, positions, cfg.env.stack_moves, a))
            inv_t = np.array([[temperature_at(s, step, int(t))] for t in positions])        # [B, 1]
            for k in ks:
                root, r = search(net, obs, searching(cfg, k), None)
                target[k] = target[k] + r.policy.sum(0)
                pick[k] = pick[k] + softmax(inv_t * r.normalised_q).sum(0)   # select_actions' chances
                if k == a:
                    best += np.bincount(r.q.argmax(1), minlength=a)
            prior = prior + torch.softmax(root.policy_logits, dim=1).sum(0).numpy()
            n += len(positions)
    print(f"{run}: checkpoint {step} (newest weights), {n} positions in the stalls of the last {len(games)} stuck games")
    names = ["+".join(x) for x in action_sets()[cfg.env.action_set]]
    header = ["action", "prior"] + [f"{c} k={k}" for k in ks for c in ("target", "pick")] + [f"best Q k={a}"]
    rows = [[names[i], f"{prior[i] / n:.3f}"] + [f"{d[k][i] / n:.3f}" for k in ks for d in (target, pick)]
            + [f"{best[i] / n:.3f}"] for i in range(a)]
    print_columns(header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
