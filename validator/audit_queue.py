"""Where audit jobs run: in the validator's process, or on audit workers via Redis.

Both queues take a batch of :class:`~wmnet.protocol.audit.AuditJob` and give back one
:class:`~wmnet.protocol.audit.AuditVerdict` per job, in order; a job that could not be
checked (a worker that died, a queue that timed out) comes back as outcome ``error``,
which never penalizes a miner.

* :class:`InProcessAuditQueue` (the default) runs :func:`run_jobs` on the validator's
  model thread, one batch at a time, so the event loop keeps asking miners meanwhile.
* :class:`ArqAuditQueue` hands jobs to ``wmnet validator audit-worker`` processes on
  other machines through **arq** (github.com/python-arq/arq): an asyncio job queue on
  Redis, so the validator's event loop enqueues and awaits results without threads;
  jobs and results live in Redis (a restarted worker does not lose them, retries are
  built in), workers scale by starting more of them against the same queue name, and
  it is small and maintained by pydantic's author. RQ was the alternative: well kept
  too, but synchronous (a validator would block a thread per job to wait), and its
  default worker forks per job, which reloads or copies the reference model every
  time. Jobs and results travel as JSON (``job_serializer``), never pickle.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Protocol

from wmnet.protocol.audit import AuditJob, AuditVerdict
from wmnet.validator.outcomes import Reason
from wmnet.validator.verification import verify_answers
from wmnet.worldmodel.model import WorldModel

log = logging.getLogger(__name__)
ARQ_FUNCTION = "wmnet_audit"
DEFAULT_QUEUE = "wmnet:audits"
MAX_JOBS_PER_BATCH = 16  # one forward pass checks a batch of answers together


class AuditQueue(Protocol):
    async def check(self, jobs: list[AuditJob]) -> list[AuditVerdict]: ...

    async def aclose(self) -> None: ...


def run_jobs(model: WorldModel, jobs: list[AuditJob], worker: str) -> list[AuditVerdict]:
    """The full check of ``jobs`` (one batched pass); each job's seconds are its share
    of the batch's time by units."""
    started = time.perf_counter()
    verdicts = verify_answers(model, [(j.task, j.result) for j in jobs])
    seconds = time.perf_counter() - started
    total = sum(max(1, j.units) for j in jobs)
    out = []
    for job, verdict in zip(jobs, verdicts, strict=True):
        if verdict.verified:
            outcome = "passed"
        elif verdict.reason.fraud:
            outcome = "failed"
        else:  # an answer that fails its binding checks is never queued: a task fault
            outcome = "error"
        out.append(
            AuditVerdict(
                job_id=job.job_id,
                outcome=outcome,
                reason=verdict.reason.value,
                detail=verdict.detail[:200],
                seconds=seconds * max(1, job.units) / total,
                worker=worker,
            )
        )
    return out


def error_verdicts(jobs: list[AuditJob], detail: str) -> list[AuditVerdict]:
    return [
        AuditVerdict(
            job_id=j.job_id,
            outcome="error",
            reason=Reason.CHECK_REFUSED.value,
            detail=detail[:200],
            seconds=0.0,
        )
        for j in jobs
    ]


class InProcessAuditQueue:
    """Checks in this process, one batch at a time, on ``executor``: the validator's
    one model thread (``ValidatorLoop.compute``), which shard scoring shares, so torch
    state and memory stay those of one thread; a fresh thread of its own by default."""

    def __init__(self, model: WorldModel, executor: Executor | None = None) -> None:
        self.model = model
        self._own = executor is None
        self.executor = executor or ThreadPoolExecutor(1, thread_name_prefix="wmnet-audit")
        self._lock = asyncio.Lock()

    async def check(self, jobs: list[AuditJob]) -> list[AuditVerdict]:
        if not jobs:
            return []
        loop = asyncio.get_running_loop()
        async with self._lock:
            out: list[AuditVerdict] = []
            for lo in range(0, len(jobs), MAX_JOBS_PER_BATCH):
                chunk = jobs[lo : lo + MAX_JOBS_PER_BATCH]
                out += await loop.run_in_executor(
                    self.executor, run_jobs, self.model, chunk, "in-process"
                )
            return out

    async def aclose(self) -> None:
        if self._own:
            self.executor.shutdown(wait=False)


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, default=str).encode()


def _loads(raw: bytes) -> dict[str, Any]:
    return json.loads(raw)


class ArqAuditQueue:
    """Audit jobs through arq on Redis; ``wmnet validator audit-worker`` runs them."""

    def __init__(self, redis_url: str, queue_name: str = DEFAULT_QUEUE, timeout_s: float = 120.0):
        self.redis_url, self.queue_name, self.timeout_s = redis_url, queue_name, timeout_s
        self._pool: Any = None

    async def _redis(self) -> Any:
        if self._pool is None:
            from arq.connections import RedisSettings, create_pool

            self._pool = await create_pool(
                RedisSettings.from_dsn(self.redis_url),
                default_queue_name=self.queue_name,
                job_serializer=_dumps,
                job_deserializer=_loads,
            )
        return self._pool

    async def check(self, jobs: list[AuditJob]) -> list[AuditVerdict]:
        if not jobs:
            return []
        chunks = [
            jobs[lo : lo + MAX_JOBS_PER_BATCH] for lo in range(0, len(jobs), MAX_JOBS_PER_BATCH)
        ]
        results = await asyncio.gather(*(self._check_chunk(c) for c in chunks))
        return [v for chunk in results for v in chunk]

    async def _check_chunk(self, jobs: list[AuditJob]) -> list[AuditVerdict]:
        payload = json.dumps([j.model_dump(mode="json") for j in jobs])
        try:
            pool = await self._redis()
            job = await pool.enqueue_job(
                ARQ_FUNCTION,
                payload,
                _job_id=f"{self.queue_name}:{uuid.uuid4().hex}",
                _queue_name=self.queue_name,
            )
            if job is None:  # pragma: no cover - only for a reused job id
                return error_verdicts(jobs, "queue refused the job")
            raw = await job.result(timeout=self.timeout_s, poll_delay=0.1)
            verdicts = [AuditVerdict.model_validate(v) for v in json.loads(raw)]
        except Exception as exc:  # noqa: BLE001 - Redis down, a timeout, a worker's error
            log.warning("audit jobs not checked: %s: %s", type(exc).__name__, exc)
            return error_verdicts(jobs, f"queue: {type(exc).__name__}")
        by_id = {v.job_id: v for v in verdicts}
        return [by_id.get(j.job_id) or error_verdicts([j], "missing verdict")[0] for j in jobs]

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None


async def _worker_audit(ctx: dict[str, Any], payload: str) -> str:
    """The arq job: check a batch on the worker's one model thread (the worker's event
    loop keeps its heartbeat; one thread keeps torch's state and memory those of one
    thread, as in the validator)."""
    try:
        jobs = [AuditJob.model_validate(j) for j in json.loads(payload)]
    except Exception as exc:  # noqa: BLE001 - a malformed job is answered, not raised
        log.warning("malformed audit job: %s", exc)
        return "[]"
    try:
        loop = asyncio.get_running_loop()
        verdicts = await loop.run_in_executor(
            ctx["compute"], run_jobs, ctx["model"], jobs, ctx["worker"]
        )
    except Exception as exc:  # noqa: BLE001 - one bad batch must not kill the worker
        log.exception("audit batch failed")
        verdicts = error_verdicts(jobs, f"worker: {type(exc).__name__}")
    ctx["checked"] = ctx.get("checked", 0) + len(jobs)
    log.info("checked %d answers (%d so far)", len(jobs), ctx["checked"])
    return json.dumps([v.model_dump(mode="json") for v in verdicts])


def make_worker(
    model: WorldModel, redis_url: str, queue_name: str = DEFAULT_QUEUE, name: str = ""
) -> Any:
    """An arq ``Worker`` that runs audit jobs with ``model`` (``worker.run()``)."""
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    label = name or f"{socket.gethostname()}:{os.getpid()}"
    return Worker(
        functions=[func(_worker_audit, name=ARQ_FUNCTION)],
        queue_name=queue_name,
        redis_settings=RedisSettings.from_dsn(redis_url),
        ctx={
            "model": model,
            "worker": label,
            "compute": ThreadPoolExecutor(1, thread_name_prefix="wmnet-audit-worker"),
        },
        max_jobs=1,  # one batch at a time: the check uses every core it has
        job_timeout=600,
        keep_result=600,
        job_serializer=_dumps,
        job_deserializer=_loads,
        handle_signals=True,
        log_results=False,
    )
