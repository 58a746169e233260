"""Synthetic rollout tasks: what a validator asks miners, drawn so none can be guessed.

Each task gets a fresh random environment seed (a seeded context: both sides render
the same frames, so the request is a few hundred bytes) and random actions. Miners
get *different* tasks in the same round, so an answer copied from another miner
answers the wrong question and fails verification.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wmnet.protocol.rollout import RolloutTask, SeededContext
from wmnet.protocol.spec import Precision


@dataclass(frozen=True)
class TaskPolicy:
    """How a validator draws tasks (how, not what: the seed and actions are random)."""

    horizons: tuple[int, ...] = (16, 32)
    context_frames: int = 4
    deadline_ms: int = 30_000
    n_actions: int = 5


# (rng, policy, model id, precision) -> a task: ``draw_task`` unless a caller supplies its
# own source (``wmnet bench validator`` asks tasks it holds honest answers for).
TaskDrawer = Callable[[np.random.Generator, "TaskPolicy", str, Precision], RolloutTask]


def draw_task(
    rng: np.random.Generator, policy: TaskPolicy, model_id: str, precision: Precision
) -> RolloutTask:
    horizon = int(rng.choice(policy.horizons))
    return RolloutTask(
        task_id=secrets.token_hex(12),
        model_id=model_id,
        context=SeededContext(seed=int(rng.integers(0, 2**63 - 1)), n_frames=policy.context_frames),
        actions=[int(a) for a in rng.integers(0, policy.n_actions, size=horizon)],
        precision=precision,
        deadline_ms=policy.deadline_ms,
    )
