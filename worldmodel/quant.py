"""Lower-precision copies of a world model: bf16 and int8 weight-only.

Only the transformer blocks change precision. The layers named in
``cfg.critical_layers`` (latent in/out projections, action embedding), the layer
norms feeding the head and the autoencoder stay fp32: they sit on the path where a
rounding error becomes a latent error that the rollout feeds back into itself.

int8 is our own per-output-channel symmetric weight-only quantization
(:class:`Int8Linear`) rather than torchao or ``torch.ao`` dynamic quantization, because:
torchao is another dependency and mostly targets CUDA; ``torch.ao.quantization.
quantize_dynamic`` runs on CPU only, quantizes activations too (more error), and on this
AVX2-only 2-core CPU measured *no faster* than fp32 for our layer sizes (10.2 vs 9.6 ms
for a 4-block MLP stack). Weight-only int8 is device-independent, keeps the fp32
numerics of the activations (same determinism guarantees) and stores weights in 1/4 of
the bytes, which is what matters for memory-bound small-batch GPU decoding.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from wmnet.worldmodel.model import WorldModel

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")


class Int8Linear(nn.Module):
    """``y = (x @ q^T) * scale + bias`` with ``q`` int8 per output channel."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scale = w.abs().amax(dim=1).clamp_min(1e-12) / 127.0
        self.register_buffer(
            "qweight", torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
        )
        self.register_buffer("scale", scale)
        bias = linear.bias.detach().float() if linear.bias is not None else None
        self.register_buffer("bias", bias)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The int8 -> float conversion is of the (small) weight, not the activations;
        # scaling after the matmul is exact algebra and saves a weight-sized multiply.
        y = F.linear(x, self.qweight.to(x.dtype)) * self.scale.to(x.dtype)
        return y if self.bias is None else y + self.bias.to(x.dtype)


def _quantizable(name: str, module: nn.Module, critical: tuple[str, ...]) -> bool:
    return isinstance(module, nn.Linear) and not any(c in name.split(".") for c in critical)


def quantize(model: WorldModel, precision: str) -> WorldModel:
    """A copy of ``model`` whose transformer blocks run at ``precision``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    out = copy.deepcopy(model)
    out.precision = precision
    if precision == "fp32":
        return out
    dyn = out.dynamics
    if precision == "bf16":
        dyn.blocks.to(torch.bfloat16)
        dyn.compute_dtype = torch.bfloat16
        return out
    critical = model.cfg.critical_layers
    for name, module in list(dyn.blocks.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if _quantizable(full, child, critical):
                setattr(module, child_name, Int8Linear(child))
    return out


def weight_bytes(model: nn.Module) -> int:
    """Bytes of parameters and buffers: what a precision saves in memory."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)
