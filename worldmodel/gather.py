"""The gathered sparse attention path: compute only the entries the sparse pattern allows.

Latent queries are cut into ``tile x tile`` tiles; each tile attends only to the
``(tile + 2 radius)**2`` latent cells around it in each visible frame plus the global
tokens, gathered with ``index_select`` (token-major, so a gather copies whole rows) and
run as one SDPA call with the tiles as heads and a small mask that batch and heads
share; global queries attend densely to the window (few of them). Blocks of
``band_frames`` query frames as in the banded path (``wmnet.worldmodel.attention``).
Work per latent query: ``window * ((tile + 2r)**2 + n_global)`` scores instead of
``window * tokens_per_frame`` (at 128x128, tile 4, radius 2: 780 instead of 12,300).
The index sets and masks come from the same rule as the dense mask
(``wmnet.worldmodel.masks.allowed``), so the result equals the masked call up to float
summation order.

Measured (random-init model with the shipped shape: d_model 64, 4 layers, 4 heads,
window 12, radius 2; one attention call, CPU time on 1 thread of a 2-core AMD EPYC,
min of 5, interleaved): one decode step against 11 cached frames, masked / gathered with
tile 2, 4, 8: grid 8 (32x32) 0.5 / 2.7 / 1.7 / - ms, grid 16 (64x64) 8.5 / 6.9 / 4.4 /
6.9 ms (dense, no mask: 6.2), grid 32 (128x128) 99 / 22 / 16 / 21 ms (dense: 70); a
40-frame teacher-forced pass, banded / gathered tile 2, 4, 8: grid 8 13 / 16 / 20 / -
ms, grid 16 249 / 130 / 104 / 151 ms, grid 32 3509 / 482 / 439 / 651 ms. Hence tile 4
and ``GATHER_MIN_GRID = 16``: at grid 8 a key window is most of the grid and the fixed
cost of the gathers does not pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.masks import (
    MaskSpec,
    allowed,
    as_additive,
    band_blocks,
    band_frames,
    token_meta,
)


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

    Both masks are :func:`allowed` evaluated on each gathered token's own frame, row,
    column and kind (:func:`token_meta`), i.e. the rows and columns of
    :func:`dense_mask` that the gathered path keeps. Every allowed key of a latent query
    is in its tile's gathered set: its frame is in the block and its cell lies within
    ``spatial_radius`` of the query, so inside the tile's window.
    """
    with torch.inference_mode(False):  # cached: see dense_mask
        cpu, dev = torch.device("cpu"), torch.device(device)
        q_tok = _tile_tokens(cfg, til, spec.n_q, keys=False)
        k_tok = _tile_tokens(cfg, til, spec.n_k, keys=True)
        q_meta = token_meta(cfg, spec.n_q, spec.q_offset, cpu)
        k_meta = token_meta(cfg, spec.n_k, 0, cpu)
        ok = allowed(
            cfg,
            spec.sparse,
            *(x[q_tok][:, :, None] for x in q_meta),
            *(x[k_tok][:, None, :] for x in k_meta),
        )
        mask = as_additive(ok, dtype)[None]
        g_index = g_mask = None
        if cfg.n_global:
            g_tok = torch.nonzero(q_meta[3]).flatten()
            g_ok = allowed(
                cfg,
                spec.sparse,
                *(x[g_tok][:, None] for x in q_meta),
                *(x[None, :] for x in k_meta),
            )
            g_index = g_tok.to(dev)
            if not bool(g_ok.all()):
                g_mask = as_additive(g_ok, dtype).to(dev)
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


def gathered(
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
        for a, e, k_first, k_end, block in band_blocks(cfg, spec, band_frames(cfg)):
            keys = slice(k_first * tpf, k_end * tpf)
            outs.append(_gathered_block(qt[a * tpf : e * tpf], kt[keys], vt[keys], cfg, block, til))
        out = torch.cat(outs, dim=0)
    return out.view(-1, b, h, hd).permute(1, 2, 0, 3)


def smallest_tile(cfg: ModelConfig) -> int:
    return next(t for t in range(2, cfg.grid + 1) if cfg.grid % t == 0) if cfg.grid > 1 else 1
