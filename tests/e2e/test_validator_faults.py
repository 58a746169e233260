"""Faults the validator loop must ride out: a weights rate-limit refusal, a chain
server restart, and a miner killed mid-request. Real processes on loopback: a served
chain and two honest miners; the validator loop runs in the test's event loop so its
status can be read."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import bittensor as bt
import pytest

from wmnet.harness.local_subnet import LocalSubnet, MinerSpec
from wmnet.harness.processes import ProcessGroup
from wmnet.harness.wallets import load_wallet
from wmnet.localnet.network import client_for
from wmnet.validator.config import ValidatorConfig
from wmnet.validator.loop import ValidatorLoop
from wmnet.validator.tasks import TaskPolicy
from wmnet.validator.usage import MemoryUsageSink
from wmnet.worldmodel.checkpoint import default_model_id, load_default

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def subnet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    with ProcessGroup(tmp / "logs", grace_s=3.0) as group:
        # The private API: it reports a chain that is down at once. The SDK's
        # WebSocket session rides out a 2 s outage by reconnecting and resending,
        # so over ws the restart test would see no error at all (the rollout e2e
        # runs over ws).
        net = LocalSubnet(group, tmp, transport="http")
        net.start_chain()
        net.create_subnet(2)
        net.start_miners([MinerSpec(), MinerSpec()])
        yield net


@pytest.fixture(scope="module")
def model():
    return load_default().eval()


def _loop(net: LocalSubnet, model, tmp_path, horizons=(8,)) -> ValidatorLoop:
    config = ValidatorConfig(
        netuid=net.netuid,
        network=net.chain_url,
        round_interval_s=0.2,
        chain_retry_s=0.3,
        policy=TaskPolicy(horizons=horizons),
        state_path=tmp_path / "state.json",
        usage_path=tmp_path / "usage.jsonl",
        seed=0,
    )
    wallet = load_wallet("//Bob", "validator")
    return ValidatorLoop(config, wallet, model, default_model_id(), MemoryUsageSink())


async def _run_until(loop: ValidatorLoop, done, timeout_s: float, net: LocalSubnet) -> bool:
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            assert not task.done(), f"the validator loop ended: {task.exception()!r}"
            net.check_alive()
            if done():
                return True
            await asyncio.sleep(0.2)
        return False
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


def _verified(loop: ValidatorLoop, uid: int) -> list[bool]:
    return [e.verified for e in loop.usage.events if e.miner_uid == uid]


async def _sudo_rate_limit(net: LocalSubnet, limit: int) -> None:
    async with client_for(net.chain_url) as client:
        inner = await client.compose(
            bt.calls.AdminUtils.sudo_set_weights_set_rate_limit(
                netuid=net.netuid, weights_set_rate_limit=limit
            )
        )
        result = await client.submit_call(bt.calls.Sudo.sudo(call=inner), load_wallet("//Alice"))
        assert result.success, result.message


async def test_a_rate_limit_refusal_does_not_stop_the_loop(subnet, model, tmp_path):
    loop = _loop(subnet, model, tmp_path)
    await _sudo_rate_limit(subnet, 10_000)
    try:
        rounds_at_refusal: list[int] = []

        def refused_then_more_rounds() -> bool:
            refused = any(not w.ok and "rate" in w.message.lower() for w in loop.status.weights)
            if refused and not rounds_at_refusal:
                rounds_at_refusal.append(loop.status.rounds)
            return refused and loop.status.rounds >= rounds_at_refusal[0] + 3

        assert await _run_until(loop, refused_then_more_rounds, 120, subnet), loop.status
        assert any(w.ok for w in loop.status.weights), "the first weights went through"
    finally:
        await _sudo_rate_limit(subnet, 0)


async def test_a_chain_restart_does_not_stop_the_loop(subnet, model, tmp_path):
    loop = _loop(subnet, model, tmp_path)
    uids = await asyncio.to_thread(subnet.miner_uids)
    assert await _run_until(loop, lambda: any(_verified(loop, uids[0])), 120, subnet)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await asyncio.sleep(0.5)
        ports = await asyncio.to_thread(subnet.stop_chain)
        await asyncio.sleep(2.0)  # the loop runs on while no chain answers
        errors_seen = loop.status.chain_errors
        subnet.start_chain(ports=ports)  # from this (main) thread: see LocalSubnet.stop_chain
        rounds = loop.status.rounds
        deadline = time.monotonic() + 60
        while loop.status.rounds < rounds + 3 and time.monotonic() < deadline:
            assert not task.done(), f"the loop ended: {task.exception()!r}"
            await asyncio.sleep(0.2)
        assert loop.status.rounds >= rounds + 3, "no rounds after the chain came back"
        assert errors_seen >= 1, "the loop never noticed the chain was down"
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def test_a_miner_killed_mid_request_does_not_stop_the_loop(subnet, model, tmp_path):
    # Long rollouts keep requests in flight most of the time, so the kill lands mid-request.
    loop = _loop(subnet, model, tmp_path, horizons=(128,))
    uids = await asyncio.to_thread(subnet.miner_uids)
    assert await _run_until(loop, lambda: any(_verified(loop, uids[1])), 180, subnet)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    victim = subnet.miners[1]
    try:
        await asyncio.sleep(0.4)
        os.killpg(victim.popen.pid, signal.SIGKILL)
        victim.popen.wait(timeout=10)
        subnet.group.children.remove(victim)  # expected dead: check_alive must not object
        rounds = loop.status.rounds
        deadline = time.monotonic() + 90
        while loop.status.rounds < rounds + 3 and time.monotonic() < deadline:
            assert not task.done(), f"the loop ended: {task.exception()!r}"
            await asyncio.sleep(0.2)
        assert loop.status.rounds >= rounds + 3
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
    after = [e for e in loop.usage.events if e.miner_uid == uids[1]][-2:]
    assert after and not any(e.verified for e in after)
    assert all(e.reason.startswith(("transport", "timeout")) for e in after), after
    assert _verified(loop, uids[0])[-1], "the live miner is still verified"
