"""Checkpoint files: atomic save, weights_only load, newest-complete discovery.

A checkpoint is one torch file holding only tensors and plain data (never pickled objects):
the weights, the optimiser states, the training step, the digests of the config it was made
with and that config as YAML text; with eval.ema_half_life, also the averaged weights that
eval plays (`eval_networks`; None without). It is written to a temp file in the same folder and
renamed, so readers see it whole or not at all.
"""
from __future__ import annotations

import io
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from ..config import Config, config_digest, config_to_yaml, model_digest
from .atomic import atomic_write

CHECKPOINT_FORMAT_VERSION = 1
NAME_RE = re.compile(r"^checkpoint-(\d{9})\.pt$")
# learning-curve checkpoints (train.curve_every_moves) live in this subfolder, named by env moves
CURVE_FOLDER = "curve"
CURVE_RE = re.compile(r"^moves-(\d{10})\.pt$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, or made for other networks."""


class CheckpointGone(CheckpointError):
    """The file went away between the listing and the read (the trainer pruned it): not a bad file."""


class PassedOver:
    """Says in one warning line, once per file, that a checkpoint which cannot be loaded was passed over
    (`newest_checkpoint`'s passed_over); who: the line's prefix, e.g. "[train]"."""

    def __init__(self, out=sys.stderr, who: str = "muzero-lite"):
        self.out, self.who, self.named = out, who, set()

    def __call__(self, error: CheckpointError) -> None:
        if isinstance(error, CheckpointGone) or str(error) in self.named:
            return
        self.named.add(str(error))
        print(f"{self.who} warning: checkpoint passed over: {error}", file=self.out, flush=True)


def checkpoint_name(step: int) -> str:
    """The file name of the checkpoint of a training step (zero-padded, so names sort by step)."""
    return f"checkpoint-{step:09d}.pt"


def save_checkpoint(folder: str | os.PathLike, cfg: Config, step: int, networks: dict,
                    optimizer: Optional[dict] = None, exploration_optimizer: Optional[dict] = None,
                    keep: Optional[int] = None, eval_networks: Optional[dict] = None,
                    env_moves: Optional[int] = None, also_as: Optional[Path] = None,
                    decoder: Optional[dict] = None) -> Path:
    """Write checkpoint-<step>.pt atomically, then delete all but the newest `keep`; returns its path.

    env_moves: the env moves the trainer had loaded (recorded, None if unknown). also_as: write the
    same bytes to this path too (atomically; `curve_checkpoint_path`), a file pruning never deletes.
    decoder: the frame decoder's weights and optimiser (train.observation_weight; `Learner.state`).
    """
    payload = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "step": int(step),
        "env_moves": None if env_moves is None else int(env_moves),
        "model_digest": model_digest(cfg),
        "config_digest": config_digest(cfg),
        "config_yaml": config_to_yaml(cfg),
        "networks": networks,
        "optimizer": optimizer,
        "exploration_optimizer": exploration_optimizer,
        "eval_networks": eval_networks,
        "decoder": decoder,
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    path = atomic_write(Path(folder) / checkpoint_name(step), lambda f: f.write(buf.getbuffer()))
    if also_as is not None:
        atomic_write(also_as, lambda f: f.write(buf.getbuffer()))
    if keep:
        for _, old in list_checkpoints(folder)[keep:]:
            try:
                old.unlink()
            except FileNotFoundError:
                pass
    return path


def curve_checkpoint_path(folder: str | os.PathLike, mark: int) -> Path:
    """Where the trainer keeps the checkpoint of a learning curve's point `mark` (a multiple of
    train.curve_every_moves): checkpoints/curve/moves-<mark>.pt, zero-padded so that names sort.
    The payload's env_moves says how many moves were loaded when it was taken (the mark or more: with
    the ratio pinned it is taken once the trainer has trained ratio x mark samples)."""
    return Path(folder) / CURVE_FOLDER / f"moves-{int(mark):010d}.pt"


def list_curve_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """(mark, path) of the curve checkpoints in folder's curve/, fewest moves first."""
    try:
        entries = list(os.scandir(Path(folder) / CURVE_FOLDER))
    except FileNotFoundError:
        return []
    out = [(int(m.group(1)), Path(e.path)) for e in entries
           if (m := CURVE_RE.match(e.name)) and e.is_file(follow_symlinks=False)]
    return sorted(out)


def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of complete-looking checkpoint files, newest first; temp files never match."""
    out = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for e in entries:
        m = NAME_RE.match(e.name)
        if m and e.is_file(follow_symlinks=False):
            out.append((int(m.group(1)), Path(e.path)))
    return sorted(out, reverse=True)


def checkpoint_at(folder: str | os.PathLike, step: Optional[int] = None) -> tuple[int, Path]:
    """(step, path) of the checkpoint of training step `step` in folder, or of the newest when step is None.

    Raises ValueError naming the folder when it holds no checkpoint, or none of that step.
    """
    found = dict(list_checkpoints(folder))
    if not found:
        raise ValueError(f"{folder}: no checkpoints")
    step = max(found) if step is None else step
    if step not in found:
        raise ValueError(f"{folder}: no checkpoint at step {step}")
    return step, found[step]


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with torch.load(weights_only=True): data only, no code runs."""
    try:
        with warnings.catch_warnings():        # torch's notes on a file it then refuses: the error says it
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointGone(f"{path}: not found") from None
    except Exception as e:  # torch raises many kinds for a bad file; all mean "unusable"
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if not isinstance(payload, dict) or payload.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(f"{path}: not a muzero-lite checkpoint of format {CHECKPOINT_FORMAT_VERSION}")
    for key in ("step", "model_digest", "networks"):
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    return payload


def eval_weights(payload: dict) -> dict:
    """The weights greedy eval plays: the averaged ones where the checkpoint has them, else the newest."""
    return payload.get("eval_networks") or payload["networks"]


def check_compatible(payload: dict, cfg: Config, path: str | os.PathLike) -> None:
    """Refuse a checkpoint whose networks were made by a config with other shapes."""
    if payload["model_digest"] != model_digest(cfg):
        raise CheckpointError(
            f"{path}: made with a different env/network config (model digest {payload['model_digest']} != "
            f"{model_digest(cfg)} of this config); use a new run folder or the config it was made with")


def newest_checkpoint(folder: str | os.PathLike, cfg: Config,
                      passed_over: Optional[Callable[[CheckpointError], None]] = None) -> Optional[tuple[Path, dict]]:
    """The newest checkpoint in folder that loads, or None; unreadable ones are skipped, each handed to
    passed_over (a `PassedOver`, which says so once per file).

    Raises CheckpointError when that checkpoint was made for other networks: silently playing
    or training from scratch beside it would mix two runs in one folder.
    """
    for _, path in list_checkpoints(folder):
        try:
            payload = load_checkpoint(path)
        except CheckpointError as e:
            if passed_over is not None:
                passed_over(e)
            continue
        check_compatible(payload, cfg, path)
        return path, payload
    return None
