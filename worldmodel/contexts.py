"""A wire context (``wmnet.protocol.rollout``) -> the arrays a rollout starts from.

Miner and validator both call :func:`context_arrays`, so a seeded context renders the
same frames and actions on either side (the ballworld renderer is bitwise
deterministic numpy).
"""

from __future__ import annotations

import numpy as np

from wmnet.protocol.rollout import FramesContext, SeededContext
from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.envs.ballworld import BallWorldConfig, make_ballworld_episodes


def context_arrays(
    context: SeededContext | FramesContext, cfg: ModelConfig
) -> tuple[np.ndarray, np.ndarray]:
    """``(frames uint8 (C, 3, H, W), actions int64 (C-1,))`` for a model of ``cfg``.

    ValueError when the context does not fit the model (environment, resolution,
    action range), with a reason a caller can act on.
    """
    if isinstance(context, SeededContext):
        if context.env != cfg.env:
            raise ValueError(f"this model was trained on {cfg.env!r}, not {context.env!r}")
        episodes = make_ballworld_episodes(
            1,
            context.n_frames - 1,
            seed=context.seed,
            config=BallWorldConfig(resolution=cfg.resolution),
        )
        return episodes.frames[0], episodes.actions[0]
    frames = context.frames.numpy()
    if frames.shape[2:] != (cfg.resolution, cfg.resolution):
        raise ValueError(
            f"context frames must be {cfg.resolution}x{cfg.resolution} for this model, "
            f"got {frames.shape[2]}x{frames.shape[3]}"
        )
    actions = np.asarray(context.actions, dtype=np.int64)
    if actions.size and int(actions.max()) >= cfg.n_actions:
        raise ValueError(f"context actions must lie in [0, {cfg.n_actions})")
    return frames, actions
