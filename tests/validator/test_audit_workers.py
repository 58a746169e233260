"""Audits across processes: two `wmnet validator audit-worker` processes on the real
Redis (``WMNET_TEST_REDIS_URL``, a queue name of this test's own) check a validator's
jobs; each verdict comes back to the right job, both workers take work, and faked
answers fail while honest ones pass."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import numpy as np
import pytest

from wmnet.harness.processes import ProcessGroup
from wmnet.miner.results import build_result
from wmnet.protocol.audit import AuditJob
from wmnet.protocol.rollout import RolloutTask, SeededContext, Timing
from wmnet.validator.audit_queue import ArqAuditQueue, InProcessAuditQueue
from wmnet.worldmodel.checkpoint import default_model_id, load_default
from wmnet.worldmodel.contexts import context_arrays
from wmnet.worldmodel.fakes import random_latents
from wmnet.worldmodel.rollout import RolloutOptions, rollout

REDIS_ENV = "WMNET_TEST_REDIS_URL"
pytestmark = pytest.mark.slow


def _jobs(n: int) -> tuple[list[AuditJob], list[bool]]:
    model = load_default().eval()
    rng = np.random.default_rng(0)
    jobs, honest = [], []
    for i in range(n):
        task = RolloutTask(
            task_id=f"audit{i:08d}",
            model_id=default_model_id(),
            context=SeededContext(seed=1000 + i, n_frames=3),
            actions=[int(a) for a in rng.integers(0, model.cfg.n_actions, 8)],
        )
        frames, acts = context_arrays(task.context, model.cfg)
        out = rollout(model, frames[None], acts[None], np.array([task.actions]),
                      RolloutOptions(decode=False))  # fmt: skip
        lat = out.latents[0].numpy()
        if i % 3 == 2:  # every third answer faked (its digests still bind it)
            lat = random_latents(lat.shape, rng)
        result = build_result(task, out.context_latents[0].numpy(), lat, None,
                              Timing(queue_ms=0, compute_ms=1, batch_size=1), "cpu")  # fmt: skip
        jobs.append(
            AuditJob(
                job_id=f"job{i:08d}",
                request_id=task.task_id,
                netuid=1,
                miner_uid=i,
                miner_hotkey=f"hk{i}",
                origin="synthetic",
                trigger="sampled",
                units=8,
                task=task,
                result=result,
            )  # fmt: skip
        )
        honest.append(i % 3 != 2)
    return jobs, honest


def test_two_workers_check_a_validators_audits_through_redis(tmp_path):
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set (e.g. redis://127.0.0.1:6379/0)")
    queue_name = f"wmnet:test:{uuid.uuid4().hex[:12]}"
    jobs, honest = _jobs(12)
    # The same jobs in process: the reference verdicts.
    local = asyncio.run(InProcessAuditQueue(load_default().eval()).check(jobs))
    assert [v.outcome == "passed" for v in local] == honest

    argv = [sys.executable, "-m", "wmnet.neurons.cli", "validator", "audit-worker",
            "--redis", url, "--queue", queue_name]  # fmt: skip
    with ProcessGroup(tmp_path / "logs", grace_s=5.0) as group:
        workers = [group.start(f"w{i}", [*argv, "--name", f"worker-{i}"]) for i in range(2)]

        async def remote():
            queue = ArqAuditQueue(url, queue_name, timeout_s=120)
            try:
                # One job per batch here, so both workers get some.
                return await asyncio.gather(*(queue.check([j]) for j in jobs))
            finally:
                await queue.aclose()

        started = time.monotonic()
        verdicts = [v for batch in asyncio.run(remote()) for v in batch]
        for w in workers:
            assert w.popen.poll() is None, w.tail()
    assert [v.job_id for v in verdicts] == [j.job_id for j in jobs]
    assert [v.outcome for v in verdicts] == [v.outcome for v in local], [
        (v.outcome, v.detail) for v in verdicts
    ]
    assert {v.worker for v in verdicts} == {"worker-0", "worker-1"}, time.monotonic() - started


def test_an_unreachable_queue_is_an_error_verdict_not_a_penalty():
    jobs, _ = _jobs(1)

    async def check():
        queue = ArqAuditQueue("redis://127.0.0.1:1/0", "wmnet:nowhere", timeout_s=2)
        try:
            return await queue.check(jobs)
        finally:
            await queue.aclose()

    (verdict,) = asyncio.run(check())
    assert verdict.outcome == "error" and "queue" in verdict.detail
