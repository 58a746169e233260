"""Lower-precision copies of a world model: bf16, int8 weights, int8 matmuls.

Only the transformer blocks change precision. The layers named in
``cfg.critical_layers`` (latent in/out projections, action embedding), the layer
norms feeding the head and the autoencoder stay fp32: they sit on the path where a
rounding error becomes a latent error that the rollout feeds back into itself.

* ``bf16``: the blocks' weights and activations are bfloat16, so their matmuls (and
  the attention) take bf16 inputs. On a CPU with AVX-512 BF16 or AMX
  (:func:`capabilities`) oneDNN runs them natively; elsewhere torch emulates bf16.
* ``int8`` (default): int8 weights, symmetric per output channel, multiplied in the
  activations' dtype (``(x @ q^T) * scale``): 1/4 of the weight bytes, fp32
  arithmetic. Within the protocol's int8 bound (``wmnet.protocol.tolerances``).
* ``int8`` with ``int8_matmul=True``: activations are also quantized, symmetric per
  token (one scale per row), and ``torch._int_mm`` multiplies int8 x int8 -> int32
  (oneDNN; AVX-512 VNNI where present), rescaled to fp32. Per-token scales make a
  row's result independent of what else is batched, and integer accumulation is
  exact, so the bits do not depend on batch composition or thread count. Not the
  default: its teacher-forced error exceeds the protocol's int8 bound on the shipped
  model (e458829c5f40: max_abs 7.2e-2, rms 1.24e-2 against 5e-2 / 1e-2; 8 of 64
  honest rollouts rejected at horizon 64, 13 of 16 at 256; the weight-only int8
  path on the same tasks: 3.4e-2 / 5.4e-3, none rejected), and it bought no speed at
  d_model 64. ``torch.ao`` dynamic
  quantization was 10-40 % faster per layer at d_model >= 256 but uses one 7-bit
  activation scale per *tensor* (a rollout's result would depend on its batch
  mates) and is deprecated. Where ``_int_mm`` cannot run (CUDA below its shape
  limits, other devices, a torch without it) the layer uses the weight-only product.

Measured on a 2-core AMD EPYC with AVX-512 VNNI and BF16 (1 thread, CPU time, docs/
worldmodel.md "Precision"): per layer, at 1,040+ tokens per call, int8 matmuls are
mostly 1.1-2.3x (two of twelve samples below 1x) and bf16 1.1-3.6x faster than fp32
at d_model 64, and 1.9-4.1x / 1.8-3.1x at d_model 256-512; at 65 tokens (one
rollout) every low precision is slower (0.5-0.8x: fixed per-call costs). A whole
rollout of the shipped d_model-64 model gains nothing (0.9-1.05x): the block linears
are a small share of its time.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from wmnet.worldmodel.model import WorldModel

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")

_HAS_INT_MM = hasattr(torch, "_int_mm")


def capabilities() -> dict[str, bool]:
    """What this machine's CPU runs natively: ``bf16`` (AVX-512 BF16 / AMX, per
    oneDNN) and ``int8`` (``torch._int_mm`` present; oneDNN uses VNNI when it can)."""
    bf16 = bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )
    return {"bf16": bf16, "int8": _HAS_INT_MM}


def _int_mm_ok(x: torch.Tensor, m: int, k: int, n: int) -> bool:
    """Whether ``torch._int_mm`` can multiply ``(m, k) @ (k, n)`` on ``x``'s device."""
    if not _HAS_INT_MM or m == 0:
        return False
    if x.device.type == "cpu":
        return True
    if x.device.type == "cuda":  # cuBLASLt int8 GEMM limits
        return m > 16 and k % 8 == 0 and n % 8 == 0
    return False


class Int8Linear(nn.Module):
    """``y = (xq @ q^T) * (sx * sw) + bias`` in int8 x int8 -> int32.

    ``q``: int8 weight, symmetric per output channel (scale ``sw``); ``xq``: the input
    quantized to int8 per token (scale ``sx``, one per row) at every call.
    """

    def __init__(self, linear: nn.Linear, *, int8_matmul: bool = True) -> None:
        super().__init__()
        self.int8_matmul = int8_matmul
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
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        if not self.int8_matmul or not _int_mm_ok(
            x2, x2.shape[0], self.in_features, self.out_features
        ):
            return self._weight_only(x)
        x2 = x2.float()
        amax = x2.abs().amax(dim=1, keepdim=True).clamp_min_(1e-12)
        # |x| <= amax, so x * 127 / amax rounds into [-127, 127]: no clamp needed.
        xq = (x2 * (127.0 / amax)).round_().to(torch.int8)
        acc = torch._int_mm(xq, self.qweight.t())  # int32, exact
        # In-place, one broadcast at a time: torch.addcmul with two broadcast operands
        # measured ~20x slower than these three passes.
        y = acc.float().mul_(amax / 127.0).mul_(self.scale)
        if self.bias is not None:
            y.add_(self.bias)
        return y.view(*lead, self.out_features).to(x.dtype)

    def _weight_only(self, x: torch.Tensor) -> torch.Tensor:
        # The int8 -> float conversion is of the (small) weight, not the activations;
        # scaling after the matmul is exact algebra and saves a weight-sized multiply.
        y = F.linear(x, self.qweight.to(x.dtype)) * self.scale.to(x.dtype)
        return y if self.bias is None else y + self.bias.to(x.dtype)


def _quantizable(name: str, module: nn.Module, critical: tuple[str, ...]) -> bool:
    return isinstance(module, nn.Linear) and not any(c in name.split(".") for c in critical)


def quantize(model: WorldModel, precision: str, *, int8_matmul: bool = False) -> WorldModel:
    """A copy of ``model`` whose transformer blocks run at ``precision``.

    ``int8_matmul`` (int8 only): quantize activations per token and multiply in
    int8 (:class:`Int8Linear`); off by default: on the previous shipped model its
    teacher-forced error exceeded the protocol's int8 bound of the time and it
    bought no speed (see the module docstring). Off: int8 weights, fp32 arithmetic.
    """
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
                setattr(module, child_name, Int8Linear(child, int8_matmul=int8_matmul))
    return out


def weight_bytes(model: nn.Module) -> int:
    """Bytes of parameters and buffers: what a precision saves in memory."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)
