import pytest
import torch

from muzero_lite.config import config_from_dict
from muzero_lite.data.checkpoints import (
    CheckpointError,
    checkpoint_name,
    list_checkpoints,
    load_checkpoint,
    newest_checkpoint,
    save_checkpoint,
)

CFG = config_from_dict({"env": {"id": "CartPole-v1"}, "network": {"kind": "mlp"}})


def test_round_trip_and_keep(tmp_path):
    w = {"layer.weight": torch.arange(6.0).view(2, 3)}
    for step in (10, 20, 30, 40):
        save_checkpoint(tmp_path, CFG, step, w, {"state": {}, "param_groups": []}, None, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [40, 30]
    path, payload = newest_checkpoint(tmp_path, CFG)
    assert path.name == checkpoint_name(40) and payload["step"] == 40
    assert torch.equal(payload["networks"]["layer.weight"], w["layer.weight"])


def test_newest_complete_skips_partial_and_temp(tmp_path):
    save_checkpoint(tmp_path, CFG, 5, {"w": torch.ones(2)})
    good = (tmp_path / checkpoint_name(5)).read_bytes()
    (tmp_path / checkpoint_name(9)).write_bytes(good[: len(good) // 2])          # torn write from elsewhere
    (tmp_path / f".{checkpoint_name(12)}.abc.tmp").write_bytes(good)             # a writer's temp file
    path, payload = newest_checkpoint(tmp_path, CFG)
    assert payload["step"] == 5


def test_incompatible_refused(tmp_path):
    save_checkpoint(tmp_path, CFG, 5, {"w": torch.ones(2)})
    other = config_from_dict({"env": {"id": "CartPole-v1"}, "network": {"kind": "mlp", "latent": 8}})
    with pytest.raises(CheckpointError, match="different env/network config"):
        newest_checkpoint(tmp_path, other)


def test_pickled_object_not_loaded(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / checkpoint_name(1)
    torch.save({"format_version": 1, "step": 1, "model_digest": "x", "networks": Payload()}, path)
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)
    assert not marker.exists()
