"""Fixtures: an in-process chain driven through the real bittensor SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import bittensor as bt
import pytest

from tests.localnet.epoch_paths import PATHS
from wmnet.harness.wallets import DevWallet, load_wallet
from wmnet.localnet.backend import InProcessBackend
from wmnet.localnet.chain import Chain
from wmnet.localnet.substrate import LocalnetSubstrate
from wmnet.localnet.test_subnet import configure_for_tests


@pytest.fixture(params=PATHS)
def kind(request: pytest.FixtureRequest) -> str:
    """Each test asking for ``kind`` runs on both epoch paths (direct and on a chain)."""
    return request.param


@pytest.fixture
def chain() -> Chain:
    chain = Chain()
    yield chain
    chain.close()


@pytest.fixture
async def client(chain: Chain) -> AsyncIterator[bt.Client]:
    async with bt.Client("local", substrate=LocalnetSubstrate(InProcessBackend(chain))) as c:
        yield c


def wallet(cold: str, hot: str = "default") -> DevWallet:
    return load_wallet(cold, hot)


@dataclass
class TestSubnet:
    netuid: int
    owner: DevWallet


async def make_subnet(client: bt.Client, chain: Chain, *, test_settings: bool = True) -> TestSubnet:
    """Create and start a subnet the way a test subnet needs it on any chain."""
    owner = wallet("//Alice", "owner")
    result = await client.execute(bt.RegisterSubnet(), owner)
    assert result.success, result.message
    netuid = result.data["netuid"]
    chain.advance(10)
    result = await client.execute(bt.StartCall(netuid=netuid), owner)
    assert result.success, result.message
    if test_settings:
        await configure_for_tests(client, netuid, owner, wallet("//Alice"))
    return TestSubnet(netuid, owner)


async def sudo(client: bt.Client, setter: str, **params: object) -> bt.ExtrinsicResult:
    inner = await client.compose(bt.calls.Call("AdminUtils", setter, dict(params)))
    result = await client.submit_call(bt.calls.Sudo.sudo(call=inner), wallet("//Alice"))
    assert result.success, result.message
    return result


async def register_raw(client: bt.Client, netuid: int, w: DevWallet) -> bt.ExtrinsicResult:
    """burned_register as a plain (unshielded) extrinsic."""
    call = bt.calls.SubtensorModule.burned_register(netuid=netuid, hotkey=w.hotkey.ss58_address)
    return await client.submit_call(call, w)


async def set_weights_raw(
    client: bt.Client,
    netuid: int,
    w: DevWallet,
    uids: list[int],
    values: list[int],
    version_key: int = 0,
) -> bt.ExtrinsicResult:
    """set_mechanism_weights straight to the chain, past the SDK's client-side conforming."""
    call = bt.calls.SubtensorModule.set_mechanism_weights(
        netuid=netuid, mecid=0, dests=uids, weights=values, version_key=version_key
    )
    return await client.submit_call(call, w, signer="hotkey")
