from __future__ import annotations

import numpy as np
import pytest
import torch

from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.train import TrainConfig, smoothed, train

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
