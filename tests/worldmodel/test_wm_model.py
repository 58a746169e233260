from __future__ import annotations

import pytest
import torch

from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.dynamics import KVCache
from wmnet.worldmodel.model import WorldModel
from wmnet.worldmodel.rollout import RolloutOptions, rollout, step


def _latents(model, eps, n):
    frames = model.check_frames(eps.frames[:, :n])
    return model.encode(frames), torch.from_numpy(eps.actions[:, :n])


@torch.no_grad()
def test_shapes(tiny_model, tiny_episodes):
    cfg = tiny_model.cfg
    res = rollout(
        tiny_model,
        tiny_episodes.frames[:, :3],
        tiny_episodes.actions[:, :2],
        tiny_episodes.actions[:, 2:7],
    )
    assert res.context_latents.shape == (3, 3, cfg.latent_channels, cfg.grid, cfg.grid)
    assert res.latents.shape == (3, 5, cfg.latent_channels, cfg.grid, cfg.grid)
    assert res.frames.shape == (3, 5, 3, 16, 16) and res.frames.dtype == torch.uint8
    assert len(res.digests) == 3 and all(len(d) == 5 for d in res.digests)
    assert len({d for row in res.digests for d in row}) == 15


@pytest.mark.parametrize("sparse", [False, True])
@torch.no_grad()
def test_causality(tiny_model, tiny_episodes, sparse):
    z, a = _latents(tiny_model, tiny_episodes, 8)
    base = tiny_model.predict(z, a, sparse=sparse)
    z2, a2 = z.clone(), a.clone()
    z2[:, 5:] += torch.randn_like(z2[:, 5:])
    a2[:, 5:] = (a2[:, 5:] + 1) % tiny_model.cfg.n_actions
    changed = tiny_model.predict(z2, a2, sparse=sparse)
    assert torch.equal(base[:, :5], changed[:, :5])  # the past never sees the future
    assert not torch.allclose(base[:, 5:], changed[:, 5:])  # ...and the future does change


@pytest.mark.parametrize("sparse", [False, True])
def test_kv_cache_equals_recompute(tiny_model, tiny_episodes, sparse):
    eps = tiny_episodes
    args = (eps.frames[:, :3], eps.actions[:, :2], eps.actions[:, 2:11])
    cached = rollout(tiny_model, *args, RolloutOptions(kv_cache=True, sparse=sparse))
    full = rollout(tiny_model, *args, RolloutOptions(kv_cache=False, sparse=sparse))
    assert (cached.latents - full.latents).abs().max() < 1e-5
    assert cached.latents.abs().max() > 0.1  # not trivially zero


@torch.no_grad()
def test_sparse_cache_is_trimmed(tiny_model, tiny_episodes):
    z, a = _latents(tiny_model, tiny_episodes, 6)
    cache = KVCache()
    for t in range(6):
        tiny_model.predict(z[:, t : t + 1], a[:, t : t + 1], sparse=True, cache=cache)
    assert cache.n_frames == tiny_model.cfg.window_frames - 1
    assert cache.keys[0].shape[2] == cache.n_frames * tiny_model.cfg.tokens_per_frame


def test_step_matches_rollout_and_ignores_old_frames(tiny_model, tiny_episodes):
    acts = tiny_episodes.actions
    res = rollout(
        tiny_model,
        tiny_episodes.frames[:, :2],
        acts[:, :1],
        acts[:, 1:10],
        RolloutOptions(kv_cache=False),
    )
    t = 6  # recompute predicted frame t+1 from frames 0..t (2 context + 5 predicted)
    history = torch.cat([res.context_latents, res.latents[:, : t - 1]], dim=1)
    out = step(tiny_model, history, acts[:, : t + 1])
    assert torch.equal(out.latent, res.latents[:, t - 1])
    assert out.digests == [row[t - 1] for row in res.digests]
    # Frames older than the receptive field cannot matter: scrambling them changes nothing.
    keep = tiny_model.cfg.receptive_frames(True)
    scrambled = history.clone()
    scrambled[:, : t + 1 - keep] = torch.randn_like(scrambled[:, : t + 1 - keep])
    assert torch.equal(step(tiny_model, scrambled, acts[:, : t + 1]).latent, out.latent)
    # ...but in dense mode they do.
    dense = step(tiny_model, history, acts[:, : t + 1], sparse=False).latent
    dense_scr = step(tiny_model, scrambled, acts[:, : t + 1], sparse=False).latent
    assert not torch.equal(dense, dense_scr)


def test_training_after_an_inference_mode_rollout_uses_normal_masks():
    """Attention masks are cached across calls: one built during an inference-mode
    rollout must still serve a training step (a miner serves both workloads)."""
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(window_frames=3))
    z = torch.randn(2, 8, model.cfg.latent_channels, model.cfg.grid, model.cfg.grid)
    a = torch.randint(0, model.cfg.n_actions, (2, 8))
    with torch.inference_mode():
        model.predict(z, a, sparse=True)
    model.predict(z, a, sparse=True).square().mean().backward()
    assert model.dynamics.blocks[0].qkv.weight.grad is not None
