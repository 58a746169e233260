"""The validator's bounded client against the hostile miner (``tests/adversarial``),
served in this process: every attack on every endpoint ends in an outcome code within
its deadline, without inflating a bomb or buffering past the cap (this process's peak
RSS is checked), and values out of bounds are refused before anything uses them."""

from __future__ import annotations

import asyncio
import resource
import time
from pathlib import Path

import pytest

from tests.adversarial.hostile import CAPACITY_VARIANTS, Hostile, serve
from wmnet.harness.setup import free_port
from wmnet.harness.wallets import load_wallet
from wmnet.protocol.rollout import RolloutTask, SeededContext
from wmnet.protocol.shard import InnerHyper, ShardTask
from wmnet.protocol.spec import MAX_RESPONSE_BYTES
from wmnet.training.shards import assign
from wmnet.validator.miner_client import (
    Outcome,
    miner_http_client,
    query_capacity,
    query_rollout,
    query_shard,
    rollout_cap,
)
from wmnet.validator.usage import device_seconds
from wmnet.worldmodel.checkpoint import default_model_id

VALIDATOR = load_wallet("//Bob", "validator")
MINER = load_wallet("//Charlie", "hostile")
LATENT, RESOLUTION = (8, 8, 8), 32  # the shipped model's; only sizes the cap


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Endpoint:
    def __init__(self, tmp: Path) -> None:
        self.mode_file = tmp / "mode"
        self.hostile = Hostile(self.mode_file, tmp / "status.json", MINER.hotkey.ss58_address)
        self.port = free_port()
        self.axon = f"127.0.0.1:{self.port}"

    def mode(self, name: str) -> None:
        self.mode_file.write_text(name)


@pytest.fixture
async def hostile(tmp_path):
    endpoint = Endpoint(tmp_path)
    await asyncio.to_thread(endpoint.hostile.bombs)  # built before any RSS is measured
    ready = asyncio.Event()
    server = asyncio.create_task(serve(endpoint.hostile, endpoint.port, ready))
    await ready.wait()
    yield endpoint
    server.cancel()


def rollout_task(deadline_ms: int = 3000) -> RolloutTask:
    return RolloutTask(
        task_id="task-000001",
        model_id=default_model_id(),
        context=SeededContext(seed=7, n_frames=2),
        actions=[1, 2, 3, 0],
        deadline_ms=deadline_ms,
    )


def shard_task(deadline_ms: int = 3000) -> ShardTask:
    return ShardTask(
        task_id="shard-task-01",
        round_id="round-000001",
        base_id=default_model_id(),
        shard=assign("round-000001", MINER.hotkey.ss58_address, 2, 8),
        hyper=InnerHyper(inner_steps=2),
        deadline_ms=deadline_ms,
    )


async def ask_everything(endpoint: Endpoint, deadline_s: float = 3.0) -> dict[str, object]:
    async with miner_http_client() as http:
        hotkey = endpoint.hostile.hotkey
        capacity, rollout, shard = await asyncio.gather(
            query_capacity(http, VALIDATOR, endpoint.axon, hotkey, deadline_s),
            query_rollout(
                http, VALIDATOR, endpoint.axon, hotkey, rollout_task(int(deadline_s * 1000))
            ),
            query_shard(http, VALIDATOR, endpoint.axon, hotkey, shard_task(int(deadline_s * 1000))),
        )
    return {"capacity": capacity, "rollout": rollout, "shard": shard}


@pytest.mark.parametrize("mode", ["gzip-stacked", "gzip-single"])
async def test_gzip_bombs_are_refused_unread_on_every_endpoint(hostile, mode) -> None:
    hostile.mode(mode)
    before = peak_rss_bytes()
    for name, outcome in (await ask_everything(hostile)).items():
        assert outcome.code is Outcome.ENCODED, (name, outcome)
        assert outcome.result is None and outcome.latency_s < 2.0
    # 256 MiB behind each bomb; nothing near that was ever held.
    assert peak_rss_bytes() - before < 2 * MAX_RESPONSE_BYTES


async def test_oversized_bodies_stop_at_the_cap(hostile) -> None:
    hostile.mode("oversized")
    before = peak_rss_bytes()
    for _ in range(2):  # streamed past the cap, then a declared 1 TB length
        for name, outcome in (await ask_everything(hostile)).items():
            assert outcome.code in (Outcome.TOO_LARGE, Outcome.TRANSPORT), (name, outcome)
            assert outcome.result is None
    assert peak_rss_bytes() - before < 2 * MAX_RESPONSE_BYTES


async def test_a_slow_drip_ends_at_the_deadline_on_every_endpoint(hostile) -> None:
    hostile.mode("drip")
    started = time.monotonic()
    outcomes = await ask_everything(hostile, deadline_s=2.0)
    took = time.monotonic() - started
    for name, outcome in outcomes.items():
        assert outcome.code is Outcome.TIMEOUT, (name, outcome)
        assert outcome.latency_s <= 2.0 + 0.5, (name, outcome.latency_s)
    assert took <= 2.0 + 0.5  # all three together: one deadline, not one per read


async def test_capacity_values_out_of_bounds_are_refused(hostile) -> None:
    hostile.mode("capacity")
    async with miner_http_client() as http:
        for variant in CAPACITY_VARIANTS:
            outcome = await query_capacity(http, VALIDATOR, hostile.axon, hostile.hostile.hotkey)
            assert outcome.code is Outcome.MALFORMED, (variant, outcome)
        hostile.mode("frames")
        fine = await query_capacity(http, VALIDATOR, hostile.axon, hostile.hostile.hotkey)
        assert fine.ok, fine
        other = await query_capacity(http, VALIDATOR, hostile.axon, VALIDATOR.hotkey.ss58_address)
        assert other.code is Outcome.MALFORMED and "hotkey" in other.detail


async def test_infinite_timings_are_refused_and_huge_ones_clamped(hostile) -> None:
    hostile.mode("timings")
    task = rollout_task(deadline_ms=30_000)
    async with miner_http_client() as http:
        answers = [
            await query_rollout(http, VALIDATOR, hostile.axon, hostile.hostile.hotkey, task)
            for _ in range(4)
        ]
    huge, *infinite = answers
    assert huge.ok and huge.result.timing.compute_ms == 3_600_000.0
    recorded = device_seconds(huge.result.timing.compute_ms / 1000, huge.latency_s)
    assert recorded == huge.latency_s < 30  # an hour claimed, the wall time recorded
    for outcome in infinite:
        assert outcome.code is Outcome.MALFORMED and "compute_ms" in outcome.detail, outcome


async def test_errors_and_absent_miners_are_outcomes_not_exceptions(hostile) -> None:
    hostile.mode("capacity")  # rollouts answer 503 in this mode
    async with miner_http_client() as http:
        busy = await query_rollout(
            http, VALIDATOR, hostile.axon, hostile.hostile.hotkey, rollout_task()
        )
        gone = await query_rollout(http, VALIDATOR, f"127.0.0.1:{free_port()}", "x", rollout_task())
    assert busy.code is Outcome.HTTP_ERROR and busy.status == 503 and busy.reason == "http: 503"
    assert gone.code is Outcome.TRANSPORT


def test_the_rollout_cap_fits_an_honest_answer_and_little_more() -> None:
    task = rollout_task()
    framed = task.model_copy(update={"return_frames": True})
    plain, with_frames = (
        rollout_cap(task, LATENT, RESOLUTION),
        rollout_cap(framed, LATENT, RESOLUTION),
    )
    assert 64 * 1024 < plain < with_frames < 1024 * 1024
    big = task.model_copy(update={"actions": [0] * 256})
    assert rollout_cap(big.model_copy(update={"return_frames": True}), (64, 64, 64), 1024) == (
        MAX_RESPONSE_BYTES
    )
