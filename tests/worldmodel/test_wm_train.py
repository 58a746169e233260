from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.model import WorldModel
from wmnet.worldmodel.rollout import rollout
from wmnet.worldmodel.train import (
    TrainConfig,
    object_weighted_mse,
    smoothed,
    train,
)

CFG = ModelConfig(resolution=16, d_model=32, n_layers=2, n_heads=2, ae_width=16)


def test_resume_equals_uninterrupted(tmp_path):
    tc = TrainConfig(
        n_episodes=8, episode_len=6, seq_len=4, batch=2, ae_steps=3, dyn_steps=3, save_every=2
    )
    whole = train(CFG, tc)
    state = tmp_path / "state.pt"
    # Interrupt after step 4 (a state file is written every 2 steps), then resume.
    with pytest.raises(KeyboardInterrupt):

        def stop(step, total, loss):
            if step == 4:
                raise KeyboardInterrupt

        train(CFG, tc, state_path=state, on_step=stop)
    resumed = train(CFG, tc, state_path=state)
    assert resumed.resumed_from == 4
    assert resumed.losses == whole.losses
    for (k, a), (_, b) in zip(
        whole.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    other = TrainConfig(**{**tc.__dict__, "seed": 1})
    with pytest.raises(ValueError, match="different run"):
        train(CFG, other, state_path=state)


class _Payload:
    """Unpickling this runs code: it creates a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_resume_refuses_a_state_file_that_would_run_code(tmp_path):
    tc = TrainConfig(n_episodes=2, episode_len=4, seq_len=3, batch=2, ae_steps=1, dyn_steps=1)
    state = tmp_path / "state.pt"
    marker = tmp_path / "ran"
    torch.save({"run_id": "x", "model": _Payload(str(marker))}, state)
    with pytest.raises(ValueError, match="refused to unpickle"):
        train(CFG, tc, state_path=state)
    assert not marker.exists()


@pytest.mark.slow
def test_tiny_model_loss_falls():
    # Autoencoder phase only at 16x16 (the dynamics phase needs a good autoencoder
    # first, which takes minutes): the object-weighted reconstruction loss must fall.
    tc = TrainConfig(
        n_episodes=32, episode_len=8, seq_len=6, batch=4, ae_steps=80, dyn_steps=0, lr=3e-3
    )
    res = train(CFG, tc)
    ae = smoothed(res.losses, 10)
    assert ae[-1] < 0.85 * ae[0], (ae[0], ae[-1])
    assert np.isfinite(res.losses).all()


def test_open_loop_training_sees_what_a_rollout_computes(tiny_model, tiny_episodes):
    """The differentiable open-loop pass equals the inference rollout's latents, and its
    loss trains the dynamics (gradients reach the first layer through every step)."""
    model = WorldModel(replace(tiny_model.cfg, prior="velocity"))
    model.load_state_dict(tiny_model.state_dict())
    frames = model.check_frames(tiny_episodes.frames[:, :3])
    acts = torch.from_numpy(tiny_episodes.actions)
    model.eval()
    ref = rollout(model, tiny_episodes.frames[:, :3], acts[:, :2], acts[:, 2:8]).latents
    z_ctx = model.encode(frames).detach()
    pred = torch.stack(list(model.open_loop(z_ctx, acts, 6, sparse=True)), dim=1)
    assert (pred.detach() - ref).abs().max() < 1e-5
    pred[:, -1].square().mean().backward()
    assert model.dynamics.latent_in.weight.grad.abs().sum() > 0


def test_open_loop_training_runs_and_is_checked():
    tc = TrainConfig(
        n_episodes=4,
        episode_len=8,
        seq_len=5,
        open_loop=3,
        batch=2,
        ae_steps=0,
        dyn_steps=2,
        ghost_weight=5.0,
        log_step_loss=True,
    )
    res = train(replace(CFG, prior="velocity"), tc)
    assert len(res.losses) == 2 and np.isfinite(res.losses).all()
    with pytest.raises(ValueError, match="open_loop must be in"):
        train(CFG, TrainConfig(seq_len=4, open_loop=4, ae_steps=0, dyn_steps=1))
    with pytest.raises(ValueError, match="alternatives"):
        train(CFG, TrainConfig(seq_len=4, open_loop=2, unroll=1, ae_steps=0, dyn_steps=1))


def test_ghost_weight_prices_a_ghost_like_a_miss():
    """Without a ghost weight a ball painted where there is none costs 1/(1 + boost) of a
    ball missed; with ``ghost_boost = boost`` the two cost the same."""
    frame = torch.zeros(1, 3, 8, 8)
    ball = frame.clone()
    ball[..., 2:4, 2:4] = 1.0
    ghost = object_weighted_mse(ball, frame, 20.0)  # painted, truly empty
    miss = object_weighted_mse(frame, ball, 20.0)  # empty, truly a ball
    assert ghost.shape == (1,) and torch.isclose(miss, 21 * ghost)
    assert torch.isclose(object_weighted_mse(ball, frame, 20.0, 20.0), miss)
    assert torch.isclose(object_weighted_mse(ball, frame, 20.0, 5.0), 6 * ghost)


def test_log_step_loss_needs_open_loop():
    with pytest.raises(ValueError, match="set open_loop too"):
        train(CFG, TrainConfig(seq_len=4, log_step_loss=True, ae_steps=0, dyn_steps=1))
