import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
torch.set_num_threads(1)  # two cores shared with the real processes some tests start


def write_config(folder: Path, base: str, **sections) -> Path:
    """A copy of configs/<base>.yaml with some section keys overridden, written into folder."""
    data = yaml.safe_load((ROOT / "configs" / f"{base}.yaml").read_text())
    for section, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    path = folder / f"{base}-test.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cli(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    """Run `python -m muzero_lite ARGS` as a real process."""
    return subprocess.run([sys.executable, "-m", "muzero_lite", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=kw.pop("cwd", ROOT), **kw)


# a CartPole config that trains after a few games and checkpoints often
TINY_CARTPOLE = {"selfplay": {"random_games": 2, "gif_every": 1},
                 "train": {"min_buffer_moves": 20, "checkpoint_interval": 10, "batch_size": 32, "status_interval": 1,
                           "replay_ratio": 0}}     # trains freely: tests ask for steps beyond a few games' share


@pytest.fixture
def tiny_cartpole(tmp_path) -> Path:
    return write_config(tmp_path, "cartpole", **TINY_CARTPOLE)
