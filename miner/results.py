"""Engine outputs -> wire ``RolloutResult`` (the one place a result is assembled)."""

from __future__ import annotations

import numpy as np

from wmnet.protocol.arrays import Array
from wmnet.protocol.digest import step_digests
from wmnet.protocol.rollout import RolloutResult, RolloutTask, Timing


def build_result(
    task: RolloutTask,
    context_latents: np.ndarray,
    latents: np.ndarray,
    frames: np.ndarray | None,
    timing: Timing,
    device: str,
    digests: list[str] | None = None,
) -> RolloutResult:
    """The answer to ``task``; digests are recomputed from ``latents`` unless given."""
    lat = np.ascontiguousarray(latents, dtype=np.float32)
    return RolloutResult(
        task_id=task.task_id,
        model_id=task.model_id,
        precision=task.precision,
        context_latents=Array.of(np.ascontiguousarray(context_latents, dtype=np.float32)),
        latents=Array.of(lat),
        digests=digests if digests is not None else step_digests(lat),
        frames=Array.of(frames) if frames is not None else None,
        timing=timing,
        device=device,
    )
