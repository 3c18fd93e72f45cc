"""The weights a self-play worker plays: from the run's checkpoints/ folder, or pushed to a Ray actor.

Both sources hold the same networks and the uniform model of the first games; they differ only in
where the newest weights come from, checked before each new game (`refresh`): `FolderSource` lists
checkpoints/ (a local worker), `PushedSource` takes the bytes the supervisor pushed (a Ray actor,
`ray_actor`). Pushed weights travel as `weights_bytes`: the step, the model digest and the networks'
tensors, read back with torch.load(weights_only=True), so that nothing received can run code.
"""
from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Callable, Optional

import torch

from ..algorithm.networks import UniformModel, acting_networks
from ..algorithm.types import GameSpec
from ..config import Config, model_digest
from ..data.checkpoints import CheckpointError, list_checkpoints, newest_checkpoint


class ModelSource:
    """The networks a worker acts with and the step of the weights loaded (None: none yet)."""

    def __init__(self, cfg: Config, spec: GameSpec, device: torch.device):
        self.cfg = cfg
        self.networks, self.acting = acting_networks(cfg, spec, device)
        self.uniform = UniformModel(spec.num_actions)
        self.step: Optional[int] = None           # training step of the loaded weights

    def refresh(self) -> None:
        """Load the newest weights if they are not the ones loaded."""
        raise NotImplementedError

    def model(self, use_uniform: bool):
        """The networks to act with: the uniform model before any weights came, or when asked for."""
        return self.uniform if use_uniform or self.step is None else self.acting


class FolderSource(ModelSource):
    """A local worker's weights: the newest checkpoint in a folder, re-checked before each game;
    passed_over: told of each checkpoint that cannot be loaded (`checkpoints.PassedOver`)."""

    def __init__(self, cfg: Config, spec: GameSpec, folder: Path, device: torch.device,
                 passed_over: Optional[Callable[[CheckpointError], None]] = None):
        super().__init__(cfg, spec, device)
        self.folder, self.passed_over = folder, passed_over
        self.looked_at: Optional[int] = None      # the newest step listed at the last load: not read again

    def refresh(self) -> None:
        """Load the newest complete checkpoint if a newer one is listed (a directory listing otherwise; a
        newest file that cannot be loaded is read once, not before every game)."""
        listed = list_checkpoints(self.folder)
        if not listed or listed[0][0] == self.looked_at:
            return
        self.looked_at = listed[0][0]
        found = newest_checkpoint(self.folder, self.cfg, self.passed_over)
        if found is not None and found[1]["step"] != self.step:
            self.networks.load_state_dict(found[1]["networks"])
            self.step = int(found[1]["step"])


def weights_bytes(payload: dict) -> bytes:
    """A checkpoint's playing weights as bytes: step, model digest and the newest networks' tensors."""
    buf = io.BytesIO()
    torch.save({"step": int(payload["step"]), "model_digest": payload["model_digest"],
                "networks": payload["networks"]}, buf)
    return buf.getvalue()


def load_weights_bytes(data: bytes, cfg: Config) -> dict:
    """weights_bytes back (weights_only: data, never code); ValueError unless they fit cfg's networks."""
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("model_digest") != model_digest(cfg):
        raise ValueError("weights made for other networks (model digest differs)")
    return payload


class PushedSource(ModelSource):
    """A Ray actor's weights: the newest the supervisor pushed, applied before the next game; device:
    where its networks run, as the supervisor decided (`ray_selfplay.actor_gpus`)."""

    def __init__(self, cfg: Config, spec: GameSpec, device: str = "cpu"):
        super().__init__(cfg, spec, torch.device(device))
        self.pending: Optional[bytes] = None
        self.lock = threading.Lock()

    def push(self, data: bytes) -> None:
        """Keep data for the next refresh (called from the actor's method thread)."""
        with self.lock:
            self.pending = data

    def refresh(self) -> None:
        """Load the pushed weights, if any came since the last game."""
        with self.lock:
            data, self.pending = self.pending, None
        if data is not None:
            payload = load_weights_bytes(data, self.cfg)
            self.networks.load_state_dict(payload["networks"])
            self.step = int(payload["step"])
