"""Block-production figures of the local chain's clock.

``extrinsics_per_s_ratio_4096`` compares the signed-extrinsic path on a
4,096-UID subnet (256 validators with full weight rows) with the same path on
a 256-UID subnet, same run: a chain whose per-block cost follows what the
block changed (one transfer here) gives a ratio near 1, one that rewrites
its whole state per block gives ~0.05 (issue 6's figure). Epochs are kept out
of that window (the subnet's tempo is raised for the measurement): their cost
grows with the subnet by nature and is what ``epoch_ms`` reports.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from wmnet.localnet.chain import MAX_ADVANCE_BLOCKS, Chain
from wmnet.localnet.codec import ComposedCall, SignedExtrinsic
from wmnet.localnet.keys import dev_keypair
from wmnet.localnet.params import FAST_BLOCK_TIME

# A tempo long enough that no epoch runs while extrinsics are timed.
QUIET_TEMPO = 60_000


def _started_subnet(chain: Chain, neurons: int, validators: int = 64, tempo: int = 10) -> None:
    """A started subnet with ``neurons`` UIDs and ``validators`` full weight rows."""
    from wmnet.localnet.calls import CallContext
    from wmnet.localnet.calls.subnets import register_network
    from wmnet.localnet.state import Neuron, stake_key

    alice = dev_keypair("//Alice").ss58_address
    with chain.lock:
        ctx = CallContext(state=chain.state, block=chain.head, origin=alice)
        register_network(ctx, hotkey=dev_keypair("//Alice//owner").ss58_address)
        subnet = chain.state.subnets[max(chain.state.subnets)]
        subnet.first_emission_block = chain.head
        subnet.hyperparams["Tempo"] = tempo
        subnet.hyperparams["MaxAllowedUids"] = max(neurons, 256)
        for uid in range(1, neurons):
            hotkey = dev_keypair(f"//bench//{uid}").ss58_address if uid < 8 else f"hk{uid}"
            subnet.neurons.append(Neuron(uid=uid, hotkey=hotkey, coldkey=alice, registered_at=0))
            chain.state.stakes[stake_key(hotkey, alice, subnet.netuid)] = 10**12
        row = [(j, 65_535) for j in range(neurons)]
        subnet.weights = {i: list(row) for i in range(1, min(neurons, validators + 1))}
    chain.snapshot()  # the setup happened outside any block: persist it


def _transfer(chain: Chain) -> SignedExtrinsic:
    alice, bob = dev_keypair("//Alice"), dev_keypair("//Bob")
    call = ComposedCall(
        "Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": 10**6}
    )
    nonce = chain.next_nonce(alice.ss58_address)
    payload = SignedExtrinsic.payload(call, alice.ss58_address, nonce, chain.state.genesis_hash)
    return SignedExtrinsic(
        call, alice.ss58_address, nonce, alice.sign(payload), chain.state.genesis_hash
    )


def _timed_submits(chain: Chain, submits: int) -> float:
    start = time.perf_counter()
    for _ in range(submits):
        assert chain.submit(_transfer(chain)).success
    return submits / (time.perf_counter() - start)


def signed_extrinsics_per_s(
    path: Path, neurons: int, validators: int, submits: int = 200, tempo: int = 10
) -> float:
    """Signed transfers per second, each sealing (and persisting) its own block."""
    chain = Chain(path)
    _started_subnet(chain, neurons, validators, tempo=tempo)
    _timed_submits(chain, 5)  # warm-up: first-call allocations, signature caches
    rate = _timed_submits(chain, submits)
    chain.store.close()  # no closing snapshot: not part of the figure
    return rate


def extrinsics_ratio(tmp: Path, rounds: int = 3, submits: int = 1024) -> tuple[float, float]:
    """Median signed extrinsics/s on a 256- and a 4,096-UID subnet (256 validators
    each, no epoch in the window), measured in alternating rounds so that load
    from other processes on a shared machine hits both alike. Each round spans
    two periodic snapshots (every 512 blocks), so their cost is amortised in."""
    chains = {}
    for n in (256, 4096):
        chains[n] = Chain(tmp / f"xt{n}.db")
        _started_subnet(chains[n], n, 256, tempo=QUIET_TEMPO)
        _timed_submits(chains[n], 5)
    rates: dict[int, list[float]] = {256: [], 4096: []}
    for _ in range(rounds):
        for n, chain in chains.items():
            rates[n].append(_timed_submits(chain, submits))
    for chain in chains.values():
        chain.store.close()
    return statistics.median(rates[256]), statistics.median(rates[4096])


def bench_clock(blocks: int = 2_000, neurons: int = 256, realtime_seconds: float = 2.0) -> dict:
    """Manual-clock throughput (blocks/s, persisted to SQLite, epochs included),
    signed extrinsics/s (and its 4,096 : 256 UID ratio), and how closely the
    real-time clock holds its 0.25 s slot."""
    with tempfile.TemporaryDirectory() as tmp:
        chain = Chain(Path(tmp) / "bench.db")
        _started_subnet(chain, neurons)
        start = time.perf_counter()
        remaining = blocks
        while remaining:  # advance() takes at most MAX_ADVANCE_BLOCKS a call
            step = min(MAX_ADVANCE_BLOCKS, remaining)
            chain.advance(step)
            remaining -= step
        elapsed = time.perf_counter() - start
        chain.store.close()
        per_s = signed_extrinsics_per_s(Path(tmp) / "xt.db", neurons, 64)
        small, large = extrinsics_ratio(Path(tmp))

        realtime = Chain(Path(tmp) / "rt.db", block_time=FAST_BLOCK_TIME)
        head = realtime.head
        realtime.start_clock()
        time.sleep(realtime_seconds)
        realtime.stop_clock()
        ticks = realtime.head - head
        realtime.close()
    return {
        "blocks_per_s": round(blocks / elapsed, 1),
        "blocks_per_s_uids": neurons,
        "signed_extrinsics_per_s": round(per_s, 1),
        "signed_extrinsics_per_s_256": round(small, 1),
        "signed_extrinsics_per_s_4096": round(large, 1),
        "extrinsics_per_s_ratio_4096": round(large / small, 3),
        "realtime_blocks_per_s": round(ticks / realtime_seconds, 2),
        "realtime_target_blocks_per_s": round(1 / FAST_BLOCK_TIME, 2),
    }
