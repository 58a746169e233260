"""Rollout rounds: ask, check the binding, audit a sample, tally the work.

The rollout workload's round, in the shape of training-shard rounds
(``wmnet.validator.shards``), and the one ask-and-check path the customer gateway uses
too (:func:`ask_and_bind`):

1. **draw** one fresh task per miner asked (``wmnet.validator.tasks``), at a precision
   the miner offers;
2. **ask** every miner concurrently (``POST /v1/rollout``) through the bounded client
   (``wmnet.validator.miner_client``: the task's deadline all in, a byte cap sized to
   the task, no content encoding); no answer, a late, oversized or malformed one: a
   :class:`~wmnet.validator.outcomes.MinerOutcome` with the client's reason;
3. **bind**: the cheap checks on every answer (task echo, shapes, finite values,
   digests; ``wmnet.validator.verification.binding_check``);
4. **audit** a sample of the bound answers, drawn after receipt with the validator's
   secret (``wmnet.validator.auditor``); the rest are accepted provisionally;
5. **tally** each answer's delivered units, weighted by latency, into the tempo's work
   (``wmnet.validator.tempo.Tempo.add``) and record one usage event per miner asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from wmnet.protocol.audit import AuditJob
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.rollout import RolloutResult, RolloutTask
from wmnet.validator.miner_client import QueryOutcome, query_rollout, rollout_cap
from wmnet.validator.outcomes import MinerOutcome, Reason
from wmnet.validator.targets import MinerTarget
from wmnet.validator.tasks import TaskDrawer, TaskPolicy, draw_task
from wmnet.validator.usage import device_seconds
from wmnet.validator.verification import binding_check
from wmnet.worldmodel.model import WorldModel


@dataclass(frozen=True)
class Delivery:
    """An answer as it arrived and was bound: the outcome, and the task and result an
    audit needs (``result`` None when nothing usable arrived)."""

    outcome: MinerOutcome
    task: RolloutTask
    result: RolloutResult | None


@dataclass
class RolloutRoundReport:
    block: int
    deliveries: list[Delivery]
    audits: list[AuditJob] = field(default_factory=list)  # drawn in this round

    @property
    def outcomes(self) -> list[MinerOutcome]:
        return [d.outcome for d in self.deliveries]


def bind(
    model: WorldModel, target: MinerTarget, task: RolloutTask, query: QueryOutcome
) -> Delivery:
    """Judge an answer by the binding checks alone (cheap: no model pass). No usable
    answer keeps the miner client's own reason (timeout, too_large, malformed, ...)."""
    deadline_s = task.deadline_ms / 1000
    result = query.result if isinstance(query.result, RolloutResult) else None
    if result is None:
        reason = Reason.MALFORMED if query.reason is Reason.OK else query.reason
        outcome = MinerOutcome(
            target,
            task.task_id,
            reason,
            detail=query.detail[:150],
            latency_s=query.latency_s,
            deadline_s=deadline_s,
        )
        return Delivery(outcome, task, None)
    verdict = binding_check(model, task, result)
    outcome = MinerOutcome(
        target,
        task.task_id,
        verdict.reason,
        detail=verdict.detail,
        units=task.horizon,
        latency_s=query.latency_s,
        deadline_s=deadline_s,
        # Self-reported compute time, never more than the wall time the validator saw.
        device_seconds=device_seconds(result.timing.compute_ms / 1000, query.latency_s),
    )
    return Delivery(outcome, task, result)


async def ask_and_bind(
    http: httpx.AsyncClient,
    wallet: Any,
    model: WorldModel,
    target: MinerTarget,
    task: RolloutTask,
) -> Delivery:
    """Ask one miner for ``task`` through the bounded client (the task's deadline all
    in, the body capped at what an honest answer can take) and bind its answer (probes
    and customer orders)."""
    cfg = model.cfg
    cap = rollout_cap(task, (cfg.latent_channels, cfg.grid, cfg.grid), cfg.resolution)
    query = await query_rollout(http, wallet, target.axon, target.hotkey, task, max_bytes=cap)
    return bind(model, target, task, query)


def choose_precision(
    rng: np.random.Generator, offered: CapacityReport | None, allowed: tuple[str, ...]
) -> str:
    """A precision both sides accept (a miner with no valid report is asked for fp32)."""
    if offered is None:
        return "fp32"
    options = [p for p in allowed if p in offered.precisions]
    return str(rng.choice(options)) if options else "fp32"


def draw_tasks(
    rng: np.random.Generator,
    policy: TaskPolicy,
    model_id: str,
    targets: list[MinerTarget],
    offered: dict[str, CapacityReport | None],
    precisions: tuple[str, ...],
    draw: TaskDrawer = draw_task,
) -> list[RolloutTask]:
    """One fresh task per miner, at a precision it offers (``draw``: where tasks come
    from, random by default; ``wmnet bench validator`` supplies its own)."""
    return [
        draw(rng, policy, model_id, choose_precision(rng, offered.get(t.hotkey), precisions))
        for t in targets
    ]
