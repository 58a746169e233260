"""Evaluation on held-out episodes against the copy-last-frame baseline.

Frame metrics: per-step MSE (pixels in [0, 1]) and PSNR over an open-loop horizon.
The baseline predicts that the last context frame repeats forever; a world model
that does not beat it has learned nothing about motion. On ballworld we also score
object positions: ball centres estimated from the predicted frames (colour-weighted
centroids) against the simulator's ground truth, in pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from wmnet.worldmodel.data import HELDOUT_SEED_OFFSET, make_episodes
from wmnet.worldmodel.model import WorldModel
from wmnet.worldmodel.rollout import RolloutOptions, rollout


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

    @property
    def beats_baseline(self) -> bool:
        return self.mean_mse < self.mean_baseline_mse

    def to_dict(self) -> dict:
        return {**asdict(self), "beats_baseline": self.beats_baseline}


def _psnr(mse: float) -> float:
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


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
    preds = []
    for i in range(0, n_episodes, batch):
        sl = slice(i, i + batch)
        res = rollout(
            model,
            eps.frames[sl, :context],
            eps.actions[sl, : context - 1],
            eps.actions[sl, context - 1 :],
            options,
        )
        preds.append(res.frames.numpy())
    pred_u8 = np.concatenate(preds)
    pred = pred_u8.astype(np.float64) / 255.0
    last = eps.frames[:, context - 1 : context].astype(np.float64) / 255.0
    mse = ((pred - truth) ** 2).mean(axis=(0, 2, 3, 4))
    base = ((last - truth) ** 2).mean(axis=(0, 2, 3, 4))
    pos = base_pos = None
    if eps.positions is not None:
        from wmnet.worldmodel.envs.ballworld import estimate_positions

        true_pos = eps.positions[:, context:]  # (N, T, K, 2)
        est = estimate_positions(pred_u8, true_pos.shape[2])
        pos = np.linalg.norm(est - true_pos, axis=-1).mean(axis=(0, 2))
        last_pos = eps.positions[:, context - 1 : context]
        base_pos = np.linalg.norm(last_pos - true_pos, axis=-1).mean(axis=(0, 2))
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
    )
