"""`muzero-lite selfplay | train | run | eval`: parse arguments, load the config, call one function."""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from .checkpoints import CheckpointError
from .config import ConfigError, load_config

DEFAULT_CONFIG = "configs/mario.yaml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="muzero-lite", description="MuZero-style agent with truncated search.")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        """A subcommand with the --config and --run-dir every subcommand takes."""
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML config (default {DEFAULT_CONFIG})")
        sp.add_argument("--run-dir", default=".", help="folder holding games/, gifs/, checkpoints/ (default: here)")
        return sp

    sp = add("selfplay", "play games with the newest checkpoint, write game files and gifs")
    sp.add_argument("--games", type=int, default=None, help="stop after N games (default: forever)")
    sp.add_argument("--worker", default="w0", help="worker name used in file names")
    sp.add_argument("--seed", type=int, default=None, help="seed (default: the config's)")

    sp = add("train", "train from game files, write checkpoints")
    sp.add_argument("--steps", type=int, default=None, help="stop after N training steps (default: forever)")

    sp = add("run", "self-play workers and a trainer together")
    sp.add_argument("--workers", type=int, default=None, help="self-play processes (default: fits the machine)")
    sp.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (default: never)")

    sp = add("eval", "greedy games with a checkpoint; prints a table")
    sp.add_argument("--checkpoint", default=None, help="checkpoint file (default: the newest)")
    sp.add_argument("--levels", default=None, help="Mario levels, comma separated (default: the config's)")
    sp.add_argument("--games", type=int, default=20, help="games per level (default 20)")
    sp.add_argument("--seed", type=int, default=None, help="seed of the no-op starts (default: the config's)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    """Run one subcommand; returns the exit code (2 for a bad config or checkpoint, in one line on stderr)."""
    args = _parser().parse_args(argv)
    try:
        cfg = load_config(args.config)
        if args.command == "selfplay":
            from .selfplay import run_selfplay
            run_selfplay(cfg, args.run_dir, games=args.games, worker=args.worker, seed=args.seed)
        elif args.command == "train":
            from .trainer import run_trainer
            run_trainer(cfg, args.run_dir, steps=args.steps)
        elif args.command == "run":
            from .run import run_all
            return run_all(cfg, args.config, args.run_dir, workers=args.workers, seconds=args.seconds)
        elif args.command == "eval":
            from .evaluate import run_eval
            run_eval(cfg, args.run_dir, checkpoint=args.checkpoint, levels=args.levels, games=args.games, seed=args.seed)
    except ConfigError as e:
        print(f"muzero-lite: config error: {e}", file=sys.stderr)
        return 2
    except CheckpointError as e:
        print(f"muzero-lite: checkpoint error: {e}", file=sys.stderr)
        return 2
    return 0
