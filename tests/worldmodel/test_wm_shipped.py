"""The shipped checkpoint has learned motion: it beats copy-last-frame on held-out data."""

from __future__ import annotations

from wmnet.worldmodel.checkpoint import load_default
from wmnet.worldmodel.evaluate import evaluate
from wmnet.worldmodel.rollout import RolloutOptions


def test_shipped_beats_copy_last_frame():
    model = load_default()
    res = evaluate(model, n_episodes=16, context=4, horizon=3)
    assert res.mean_mse < res.mean_baseline_mse, res.to_dict()
    assert res.mean_pos_err_px < res.mean_baseline_pos_err_px, res.to_dict()
    dense = evaluate(
        model, n_episodes=16, context=4, horizon=3, options=RolloutOptions(sparse=False)
    )
    assert dense.mean_mse < dense.mean_baseline_mse, dense.to_dict()
