"""The attention kernels and the rule that picks one.

The patterns (dense, sparse) and their masks are ``wmnet.worldmodel.masks``. On CUDA,
backend "auto" runs the sparse pattern as FlexAttention with a block mask, which skips
fully masked 128x128 blocks. Otherwise (FlexAttention on CPU needs compilation and is
no faster there) everything runs as ``scaled_dot_product_attention`` (SDPA), in one of
three ways:

* **masked**: one SDPA call with an additive mask. SDPA computes every masked entry,
  so one call over many query frames costs O(frames^2) although the sparse pattern is a
  band, and within one window it costs what dense costs plus reading the mask.
* **banded** (the sparse pattern over more query frames than the window: a validator's
  teacher-forced pass, a long prefill): query frames in chunks of ``band_frames(cfg)``,
  each against only the key frames its window reaches, with the small mask of that
  block; linear in the number of frames.
* **gathered** (the sparse pattern where :func:`~wmnet.worldmodel.gather.tiling` gives
  a tiling, i.e. on latent grids of at least ``GATHER_MIN_GRID`` cells a side): only
  the allowed entries, up to tile granularity (``wmnet.worldmodel.gather``).

Masked entries add exactly zero to a softmax, so all of these compute the same function
(equal up to float summation order, < 1e-6 in fp32 on random inputs; tested against the
masked call). Which one runs is a rule on shapes (``cfg`` and the call's frame counts),
never on timings, so a miner and a validator with the same model run the same kernel.

Dense passes over many frames (a dense ``step()`` far into a rollout) whose mask would
exceed ``DENSE_MASK_MAX_ENTRIES`` run one query frame at a time against the keys up to
it, which needs no mask, so memory is linear in the frames, not quadratic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.gather import gather_plan, gathered, smallest_tile, tiling
from wmnet.worldmodel.masks import (
    MaskSpec,
    additive_mask,
    band_blocks,
    band_frames,
    dense_mask,
    flex_block_mask,
)

# Callers and tests name these through this module, the attention entry point.
__all__ = [
    "BACKENDS",
    "DENSE_MASK_MAX_ENTRIES",
    "MaskSpec",
    "additive_mask",
    "attend",
    "dense_mask",
    "gather_plan",
    "gathered",
    "tiling",
]


_FLEX = None


def _flex_attention():
    global _FLEX
    if _FLEX is None:
        from torch.nn.attention.flex_attention import flex_attention

        _FLEX = torch.compile(flex_attention, dynamic=False)
    return _FLEX


def _banded_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cfg: ModelConfig, spec: MaskSpec
) -> torch.Tensor:
    """The sparse pattern as SDPA over diagonal blocks (see the module docstring).

    Query frame ``i`` is key frame ``spec.q_offset + i`` (keys end where the queries
    end, as in ``Dynamics.forward``); it can only see key frames back to
    ``window_frames - 1`` before itself, so a block of query frames ``[a, b)`` needs
    key frames ``[q_offset + a - window_frames + 1, q_offset + b)`` and nothing else.
    """
    tpf, dev, dtype = cfg.tokens_per_frame, str(q.device), q.dtype
    outs = []
    for a, b, k_first, k_end, block in band_blocks(cfg, spec, band_frames(cfg)):
        keys = slice(k_first * tpf, k_end * tpf)
        outs.append(
            F.scaled_dot_product_attention(
                q[:, :, a * tpf : b * tpf],
                k[:, :, keys],
                v[:, :, keys],
                attn_mask=additive_mask(cfg, block, dev, dtype),
            )
        )
    return torch.cat(outs, dim=2)


# --- dense passes over many frames ----------------------------------------------------------

# Largest dense (frame-causal) mask, in entries, that :func:`attend` builds in one piece;
# a longer dense pass runs one query frame at a time against the keys up to it, which
# needs no mask at all (a frame sees every key up to and including its own frame). One
# piece (64 MiB as fp32) holds 63 frames at 32x32, 15 at 64x64; a dense step() 96
# frames back at 64x64 peaked at 6.3 GB of RSS with one mask over all frames.
DENSE_MASK_MAX_ENTRIES = 1 << 24


def _dense_by_frame(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cfg: ModelConfig, spec: MaskSpec
) -> torch.Tensor:
    tpf = cfg.tokens_per_frame
    outs = []
    for a, b, _, k_end, _ in band_blocks(cfg, spec, 1):
        keys = slice(0, k_end * tpf)
        outs.append(
            F.scaled_dot_product_attention(q[:, :, a * tpf : b * tpf], k[:, :, keys], v[:, :, keys])
        )
    return torch.cat(outs, dim=2)


BACKENDS: tuple[str, ...] = ("auto", "sdpa", "sdpa-masked", "sdpa-banded", "gather", "flex")


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cfg: ModelConfig,
    spec: MaskSpec,
    backend: str = "auto",
) -> torch.Tensor:
    """Attention over ``(B, heads, L, head_dim)`` tensors under the pattern ``spec``.

    ``backend``:

    * "auto": FlexAttention for the sparse pattern on CUDA, else as "sdpa";
    * "sdpa": the sparse pattern *gathered* where :func:`tiling` gives a tiling for
      ``cfg`` (a rule on shapes only), else masked SDPA, banded over long passes;
    * "gather": the gathered path whatever the grid (tile 2 where the rule gives none);
    * "sdpa-banded": masked SDPA, banded over long passes (the path before the gathered
      one; for comparisons);
    * "sdpa-masked": one SDPA call with the full mask (the quadratic reference every
      other path is tested against);
    * "flex": FlexAttention with a block mask.

    Every path computes the same function (masked entries add exactly zero to a softmax);
    they differ only in float summation order (< 1e-5 in fp32). Dense passes whose mask
    would exceed ``DENSE_MASK_MAX_ENTRIES`` run frame by frame on every path but
    "sdpa-masked" and "flex".
    """
    if backend not in BACKENDS:
        raise ValueError(f"attention backend must be one of {BACKENDS}, got {backend!r}")
    use_flex = backend == "flex" or (backend == "auto" and spec.sparse and q.is_cuda)
    if use_flex:
        block_mask = flex_block_mask(cfg, spec, str(q.device))
        return _flex_attention()(q, k, v, block_mask=block_mask)
    tpf = cfg.tokens_per_frame
    keys_end_with_queries = (
        spec.n_k == spec.q_offset + spec.n_q
        and k.shape[2] == spec.n_k * tpf
        and q.shape[2] == spec.n_q * tpf
    )
    if backend != "sdpa-masked" and keys_end_with_queries:
        if spec.sparse:
            til = None
            if backend == "gather":
                til = tiling(cfg) or tiling(cfg, tile=smallest_tile(cfg))
            elif backend in ("sdpa", "auto"):
                til = tiling(cfg)
            if til is not None:
                return gathered(q, k, v, cfg, spec, til)
            if spec.n_q > cfg.window_frames:
                return _banded_sdpa(q, k, v, cfg, spec)
        elif spec.n_q > 1 and spec.n_q * spec.n_k * tpf * tpf > DENSE_MASK_MAX_ENTRIES:
            return _dense_by_frame(q, k, v, cfg, spec)
    mask = additive_mask(cfg, spec, str(q.device), q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
