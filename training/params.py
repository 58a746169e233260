"""Which tensors a training shard trains, as one flat float32 vector.

The dynamics transformer's parameters, in ``state_dict`` order, each flattened in C
order: the vector the compressed-update format (``wmnet.protocol.shard``) describes.
The autoencoder stays frozen: it defines the latent space every rollout, verifier and
shard loss works in, so moving it would silently change what all of them mean.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from wmnet.worldmodel.model import WorldModel

PREFIX = "dynamics."


def trainable(model: WorldModel) -> list[tuple[str, torch.nn.Parameter]]:
    """``(state_dict name, parameter)`` of every trained tensor, in order."""
    return [(PREFIX + name, p) for name, p in model.dynamics.named_parameters()]


def count(model: WorldModel) -> int:
    return sum(p.numel() for _, p in trainable(model))


def flatten(model: WorldModel) -> np.ndarray:
    """The trained tensors as one float32 vector (a copy)."""
    with torch.no_grad():
        parts = [p.detach().float().cpu().reshape(-1) for _, p in trainable(model)]
    return torch.cat(parts).numpy().copy()


def assign(model: WorldModel, vector: np.ndarray) -> None:
    """Overwrite the trained tensors with ``vector`` (same layout as :func:`flatten`)."""
    flat = torch.from_numpy(np.ascontiguousarray(vector, dtype=np.float32))
    if flat.numel() != count(model):
        raise ValueError(f"vector has {flat.numel()} elements, the model trains {count(model)}")
    offset = 0
    with torch.no_grad():
        for _, p in trainable(model):
            n = p.numel()
            p.copy_(flat[offset : offset + n].view_as(p).to(p.device, p.dtype))
            offset += n


def with_weights(base: WorldModel, vector: np.ndarray) -> WorldModel:
    """A copy of ``base`` (eval mode) holding ``vector``; ``base`` is untouched."""
    model = copy.deepcopy(base)
    assign(model, vector)
    return model.eval()
