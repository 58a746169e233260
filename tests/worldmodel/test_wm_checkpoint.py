from __future__ import annotations

import pytest
import torch

from wmnet.worldmodel.checkpoint import (
    CheckpointError,
    ModelRegistry,
    default_model_id,
    load_checkpoint_file,
    save_checkpoint,
    sha256_file,
)
from wmnet.worldmodel.rollout import rollout


def test_roundtrip_and_content_name(tiny_model, tiny_episodes, tmp_path):
    info = save_checkpoint(tiny_model, tmp_path, "tiny")
    assert info.path.name == f"tiny-{info.model_id[:12]}.safetensors"
    assert sha256_file(info.path) == info.model_id
    again = save_checkpoint(tiny_model, tmp_path / "b", "tiny")
    assert again.model_id == info.model_id  # same weights + config -> same id
    loaded = ModelRegistry([tmp_path]).load(info.model_id)
    assert loaded.cfg == tiny_model.cfg
    eps = tiny_episodes
    args = (eps.frames[:, :2], eps.actions[:, :1], eps.actions[:, 1:4])
    assert torch.equal(rollout(loaded, *args).latents, rollout(tiny_model, *args).latents)


def test_tampered_checkpoint_refused(tiny_model, tmp_path):
    info = save_checkpoint(tiny_model, tmp_path, "tiny")
    data = bytearray(info.path.read_bytes())
    data[-1] ^= 0x01  # flip one bit of the last weight
    info.path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="refusing to load"):
        ModelRegistry([tmp_path]).load(info.model_id)
    with pytest.raises(ValueError, match="sha256"):  # CheckpointError is a ValueError
        load_checkpoint_file(info.path)


def test_unknown_and_malformed_ids(tmp_path):
    reg = ModelRegistry([tmp_path])
    with pytest.raises(CheckpointError, match="no checkpoint"):
        reg.load("0" * 64)
    with pytest.raises(CheckpointError, match="hex"):
        reg.load("not-a-hash")


def test_shipped_default_loads():
    mid = default_model_id()
    model = ModelRegistry().load(mid)
    assert len(mid) == 64 and model.cfg.env == "ballworld"
