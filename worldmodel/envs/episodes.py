"""The data containers every environment emits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TransitionBatch:
    """One-step transitions: ``next_frames[i]`` follows ``frames[i]`` under ``actions[i]``."""

    frames: np.ndarray  # uint8 (N, 3, H, W)
    actions: np.ndarray  # int64 (N,)
    next_frames: np.ndarray  # uint8 (N, 3, H, W)


@dataclass(frozen=True)
class Episodes:
    """A batch of equal-length episodes.

    ``actions[:, t]`` is the action taken after observing ``frames[:, t]``; it leads to
    ``frames[:, t + 1]``. ``positions`` is the simulator's ground-truth object state
    (``(N, L+1, K, 2)`` in pixels, x then y) when the environment knows it, else None.
    """

    frames: np.ndarray  # uint8 (N, L+1, 3, H, W)
    actions: np.ndarray  # int64 (N, L)
    n_actions: int
    positions: np.ndarray | None = None  # float32 (N, L+1, K, 2)

    @property
    def length(self) -> int:
        return int(self.actions.shape[1])

    def transitions(self) -> TransitionBatch:
        """Flatten into (frame, action, next frame) triples."""
        n, length = self.actions.shape
        shape = self.frames.shape[2:]
        return TransitionBatch(
            frames=self.frames[:, :-1].reshape(n * length, *shape),
            actions=self.actions.reshape(n * length),
            next_frames=self.frames[:, 1:].reshape(n * length, *shape),
        )
