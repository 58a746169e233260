from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.dynamics import SLACK_FRAMES, KVCache
from wmnet.worldmodel.model import WorldModel
from wmnet.worldmodel.rollout import RolloutOptions, rollout, step


@pytest.fixture(scope="module", params=["last", "velocity"])
def prior_model(request, tiny_model):
    """The tiny model under each prior (same weights): every cache/recompute identity
    below must hold for both, the velocity prior reading z_{t-1} across calls."""
    if request.param == "last":
        return tiny_model
    model = WorldModel(replace(tiny_model.cfg, prior="velocity")).eval()
    model.load_state_dict(tiny_model.state_dict())
    return model


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
def test_causality(prior_model, tiny_episodes, sparse):
    z, a = _latents(prior_model, tiny_episodes, 8)
    base = prior_model.predict(z, a, sparse=sparse)
    z2, a2 = z.clone(), a.clone()
    z2[:, 5:] += torch.randn_like(z2[:, 5:])
    a2[:, 5:] = (a2[:, 5:] + 1) % prior_model.cfg.n_actions
    changed = prior_model.predict(z2, a2, sparse=sparse)
    assert torch.equal(base[:, :5], changed[:, :5])  # the past never sees the future
    assert not torch.allclose(base[:, 5:], changed[:, 5:])  # ...and the future does change


@pytest.mark.parametrize("sparse", [False, True])
def test_kv_cache_equals_recompute(prior_model, tiny_episodes, sparse):
    eps = tiny_episodes
    args = (eps.frames[:, :3], eps.actions[:, :2], eps.actions[:, 2:11])
    cached = rollout(prior_model, *args, RolloutOptions(kv_cache=True, sparse=sparse))
    full = rollout(prior_model, *args, RolloutOptions(kv_cache=False, sparse=sparse))
    # Open loop, rounding differences compound: under the velocity prior (which doubles
    # the last change) they grew ~1.5x a step on this random model, to 1.5e-5 by step 9
    # on an AVX2 CPU. A wrong cache is off by far more (a dropped frame: > 1e-2).
    assert (cached.latents - full.latents).abs().max() < 1e-4
    assert cached.latents.abs().max() > 0.1  # not trivially zero
    # Teacher-forced on the cached rollout's own history, each step agrees to 1e-5.
    history = torch.cat([cached.context_latents, cached.latents], dim=1)
    acts = torch.from_numpy(eps.actions[:, :11])
    for t in range(3, 12):
        z = step(prior_model, history[:, :t], acts[:, :t], sparse=sparse).latent
        assert (z - cached.latents[:, t - 3]).abs().max() < 1e-5, t


@torch.no_grad()
def test_sparse_cache_is_trimmed(tiny_model, tiny_episodes):
    z, a = _latents(tiny_model, tiny_episodes, 6)
    cache = KVCache()
    for t in range(6):
        tiny_model.predict(z[:, t : t + 1], a[:, t : t + 1], sparse=True, cache=cache)
    assert cache.n_frames == tiny_model.cfg.window_frames - 1
    assert cache.keys[0].shape[2] == cache.n_frames * tiny_model.cfg.tokens_per_frame


@torch.no_grad()
def test_sparse_cache_buffer_is_bounded(tiny_model, tiny_episodes):
    """Sized once for the window plus SLACK_FRAMES of room, the buffer never grows (a
    rollout's memory is flat in its horizon) and compacting it in place, several times
    here, keeps every step equal to the uncached pass."""
    cfg = tiny_model.cfg
    z, a = _latents(tiny_model, tiny_episodes, 12)
    cache = KVCache()
    sizes, preds = set(), []
    for t in range(12):
        preds.append(tiny_model.predict(z[:, t : t + 1], a[:, t : t + 1], sparse=True, cache=cache))
        sizes.add(cache.layers[0].k.shape[2])
    assert sizes == {(cfg.window_frames + SLACK_FRAMES) * cfg.tokens_per_frame}
    full = tiny_model.predict(z, a, sparse=True)
    assert (torch.cat(preds, dim=1) - full).abs().max() < 1e-5


def test_step_matches_rollout_and_ignores_old_frames(prior_model, tiny_episodes):
    acts = tiny_episodes.actions
    res = rollout(
        prior_model,
        tiny_episodes.frames[:, :2],
        acts[:, :1],
        acts[:, 1:10],
        RolloutOptions(kv_cache=False),
    )
    t = 6  # recompute predicted frame t+1 from frames 0..t (2 context + 5 predicted)
    history = torch.cat([res.context_latents, res.latents[:, : t - 1]], dim=1)
    out = step(prior_model, history, acts[:, : t + 1])
    assert torch.equal(out.latent, res.latents[:, t - 1])
    assert out.digests == [row[t - 1] for row in res.digests]
    # Frames older than the receptive field cannot matter: scrambling them changes nothing.
    keep = prior_model.cfg.receptive_frames(True)
    scrambled = history.clone()
    scrambled[:, : t + 1 - keep] = torch.randn_like(scrambled[:, : t + 1 - keep])
    assert torch.equal(step(prior_model, scrambled, acts[:, : t + 1]).latent, out.latent)
    # ...but in dense mode they do.
    dense = step(prior_model, history, acts[:, : t + 1], sparse=False).latent
    dense_scr = step(prior_model, scrambled, acts[:, : t + 1], sparse=False).latent
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


@torch.no_grad()
def test_velocity_prior_extrapolates_and_reads_the_cache(tiny_model, tiny_episodes):
    """With the head at zero the velocity prior is 2 z_t - z_{t-1} (clamped); a cached
    one-frame pass takes z_{t-1} from the cache, a pass without one sees no velocity."""
    model = WorldModel(replace(tiny_model.cfg, prior="velocity")).eval()
    model.load_state_dict(tiny_model.state_dict())
    torch.nn.init.zeros_(model.dynamics.head.weight)
    torch.nn.init.zeros_(model.dynamics.head.bias)
    z, a = _latents(model, tiny_episodes, 4)
    out = model.predict(z, a, sparse=True)
    assert torch.equal(out[:, 0], z[:, 0])  # first frame: no z_{t-1} seen
    assert torch.allclose(out[:, 1:], (2 * z[:, 1:] - z[:, :-1]).clamp(-1, 1))
    cache = KVCache()
    model.predict(z[:, :2], a[:, :2], sparse=True, cache=cache)
    stepped = model.predict(z[:, 2:3], a[:, 2:3], sparse=True, cache=cache)
    assert torch.allclose(stepped[:, 0], out[:, 2])


def test_old_configs_keep_their_bytes_and_prior():
    """A config written before ``prior`` existed reads as "last" and writes back the same
    JSON, so ids of existing checkpoints and training runs do not move."""
    cfg = ModelConfig()
    assert "prior" not in cfg.to_json()
    assert ModelConfig.from_json(cfg.to_json()) == cfg and cfg.prior == "last"
    velocity = replace(cfg, prior="velocity")
    assert ModelConfig.from_json(velocity.to_json()).prior == "velocity"
    with pytest.raises(ValueError, match="prior must be one of"):
        replace(cfg, prior="acceleration")
