"""A subnet on an in-process chain with a permitted validator and registered miners."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import bittensor as bt

from tests.localnet.conftest import make_subnet
from wmnet.localnet.backend import InProcessBackend
from wmnet.localnet.chain import Chain
from wmnet.localnet.substrate import LocalnetSubstrate


def client_for(chain: Chain) -> bt.Client:
    """The real SDK client on ``chain``, in process."""
    return bt.Client("local", substrate=LocalnetSubstrate(InProcessBackend(chain)))


async def permitted_subnet(
    chain: Chain, validator: Any, miners: Iterable[Any]
) -> tuple[int, dict[str, int]]:
    """A new subnet with ``validator`` and ``miners`` registered, the validator staked
    and past its first tempo (so it holds a permit); the netuid and ``{hotkey: uid}``."""
    async with client_for(chain) as client:
        netuid = (await make_subnet(client, chain)).netuid
        for who in (validator, *miners):
            result = await client.execute(bt.BurnedRegister(netuid=netuid), who)
            assert result.success, result.message
        stake = bt.AddStake(
            netuid=netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_tao=1000
        )
        assert (await client.execute(stake, validator)).success
        graph = await client.subnets.metagraph(netuid)
        chain.advance(graph.tempo + 1)  # the validator's permit
        graph = await client.subnets.metagraph(netuid)
        return netuid, {n.hotkey: n.uid for n in graph.neurons}
