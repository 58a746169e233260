"""Audits on the wire: a job for an audit worker and the verdict it sends back.

A validator that checks more than its own machine can hands audit jobs to
``wmnet validator audit-worker`` processes through a queue on Redis
(``wmnet.validator.audit_queue``). A job carries everything the full check needs: the
task as the miner received it and the answer as the validator received it (the
digests in the answer bind its latents, so the worker checks exactly what was paid
for). Jobs and verdicts are JSON; nothing is unpickled from the queue.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wmnet.protocol.rollout import RolloutResult, RolloutTask

# Why an answer was audited: drawn at the probe rate, topped up to the per-miner
# floor at a tempo's close, drawn at the organic rate after a customer was answered,
# or a customer's synchronous full verification.
AuditTrigger = Literal["sampled", "floor", "organic", "full"]
AuditOutcome = Literal["passed", "failed", "error"]
AUDIT_OUTCOMES: tuple[str, ...] = ("passed", "failed", "error")
AUDIT_TRIGGERS: tuple[str, ...] = ("sampled", "floor", "organic", "full")

_WIRE = ConfigDict(extra="forbid", frozen=True)


class AuditJob(BaseModel):
    model_config = _WIRE
    job_id: str = Field(min_length=8, max_length=64)
    request_id: str = Field(min_length=1, max_length=128)  # the usage event's
    netuid: int = Field(ge=0, le=65535)
    miner_uid: int = Field(ge=0, le=65535)
    miner_hotkey: str = Field(max_length=64)
    workload: Literal["rollout"] = "rollout"
    origin: Literal["synthetic", "organic"]
    trigger: AuditTrigger
    units: int = Field(ge=0)
    task: RolloutTask
    result: RolloutResult


class AuditVerdict(BaseModel):
    """The full check's verdict; ``reason`` is a ``wmnet.validator.outcomes.Reason``
    value, ``seconds`` the checking time, ``worker`` who checked."""

    model_config = _WIRE
    job_id: str = Field(min_length=8, max_length=64)
    outcome: AuditOutcome
    reason: str = Field(max_length=64)
    detail: str = Field(default="", max_length=200)
    seconds: float = Field(ge=0)
    worker: str = Field(default="", max_length=128)
