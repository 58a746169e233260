"""Offline data makers: seeded, deterministic environments that emit uint8 frames.

Every environment produces :class:`worldmodel.envs.episodes.Episodes` (frames uint8
``(N, L+1, 3, H, W)``, actions int64 ``(N, L)``), so training, evaluation and the
benches never care which simulator made the data.
"""

from __future__ import annotations

from wmnet.worldmodel.envs.ballworld import BallWorld, BallWorldConfig, make_ballworld_episodes
from wmnet.worldmodel.envs.episodes import Episodes, TransitionBatch

__all__ = [
    "BallWorld",
    "BallWorldConfig",
    "Episodes",
    "TransitionBatch",
    "make_ballworld_episodes",
]
