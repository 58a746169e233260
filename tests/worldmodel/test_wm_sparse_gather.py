"""The gathered sparse attention path (wmnet.worldmodel.gather) == the masked one."""

from __future__ import annotations

import pytest
import torch

from wmnet.worldmodel import attention
from wmnet.worldmodel.attention import MaskSpec, attend, dense_mask, gather_plan, tiling
from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.dynamics import KVCache
from wmnet.worldmodel.model import WorldModel

# Grids 16 (the default rule's smallest) and 12 (forced tiles), several radii and global
# counts, windows short enough that the quadratic reference stays cheap.
CONFIGS = [
    ModelConfig(resolution=64, window_frames=4, spatial_radius=2),
    ModelConfig(resolution=64, window_frames=3, spatial_radius=1, n_global=3),
    ModelConfig(resolution=48, window_frames=3, spatial_radius=2, n_global=0),
]
SPECS = [
    MaskSpec(n_q=1, n_k=4, q_offset=3, sparse=True),  # one decode step, full cache
    MaskSpec(n_q=1, n_k=2, q_offset=1, sparse=True),  # decode, cache shorter than window
    MaskSpec(n_q=3, n_k=3, q_offset=0, sparse=True),  # prefill from nothing
    MaskSpec(n_q=9, n_k=9, q_offset=0, sparse=True),  # teacher-forced pass (banded)
    MaskSpec(n_q=7, n_k=10, q_offset=3, sparse=True),  # long prefill onto a cache
]


def _qkv(cfg: ModelConfig, spec: MaskSpec, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    tpf, hd = cfg.tokens_per_frame, cfg.d_model // cfg.n_heads
    q = torch.randn(2, cfg.n_heads, spec.n_q * tpf, hd, generator=gen)
    k, v = (torch.randn(2, cfg.n_heads, spec.n_k * tpf, hd, generator=gen) for _ in range(2))
    return q, k, v


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"g{c.grid}r{c.spatial_radius}")
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"q{s.n_q}k{s.n_k}")
@pytest.mark.parametrize("tile", [None, 1, 2, 4])
def test_gathered_equals_masked_on_random_inputs(cfg, spec, tile):
    til = tiling(cfg, tile) if tile else (tiling(cfg) or tiling(cfg, 2))
    q, k, v = _qkv(cfg, spec)
    masked = attend(q, k, v, cfg, spec, backend="sdpa-masked")
    gathered = attention.gathered(q, k, v, cfg, spec, til)
    assert gathered.shape == masked.shape
    assert (gathered - masked).abs().max() < 1e-5


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"g{c.grid}r{c.spatial_radius}")
@pytest.mark.parametrize("spec", SPECS[:3], ids=lambda s: f"q{s.n_q}k{s.n_k}")
def test_gathered_keeps_every_allowed_entry(cfg, spec):
    """Structurally: the entries the gathered masks allow are exactly the dense mask's."""
    til = tiling(cfg) or tiling(cfg, 2)
    plan = gather_plan(cfg, til, spec, "cpu", torch.float32)
    full = dense_mask(cfg, spec, "cpu")
    full = (
        torch.ones(spec.n_q * cfg.tokens_per_frame, spec.n_k * cfg.tokens_per_frame).bool()
        if full is None
        else full
    )
    kept = torch.zeros_like(full)
    nt = plan.mask.shape[1]
    q_idx, k_idx = plan.q_index.view(nt, -1), plan.k_index.view(nt, -1)
    allowed = plan.mask[0] == 0
    for t in range(nt):
        rows, cols = torch.nonzero(allowed[t], as_tuple=True)
        kept[q_idx[t, rows], k_idx[t, cols]] = True
    if plan.g_index is not None:
        g_ok = torch.ones(len(plan.g_index), full.shape[1], dtype=torch.bool)
        if plan.g_mask is not None:
            g_ok = plan.g_mask == 0
        kept[plan.g_index] = g_ok
    assert torch.equal(kept, full)
    # ...and each latent query is in exactly one tile.
    assert torch.equal(plan.q_index.sort().values.unique(), plan.q_index.sort().values)


def test_path_selection_is_a_rule_on_shapes(monkeypatch):
    assert tiling(ModelConfig(resolution=32)) is None  # grid 8: the masked path
    assert tiling(ModelConfig(resolution=64)).tile == 4
    assert tiling(ModelConfig(resolution=128)).tile == 4
    assert tiling(ModelConfig(resolution=256, downsample=16)).tile == 4  # grid 16
    til = tiling(ModelConfig(resolution=128))
    assert til.span == 8 and til.starts[0] == 0 and til.starts[-1] == 32 - 8
    calls = []
    real = attention.gathered
    monkeypatch.setattr(attention, "gathered", lambda *a: calls.append(a[3].grid) or real(*a))
    for res in (32, 64):
        cfg = ModelConfig(resolution=res)
        spec = MaskSpec(n_q=1, n_k=3, q_offset=2, sparse=True)
        q, k, v = _qkv(cfg, spec)
        for backend in ("sdpa", "auto"):
            attend(q, k, v, cfg, spec, backend)
        attend(q, k, v, cfg, spec, "sdpa-banded")
        attend(q, k, v, cfg, spec, "gather")
    # Grid 16 gathers under sdpa/auto/gather; grid 8 only when forced.
    assert calls == [8, 16, 16, 16]
    with pytest.raises(ValueError, match="backend"):
        attend(q, k, v, cfg, spec, "fast")


def test_gathered_is_deterministic():
    cfg, spec = CONFIGS[0], SPECS[3]
    q, k, v = _qkv(cfg, spec, seed=7)
    a = attend(q, k, v, cfg, spec, "sdpa")
    b = attend(q.clone(), k.clone(), v.clone(), cfg, spec, "sdpa")
    assert torch.equal(a, b)


@torch.inference_mode()
def test_model_gathered_equals_masked_with_cache_prefill_and_banded_pass():
    torch.manual_seed(0)
    m = WorldModel(ModelConfig(resolution=64, window_frames=3, d_model=32, n_layers=2)).eval()
    torch.nn.init.normal_(m.dynamics.head.weight, std=0.2)
    gen = torch.Generator().manual_seed(1)
    cfg = m.cfg
    z = torch.randn(2, 9, cfg.latent_channels, cfg.grid, cfg.grid, generator=gen).tanh()
    acts = torch.randint(0, cfg.n_actions, (2, 9), generator=gen)
    # The validator's teacher-forced pass (banded: more frames than the window).
    ref = m.predict(z, acts, sparse=True, backend="sdpa-masked")
    assert (m.predict(z, acts, sparse=True, backend="sdpa") - ref).abs().max() < 1e-5
    # KV cache: a prefill, then incremental steps (the cache trimmed to the window).
    outs = {}
    for backend in ("sdpa", "sdpa-masked"):
        cache = KVCache()
        steps = [m.predict(z[:, :4], acts[:, :4], sparse=True, cache=cache, backend=backend)]
        for t in range(4, 9):
            steps.append(
                m.predict(
                    z[:, t : t + 1], acts[:, t : t + 1], sparse=True, cache=cache, backend=backend
                )
            )
        outs[backend] = torch.cat(steps, dim=1)
    assert (outs["sdpa"] - outs["sdpa-masked"]).abs().max() < 1e-5
    assert (outs["sdpa"] - ref).abs().max() < 1e-5
    assert (ref - z).abs().max() > 0.1  # not trivially the identity


def test_long_dense_pass_runs_frame_by_frame_and_is_unchanged(monkeypatch):
    cfg = ModelConfig(resolution=32)
    spec = MaskSpec(n_q=5, n_k=7, q_offset=2, sparse=False)
    q, k, v = _qkv(cfg, spec)
    masked = attend(q, k, v, cfg, spec, "sdpa-masked")
    monkeypatch.setattr(attention, "DENSE_MASK_MAX_ENTRIES", 1000)
    built = []
    real = attention.additive_mask
    monkeypatch.setattr(attention, "additive_mask", lambda *a: built.append(a) or real(*a))
    by_frame = attend(q, k, v, cfg, spec, "sdpa")
    assert not built  # no mask at all: each frame sees every key up to its own frame
    assert (by_frame - masked).abs().max() < 1e-5
