from __future__ import annotations

import torch

from wmnet.worldmodel.determinism import deterministic
from wmnet.worldmodel.rollout import RolloutOptions, rollout


def _run(model, eps, threads: int):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with deterministic():
            return rollout(
                model,
                eps.frames[:, :3],
                eps.actions[:, :2],
                eps.actions[:, 2:10],
                RolloutOptions(kv_cache=True, sparse=True),
            )
    finally:
        torch.set_num_threads(before)


def test_bit_identical_across_runs_and_threads(tiny_model, tiny_episodes):
    a = _run(tiny_model, tiny_episodes, 1)
    b = _run(tiny_model, tiny_episodes, 1)
    c = _run(tiny_model, tiny_episodes, 2)
    assert a.latents.numpy().tobytes() == b.latents.numpy().tobytes()
    assert a.latents.numpy().tobytes() == c.latents.numpy().tobytes()
    assert a.frames.numpy().tobytes() == c.frames.numpy().tobytes()
    assert a.digests == c.digests


def test_deterministic_mode_restores_settings():
    before = torch.are_deterministic_algorithms_enabled()
    with deterministic():
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cuda.matmul.allow_tf32
    assert torch.are_deterministic_algorithms_enabled() == before
