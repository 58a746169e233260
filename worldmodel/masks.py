"""Attention patterns over latent tokens, as masks.

Tokens are laid out frame by frame: ``grid**2`` latent tokens (row-major) followed by
``n_global`` global tokens. Two patterns:

* **dense** (the baseline): frame-causal, i.e. a token at frame t sees every token of
  frames <= t (all tokens of its own frame included);
* **sparse**: dense restricted to a temporal window of ``window_frames`` frames, and
  within it to latent tokens at Chebyshev distance <= ``spatial_radius``; global tokens
  see and are seen by everything inside the window. Information still travels far
  through the global tokens and through depth.

:func:`allowed` is the one rule; every mask here (boolean, additive, FlexAttention's
block mask) and the gathered path's index sets (``wmnet.worldmodel.gather``) are built
from it. Masks depend only on the difference of the query and key start frames
(:class:`MaskSpec`), so they are cached across rollout steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from wmnet.worldmodel.config import ModelConfig


@dataclass(frozen=True)
class MaskSpec:
    """Which query frames attend to which key frames.

    Queries are ``n_q`` consecutive frames starting at absolute frame ``q_start``; keys
    are ``n_k`` consecutive frames starting at ``k_start``. Only the difference of the
    starts matters, which is what makes masks cacheable across rollout steps.
    """

    n_q: int
    n_k: int
    q_offset: int  # q_start - k_start
    sparse: bool


def token_meta(cfg: ModelConfig, n_frames: int, frame0: int, device: torch.device):
    """Per-token (frame, row, col, is_global) index tensors."""
    n_lat, tpf = cfg.grid * cfg.grid, cfg.tokens_per_frame
    tok = torch.arange(tpf, device=device)
    frame = (torch.arange(n_frames, device=device) + frame0).repeat_interleave(tpf)
    tok = tok.repeat(n_frames)
    is_global = tok >= n_lat
    row = torch.where(is_global, 0, tok // cfg.grid)
    col = torch.where(is_global, 0, tok % cfg.grid)
    return frame, row, col, is_global


def allowed(cfg: ModelConfig, sparse: bool, qf, qr, qc, qg, kf, kr, kc, kg):
    ok = kf <= qf
    if sparse:
        near = ((qr - kr).abs() <= cfg.spatial_radius) & ((qc - kc).abs() <= cfg.spatial_radius)
        ok = ok & ((qf - kf) < cfg.window_frames) & (qg | kg | near)
    return ok


@lru_cache(maxsize=64)
def dense_mask(cfg: ModelConfig, spec: MaskSpec, device: str) -> torch.Tensor | None:
    """Boolean ``(Lq, Lk)`` mask (True = attend), or None when nothing is masked."""
    # Cached masks outlive the call that made them: built outside inference mode, they
    # can serve a rollout (inference mode) and then a training step (autograd) alike.
    with torch.inference_mode(False):
        return _dense_mask(cfg, spec, device)


def _dense_mask(cfg: ModelConfig, spec: MaskSpec, device: str) -> torch.Tensor | None:
    dev = torch.device(device)
    q = token_meta(cfg, spec.n_q, spec.q_offset, dev)
    k = token_meta(cfg, spec.n_k, 0, dev)
    mask = allowed(
        cfg,
        spec.sparse,
        q[0][:, None],
        q[1][:, None],
        q[2][:, None],
        q[3][:, None],
        k[0][None, :],
        k[1][None, :],
        k[2][None, :],
        k[3][None, :],
    )
    return None if bool(mask.all()) else mask


@lru_cache(maxsize=128)
def additive_mask(
    cfg: ModelConfig, spec: MaskSpec, device: str, dtype: torch.dtype
) -> torch.Tensor | None:
    """:func:`dense_mask` as SDPA's additive float mask (0 = attend, -inf = not).

    SDPA turns a boolean mask into exactly this on every call; handing it over ready
    gives the same bits and saved ~25 % of the banded attention's time on 2 CPU cores
    (the conversion is a full pass over the mask per call).
    """
    mask = dense_mask(cfg, spec, device)
    if mask is None:
        return None
    with torch.inference_mode(False):  # cached: see dense_mask
        return as_additive(mask, dtype)


def as_additive(ok: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean ``ok`` (True = attend) as SDPA's additive mask: 0 = attend, -inf = not."""
    return torch.zeros(ok.shape, dtype=dtype, device=ok.device).masked_fill(~ok, float("-inf"))


@lru_cache(maxsize=64)
def flex_block_mask(cfg: ModelConfig, spec: MaskSpec, device: str):
    """FlexAttention ``BlockMask`` for the same pattern as :func:`dense_mask`."""
    from torch.nn.attention.flex_attention import create_block_mask

    dev = torch.device(device)
    qf, qr, qc, qg = token_meta(cfg, spec.n_q, spec.q_offset, dev)
    kf, kr, kc, kg = token_meta(cfg, spec.n_k, 0, dev)

    def mask_mod(b, h, qi, ki):
        return allowed(
            cfg, spec.sparse, qf[qi], qr[qi], qc[qi], qg[qi], kf[ki], kr[ki], kc[ki], kg[ki]
        )

    return create_block_mask(mask_mod, None, None, qf.numel(), kf.numel(), device=device)


def band_frames(cfg: ModelConfig) -> int:
    """Query frames per block of the banded path.

    A block of ``n`` query frames reads ``n + window_frames - 1`` key frames, so small
    blocks waste less; each block is one SDPA call, so tiny ones pay call overhead.
    Measured on the shipped model (window 12, 2 CPU cores, CPU seconds of a whole
    teacher-forced pass, 16 x 68 and 4 x 260 frames): blocks of 1 and 2 frames within
    noise of each other, 4 frames 5-15 % and 6 frames up to 25 % slower.
    """
    return max(1, cfg.window_frames // 6)


def band_blocks(cfg: ModelConfig, spec: MaskSpec, step: int):
    """``(a, b, k_first, k_end, block_spec)`` per block of ``step`` query frames: query
    frames ``[a, b)`` need key frames ``[k_first, k_end)`` only (keys end where the
    queries end; see :func:`_banded_sdpa`)."""
    for a in range(0, spec.n_q, step):
        b = min(spec.n_q, a + step)
        q_first = spec.q_offset + a  # first query frame, in key-frame coordinates
        k_first = max(0, q_first - cfg.window_frames + 1) if spec.sparse else 0
        k_end = spec.q_offset + b
        block = MaskSpec(
            n_q=b - a, n_k=k_end - k_first, q_offset=q_first - k_first, sparse=spec.sparse
        )
        yield a, b, k_first, k_end, block
