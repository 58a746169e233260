"""Checkpoints named by content: the model id is the sha256 of the safetensors file.

Miners and validators agree on a model by its id. A file is written, hashed, and
renamed ``<name>-<sha256[:12]>.safetensors``; loading by id re-hashes the bytes and
refuses a file whose hash does not match, so a corrupted or swapped file can never be
used silently. The config travels inside the file (safetensors metadata), so the id
covers architecture and weights together.

A load reads the file once: the hash, the config (header metadata) and the tensors
all come from that one ``bytes`` object, so a file swapped on disk after it was read
(between the hash check and the parse) cannot slip a different config or weights in.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.model import WorldModel

FORMAT = "wmnet-worldmodel-v1"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_FILE = CHECKPOINT_DIR / "default.json"
_HEX = re.compile(r"^[0-9a-f]{12,64}$")


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed, or does not match the requested model id."""


@dataclass(frozen=True)
class CheckpointInfo:
    model_id: str  # full sha256 hex of the file
    path: Path
    config: ModelConfig


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _wmnet_metadata(data: bytes, path: Path) -> dict:
    """The ``wmnet`` metadata entry of a safetensors file held in ``data`` ({} if none).

    Layout: 8-byte little-endian header length, then that many bytes of JSON header.
    """
    if len(data) < 8:
        raise CheckpointError(f"{path}: too short to be a safetensors file")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > len(data) - 8:
        raise CheckpointError(f"{path}: safetensors header length {header_len} exceeds the file")
    try:
        header = json.loads(data[8 : 8 + header_len])
        meta = json.loads((header.get("__metadata__") or {}).get("wmnet", "{}"))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return {}
    return meta if isinstance(meta, dict) else {}


def save_checkpoint(
    model: WorldModel, directory: str | Path, name: str = "ballworld"
) -> CheckpointInfo:
    """Write fp32 weights + config; return the content-named file and its id."""
    if model.precision != "fp32":
        raise CheckpointError("save the fp32 model; lower precisions are derived at load time")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    # One metadata key only: safetensors keeps metadata in a Rust HashMap, whose
    # iteration order (and so the file's bytes and id) varies between saves when there
    # are several keys (measured). One key, with sorted JSON inside, is byte-stable.
    meta = json.dumps({"format": FORMAT, "config": json.loads(model.cfg.to_json())}, sort_keys=True)
    data = st_save(tensors, metadata={"wmnet": meta})
    model_id = hashlib.sha256(data).hexdigest()
    path = directory / f"{name}-{model_id[:12]}.safetensors"
    # Write-then-rename: a crash never leaves a half file under a valid-looking name.
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return CheckpointInfo(model_id=model_id, path=path, config=model.cfg)


def load_checkpoint_file(
    path: str | Path, expected_id: str | None = None
) -> tuple[WorldModel, CheckpointInfo]:
    """Load a checkpoint file, verifying its content hash.

    The hash must match ``expected_id`` when given (full id or a prefix of >= 12 hex
    digits), and the 12-hex suffix in the file name otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if expected_id is None:
        m = re.search(r"-([0-9a-f]{12})\.safetensors$", path.name)
        if m is None:
            raise CheckpointError(f"{path.name}: name must end in -<sha256[:12]>.safetensors")
        expected_id = m.group(1)
    expected_id = expected_id.lower()
    if not actual.startswith(expected_id):
        raise CheckpointError(
            f"checkpoint {path} has sha256 {actual} but model id {expected_id} was expected; "
            "refusing to load a corrupted or substituted file"
        )
    # Config and tensors are parsed from the very bytes just hashed: never re-open the
    # file (a swap between the hash and a second read would go unnoticed).
    meta = _wmnet_metadata(data, path)
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{path}: not a {FORMAT} checkpoint")
    try:
        tensors = st_load(data)
    except Exception as exc:  # safetensors raises its own error type on bad bytes
        raise CheckpointError(f"{path}: unreadable safetensors data: {exc}") from exc
    try:
        cfg = ModelConfig.from_json(json.dumps(meta["config"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model config: {exc}") from exc
    model = WorldModel(cfg)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit its config: {exc}") from exc
    model.eval()
    return model, CheckpointInfo(model_id=actual, path=path, config=cfg)


class ModelRegistry:
    """Finds checkpoints by model id in a list of directories (the shipped one last)."""

    def __init__(self, directories: list[str | Path] | None = None) -> None:
        dirs = [Path(d) for d in (directories or [])]
        self.directories = [*dirs, CHECKPOINT_DIR]

    def find(self, model_id: str) -> Path:
        model_id = model_id.lower().strip()
        if not _HEX.match(model_id):
            raise CheckpointError(f"model id must be 12-64 lowercase hex digits, got {model_id!r}")
        for d in self.directories:
            hits = sorted(d.glob(f"*-{model_id[:12]}.safetensors")) if d.is_dir() else []
            if hits:
                return hits[0]
        raise CheckpointError(f"no checkpoint for model id {model_id} in {self.directories}")

    def load(self, model_id: str, device: str | torch.device = "cpu") -> WorldModel:
        model, _ = load_checkpoint_file(self.find(model_id), expected_id=model_id)
        return model.to(device)


def default_model_id() -> str:
    """The id of the checkpoint shipped in the repo (worldmodel/checkpoints/default.json)."""
    return str(json.loads(DEFAULT_FILE.read_text())["model_id"])


def load_default(device: str | torch.device = "cpu") -> WorldModel:
    return ModelRegistry().load(default_model_id(), device)
