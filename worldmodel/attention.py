"""Attention patterns over latent tokens and the kernels that run them.

Tokens are laid out frame by frame: ``grid**2`` latent tokens (row-major) followed by
``n_global`` global tokens. Two patterns:

* **dense** (the baseline): frame-causal, i.e. a token at frame t sees every token of
  frames <= t (all tokens of its own frame included);
* **sparse**: dense restricted to a temporal window of ``window_frames`` frames, and
  within it to latent tokens at Chebyshev distance <= ``spatial_radius``; global tokens
  see and are seen by everything inside the window. Information still travels far
  through the global tokens and through depth.

On CUDA, backend "auto" runs the sparse pattern as FlexAttention with a block mask,
which skips fully masked 128x128 blocks. Otherwise (FlexAttention on CPU needs
compilation and is no faster there) everything runs as ``scaled_dot_product_attention``
(SDPA), in one of three ways:

* **masked**: one SDPA call with an additive mask. SDPA computes every masked entry,
  so one call over many query frames costs O(frames^2) although the sparse pattern is a
  band, and within one window it costs what dense costs plus reading the mask.
* **banded** (the sparse pattern over more query frames than the window: a validator's
  teacher-forced pass, a long prefill): query frames in chunks of ``band_frames(cfg)``,
  each against only the key frames its window reaches, with the small mask of that
  block; linear in the number of frames.
* **gathered** (the sparse pattern where :func:`tiling` gives a tiling, i.e. on latent
  grids of at least ``GATHER_MIN_GRID`` cells a side): latent queries are cut into
  ``tile x tile`` tiles; each tile attends only to the ``(tile + 2 radius)**2`` latent
  cells around it in each visible frame plus the global tokens, gathered with
  ``index_select`` (token-major, so a gather copies whole rows) and run as one SDPA call
  with the tiles as heads and a small mask that batch and heads share; global queries
  attend densely to the window (few of them). Blocks of ``band_frames`` query frames as
  in the banded path. Work per latent query: ``window * ((tile + 2r)**2 + n_global)``
  scores instead of ``window * tokens_per_frame`` (at 128x128, tile 4, radius 2: 780
  instead of 12,300).

Masked entries add exactly zero to a softmax, so all of these compute the same function
(equal up to float summation order, < 1e-6 in fp32 on random inputs; tested against the
masked call). Which one runs is a rule on shapes (``cfg`` and the call's frame counts),
never on timings, so a miner and a validator with the same model run the same kernel.

Measured (random-init model with the shipped shape: d_model 64, 4 layers, 4 heads,
window 12, radius 2; one attention call, CPU time on 1 thread of a 2-core AMD EPYC,
min of 5, interleaved): one decode step against 11 cached frames, masked / gathered with tile
2, 4, 8: grid 8 (32x32) 0.5 / 2.7 / 1.7 / - ms, grid 16 (64x64) 8.5 / 6.9 / 4.4 / 6.9 ms
(dense, no mask: 6.2), grid 32 (128x128) 99 / 22 / 16 / 21 ms (dense: 70); a 40-frame
teacher-forced pass, banded / gathered tile 2, 4, 8: grid 8 13 / 16 / 20 / - ms, grid 16
249 / 130 / 104 / 151 ms, grid 32 3509 / 482 / 439 / 651 ms. Hence tile 4 and
``GATHER_MIN_GRID = 16``: at grid 8 a key window is most of the grid and the fixed cost
of the gathers does not pay.

Dense passes over many frames (a dense ``step()`` far into a rollout) whose mask would
exceed ``DENSE_MASK_MAX_ENTRIES`` run one query frame at a time against the keys up to
it, which needs no mask, so memory is linear in the frames, not quadratic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

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


def _token_meta(cfg: ModelConfig, n_frames: int, frame0: int, device: torch.device):
    """Per-token (frame, row, col, is_global) index tensors."""
    n_lat, tpf = cfg.grid * cfg.grid, cfg.tokens_per_frame
    tok = torch.arange(tpf, device=device)
    frame = (torch.arange(n_frames, device=device) + frame0).repeat_interleave(tpf)
    tok = tok.repeat(n_frames)
    is_global = tok >= n_lat
    row = torch.where(is_global, 0, tok // cfg.grid)
    col = torch.where(is_global, 0, tok % cfg.grid)
    return frame, row, col, is_global


def _allowed(cfg: ModelConfig, sparse: bool, qf, qr, qc, qg, kf, kr, kc, kg):
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
    q = _token_meta(cfg, spec.n_q, spec.q_offset, dev)
    k = _token_meta(cfg, spec.n_k, 0, dev)
    mask = _allowed(
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
        zeros = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        return zeros.masked_fill(~mask, float("-inf"))


_FLEX = None


def _flex_attention():
    global _FLEX
    if _FLEX is None:
        from torch.nn.attention.flex_attention import flex_attention

        _FLEX = torch.compile(flex_attention, dynamic=False)
    return _FLEX


@lru_cache(maxsize=64)
def flex_block_mask(cfg: ModelConfig, spec: MaskSpec, device: str):
    """FlexAttention ``BlockMask`` for the same pattern as :func:`dense_mask`."""
    from torch.nn.attention.flex_attention import create_block_mask

    dev = torch.device(device)
    qf, qr, qc, qg = _token_meta(cfg, spec.n_q, spec.q_offset, dev)
    kf, kr, kc, kg = _token_meta(cfg, spec.n_k, 0, dev)

    def mask_mod(b, h, qi, ki):
        return _allowed(
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
    for a, b, k_first, k_end, block in _band_blocks(cfg, spec, band_frames(cfg)):
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


def _band_blocks(cfg: ModelConfig, spec: MaskSpec, step: int):
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


# --- the gathered sparse path -------------------------------------------------------------


@dataclass(frozen=True)
class Tiling:
    """Latent query tiles of ``tile x tile`` grid cells and, per tile, the ``span x span``
    window of latent key cells that holds every cell within ``spatial_radius`` of it.

    ``starts[i]`` is the first row (and column) of the key window of tile row (column)
    ``i``: ``i * tile - radius`` clamped into the grid, so that every window has the same
    size and holds only real cells (the border needs no padding).
    """

    tile: int
    span: int
    starts: tuple[int, ...]


# Smallest latent grid side on which "sdpa"/"auto" run the gathered path (see the module
# docstring for the measurement behind it).
GATHER_MIN_GRID = 16


def tiling(cfg: ModelConfig, tile: int | None = None) -> Tiling | None:
    """The gathered path's tiling for ``cfg``, or None where it would not skip work.

    A rule on the configuration's shapes only, never on timings, so that a miner and a
    validator with the same model run the same kernel. By default: grids of at least
    ``GATHER_MIN_GRID`` cells a side, tiles of the first of 4, 8, 2 cells that divides
    the grid and leaves a key window narrower than the grid (tile 4 was fastest at grids
    16 and 32 with radius 2; module docstring). ``tile`` forces a tile side
    (any divisor of the grid; for tests and measurements).
    """
    g, r = cfg.grid, cfg.spatial_radius
    if tile is None:
        if g < GATHER_MIN_GRID:
            return None
        tile = next((t for t in (4, 8, 2) if g % t == 0 and t + 2 * r < g), 0)
        if not tile:
            return None
    if tile < 1 or g % tile:
        raise ValueError(f"tile {tile} does not divide the latent grid {g}")
    span = min(g, tile + 2 * r)
    starts = tuple(min(max(0, i * tile - r), g - span) for i in range(g // tile))
    return Tiling(tile=tile, span=span, starts=starts)


def _tile_lines(til: Tiling, keys: bool) -> torch.Tensor:
    """Grid lines (rows, or columns) of each tile's query cells or key window, ``(nt1, n)``."""
    if keys:
        return torch.tensor(til.starts)[:, None] + torch.arange(til.span)
    return torch.arange(len(til.starts))[:, None] * til.tile + torch.arange(til.tile)


def _tile_tokens(cfg: ModelConfig, til: Tiling, n_frames: int, keys: bool) -> torch.Tensor:
    """``(n_tiles, L)`` token indices (into ``n_frames`` frames of tokens) of each tile's
    latent query cells, or of its key window's cells followed by the frames' globals;
    tiles row-major, tokens ordered (frame, row, col) then (frame, global index)."""
    g, tpf, n_lat = cfg.grid, cfg.tokens_per_frame, cfg.grid * cfg.grid
    lines = _tile_lines(til, keys)
    nt1, side = lines.shape
    cells = lines[:, None, :, None] * g + lines[None, :, None, :]  # (nty, ntx, side, side)
    cells = cells.reshape(nt1 * nt1, 1, side * side)
    frames = torch.arange(n_frames)[None, :, None] * tpf
    tokens = (frames + cells).reshape(nt1 * nt1, -1)
    if keys and tpf > n_lat:
        glob = (frames + n_lat + torch.arange(tpf - n_lat)).reshape(1, -1)
        tokens = torch.cat([tokens, glob.expand(nt1 * nt1, -1)], dim=1)
    return tokens


@dataclass(frozen=True)
class GatherPlan:
    """What the gathered path needs for one block shape, built once and cached."""

    q_index: torch.Tensor  # (n_tiles * Lq,) latent query tokens, tile by tile
    k_index: torch.Tensor  # (n_tiles * Lk,) gathered key tokens, tile by tile
    mask: torch.Tensor  # (1, n_tiles, Lq, Lk) additive, 0 = attend, -inf = not
    g_index: torch.Tensor | None  # (n_q * n_global,) global query tokens
    g_mask: torch.Tensor | None  # (n_q * n_global, n_k * tpf) additive, or None


@lru_cache(maxsize=64)
def gather_plan(
    cfg: ModelConfig, til: Tiling, spec: MaskSpec, device: str, dtype: torch.dtype
) -> GatherPlan:
    """The gathered path's indices and masks for ``spec``.

    Both masks are :func:`_allowed` evaluated on each gathered token's own frame, row,
    column and kind (:func:`_token_meta`), i.e. the rows and columns of
    :func:`dense_mask` that the gathered path keeps. Every allowed key of a latent query
    is in its tile's gathered set: its frame is in the block and its cell lies within
    ``spatial_radius`` of the query, so inside the tile's window.
    """
    with torch.inference_mode(False):  # cached: see dense_mask
        cpu, dev = torch.device("cpu"), torch.device(device)
        q_tok = _tile_tokens(cfg, til, spec.n_q, keys=False)
        k_tok = _tile_tokens(cfg, til, spec.n_k, keys=True)
        q_meta = _token_meta(cfg, spec.n_q, spec.q_offset, cpu)
        k_meta = _token_meta(cfg, spec.n_k, 0, cpu)
        ok = _allowed(
            cfg,
            spec.sparse,
            *(x[q_tok][:, :, None] for x in q_meta),
            *(x[k_tok][:, None, :] for x in k_meta),
        )
        mask = torch.zeros(ok.shape, dtype=dtype).masked_fill(~ok, float("-inf"))[None]
        g_index = g_mask = None
        if cfg.n_global:
            g_tok = torch.nonzero(q_meta[3]).flatten()
            g_ok = _allowed(
                cfg,
                spec.sparse,
                *(x[g_tok][:, None] for x in q_meta),
                *(x[None, :] for x in k_meta),
            )
            g_index = g_tok.to(dev)
            if not bool(g_ok.all()):
                g_mask = torch.zeros(g_ok.shape, dtype=dtype).masked_fill(~g_ok, float("-inf"))
                g_mask = g_mask.to(dev)
        return GatherPlan(
            q_index=q_tok.flatten().to(dev),
            k_index=k_tok.flatten().to(dev),
            mask=mask.to(dev),
            g_index=g_index,
            g_mask=g_mask,
        )


def _gathered_block(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cfg: ModelConfig,
    spec: MaskSpec,
    til: Tiling,
) -> torch.Tensor:
    """The sparse pattern over (up to tile granularity) the allowed entries only.

    Token-major tensors ``(L, B*heads, head_dim)``: ``q`` holds ``spec.n_q`` frames of
    tokens, ``k``/``v`` ``spec.n_k`` frames. Latent queries are cut into tiles; each tile
    attends to the latent keys of its window in every key frame plus all global keys
    (one ``index_select`` each for queries, keys and values, then one SDPA call with the
    tiles as heads, under the small mask of :func:`gather_plan` that batch and heads
    share). Global queries attend to every key of the block (one more call).
    """
    lq, bh, hd = q.shape
    plan = gather_plan(cfg, til, spec, str(q.device), q.dtype)
    nt = plan.mask.shape[1]

    def tiles(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return x.index_select(0, index).view(nt, -1, bh, hd).permute(2, 0, 1, 3)

    o_t = F.scaled_dot_product_attention(
        tiles(q, plan.q_index), tiles(k, plan.k_index), tiles(v, plan.k_index), attn_mask=plan.mask
    )
    out = torch.empty_like(q)
    out.index_copy_(0, plan.q_index, o_t.permute(1, 2, 0, 3).reshape(-1, bh, hd))
    if plan.g_index is not None:
        q_g = q.index_select(0, plan.g_index).permute(1, 0, 2)[:, None]
        o_g = F.scaled_dot_product_attention(
            q_g, k.permute(1, 0, 2)[:, None], v.permute(1, 0, 2)[:, None], attn_mask=plan.g_mask
        )
        out.index_copy_(0, plan.g_index, o_g[:, 0].permute(1, 0, 2))
    return out


def _gathered(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cfg: ModelConfig,
    spec: MaskSpec,
    til: Tiling,
) -> torch.Tensor:
    """The gathered path, over blocks of ``band_frames(cfg)`` query frames each against
    only the key frames its window reaches (as the banded path).

    Gathers run on token-major copies (a token's heads side by side: row gathers are
    4x faster than gathering along the third axis of ``(B, heads, L, head_dim)``).
    """
    b, h, _, hd = q.shape
    tpf = cfg.tokens_per_frame

    def token_major(x: torch.Tensor) -> torch.Tensor:
        return x.permute(2, 0, 1, 3).contiguous().view(x.shape[2], b * h, hd)

    qt, kt, vt = token_major(q), token_major(k), token_major(v)
    if spec.n_q <= band_frames(cfg):
        out = _gathered_block(qt, kt, vt, cfg, spec, til)
    else:
        outs = []
        for a, e, k_first, k_end, block in _band_blocks(cfg, spec, band_frames(cfg)):
            keys = slice(k_first * tpf, k_end * tpf)
            outs.append(_gathered_block(qt[a * tpf : e * tpf], kt[keys], vt[keys], cfg, block, til))
        out = torch.cat(outs, dim=0)
    return out.view(-1, b, h, hd).permute(1, 2, 0, 3)


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
    for a, b, _, k_end, _ in _band_blocks(cfg, spec, 1):
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
                til = tiling(cfg) or tiling(cfg, tile=_smallest_tile(cfg))
            elif backend in ("sdpa", "auto"):
                til = tiling(cfg)
            if til is not None:
                return _gathered(q, k, v, cfg, spec, til)
            if spec.n_q > cfg.window_frames:
                return _banded_sdpa(q, k, v, cfg, spec)
        elif spec.n_q > 1 and spec.n_q * spec.n_k * tpf * tpf > DENSE_MASK_MAX_ENTRIES:
            return _dense_by_frame(q, k, v, cfg, spec)
    mask = additive_mask(cfg, spec, str(q.device), q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _smallest_tile(cfg: ModelConfig) -> int:
    return next(t for t in range(2, cfg.grid + 1) if cfg.grid % t == 0) if cfg.grid > 1 else 1
