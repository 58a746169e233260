"""Checkpoints through the object store: publish a model, fetch one by id.

A checkpoint in the store is byte for byte the file ``wmnet.worldmodel.checkpoint``
writes, so its object id *is* its model id; fetching re-hashes twice (the store on
read, the checkpoint loader on load) and refuses anything else. A fetched checkpoint
is a regular wmnet checkpoint: copied into a ``--model-dirs`` folder as
``<name>-<id[:12]>.safetensors`` a miner serves rollouts from it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from wmnet.protocol.spec import MAX_CHECKPOINT_BYTES
from wmnet.training.store import ObjectStore
from wmnet.worldmodel.checkpoint import (
    CheckpointError,
    ModelRegistry,
    load_checkpoint_file,
    save_checkpoint,
)
from wmnet.worldmodel.model import WorldModel


def publish(store: ObjectStore, model: WorldModel, name: str = "ballworld") -> str:
    """Save ``model`` (fp32) into the store; its model id."""
    with tempfile.TemporaryDirectory(prefix="wmnet-ckpt-") as tmp:
        info = save_checkpoint(model, tmp, name)
        oid = store.put(info.path.read_bytes())
    if oid != info.model_id:  # the same bytes, hashed twice: a bug if they differ
        raise CheckpointError(f"store named checkpoint {info.model_id} as {oid}")
    return oid


def fetch(
    store: ObjectStore,
    model_id: str,
    registry: ModelRegistry | None = None,
    device: str = "cpu",
) -> WorldModel:
    """The checkpoint ``model_id``: from ``registry`` (e.g. the shipped one) when it has
    it, else from the store. CheckpointError / ObjectMissing / ObjectCorrupt otherwise."""
    if registry is not None:
        try:
            return registry.load(model_id, device).eval()
        except CheckpointError:
            pass
    data = store.get(model_id, MAX_CHECKPOINT_BYTES)
    with tempfile.TemporaryDirectory(prefix="wmnet-ckpt-") as tmp:
        path = Path(tmp) / f"store-{model_id[:12]}.safetensors"
        path.write_bytes(data)
        model, _ = load_checkpoint_file(path, expected_id=model_id)
    return model.to(device).eval()
