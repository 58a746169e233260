from __future__ import annotations

import hashlib
from dataclasses import replace

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


def test_swap_between_hash_and_parse_cannot_change_the_model(tiny_model, tmp_path, monkeypatch):
    """The file is swapped on disk right after its bytes were hashed (the race a second
    open would lose): the loaded config and weights are still the hashed ones."""
    from wmnet.worldmodel import checkpoint
    from wmnet.worldmodel.model import WorldModel

    info = save_checkpoint(tiny_model, tmp_path / "a", "tiny")
    # Same tensor names and shapes, another config: loads cleanly if it is parsed.
    other_cfg = replace(tiny_model.cfg, spatial_radius=tiny_model.cfg.spatial_radius + 1)
    other = WorldModel(other_cfg).eval()
    other.load_state_dict(tiny_model.state_dict())
    with torch.no_grad():
        other.dynamics.head.weight.add_(1.0)
    swapped = save_checkpoint(other, tmp_path / "b", "tiny").path.read_bytes()

    class SwapAfterHash:
        """hashlib stand-in: hashing the checkpoint swaps the file on disk."""

        def __getattr__(self, name):
            return getattr(hashlib, name)

        def sha256(self, data=b""):
            digest = hashlib.sha256(data)
            info.path.write_bytes(swapped)
            return digest

    monkeypatch.setattr(checkpoint, "hashlib", SwapAfterHash())
    model, got = load_checkpoint_file(info.path, expected_id=info.model_id)
    assert info.path.read_bytes() == swapped  # the swap did happen mid-load
    assert got.model_id == info.model_id
    assert model.cfg == tiny_model.cfg != other_cfg
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    # Loaded afresh (no race), the swapped file is refused: its hash is not the id.
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint_file(info.path, expected_id=info.model_id)


def test_truncated_header_refused(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes((10**6).to_bytes(8, "little") + b"{}")
    mid = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(CheckpointError, match="header length"):
        load_checkpoint_file(bad, expected_id=mid)
