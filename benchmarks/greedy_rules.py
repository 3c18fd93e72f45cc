"""Greedy eval of Mario checkpoints under three rules for the greedy move: which picks best?

    .venv/bin/python benchmarks/greedy_rules.py RUN_DIR:STEP [RUN_DIR:STEP ...] [--rules q policy mix]

Rules (the score whose argmax is the move; the search runs the same in all three):
  q       what eval plays: the search's normalised Q (unsearched actions at the minimum);
  policy  the policy network's logits, the search's result ignored;
  mix     softmax(logits + sigma(completed Q)) (`search.completed_q_policy`): Gumbel MuZero's
          final-move rule without its Gumbel noise. With the top-k searched it always picks a
          searched action (one with Q above the completed mean has a larger logit and sigma).
STEP is a training step of the run's checkpoints, or "last". Each (checkpoint, rule) is the benchmarks'
eval (`common.eval_loaded`: 20 games on 1-1 from no-op starts seeded 2024) of the weights eval plays.
A diagnostic, not a config option: for one rule at a time it wraps the truncated search that
`acting.play_game` calls, so that greedy play's argmax falls on the rule's score.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import eval_loaded, eval_summary, run_networks

import muzero_lite.processes.acting as acting
from muzero_lite.algorithm.networks import configure_torch
from muzero_lite.algorithm.search import completed_q_policy, truncated_search
from muzero_lite.algorithm.types import SearchResult
from muzero_lite.data.checkpoints import checkpoint_at, eval_weights, load_checkpoint

RULES = ("q", "policy", "mix")


def greedy_scores(rule: str, logits: np.ndarray, result: SearchResult) -> np.ndarray:
    """[B, A] scores whose row argmax is the rule's greedy move; logits [B, A] the root's policy logits."""
    if rule == "q":
        return result.normalised_q
    if rule == "policy":
        return logits.astype(np.float32)
    if rule == "mix":
        q_searched = np.take_along_axis(result.q, result.searched, axis=1).astype(np.float64)   # [B, k]
        return completed_q_policy(logits, result.searched, q_searched).astype(np.float32)
    raise ValueError(f"unknown rule {rule!r} ({', '.join(RULES)})")


def search_with_rule(rule: str):
    """truncated_search whose normalised_q is replaced by the rule's scores (greedy play takes its argmax)."""
    def search(root, recurrent_fn, **kwargs) -> SearchResult:
        result = truncated_search(root, recurrent_fn, **kwargs)
        logits = root.policy_logits.detach().cpu().numpy()
        return result._replace(normalised_q=greedy_scores(rule, logits, result))
    return search


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", metavar="RUN_DIR:STEP")
    ap.add_argument("--rules", nargs="+", choices=RULES, default=list(RULES))
    args = ap.parse_args()
    configure_torch(threads=1)
    original = acting.truncated_search
    for spec in args.checkpoints:
        run, _, step_text = spec.rpartition(":")
        if not run or not (step_text == "last" or step_text.isdigit()):
            ap.error(f"{spec!r}: expected RUN_DIR:STEP (a training step or 'last')")
        try:
            step, path = checkpoint_at(Path(run) / "checkpoints", None if step_text == "last" else int(step_text))
        except ValueError as e:
            ap.error(str(e))
        cfg, net = run_networks(Path(run))
        weights = eval_weights(load_checkpoint(path))
        for rule in args.rules:
            acting.truncated_search = search_with_rule(rule)
            try:
                start = time.time()
                row = eval_loaded(cfg, net, weights, step)
            finally:
                acting.truncated_search = original
            print(f"{run} step {step} rule {rule:6s} {eval_summary(row)} distinct {row['distinct']} "
                  f"({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
