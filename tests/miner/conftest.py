"""A real in-process wmnet chain (through the SDK) with the callers a miner meets, and
apps built on it.

One chain per session (set-up costs a few seconds): a subnet with
* ``validator``: registered, 1000 TAO staked, a permit after the first epoch;
* ``small``: registered, 1 TAO staked, a permit too, but below the tests' min stake;
* ``idle``: registered with no stake, so no permit;
* ``miner``: the miner's own hotkey (the receiver every request is signed for);
* ``stranger``: never registered.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import bittensor as bt
import pytest
from fastapi.testclient import TestClient

from tests.localnet.conftest import make_subnet
from wmnet.harness.wallets import DevWallet, load_wallet
from wmnet.localnet.backend import InProcessBackend
from wmnet.localnet.chain import Chain
from wmnet.localnet.substrate import LocalnetSubstrate
from wmnet.miner.app import create_app
from wmnet.miner.config import MinerConfig
from wmnet.miner.engine import RolloutEngine

MIN_STAKE_TAO = 100.0


@dataclass(frozen=True)
class Keys:
    validator: DevWallet
    small: DevWallet
    idle: DevWallet
    miner: DevWallet
    stranger: DevWallet


@dataclass
class Network:
    chain: Chain
    netuid: int
    keys: Keys

    def client_factory(self) -> Callable[[], bt.Client]:
        chain = self.chain
        return lambda: bt.Client("local", substrate=LocalnetSubstrate(InProcessBackend(chain)))


async def _setup(chain: Chain, keys: Keys) -> int:
    async with bt.Client("local", substrate=LocalnetSubstrate(InProcessBackend(chain))) as client:
        netuid = (await make_subnet(client, chain)).netuid
        register = bt.BurnedRegister(netuid=netuid)
        for who in (keys.validator, keys.small, keys.idle, keys.miner):
            result = await client.execute(register, who)
            assert result.success, result.message
        for who, tao in ((keys.validator, 1000), (keys.small, 1)):
            stake = bt.AddStake(netuid=netuid, hotkey_ss58=who.hotkey.ss58_address, amount_tao=tao)
            result = await client.execute(stake, who)
            assert result.success, result.message
        graph = await client.subnets.metagraph(netuid)
        chain.advance(graph.tempo + 1)  # permits come with the next epoch
        graph = await client.subnets.metagraph(netuid)
        by = {n.hotkey: n for n in graph.neurons}
        assert by[keys.validator.hotkey.ss58_address].validator_permit
        assert by[keys.small.hotkey.ss58_address].validator_permit
        assert not by[keys.idle.hotkey.ss58_address].validator_permit
        return netuid


@pytest.fixture(scope="session")
def network() -> Iterator[Network]:
    chain = Chain()
    keys = Keys(
        validator=load_wallet("//Bob", "validator"),
        small=load_wallet("//Bob", "small"),
        idle=load_wallet("//Charlie", "idle"),
        miner=load_wallet("//Charlie", "miner0"),
        stranger=load_wallet("//Eve", "stranger"),
    )
    netuid = asyncio.run(_setup(chain, keys))
    yield Network(chain, netuid, keys)
    chain.close()


@pytest.fixture(scope="session")
def engine() -> RolloutEngine:
    # WMNET_TEST_DEVICE=cuda runs the same tests on a GPU box.
    device = os.environ.get("WMNET_TEST_DEVICE", "cpu")
    return RolloutEngine.load(precisions=("fp32", "int8"), device=device)


@pytest.fixture
def config(network: Network) -> MinerConfig:
    return MinerConfig(
        hotkey_ss58=network.keys.miner.hotkey.ss58_address,
        netuid=network.netuid,
        precisions=("fp32", "int8"),
        min_stake=MIN_STAKE_TAO,
        metagraph_poll_s=0.2,
    )


@pytest.fixture
def serve(network: Network, engine: RolloutEngine) -> Callable[..., Any]:
    """``with serve(config, **create_app_kwargs) as http:`` a TestClient on a live app."""

    @contextmanager
    def run(config: MinerConfig, **kwargs: Any) -> Iterator[TestClient]:
        kwargs.setdefault("engine", engine)
        kwargs.setdefault("client_factory", network.client_factory())
        kwargs.setdefault("warmup", False)
        app = create_app(config, **kwargs)
        with TestClient(app, raise_server_exceptions=False) as http:
            yield http

    return run
