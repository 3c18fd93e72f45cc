"""The env of a config, and the shapes of its game without starting it.

`make_env` gives Super Mario Bros (`mario_env`) for id "SuperMarioBros", else the Gymnasium env of
that id (`gym_env`); both play through the `base.Env` interface. `game_spec` gives the shapes
that the trainer and the networks need: for Mario from the config alone, for a Gymnasium id from
its spaces.
"""
from __future__ import annotations

from ..algorithm.types import GameSpec
from ..config import EnvConfig
from .base import Env
from .gym_env import GymEnv, gym_spec
from .mario_env import MarioEnv, mario_spec


def make_env(cfg: EnvConfig, seed: int) -> Env:
    """The env of a config. seed seeds what the env owns beyond reset's rng (Gymnasium action
    spaces); Mario's emulator is deterministic."""
    if cfg.is_mario:
        return MarioEnv(cfg, seed)
    return GymEnv(cfg, seed)


def game_spec(cfg: EnvConfig) -> GameSpec:
    """Frame shape, frame dtype and number of actions of the config's game."""
    return mario_spec(cfg) if cfg.is_mario else gym_spec(cfg)
