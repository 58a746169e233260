"""Evaluation on held-out episodes against the baselines a customer could compute.

Frame metrics: per-step MSE (pixels in [0, 1]) and PSNR over an open-loop horizon.
Two baselines:

- copy-last: the last context frame repeats forever; a world model that does not
  beat it has learned nothing about motion;
- constant velocity (ballworld): each ball keeps the velocity of its last two
  context positions and bounces off the walls; the positions are rendered by the
  environment and passed through the model's own autoencoder, so the baseline pays
  the same reconstruction floor as the model and only the dynamics are compared.

On ballworld we also score object positions: ball centres estimated from the
predicted frames (colour-weighted centroids) against the simulator's ground truth, in
pixels, with the same estimator for model and baselines.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from wmnet.worldmodel.data import HELDOUT_SEED_OFFSET, make_episodes
from wmnet.worldmodel.model import WorldModel
from wmnet.worldmodel.rollout import RolloutOptions, rollout_episodes, to_uint8


@dataclass
class EvalResult:
    n_episodes: int
    context: int
    horizon: int
    mse: list[float]  # per horizon step
    baseline_mse: list[float]
    psnr: list[float]
    baseline_psnr: list[float]
    mean_mse: float
    mean_baseline_mse: float
    mean_psnr: float
    mean_baseline_psnr: float
    pos_err_px: list[float] | None  # ballworld only
    baseline_pos_err_px: list[float] | None
    mean_pos_err_px: float | None
    mean_baseline_pos_err_px: float | None
    # Constant-velocity physics baseline (ballworld only; needs context >= 2).
    constant_velocity_mse: list[float] | None = None
    constant_velocity_psnr: list[float] | None = None
    constant_velocity_pos_err_px: list[float] | None = None
    mean_constant_velocity_mse: float | None = None
    mean_constant_velocity_pos_err_px: float | None = None

    @property
    def beats_constant_velocity(self) -> bool | None:
        """Model MSE and position error below the baseline's at *every* step."""
        if self.constant_velocity_mse is None or self.constant_velocity_pos_err_px is None:
            return None
        assert self.pos_err_px is not None
        mse = zip(self.mse, self.constant_velocity_mse, strict=True)
        pos = zip(self.pos_err_px, self.constant_velocity_pos_err_px, strict=True)
        return all(m < b for m, b in mse) and all(m < b for m, b in pos)

    @property
    def beats_baseline(self) -> bool:
        return self.mean_mse < self.mean_baseline_mse

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "beats_baseline": self.beats_baseline,
            "beats_constant_velocity": self.beats_constant_velocity,
        }


def _psnr(mse: float) -> float:
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def _constant_velocity_frames(
    model: WorldModel, positions: np.ndarray, context: int, horizon: int, batch: int
) -> np.ndarray:
    """uint8 ``(N, T, 3, H, W)``: the baseline's positions, rendered, through the AE."""
    import torch

    from wmnet.worldmodel.envs.ballworld import (
        BallWorldConfig,
        constant_velocity_positions,
        render_positions,
    )

    env_cfg = BallWorldConfig(resolution=model.cfg.resolution, n_balls=positions.shape[2])
    cv = constant_velocity_positions(
        positions[:, context - 2], positions[:, context - 1], horizon, env_cfg
    )  # (N, T, K, 2) pixels
    res = env_cfg.resolution
    rendered = np.stack(
        [[render_positions(env_cfg, p / res) for p in ep] for ep in cv]
    )  # (N, T, 3, H, W)
    out = np.empty_like(rendered)
    with torch.inference_mode():
        for i in range(0, len(rendered), batch):
            x = model.check_frames(rendered[i : i + batch])
            recon = model.decode(model.encode(x))
            out[i : i + batch] = to_uint8(recon).cpu().numpy()
    return out


def evaluate(
    model: WorldModel,
    *,
    n_episodes: int = 32,
    context: int = 4,
    horizon: int = 8,
    seed: int = HELDOUT_SEED_OFFSET,
    batch: int = 16,
    options: RolloutOptions | None = None,
) -> EvalResult:
    cfg = model.cfg
    if context < 1 or horizon < 1 or n_episodes < 1:
        raise ValueError("context, horizon and n_episodes must be >= 1")
    eps = make_episodes(cfg.env, n_episodes, context + horizon - 1, seed, cfg.resolution)
    truth = eps.frames[:, context:].astype(np.float64) / 255.0  # (N, T, 3, H, W)
    pred_u8, _ = rollout_episodes(model, eps, context, options, batch=batch)
    pred = pred_u8.astype(np.float64) / 255.0
    last = eps.frames[:, context - 1 : context].astype(np.float64) / 255.0
    mse = ((pred - truth) ** 2).mean(axis=(0, 2, 3, 4))
    base = ((last - truth) ** 2).mean(axis=(0, 2, 3, 4))
    pos = base_pos = None
    cv_mse = cv_pos = None
    if eps.positions is not None:
        from wmnet.worldmodel.envs.ballworld import estimate_positions

        true_pos = eps.positions[:, context:]  # (N, T, K, 2)
        est = estimate_positions(pred_u8, true_pos.shape[2])
        pos = np.linalg.norm(est - true_pos, axis=-1).mean(axis=(0, 2))
        last_pos = eps.positions[:, context - 1 : context]
        base_pos = np.linalg.norm(last_pos - true_pos, axis=-1).mean(axis=(0, 2))
        if context >= 2 and cfg.env == "ballworld":
            cv_u8 = _constant_velocity_frames(model, eps.positions, context, horizon, batch)
            cv_mse = ((cv_u8.astype(np.float64) / 255.0 - truth) ** 2).mean(axis=(0, 2, 3, 4))
            cv_est = estimate_positions(cv_u8, true_pos.shape[2])
            cv_pos = np.linalg.norm(cv_est - true_pos, axis=-1).mean(axis=(0, 2))
    return EvalResult(
        n_episodes=n_episodes,
        context=context,
        horizon=horizon,
        mse=[float(x) for x in mse],
        baseline_mse=[float(x) for x in base],
        psnr=[_psnr(x) for x in mse],
        baseline_psnr=[_psnr(x) for x in base],
        mean_mse=float(mse.mean()),
        mean_baseline_mse=float(base.mean()),
        mean_psnr=_psnr(float(mse.mean())),
        mean_baseline_psnr=_psnr(float(base.mean())),
        pos_err_px=None if pos is None else [float(x) for x in pos],
        baseline_pos_err_px=None if base_pos is None else [float(x) for x in base_pos],
        mean_pos_err_px=None if pos is None else float(pos.mean()),
        mean_baseline_pos_err_px=None if base_pos is None else float(base_pos.mean()),
        constant_velocity_mse=None if cv_mse is None else [float(x) for x in cv_mse],
        constant_velocity_psnr=None if cv_mse is None else [_psnr(x) for x in cv_mse],
        constant_velocity_pos_err_px=None if cv_pos is None else [float(x) for x in cv_pos],
        mean_constant_velocity_mse=None if cv_mse is None else float(cv_mse.mean()),
        mean_constant_velocity_pos_err_px=None if cv_pos is None else float(cv_pos.mean()),
    )
