"""Streaming decode in rollout() and bounded step(): memory flat in the horizon."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import torch

from wmnet.worldmodel.model import WorldModel
from wmnet.worldmodel.rollout import RolloutOptions, digests, rollout, step, to_uint8


def test_streamed_output_equals_the_all_at_once_decode(tiny_model, tiny_episodes):
    eps = tiny_episodes
    for opts in (RolloutOptions(), RolloutOptions(kv_cache=False, sparse=False)):
        res = rollout(tiny_model, eps.frames[:, :3], eps.actions[:, :2], eps.actions[:, 2:10], opts)
        with torch.inference_mode():
            at_once = to_uint8(tiny_model.decode(res.latents))
        assert res.frames.dtype == torch.uint8
        assert torch.equal(res.frames, at_once)
        assert res.digests == digests(res.latents)
        no_frames = rollout(
            tiny_model,
            eps.frames[:, :3],
            eps.actions[:, :2],
            eps.actions[:, 2:10],
            RolloutOptions(kv_cache=opts.kv_cache, sparse=opts.sparse, decode=False),
        )
        assert no_frames.frames is None and torch.equal(no_frames.latents, res.latents)


def test_each_step_is_decoded_as_it_is_produced(tiny_model, tiny_episodes, monkeypatch):
    seen = []
    real = WorldModel.decode

    def spy(self, z):
        seen.append(tuple(z.shape[:2]))
        return real(self, z)

    monkeypatch.setattr(WorldModel, "decode", spy)
    eps = tiny_episodes
    rollout(tiny_model, eps.frames[:, :2], eps.actions[:, :1], eps.actions[:, 1:10])
    assert seen == [(3, 1)] * 9  # one step of the 3 contexts at a time, never all 9


def test_step_reads_only_the_receptive_field(tiny_model, monkeypatch):
    cfg = tiny_model.cfg
    frames_seen = []
    real = WorldModel.predict

    def spy(self, z, *a, **kw):
        frames_seen.append(z.shape[1])
        return real(self, z, *a, **kw)

    monkeypatch.setattr(WorldModel, "predict", spy)
    z = torch.randn(1, 200, cfg.latent_channels, cfg.grid, cfg.grid).tanh()
    acts = torch.zeros(1, 200, dtype=torch.int64)
    step(tiny_model, z, acts)
    assert frames_seen == [cfg.receptive_frames(True)]


_PEAK = textwrap.dedent(
    """
    import json, resource, sys, torch
    from wmnet.worldmodel.config import ModelConfig
    from wmnet.worldmodel.model import WorldModel
    from wmnet.worldmodel.rollout import RolloutOptions, rollout, step
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = ModelConfig(resolution=64, d_model=32, n_layers=2, n_heads=2, window_frames=3)
    m = WorldModel(cfg).eval()
    b, horizon, what = 4, int(sys.argv[1]), sys.argv[2]
    frames = torch.randint(0, 256, (b, 2, 3, 64, 64), dtype=torch.uint8)
    acts = torch.randint(0, cfg.n_actions, (b, horizon + 1))
    z = torch.randn(1, horizon + 1, cfg.latent_channels, cfg.grid, cfg.grid).tanh()
    def run(t):
        if what == "rollout":
            rollout(m, frames, acts[:, :1], acts[:, :t], RolloutOptions())
        else:
            step(m, z[:, : t + 1], acts[:1, : t + 1], sparse=what == "sparse-step")
    run(2)  # warm-up: caches, allocator pools
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run(horizon)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_kb": peak - base}))
    """
)


def _growth_mb(horizon: int, what: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, str(horizon), what],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["growth_kb"] / 1024


def test_peak_memory_is_flat_in_the_horizon():
    """Peak RSS (fresh process) of a 64-step rollout vs a 4-step one, after the same
    warm-up. Decoding all 64 x 4 frames at once (as rollout() did) grew it by ~380 MB
    (20 MB at 4 steps); streaming grows it by ~5 MB."""
    short, long = _growth_mb(4, "rollout"), _growth_mb(64, "rollout")
    assert long < short + 40, (short, long)
    # A sparse step() 64 frames back reads only its receptive field (7 frames here).
    assert _growth_mb(64, "sparse-step") < 40
    # A dense step() attends frame by frame past DENSE_MASK_MAX_ENTRIES: ~50 MB here, where
    # one frame-causal mask over all 65 frames took 2.7 GB. Dense memory stays linear in t
    # (every frame's activations and keys are needed), so this one is not flat.
    assert _growth_mb(64, "dense-step") < 300
