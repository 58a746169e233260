"""The same lifecycle against a real subtensor node (Docker), when one is given.

Run a node with
``docker run --rm -p 9944:9944 -p 9945:9945 ghcr.io/opentensor/subtensor-localnet:devnet``
and set ``WMNET_SUBTENSOR_ENDPOINT=ws://127.0.0.1:9944``.
"""

from __future__ import annotations

import os

import bittensor as bt
import pytest

from tests.localnet.conftest import wallet
from wmnet.localnet.test_subnet import configure_for_tests

ENDPOINT = os.environ.get("WMNET_SUBTENSOR_ENDPOINT")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.asyncio,
    pytest.mark.skipif(
        not ENDPOINT, reason="set WMNET_SUBTENSOR_ENDPOINT=ws://… to run against a real subtensor"
    ),
]


async def _advance(client: bt.Client, blocks: int) -> None:
    await client.wait_for_block(await client.block() + blocks, timeout=blocks * 13 + 30)


async def test_lifecycle_on_real_subtensor():
    async with bt.Client(ENDPOINT) as client:
        owner = wallet("//Alice", "owner")
        result = await client.execute(bt.RegisterSubnet(), owner)
        assert result.success, result.message
        netuid = result.data["netuid"]
        await _advance(client, 11)
        assert (await client.execute(bt.StartCall(netuid=netuid), owner)).success
        await configure_for_tests(client, netuid, owner, wallet("//Alice"))

        validator = wallet("//Bob", "validator")
        miners = [wallet("//Charlie", f"miner{i}") for i in range(3)]
        assert (await client.execute(bt.BurnedRegister(netuid=netuid), validator)).success
        for miner in miners:
            call = bt.calls.SubtensorModule.burned_register(
                netuid=netuid, hotkey=miner.hotkey.ss58_address
            )
            assert (await client.submit_call(call, miner)).success
        stake = bt.AddStake(
            netuid=netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_tao=1000
        )
        assert (await client.execute(stake, validator)).success
        await client.wait_for_epoch(netuid, timeout=600)

        graph = await client.subnets.metagraph(netuid)
        v_uid = graph.by_hotkey(validator.hotkey.ss58_address).uid
        miner_uids = [graph.by_hotkey(m.hotkey.ss58_address).uid for m in miners]
        assert graph.neurons[v_uid].validator_permit
        weights = bt.SetWeights(netuid=netuid, uids=miner_uids, weights=[0.5, 0.3, 0.2])
        assert (await client.execute(weights, validator)).success
        await client.wait_for_epoch(netuid, timeout=600)
        await client.wait_for_epoch(netuid, timeout=600)
        after = await client.subnets.metagraph(netuid)
        incentives = [after.neurons[u].incentive for u in miner_uids]
        assert incentives == pytest.approx([0.5, 0.3, 0.2], abs=2e-3)
        assert after.neurons[v_uid].dividends > 0.5
