"""The shipped checkpoint has learned the physics: on held-out data it beats copy-last
frame and the constant-velocity baseline a customer could compute without it."""

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


def test_shipped_beats_constant_velocity_at_every_step():
    """The bar a paying customer sets (docs/worldmodel.md, "How good it is"): frame MSE
    and ball-position error below constant velocity's at every step 1-12 on the 256
    held-out episodes `wmnet model eval` scores (~10 s). Not on fewer: the step-1 margin
    is about 1 %, and 64 episodes move a step's ratio by more (up to 1.055 measured)."""
    res = evaluate(load_default(), n_episodes=256, context=4, horizon=12)
    ratios = {
        "mse": [m / b for m, b in zip(res.mse, res.constant_velocity_mse, strict=True)],
        "pos": [
            m / b for m, b in zip(res.pos_err_px, res.constant_velocity_pos_err_px, strict=True)
        ],
    }
    assert res.beats_constant_velocity, ratios
