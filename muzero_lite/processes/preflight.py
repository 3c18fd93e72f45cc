"""Checks that a loaded config can run on this machine, before any folder is made or process started.

`config.load_config` checks the config against itself; `check_runnable` checks it against the world:
the game's spaces (a Gymnasium env is made only to read them, never reset), the network kind those
observations need, the torch device, and for Super Mario Bros the emulator build and the ROM (found
with importlib.util.find_spec and the package folder, without importing gym, which prints notices
on import). Each failure is one ConfigError line naming the config file, the key and the value, so
that every subcommand (and `run`, before its children start) exits with code 2 instead of a traceback.
"""
from __future__ import annotations

import math
import warnings
from importlib.util import find_spec
from pathlib import Path
from typing import Optional

import numpy as np

from ..config import Config, ConfigError

# the ROM that gym_super_mario_bros's stage envs load (its rom_path(lost_levels=False, "vanilla"))
MARIO_ROM = Path("_roms") / "super-mario-bros.nes"
# what the two Mario packages are installed by (pyproject.toml pins both)
MARIO_INSTALL = "pip install -e . installs nes-py and gym-super-mario-bros"
# one game in flight beyond its arrays: an emulator or Gymnasium env and a worker's share of torch
ENV_OVERHEAD_BYTES = 16 << 20
# a gif frame at most: a palette image (1 byte a pixel) of gifs.MAX_GIF_WIDTH x 300 (screen and strip)
GIF_FRAME_BYTES = 256 * 300
# names of compiled libraries: nes-py's C++ emulator is one (lib_nes_env*.so on Linux)
_LIBRARY_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")


def check_runnable(cfg: Config, src: str, selfplay_here: bool = True) -> None:
    """Raise ConfigError (one line: src, key, value, why) when cfg cannot run here.

    Checks, in order: the Mario emulator and ROM (Mario) or the Gymnasium env's spaces (a Discrete
    action space, observations muzero-lite can frame), search.root_actions against Mario's actions,
    the observations against network.kind, and
    train.device and selfplay.device against torch (selfplay_here False: no self-play in this process
    or its children, as in a trainer, or on the head of a Ray run, where `ray_selfplay.actor_gpus` checks
    the device against the cluster).
    """
    src = str(src)
    if cfg.env.is_mario:
        _check_mario_install(cfg, src)
    spec = _game_spec(cfg, src)
    _check_root_actions(cfg, src, spec.num_actions)
    _check_network_kind(cfg, src, spec.frame_shape)
    _check_device(cfg, src, selfplay_here)
    _check_games_in_flight(cfg, src, spec)


def _game_spec(cfg: Config, src: str):
    """The GameSpec of cfg's game; a Gymnasium env that cannot be made or played is a ConfigError on env.id."""
    from ..envs.make import game_spec
    where = f"{src}: env.id = {cfg.env.id!r}"
    try:
        with warnings.catch_warnings():        # Gymnasium's notices about an env are not this line's business
            warnings.simplefilter("ignore")
            return game_spec(cfg.env)
    except ValueError as e:                    # spec_of_spaces: a non-Discrete action space, an unusable observation
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        prefix = f"env {cfg.env.id!r}: "
        raise ConfigError(f"{where}: {why[len(prefix):] if why.startswith(prefix) else why}") from None
    except Exception as e:                     # gymnasium.make fails in many ways (a missing extra, a bad env)
        first = str(e).splitlines()[0] if str(e) else ""
        raise ConfigError(f"{where}: the env cannot be made ({type(e).__name__}: {first})") from None


def _check_root_actions(cfg: Config, src: str, num_actions: int) -> None:
    """Mario: search.root_actions can be no more than its action_set's moves (a Gymnasium env's search
    takes all of its actions when root_actions is more, so a template's 3 fits a 2-action env)."""
    if cfg.env.is_mario and cfg.search.root_actions > num_actions:
        raise ConfigError(f"{src}: search.root_actions = {cfg.search.root_actions}: must be <= the {num_actions} "
                          f"actions of action_set {cfg.env.action_set!r}")


def _check_network_kind(cfg: Config, src: str, frame_shape: tuple) -> None:
    """conv takes image frames [F, H, W, C], mlp vector frames [O] (`observations.input_shape`)."""
    kind = cfg.network.kind
    where = f"{src}: network.kind = {kind!r}"
    if kind == "conv" and len(frame_shape) != 4:
        raise ConfigError(f"{where}: env {cfg.env.id!r} gives vector observations of shape {tuple(frame_shape)}; "
                          f"conv takes images, use mlp")
    if kind == "mlp" and len(frame_shape) != 1:
        raise ConfigError(f"{where}: env {cfg.env.id!r} gives image observations (frames {tuple(frame_shape)}); "
                          f"mlp takes vectors, use conv")


def env_bytes(cfg: Config, spec) -> int:
    """A generous bound on the memory of one game in flight: its env, its arrays at max_moves, and
    its gif frames (palette images at most GIF_FRAME_BYTES each) as if it made a gif."""
    frames = cfg.env.max_moves * math.prod(spec.frame_shape) * np.dtype(spec.frame_dtype).itemsize
    gif = cfg.env.max_moves * GIF_FRAME_BYTES if cfg.selfplay.gif_every else 0
    return ENV_OVERHEAD_BYTES + frames + gif


def available_bytes() -> Optional[int]:
    """The memory this machine can still give (MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _check_games_in_flight(cfg: Config, src: str, spec) -> None:
    """selfplay.games_in_flight games in flight must fit in half the memory available (a worker is not alone)."""
    free, need = available_bytes(), cfg.selfplay.games_in_flight * env_bytes(cfg, spec)
    if free is not None and need > free // 2:
        most = max(1, (free // 2) // env_bytes(cfg, spec))
        n = cfg.selfplay.games_in_flight
        raise ConfigError(f"{src}: selfplay.games_in_flight = {n}: {n} games in flight need about "
                          f"{need / 2**30:.1f} GiB, more than half the {free / 2**30:.1f} GiB this machine has "
                          f"available; use at most {most}")


def _check_device(cfg: Config, src: str, selfplay_here: bool = True) -> None:
    """train.device and selfplay.device (when self-play runs here) cuda need a torch that sees a CUDA device."""
    keys = [("train.device", cfg.train.device)] + [("selfplay.device", cfg.selfplay.device)] * selfplay_here
    for key, value in keys:
        if value != "cuda":
            continue
        import torch
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a build without CUDA")
            raise ConfigError(f"{src}: {key} = 'cuda': this torch sees no CUDA device ({build}); use cpu or auto")


def _check_mario_install(cfg: Config, src: str) -> None:
    """nes_py with its compiled emulator, and gym_super_mario_bros with its ROM, found without importing them."""
    where = f"{src}: env.id = {cfg.env.id!r}"
    nes = _package_dir("nes_py")
    if nes is None:
        raise ConfigError(f"{where}: needs the NES emulator package nes_py, which is not installed ({MARIO_INSTALL})")
    if not any(p.suffix in _LIBRARY_SUFFIXES for p in nes.rglob("*")):
        raise ConfigError(f"{where}: nes_py in {nes} has no compiled emulator (lib_nes_env*.so): its build failed "
                          f"when it was installed; reinstall nes-py where a C++ compiler is present")
    smb = _package_dir("gym_super_mario_bros")
    if smb is None:
        raise ConfigError(f"{where}: needs the package gym_super_mario_bros, which is not installed ({MARIO_INSTALL})")
    rom = smb / MARIO_ROM
    if not rom.is_file():
        raise ConfigError(f"{where}: the Super Mario Bros ROM {rom} is missing; reinstall gym-super-mario-bros")


def _package_dir(name: str) -> Optional[Path]:
    """The folder of an installed package, or None when it is not installed (nothing is imported)."""
    try:
        spec = find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin).parent if spec.origin else None
