"""ADVERSARIAL TEST BEHAVIOUR: miners that cheat, for tests and the demo only.

Enabled solely by the hidden ``wmnet miner run --cheat random|fake10|sometimes10|replay``
option;
an honest miner never constructs one. They exist so the validator's verification can be
shown to catch each kind of cheating end to end:

* ``random``: no compute at all; random latents of the right shape, with digests that
  bind them (so only the numeric check can catch it).
* ``fake10``: compute honestly, then replace ceil(10 %) of the predicted steps (random
  positions, never step 0) by the cheap linear extrapolation ``z_t + (z_t - z_{t-1})``,
  and recompute the digests so they still bind. Frames, if asked for, stay the honest
  ones (a cheater would not pay to decode). With one step there is nothing to fake.
* ``sometimes10``: honest on 90 % of its answers; on a random 10 % it serves
  ``fake10``'s answer. The cheater sampled audits exist for: most of its answers are
  perfect, so only auditing enough of them, unpredictably, catches it.
* ``replay``: answer with a result recorded from *another* miner (``--replay-dir D``,
  written by an honest miner's ``--record-dir D``), task id rewritten; one recorded for
  the same model, precision, horizon and context length if there is one. With nothing
  recorded yet it answers like ``random``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Protocol

import numpy as np
from starlette.concurrency import run_in_threadpool

from wmnet.miner.engine import Prepared, RolloutEngine
from wmnet.miner.recording import load_recorded
from wmnet.miner.results import build_result
from wmnet.protocol.rollout import RolloutResult, RolloutTask, Timing

Honest = Callable[[], Awaitable[RolloutResult]]


class Cheat(Protocol):
    name: str

    async def answer(self, task: RolloutTask, prepared: Prepared, honest: Honest) -> RolloutResult:
        """The cheating answer to ``task``; ``honest()`` computes the real one if wanted."""
        ...


class RandomLatents:
    name = "random"

    def __init__(self, engine: RolloutEngine, rng: np.random.Generator) -> None:
        self.engine, self.rng = engine, rng

    async def answer(self, task: RolloutTask, prepared: Prepared, honest: Honest) -> RolloutResult:
        cfg = self.engine.config(prepared.key.model_id)
        latent = (cfg.latent_channels, cfg.grid, cfg.grid)
        key = prepared.key
        ctx = self.rng.standard_normal((key.n_context, *latent)).astype(np.float32)
        lat = self.rng.standard_normal((key.horizon, *latent)).astype(np.float32)
        frames = None
        if task.return_frames:
            shape = (key.horizon, 3, cfg.resolution, cfg.resolution)
            frames = self.rng.integers(0, 256, shape, dtype=np.uint8)
        timing = Timing(queue_ms=0.0, compute_ms=0.0, batch_size=1)
        return build_result(task, ctx, lat, frames, timing, self.engine.device_label)


def extrapolate_steps(
    context_latents: np.ndarray, latents: np.ndarray, rng: np.random.Generator, fraction: float
) -> tuple[np.ndarray, list[int]]:
    """``latents`` with ceil(fraction * T) steps (never step 0) linearly extrapolated."""
    horizon = latents.shape[0]
    n = min(math.ceil(fraction * horizon), horizon - 1)
    if n <= 0:
        return latents.copy(), []
    positions = sorted(int(p) for p in rng.choice(np.arange(1, horizon), n, replace=False))
    seq = np.concatenate([context_latents, latents]).astype(np.float32)
    c = context_latents.shape[0]
    for j in positions:  # in order, so a faked step may build on an earlier fake
        t = c + j
        seq[t] = seq[t - 1] + (seq[t - 1] - seq[t - 2])
    return seq[c:], positions


class FakeSteps:
    name = "fake10"

    def __init__(self, rng: np.random.Generator, fraction: float = 0.1) -> None:
        self.rng, self.fraction = rng, fraction

    async def answer(self, task: RolloutTask, prepared: Prepared, honest: Honest) -> RolloutResult:
        real = await honest()
        ctx = real.context_latents.numpy()
        lat, _ = extrapolate_steps(ctx, real.latents.numpy(), self.rng, self.fraction)
        frames = real.frames.numpy() if real.frames is not None else None
        return build_result(task, ctx, lat, frames, real.timing, real.device)


class SometimesFake:
    name = "sometimes10"

    def __init__(self, rng: np.random.Generator, share: float = 0.1) -> None:
        self.rng, self.share, self.fake = rng, share, FakeSteps(rng)

    async def answer(self, task: RolloutTask, prepared: Prepared, honest: Honest) -> RolloutResult:
        if self.rng.random() < self.share:
            return await self.fake.answer(task, prepared, honest)
        return await honest()


class ReplayOther:
    name = "replay"

    def __init__(self, directory: str, fallback: RandomLatents) -> None:
        self.directory, self.fallback = directory, fallback

    async def answer(self, task: RolloutTask, prepared: Prepared, honest: Honest) -> RolloutResult:
        recorded = await run_in_threadpool(load_recorded, self.directory)
        if not recorded:
            return await self.fallback.answer(task, prepared, honest)
        same = [r for r in recorded if _fits(r, task)]
        pool = same or recorded
        chosen = pool[int(self.fallback.rng.integers(len(pool)))]
        return chosen.model_copy(update={"task_id": task.task_id})


def _fits(result: RolloutResult, task: RolloutTask) -> bool:
    return (
        result.model_id == task.model_id
        and result.precision == task.precision
        and result.latents.shape[0] == task.horizon
        and result.context_latents.shape[0] == task.context.n_frames
    )


def make_cheat(
    name: str | None, engine: RolloutEngine, replay_dir: str | None, seed: int | None = None
) -> Cheat | None:
    """The cheat named by ``--cheat`` (None for an honest miner, and for the training-
    shard cheats ``lazy`` and ``copy``, which serve honest rollouts)."""
    if name is None or name in ("lazy", "copy"):
        return None
    rng = np.random.default_rng(seed)
    if name == "random":
        return RandomLatents(engine, rng)
    if name == "fake10":
        return FakeSteps(rng)
    if name == "sometimes10":
        return SometimesFake(rng)
    if name == "replay":
        if not replay_dir:
            raise ValueError("--cheat replay needs --replay-dir (another miner's --record-dir)")
        return ReplayOther(replay_dir, RandomLatents(engine, rng))
    raise ValueError(f"unknown cheat {name!r}")
