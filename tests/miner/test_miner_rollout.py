"""Rollouts end to end through the app, and the scheduler's batching and admission."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from tests.miner.helpers import post_task, task, with_config
from wmnet.miner.engine import RolloutEngine
from wmnet.miner.scheduler import Scheduler
from wmnet.protocol.arrays import Array
from wmnet.protocol.digest import step_digests
from wmnet.protocol.errors import ErrorBody
from wmnet.protocol.rollout import FramesContext, RolloutResult
from wmnet.worldmodel.contexts import context_arrays
from wmnet.worldmodel.rollout import RolloutOptions, rollout


def reference(engine: RolloutEngine, t, precision: str = "fp32"):
    model_id = engine.resolve(t.model_id)
    model = engine.models[model_id][precision]
    frames, ctx_actions = context_arrays(t.context, model.cfg)
    return rollout(
        model,
        frames[None],
        ctx_actions[None],
        np.asarray([t.actions]),
        RolloutOptions(kv_cache=True, sparse=True, decode=True, backend="sdpa"),
    )


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_signed_rollout_matches_the_reference(serve, config, network, engine, precision):
    t = task(precision=precision, actions=[0, 1, 2, 3, 4, 1, 2], return_frames=True)
    with serve(config) as http:
        response = post_task(http, network.keys.validator, config.hotkey_ss58, t)
    assert response.status_code == 200, response.text
    result = RolloutResult.model_validate_json(response.content)
    assert (result.task_id, result.model_id, result.precision) == (t.task_id, t.model_id, precision)
    ref = reference(engine, t, precision)
    latents = result.latents.numpy()
    np.testing.assert_allclose(latents, ref.latents[0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        result.context_latents.numpy(), ref.context_latents[0].numpy(), atol=1e-5, rtol=0
    )
    assert result.digests == step_digests(latents)  # the digests bind what was sent
    frames = result.frames.numpy()
    assert frames.shape == (7, 3, 32, 32) and frames.dtype == np.uint8
    assert np.abs(frames.astype(int) - ref.frames[0].numpy().astype(int)).max() <= 1
    assert result.timing.batch_size == 1 and result.timing.compute_ms > 0
    assert result.device == engine.device_label


def test_a_frames_context_rolls_out(serve, config, network, engine):
    seeded = task().context
    frames, ctx_actions = context_arrays(seeded, engine.config(engine.model_ids[0]))
    ctx = FramesContext(frames=Array.of(frames), actions=[int(a) for a in ctx_actions])
    t = task(context=ctx)
    with serve(config) as http:
        response = post_task(http, network.keys.validator, config.hotkey_ss58, t)
    assert response.status_code == 200, response.text
    result = RolloutResult.model_validate_json(response.content)
    assert result.frames is None
    np.testing.assert_allclose(
        result.latents.numpy(), reference(engine, t).latents[0].numpy(), atol=1e-5, rtol=0
    )


async def test_compatible_tasks_run_as_one_batch(engine):
    sched = Scheduler(engine.run, max_batch=4, queue_limit=8)
    tasks = [task(), task(context=task().context.model_copy(update={"seed": 99}))]
    other = task(actions=[1, 1])  # another horizon: not compatible
    prepared = [engine.prepare(t) for t in (*tasks, other)]
    pending = [asyncio.create_task(sched.submit(p, 30.0)) for p in prepared]
    await asyncio.sleep(0.05)  # all three queued before the worker starts
    assert sched.queue_depth == 3
    sched.start()
    try:
        done = await asyncio.gather(*pending)
    finally:
        sched.stop()
    assert [d.batch_size for d in done] == [2, 2, 1]
    # On CPU a batch of 2 gives a single task's numbers to 1e-5; CUDA kernels change low
    # bits with the batch size (measured on an H100: 2.2e-4), inside the fp32 tolerance.
    atol = 1e-5 if engine.device_kind == "cpu" else 1e-3
    for t, d in zip(tasks, done[:2], strict=True):
        np.testing.assert_allclose(
            d.output.latents, reference(engine, t).latents[0].numpy(), atol=atol, rtol=0
        )


def test_concurrent_requests_share_a_batch(serve, config, network):
    results: list = [None, None]
    slow = with_config(config, batch_wait_ms=500.0)
    with serve(slow) as http:

        def send(i: int) -> None:
            results[i] = post_task(http, network.keys.validator, config.hotkey_ss58, task())

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
    sizes = [RolloutResult.model_validate_json(r.content).timing.batch_size for r in results]
    assert sizes == [2, 2]


class Gated(RolloutEngine):
    """The engine, held at the device until the test opens the gate."""

    def __init__(self, inner: RolloutEngine) -> None:
        super().__init__(inner.models, inner.device)
        self.started = threading.Event()
        self.release = threading.Event()

    def run(self, key, items):
        self.started.set()
        self.release.wait(30)
        return super().run(key, items)


def test_a_full_queue_answers_503_with_retry_after(serve, config, network, engine):
    gated = Gated(engine)
    small = with_config(config, max_batch=1, queue_limit=1, rate=100, burst=100)
    responses: dict[str, object] = {}
    with serve(small, engine=gated) as http:

        def send(name: str) -> None:
            responses[name] = post_task(http, network.keys.validator, config.hotkey_ss58, task())

        first = threading.Thread(target=send, args=("running",))
        first.start()
        assert gated.started.wait(10)  # the first task holds the device
        second = threading.Thread(target=send, args=("queued",))
        second.start()
        for _ in range(200):  # until the second task waits in the queue
            if http.app.state.miner.scheduler.queue_depth == 1:
                break
            threading.Event().wait(0.01)
        full = post_task(http, network.keys.validator, config.hotkey_ss58, task())
        gated.release.set()
        first.join(30)
        second.join(30)
    assert full.status_code == 503, full.text
    body = ErrorBody.model_validate_json(full.content)
    assert body.error == "overloaded" and "queue full" in body.detail
    assert int(full.headers["Retry-After"]) >= 1
    assert responses["running"].status_code == 200
    assert responses["queued"].status_code == 200


def test_a_deadline_that_cannot_be_met_is_refused_at_once(serve, config, network):
    with serve(config) as http:
        http.app.state.miner.scheduler.cost.per_step_s = 0.05  # 256 steps: ~13 s
        t = task(actions=[1] * 256, deadline_ms=200)
        response = post_task(http, network.keys.validator, config.hotkey_ss58, t)
    assert response.status_code == 503
    body = ErrorBody.model_validate_json(response.content)
    assert body.error == "overloaded" and "deadline" in body.detail
    assert "Retry-After" in response.headers
