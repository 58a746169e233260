"""The validator's audits end to end: draw, queue, judge, record, penalize.

One :class:`Auditor` per validator process, shared by the probe rounds
(``wmnet.validator.rollouts``) and the customer gateway: both hand it answers that
passed the binding checks; it decides which are audited (``wmnet.validator.audits``),
runs them through the audit queue (``wmnet.validator.audit_queue``), records one
:class:`~wmnet.protocol.usage.AuditRecord` per audit, opens a penalty window for a
failed one (``wmnet.validator.penalties``), and tells its listeners (the loop forfeits
the miner's score; the gateway refunds a customer's order).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from wmnet.protocol.audit import AuditJob, AuditVerdict
from wmnet.protocol.rollout import RolloutResult, RolloutTask
from wmnet.protocol.usage import AuditRecord
from wmnet.validator.audit_queue import AuditQueue
from wmnet.validator.audits import AuditPolicy, AuditSampler, TempoAudits, answer_key
from wmnet.validator.outcomes import MinerOutcome
from wmnet.validator.penalties import Penalty, PenaltyBook

log = logging.getLogger(__name__)

# (the job, its verdict, the penalty it opened or None)
Listener = Callable[[AuditJob, AuditVerdict, Penalty | None], None]


@dataclass
class AuditCounters:
    """What the audits did and cost so far (the demo's and the e2e's figures)."""

    audited: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    check_seconds: float = 0.0  # the validator's (or its workers') checking time
    work_seconds: float = 0.0  # miners' device seconds of the work accepted

    @property
    def cost_fraction(self) -> float | None:
        return self.check_seconds / self.work_seconds if self.work_seconds > 0 else None

    def summary(self) -> dict[str, float | None]:
        return {
            "audited": self.audited,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "check_seconds": round(self.check_seconds, 6),
            "work_seconds": round(self.work_seconds, 6),
            "cost_fraction": self.cost_fraction,
        }


class Auditor:
    def __init__(
        self,
        policy: AuditPolicy,
        queue: AuditQueue,
        penalties: PenaltyBook,
        sink: object,
        netuid: int,
        validator_hotkey: str,
        sampler: AuditSampler | None = None,
    ) -> None:
        self.policy, self.queue, self.penalties = policy, queue, penalties
        self.sink, self.netuid, self.validator_hotkey = sink, netuid, validator_hotkey
        self.sampler = sampler or AuditSampler()
        self.probes: TempoAudits[AuditJob] = TempoAudits(policy, self.sampler)
        self.counters = AuditCounters()
        self.listeners: list[Listener] = []
        self.block, self.tempo_blocks = 0, 1
        self._background: set[asyncio.Task] = set()

    def clock(self, block: int, tempo: int) -> None:
        """The chain's block and tempo, for penalty windows (the loop calls it):
        subtensor runs a subnet's epoch every ``tempo`` blocks."""
        self.block, self.tempo_blocks = block, max(1, tempo)

    def job(
        self,
        outcome: MinerOutcome,
        task: RolloutTask,
        result: RolloutResult,
        origin: str,
        trigger: str,
    ) -> AuditJob:
        return AuditJob(
            job_id=secrets.token_hex(12),
            request_id=outcome.request_id,
            netuid=self.netuid,
            miner_uid=outcome.target.uid,
            miner_hotkey=outcome.target.hotkey,
            origin=origin,  # type: ignore[arg-type]
            trigger=trigger,  # type: ignore[arg-type]
            units=outcome.units,
            task=task,
            result=result,
        )

    def accepted(self, outcome: MinerOutcome) -> None:
        """Count an accepted answer's work (the denominator of the cost fraction)."""
        self.counters.work_seconds += outcome.device_seconds

    def draw_probe(
        self, outcome: MinerOutcome, task: RolloutTask, result: RolloutResult
    ) -> AuditJob | None:
        """A probe answer that passed its binding checks: the job to audit now, or None
        (accepted provisionally; it may still be audited for the floor at close)."""
        self.accepted(outcome)
        job = self.job(outcome, task, result, "synthetic", "sampled")
        key = answer_key(task.task_id, result.digests)
        if self.probes.observe(outcome.target.hotkey, key, job, outcome.units):
            return job
        return None

    def draw_organic(self, task: RolloutTask, result: RolloutResult) -> bool:
        """Whether a customer's answered order is audited (at the organic rate)."""
        key = answer_key(task.task_id, result.digests)
        return self.sampler.chosen(key, self.policy.organic_rate, b"organic")

    async def run(self, jobs: list[AuditJob]) -> list[AuditVerdict]:
        """Check ``jobs`` now; each verdict is recorded and acted on before returning."""
        verdicts = await self.queue.check(jobs)
        for job, verdict in zip(jobs, verdicts, strict=True):
            self._apply(job, verdict)
        return verdicts

    def submit(self, jobs: list[AuditJob]) -> None:
        """Check ``jobs`` in the background (the round or the order does not wait)."""
        if not jobs:
            return
        task = asyncio.get_running_loop().create_task(self.run(jobs))
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("audits not recorded: %r", task.exception())

    async def close_tempo(self) -> list[AuditVerdict]:
        """The floor's audits of the tempo that ended (waited for: a failed one must
        zero the miner before the next weights)."""
        floor = [job.model_copy(update={"trigger": "floor"}) for _, job in self.probes.close()]
        return await self.run(floor)

    async def drain(self) -> None:
        """Wait for the background audits (shutdown, tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def penalize(self, uid: int, hotkey: str, workload: str, reason: str) -> Penalty:
        """Open (or extend) ``hotkey``'s penalty window for fraud (``Reason.fraud``: a
        failed audit, or a copied training update) from the current block, sized by
        the policy; kept by hotkey in the validator's state."""
        p = self.policy
        penalty = self.penalties.penalize(
            hotkey,
            workload,
            str(reason),
            self.block,
            self.tempo_blocks,
            p.penalty_tempos,
            p.max_penalty_tempos,
        )
        log.warning(
            "uid %d (%s) penalized for %s on %s: weight 0 until block %d (strike %d)",
            uid,
            hotkey[:8],
            reason,
            workload,
            penalty.until_block,
            penalty.strikes,
        )
        return penalty

    def _apply(self, job: AuditJob, verdict: AuditVerdict) -> None:
        c = self.counters
        c.audited += 1
        c.check_seconds += verdict.seconds
        self.probes.measured(verdict.seconds, job.units)
        penalty = None
        if verdict.outcome == "passed":
            c.passed += 1
        elif verdict.outcome == "failed":
            c.failed += 1
            log.warning(
                "audit FAILED: uid %d (%s) %s on %s: %s",
                job.miner_uid,
                job.miner_hotkey[:8],
                job.trigger,
                job.request_id,
                verdict.reason,
            )
            penalty = self.penalize(job.miner_uid, job.miner_hotkey, job.workload, verdict.reason)
        else:
            c.errors += 1
        reason = f"{verdict.reason}: {verdict.detail}" if verdict.detail else verdict.reason
        self.sink.record_audit(  # type: ignore[attr-defined]
            AuditRecord(
                request_id=job.request_id,
                time=time.time(),
                netuid=self.netuid,
                validator_hotkey=self.validator_hotkey,
                miner_uid=job.miner_uid,
                miner_hotkey=job.miner_hotkey,
                workload=job.workload,
                origin=job.origin,
                trigger=job.trigger,
                outcome=verdict.outcome,
                reason=reason[:200],
                units=job.units,
                check_seconds=min(verdict.seconds, 86_400.0),
                penalty_until_block=penalty.until_block if penalty else None,
            )
        )
        for listener in self.listeners:
            listener(job, verdict, penalty)
