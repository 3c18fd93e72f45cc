"""`muzero-lite selfplay | train | run | eval | plot`: parse arguments, load the config, call one function.

Every mistake a user can make in a config or on the command line ends as one line on stderr and exit
code 2, before any folder is made: the config's own checks (`config.load_config`), then whether it can
run on this machine (`preflight.check_runnable`), then the commands' checkpoint errors.
"""
from __future__ import annotations

import argparse
import signal
import sys
from typing import Optional

from .config import ConfigError, load_config
from .data.checkpoints import CheckpointError
from .data.trainer_lock import FolderHeld

DEFAULT_CONFIG = "configs/mario.yaml"
# seconds between `run`'s combined status lines
DEFAULT_STATUS_EVERY = 30.0


def package_version() -> str:
    """The installed distribution's version, or the package's own when it is run from a source tree."""
    from importlib import metadata
    try:
        return metadata.version("muzero-lite")
    except metadata.PackageNotFoundError:
        from . import __version__
        return __version__


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="muzero-lite", description="MuZero-style agent with truncated search.")
    p.add_argument("--version", action="version", version=f"muzero-lite {package_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        """A subcommand with the --config and --run-dir every loop subcommand takes."""
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML config (default {DEFAULT_CONFIG})")
        sp.add_argument("--run-dir", default=".", help="folder holding games/, gifs/, checkpoints/ (default: here)")
        return sp

    sp = add("selfplay", "play games with the newest checkpoint, write game files and gifs")
    sp.add_argument("--games", type=int, default=None, help="stop after N games (default: forever)")
    sp.add_argument("--worker", default="w0", help="worker name used in file names")
    sp.add_argument("--seed", type=int, default=None, help="seed (default: the config's)")
    sp.add_argument("--verbose", action="store_true", help="a line for every game (default: every 20th game)")

    sp = add("train", "train from game files, write checkpoints")
    sp.add_argument("--steps", type=int, default=None, help="stop after N training steps (default: forever)")

    sp = add("run", "self-play workers and a trainer together")
    sp.add_argument("--workers", type=int, default=None, help="self-play processes (default: the plan's, measured at the start)")
    sp.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (default: never)")
    sp.add_argument("--status-every", type=float, default=DEFAULT_STATUS_EVERY, metavar="S",
                    help=f"seconds between combined status lines (default {DEFAULT_STATUS_EVERY:.0f}; 0: none)")
    sp.add_argument("--verbose", action="store_true",
                    help="show every line of the workers and the trainer (default: only warnings and errors)")
    sp.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                    help="self-play as actors on a Ray cluster: `auto` joins the cluster this machine is part of "
                         "(`ray start`), no ADDRESS starts a Ray instance here; --workers actors (needs .[ray])")
    sp.add_argument("--ray-resource", default=None, metavar="NAME",
                    help="a Ray custom resource every actor needs (1 of it), to choose its nodes")

    sp = add("eval", "greedy games with a checkpoint; prints a table")
    sp.add_argument("--checkpoint", default=None, help="checkpoint file (default: the newest)")
    sp.add_argument("--levels", default=None, help="Mario levels, comma separated (default: the config's)")
    sp.add_argument("--games", type=int, default=20, help="games per level (default 20)")
    sp.add_argument("--seed", type=int, default=None, help="seed of the no-op starts (default: the config's)")

    sp = sub.add_parser("plot", help="draw the run's curves into <run-dir>/plots/run.png (needs matplotlib)")
    sp.add_argument("--run-dir", default=".", help="the run's folder (default: here)")
    return p


def _plot(run_dir: str) -> int:
    """`muzero-lite plot`: the run's curves from its CSVs (`plot.run_plot`); every failure is one line, exit code 2."""
    try:
        from .reporting.plot import run_plot
        run_plot(run_dir, sys.stdout)          # prints the path of the picture it wrote
    except ModuleNotFoundError as e:
        why = ("needs matplotlib (pip install 'muzero-lite[plot]')" if e.name == "matplotlib"
               else f"cannot import {e.name or 'a module'}")
        print(f"muzero-lite: plot {why}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError, OSError) as e:
        print(f"muzero-lite: plot error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Run one subcommand; returns the exit code (2 for a bad config or checkpoint, in one line on stderr)."""
    args = _parser().parse_args(argv)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # started in the background by a non-interactive shell, which ignores SIGINT for its `&`
        # commands (and the ignoring is inherited): SIGINT is still how scripts stop a worker or trainer
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.command == "plot":
        return _plot(args.run_dir)
    try:
        cfg = load_config(args.config)
        from .processes.preflight import check_runnable
        # selfplay.device matters where self-play runs: not in a trainer, nor on the head of a Ray run
        here = args.command in ("selfplay", "eval") or (args.command == "run" and args.ray is None)
        check_runnable(cfg, args.config, selfplay_here=here)
        if args.command == "selfplay":
            from .processes.selfplay import run_selfplay
            run_selfplay(cfg, args.run_dir, games=args.games, worker=args.worker, seed=args.seed,
                         verbose=args.verbose)
        elif args.command == "train":
            from .processes.trainer import run_trainer
            run_trainer(cfg, args.run_dir, steps=args.steps)
        elif args.command == "run":
            from .processes.run import run_all
            if args.ray is not None:
                from .processes.ray_actor import import_ray
                import_ray()                   # RayMissing (one line) before anything starts
            return run_all(cfg, args.config, args.run_dir, workers=args.workers, seconds=args.seconds,
                           status_every=args.status_every, verbose=args.verbose, ray_address=args.ray,
                           ray_resource=args.ray_resource)
        elif args.command == "eval":
            from .processes.evaluate import run_eval
            run_eval(cfg, args.run_dir, checkpoint=args.checkpoint, levels=args.levels, games=args.games, seed=args.seed)
    except ConfigError as e:
        print(f"muzero-lite: config error: {e}", file=sys.stderr)
        return 2
    except CheckpointError as e:
        print(f"muzero-lite: checkpoint error: {e}", file=sys.stderr)
        return 2
    except FolderHeld as e:
        print(f"muzero-lite: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        from .processes.ray_actor import RayMissing
        if not isinstance(e, RayMissing):
            raise
        print(f"muzero-lite: {e}", file=sys.stderr)
        return 2
    return 0
