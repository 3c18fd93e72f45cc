"""The CUDA path (skipped without a CUDA device; benchmarks/gpu_check.sh runs these on a GPU machine):
the trainer on cuda trains, and its checkpoint plays on a CPU-only self-play worker."""
import io

import pytest
import torch

from muzero_lite.checkpoints import list_checkpoints, load_checkpoint
from muzero_lite.trainer import run_trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cuda_trainer_steps_and_its_checkpoint_loads_on_cpu(tmp_path):
    from test_metrics import add_game, tiny_config
    cfg = tiny_config(tmp_path, device="cuda")
    run = tmp_path / "run"
    for i, n in enumerate([20, 35, 12, 41]):
        add_game(run / "games", i, n)
    out = io.StringIO()
    assert run_trainer(cfg, run, steps=5, out=out) == 5
    payload = load_checkpoint(list_checkpoints(run / "checkpoints")[0][1])
    tensors = list(payload["networks"].values())
    assert all(t.device.type == "cpu" and torch.isfinite(t).all() for t in tensors if torch.is_tensor(t))
    from muzero_lite.selfplay import run_selfplay
    assert run_selfplay(cfg, run, games=1, out=io.StringIO()) == 1
