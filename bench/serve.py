"""Serve benchmark: authenticated rollouts per second through a real miner over HTTP.

One process: an in-process wmnet chain (a subnet with a staked, permitted validator and
a registered miner, set up through the SDK), the miner app under uvicorn on a loopback
port in a thread, and a load generator with ``concurrency`` clients, each signing every
request afresh (btauth/1) as the validator. Small task: a 2-frame seeded context and
``horizon`` steps, fp32.

Figures: ``rollouts_per_s`` (completed 200s over wall time), ``p50_ms``/``p99_ms``
(client-side latency), and ``auth_overhead_pct``: the miner's own measured time in its
gate (signature verify + authorization + token bucket; ``wmnet_miner_gate_seconds``)
as a share of its measured request time (``wmnet_miner_request_seconds``), over the
same timed requests. The load generator shares the CPU with the miner, so
``rollouts_per_s`` is a floor for a miner with the machine to itself.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import threading
import time
from typing import Any

import bittensor as bt
import httpx
import uvicorn

from wmnet.harness.wallets import load_wallet
from wmnet.localnet.backend import InProcessBackend
from wmnet.localnet.chain import Chain
from wmnet.localnet.substrate import LocalnetSubstrate
from wmnet.localnet.test_subnet import configure_for_tests
from wmnet.miner.app import create_app
from wmnet.miner.config import MinerConfig
from wmnet.miner.engine import RolloutEngine
from wmnet.protocol.auth import signed_post
from wmnet.protocol.rollout import RolloutTask, SeededContext
from wmnet.protocol.spec import ROLLOUT_PATH
from wmnet.worldmodel.checkpoint import default_model_id


def _client(chain: Chain) -> bt.Client:
    return bt.Client("local", substrate=LocalnetSubstrate(InProcessBackend(chain)))


async def _subnet(chain: Chain, validator: Any, miner: Any) -> int:
    owner, sudo = load_wallet("//Alice", "owner"), load_wallet("//Alice")
    async with _client(chain) as client:
        netuid = int((await client.execute(bt.RegisterSubnet(), owner)).data["netuid"])
        chain.advance(11)
        await client.execute(bt.StartCall(netuid=netuid), owner)
        await configure_for_tests(client, netuid, owner, sudo)
        for who in (validator, miner):
            result = await client.execute(bt.BurnedRegister(netuid=netuid), who)
            assert result.success, result.message
        hotkey = validator.hotkey.ss58_address
        stake = bt.AddStake(netuid=netuid, hotkey_ss58=hotkey, amount_tao=1000)
        assert (await client.execute(stake, validator)).success
        graph = await client.subnets.metagraph(netuid)
        chain.advance(graph.tempo + 1)
    return netuid


class _Server:
    """uvicorn on an ephemeral loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the miner did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()


async def _load(
    url: str, wallet: Any, receiver: str, n: int, concurrency: int, horizon: int, tag: str
) -> tuple[list[float], int, float]:
    """``n`` signed rollouts from ``concurrency`` clients: latencies (s), failures, wall s."""
    counter = iter(range(n))
    latencies: list[float] = []
    failures = 0

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal failures
        for i in counter:
            task = RolloutTask(
                task_id=f"bench-{tag}-{i:06d}",
                model_id=default_model_id(),
                context=SeededContext(seed=i, n_frames=2),
                actions=[(i + j) % 5 for j in range(horizon)],
            )
            start = time.perf_counter()
            body, headers = signed_post(wallet, ROLLOUT_PATH, task, receiver)
            response = await http.post(url + ROLLOUT_PATH, content=body, headers=headers)
            if response.status_code == 200:
                latencies.append(time.perf_counter() - start)
            else:
                failures += 1

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return latencies, failures, time.perf_counter() - start


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_serve(
    requests: int = 200,
    concurrency: int = 8,
    horizon: int = 16,
    max_batch: int = 8,
    device: str = "cpu",
    warmup: int = 16,
) -> dict[str, Any]:
    validator = load_wallet("//Bob", "validator")
    miner = load_wallet("//Charlie", "miner0")
    chain = Chain()
    try:
        netuid = asyncio.run(_subnet(chain, validator, miner))
        engine = RolloutEngine.load(precisions=("fp32",), device=device)
        config = MinerConfig(
            hotkey_ss58=miner.hotkey.ss58_address,
            netuid=netuid,
            device=device,
            max_batch=max_batch,
            queue_limit=max(64, 4 * concurrency),
            rate=1e6,  # measure the gate's cost, not its refusals
            burst=1e6,
        )
        app = create_app(config, engine=engine, client_factory=lambda: _client(chain))
        metrics = app.state.miner.metrics
        receiver = miner.hotkey.ss58_address
        with _Server(app) as url:
            asyncio.run(_load(url, validator, receiver, warmup, concurrency, horizon, "warm"))
            gate_n0, gate_s0 = metrics.gate_seconds.total
            req_n0, req_s0 = metrics.request_seconds.total
            latencies, failures, wall = asyncio.run(
                _load(url, validator, receiver, requests, concurrency, horizon, "timed")
            )
            gate_n, gate_s = metrics.gate_seconds.total
            req_n, req_s = metrics.request_seconds.total
            batches = metrics.batches.value()
            rollouts = metrics.rollouts.value()
    finally:
        chain.close()
    gate_s, req_s = gate_s - gate_s0, req_s - req_s0
    return {
        "requests": requests,
        "concurrency": concurrency,
        "horizon": horizon,
        "max_batch": max_batch,
        "device": engine.device_label,
        "ok": len(latencies),
        "failures": failures,
        "rollouts_per_s": round(len(latencies) / wall, 2),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * _pct(latencies, 0.99), 1) if latencies else None,
        "gate_ms_mean": round(1000 * gate_s / max(1, gate_n - gate_n0), 3),
        "server_request_ms_mean": round(1000 * req_s / max(1, req_n - req_n0), 2),
        "auth_overhead_pct": round(100 * gate_s / req_s, 3) if req_s > 0 else None,
        "mean_batch_size": round(rollouts / batches, 2) if batches else None,
    }
