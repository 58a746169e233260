"""JSON-RPC figures: what a client pays to reach the chain through the SDK over ws.

``rpc_calls_per_s``: storage reads (``client.query``, one ``state_getStorageAt``
each) through ``bt.Client("ws://…")`` against the served chain, beside
``rpc_calls_per_s_inprocess``: the same reads through wmnet's in-process
``LocalnetSubstrate``, same chain, same run. ``ws_extrinsics_per_s``: signed
transfers through the SDK over ws (sign, ``author_submitAndWatchExtrinsic``, decode
and verify, a block sealed per submission on a manual-clock chain, the receipt
read back from the block's events), beside ``ws_extrinsics_per_s_inprocess``, the
SDK's submissions through ``LocalnetSubstrate`` in-process. Rounds alternate the
two arms; the figures are medians.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import bittensor as bt
from bittensor_core import Keypair

from wmnet.bench.clock import QUIET_TEMPO, _started_subnet
from wmnet.localnet.backend import InProcessBackend
from wmnet.localnet.chain import Chain
from wmnet.localnet.rpc.server import serve_in_thread
from wmnet.localnet.substrate import LocalnetSubstrate


class _Dev:
    def __init__(self, uri: str):
        self.coldkey = self.coldkeypub = Keypair.create_from_uri(uri)
        self.hotkey = self.hotkeypub = Keypair.create_from_uri(f"{uri}//default")


async def _reads(client: bt.Client, netuid: int, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await client.query(("SubtensorModule", "Tempo"), [netuid])
    return n / (time.perf_counter() - start)


async def _submits(client: bt.Client, n: int, sender: str) -> float:
    """``n`` transfers from ``sender``; each arm has its own sender, as the SDK caches
    nonces per client."""
    signer, dest = _Dev(sender), Keypair.create_from_uri("//Charlie").ss58_address
    start = time.perf_counter()
    for _ in range(n):
        call = bt.calls.Balances.transfer_keep_alive(dest=dest, value=1000)
        result = await client.submit_call(call, signer)
        assert result.success, result.message
    return n / (time.perf_counter() - start)


async def _measure(url: str, chain: Chain, netuid: int, rounds: int, reads: int, submits: int):
    figures: dict[str, list[float]] = {k: [] for k in ("ws_r", "ip_r", "ws_x", "ip_x")}
    inprocess = bt.Client("local", substrate=LocalnetSubstrate(InProcessBackend(chain)))
    async with bt.Client(url) as ws, inprocess as ip:
        await _reads(ws, netuid, 20)  # warm-up: metadata, codec, connections
        await _submits(ws, 2, "//Alice")
        await _submits(ip, 2, "//Bob")
        for _ in range(rounds):
            figures["ws_r"].append(await _reads(ws, netuid, reads))
            figures["ip_r"].append(await _reads(ip, netuid, reads))
            figures["ws_x"].append(await _submits(ws, submits, "//Alice"))
            figures["ip_x"].append(await _submits(ip, submits, "//Bob"))
    return {k: statistics.median(v) for k, v in figures.items()}


def bench_rpc(neurons: int = 256, rounds: int = 3, reads: int = 300, submits: int = 60) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        chain = Chain(Path(tmp) / "rpc.db")  # manual clock: a block per submission
        _started_subnet(chain, neurons, tempo=QUIET_TEMPO)
        netuid = max(chain.state.subnets)
        try:
            with serve_in_thread(chain) as url:
                got = asyncio.run(_measure(url, chain, netuid, rounds, reads, submits))
        finally:
            chain.close()
    return {
        "rpc_calls_per_s": round(got["ws_r"], 1),
        "rpc_calls_per_s_inprocess": round(got["ip_r"], 1),
        "ws_extrinsics_per_s": round(got["ws_x"], 1),
        "ws_extrinsics_per_s_inprocess": round(got["ip_x"], 1),
    }
