from __future__ import annotations

import numpy as np
import pytest
import torch

from wmnet.worldmodel.rollout import rollout, step


def _args(eps):
    return eps.frames[:, :3].copy(), eps.actions[:, :2].copy(), eps.actions[:, 2:6].copy()


def test_action_out_of_range(tiny_model, tiny_episodes):
    f, ca, a = _args(tiny_episodes)
    a[0, 1] = tiny_model.cfg.n_actions
    with pytest.raises(ValueError, match=r"actions must lie in \[0, 5\)"):
        rollout(tiny_model, f, ca, a)
    a[0, 1] = -1
    with pytest.raises(ValueError, match="actions must lie"):
        rollout(tiny_model, f, ca, a)
    with pytest.raises(ValueError, match="integers"):
        rollout(tiny_model, f, ca, a.astype(np.float32))


def test_wrong_shapes(tiny_model, tiny_episodes):
    f, ca, a = _args(tiny_episodes)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3, 16, 16\)"):
        rollout(tiny_model, np.zeros((3, 3, 3, 32, 32), np.uint8), ca, a)
    with pytest.raises(ValueError, match="context_frames must be"):
        rollout(tiny_model, f[0], ca, a)
    with pytest.raises(ValueError, match="context_actions must have shape"):
        rollout(tiny_model, f, ca[:, :1], a)
    with pytest.raises(ValueError, match="actions must have shape"):
        rollout(tiny_model, f, ca, a[:2])
    with pytest.raises(ValueError, match="latents must have shape"):
        step(tiny_model, torch.zeros(3, 2, 1, 4, 4), a[:, :2])


def test_nan_inputs(tiny_model, tiny_episodes):
    f, ca, a = _args(tiny_episodes)
    ff = f.astype(np.float32) / 255.0
    ff[1, 0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rollout(tiny_model, ff, ca, a)
    cfg = tiny_model.cfg
    z = torch.zeros(2, 3, cfg.latent_channels, cfg.grid, cfg.grid)
    z[0, 1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        step(tiny_model, z, a[:2, :3])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        rollout(tiny_model, f.astype(np.float32), ca, a)  # 0..255 floats: a unit mistake
