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


def test_eval_reports_the_constant_velocity_baseline_per_step():
    """The physics baseline is scored like the model: per step, MSE and position error."""
    res = evaluate(load_default(), n_episodes=8, context=4, horizon=6).to_dict()
    for key in ("constant_velocity_mse", "constant_velocity_pos_err_px", "constant_velocity_psnr"):
        assert len(res[key]) == 6, key
    # Knowing the velocity beats assuming none (copy-last) once things have moved.
    assert res["constant_velocity_mse"][-1] < res["baseline_mse"][-1]
    assert res["constant_velocity_pos_err_px"][-1] < res["baseline_pos_err_px"][-1]
    assert isinstance(res["beats_constant_velocity"], bool)
