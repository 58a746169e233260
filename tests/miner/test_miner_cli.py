"""`wmnet miner run` as an operator runs it: a subprocess against a served chain."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.localnet.served_thread import served
from wmnet.harness.setup import free_port
from wmnet.localnet.network import client_for

WMNET = [sys.executable, "-m", "wmnet.neurons.cli"]


def env_for(tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    env["BTCLI_TOKEN_SYMBOLS_CACHE"] = str(tmp_path / "symbols.json")
    env["BTCLI_CONFIG"] = str(tmp_path / "config.yml")
    return env


def miner_argv(url: str, netuid: int, port: int, hotkey: str = "miner0") -> list[str]:
    return [
        *WMNET, "miner", "run", "--wallet", "//Charlie", "--hotkey", hotkey,
        "--netuid", str(netuid), "--network", url, "--port", str(port), "--device", "cpu",
    ]  # fmt: skip


async def axon_of(url: str, netuid: int, hotkey: str) -> str | None:
    async with client_for(url) as client:
        graph = await client.subnets.metagraph(netuid)
        return graph.by_hotkey(hotkey).axon


@pytest.mark.slow
def test_miner_run_serves_publishes_and_stops_on_sigterm(network, tmp_path):
    port = free_port()
    log = tmp_path / "miner.log"
    with served(network.chain) as url, log.open("wb") as out:
        proc = subprocess.Popen(
            miner_argv(url, network.netuid, port),
            env=env_for(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            health = None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.3)
            assert health is not None and health.status_code == 200, log.read_text()
            assert health.json()["hotkey"] == network.keys.miner.hotkey.ss58_address
            hotkey = network.keys.miner.hotkey.ss58_address
            axon = asyncio.run(axon_of(url, network.netuid, hotkey))
            assert axon == f"127.0.0.1:{port}"
            # Unsigned requests are refused by a live server too.
            refused = httpx.post(f"http://127.0.0.1:{port}/v1/rollout", content=b"{}")
            assert refused.status_code == 401
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert "Traceback" not in text
    assert "//Charlie" not in text  # the dev URI is the secret seed of a dev key


async def _serving_rate_limit(url: str, netuid: int) -> int:
    async with client_for(url) as client:
        return int(await client.query(("SubtensorModule", "ServingRateLimit"), [netuid]))


def _start(argv: list[str], env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_healthy(port: int, proc: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the miner exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"no miner answered on port {port}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_a_second_start_never_moves_a_live_miners_axon(network, tmp_path):
    """A miner binds its port before it publishes, and does not take a live miner's
    axon unless told to: a second start on the busy port, or on another port, leaves
    the chain's axon as it was; --take-over moves it."""
    env = env_for(tmp_path)
    hotkey = network.keys.miner.hotkey.ss58_address
    first_port, second_port = free_port(), free_port()
    with served(network.chain) as url, (tmp_path / "first.log").open("wb") as log:
        # Other tests publish this hotkey's axon too: start past their ServingRateLimit.
        network.chain.advance(asyncio.run(_serving_rate_limit(url, network.netuid)) + 1)
        first = _start(miner_argv(url, network.netuid, first_port), env, log)
        take_over = None
        try:
            _wait_healthy(first_port, first)
            published = asyncio.run(axon_of(url, network.netuid, hotkey))
            assert published == f"127.0.0.1:{first_port}"

            busy = subprocess.run(
                miner_argv(url, network.netuid, first_port),
                env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert busy.returncode == 2, busy.stderr
            assert f"port {first_port}" in busy.stderr and "--port" in busy.stderr
            assert len(busy.stderr.strip().splitlines()) == 1, busy.stderr
            assert asyncio.run(axon_of(url, network.netuid, hotkey)) == published

            elsewhere = subprocess.run(
                miner_argv(url, network.netuid, second_port),
                env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert elsewhere.returncode == 2, elsewhere.stderr
            assert "live miner" in elsewhere.stderr and "--take-over" in elsewhere.stderr
            assert asyncio.run(axon_of(url, network.netuid, hotkey)) == published
            assert first.poll() is None, "the first miner keeps serving"

            # A deliberate move is still bound by the chain's ServingRateLimit.
            network.chain.advance(asyncio.run(_serving_rate_limit(url, network.netuid)) + 1)
            with (tmp_path / "second.log").open("wb") as log2:
                argv = [*miner_argv(url, network.netuid, second_port), "--take-over"]
                take_over = _start(argv, env, log2)
                _wait_healthy(second_port, take_over)
            moved = asyncio.run(axon_of(url, network.netuid, hotkey))
            assert moved == f"127.0.0.1:{second_port}"
        finally:
            _stop(first)
            if take_over is not None:
                _stop(take_over)


@pytest.mark.slow
def test_an_unregistered_hotkey_exits_with_a_reason(network, tmp_path):
    with served(network.chain) as url:
        proc = subprocess.run(
            miner_argv(url, network.netuid, free_port(), hotkey="nobody"),
            env=env_for(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2
    assert "not registered" in proc.stderr and "--register" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_workers_without_redis_are_refused(tmp_path):
    argv = [*miner_argv("http://127.0.0.1:1", 1, 8091), "--workers", "2"]
    env = env_for(tmp_path)
    env.pop("WMNET_REDIS_URL", None)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--redis-url" in proc.stderr and "Traceback" not in proc.stderr
