"""Block-production figures of the local chain's clock."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from wmnet.localnet.chain import Chain
from wmnet.localnet.codec import SignedExtrinsic
from wmnet.localnet.keys import dev_keypair
from wmnet.localnet.params import FAST_BLOCK_TIME


def _started_subnet(chain: Chain, neurons: int) -> None:
    """A started subnet with ``neurons`` UIDs, so blocks include real epochs."""
    from wmnet.localnet.calls import CallContext
    from wmnet.localnet.calls.subnets import register_network
    from wmnet.localnet.state import Neuron, stake_key

    alice = dev_keypair("//Alice").ss58_address
    with chain.lock:
        ctx = CallContext(state=chain.state, block=chain.head, origin=alice)
        register_network(ctx, hotkey=dev_keypair("//Alice//owner").ss58_address)
        subnet = chain.state.subnets[max(chain.state.subnets)]
        subnet.first_emission_block = chain.head
        for uid in range(1, neurons):
            hotkey = dev_keypair(f"//bench//{uid}").ss58_address if uid < 8 else f"hk{uid}"
            subnet.neurons.append(Neuron(uid=uid, hotkey=hotkey, coldkey=alice, registered_at=0))
            chain.state.stakes[stake_key(hotkey, alice, subnet.netuid)] = 10**12
        subnet.weights = {
            i: [(j, 65_535) for j in range(neurons)] for i in range(1, min(neurons, 65))
        }


def bench_clock(blocks: int = 2_000, neurons: int = 256, realtime_seconds: float = 2.0) -> dict:
    """Manual-clock throughput (blocks/s, persisted to SQLite, epochs included)
    and how closely the real-time clock holds its 0.25 s slot."""
    with tempfile.TemporaryDirectory() as tmp:
        chain = Chain(Path(tmp) / "bench.db")
        _started_subnet(chain, neurons)
        start = time.perf_counter()
        chain.advance(blocks)
        elapsed = time.perf_counter() - start
        # One signed transfer per sealed block: the submit path's cost.
        alice, bob = dev_keypair("//Alice"), dev_keypair("//Bob")
        from wmnet.localnet.codec import ComposedCall

        call = ComposedCall(
            "Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": 10**6}
        )
        submits = 200
        t0 = time.perf_counter()
        for _ in range(submits):
            nonce = chain.next_nonce(alice.ss58_address)
            payload = SignedExtrinsic.payload(
                call, alice.ss58_address, nonce, chain.state.genesis_hash
            )
            xt = SignedExtrinsic(
                call, alice.ss58_address, nonce, alice.sign(payload), chain.state.genesis_hash
            )
            assert chain.submit(xt).success
        submit_elapsed = time.perf_counter() - t0
        chain.close()

        realtime = Chain(Path(tmp) / "rt.db", block_time=FAST_BLOCK_TIME)
        head = realtime.head
        realtime.start_clock()
        time.sleep(realtime_seconds)
        realtime.stop_clock()
        produced = realtime.head - head
        realtime.close()
    return {
        "blocks_per_s": round(blocks / elapsed, 1),
        "blocks_per_s_uids": neurons,
        "signed_extrinsics_per_s": round(submits / submit_elapsed, 1),
        "realtime_blocks_per_s": round(produced / realtime_seconds, 2),
        "realtime_target_blocks_per_s": round(1 / FAST_BLOCK_TIME, 2),
    }
