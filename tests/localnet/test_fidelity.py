"""Admin setters, past-block reads and SDK reads, as subtensor answers them."""

from __future__ import annotations

import bittensor as bt
import pytest

from tests.localnet.conftest import make_subnet, wallet
from tests.localnet.helpers import transfer
from wmnet.localnet import chain as chain_module
from wmnet.localnet.calls.admin import MIN_ALPHA_U16
from wmnet.localnet.params import (
    NETWORK_LOCK_REDUCTION_INTERVAL,
    NETWORK_MIN_LOCK_RAO,
    START_CALL_DELAY,
)


async def _root(client, setter: str, **params) -> bt.ExtrinsicResult:
    inner = await client.compose(bt.calls.Call("AdminUtils", setter, dict(params)))
    return await client.submit_call(bt.calls.Sudo.sudo(call=inner), wallet("//Alice"))


async def test_setters_refuse_a_misspelt_parameter(client, chain):
    subnet = await make_subnet(client, chain)
    kappa = chain.state.subnets[subnet.netuid].hp("Kappa")
    misspelt = bt.calls.Call("AdminUtils", "sudo_set_kappa", {"netuid": subnet.netuid, "kapa": 7})
    result = await _root(client, "sudo_set_kappa", netuid=subnet.netuid, kapa=7)
    assert not result.success and "kapa" in result.message
    # Extra parameters are refused too, even next to the right one.
    result = await client.submit_call(
        bt.calls.Call(
            "AdminUtils", "sudo_set_kappa", {"netuid": subnet.netuid, "kappa": 7, "pad": "x"}
        ),
        wallet("//Alice"),
    )
    assert not result.success and "pad" in result.message
    assert chain.state.subnets[subnet.netuid].hp("Kappa") == kappa
    assert misspelt.params["kapa"] == 7
    assert (await _root(client, "sudo_set_kappa", netuid=subnet.netuid, kappa=7)).success
    assert chain.state.subnets[subnet.netuid].hp("Kappa") == 7


async def test_alpha_values_follow_subtensor_checks(client, chain):
    subnet = await make_subnet(client, chain)
    n = subnet.netuid

    async def set_alpha(low: int, high: int) -> bt.ExtrinsicResult:
        call = bt.calls.AdminUtils.sudo_set_alpha_values(netuid=n, alpha_low=low, alpha_high=high)
        return await client.submit_call(call, subnet.owner)

    def error(result: bt.ExtrinsicResult) -> str | None:
        assert not result.success
        return result.error.name

    assert error(await set_alpha(20_000, 40_000)) == "LiquidAlphaDisabled"
    on = bt.SetHyperparameter(netuid=n, name="liquid_alpha_enabled", value=True)
    assert (await client.execute(on, subnet.owner)).success
    assert MIN_ALPHA_U16 == 1638
    assert error(await set_alpha(1637, 40_000)) == "AlphaLowOutOfRange"
    assert error(await set_alpha(1638, 1637)) == "AlphaHighTooLow"
    assert error(await set_alpha(40_001, 40_000)) == "AlphaLowOutOfRange"
    assert error(await set_alpha(20_000, 65_536)) is None  # u16 overflow: refused by the pool
    assert (await set_alpha(1638, 1638)).success
    assert [chain.state.subnets[n].hp(k) for k in ("AlphaLow", "AlphaHigh")] == [1638, 1638]


async def test_setter_preconditions(client, chain):
    subnet = await make_subnet(client, chain)
    n = subnet.netuid

    async def owner_sets(name: str, **params) -> bt.ExtrinsicResult:
        return await client.submit_call(
            bt.calls.Call("AdminUtils", name, {"netuid": n, **params}), subnet.owner
        )

    result = await owner_sets("sudo_set_bonds_moving_average", bonds_moving_average=975_001)
    assert result.error.name == "BondsMovingAverageMaxReached"
    result = await owner_sets("sudo_set_max_allowed_uids", max_allowed_uids=0)
    assert result.error.name == "MaxAllowedUIdsLessThanCurrentUIds"
    result = await _root(
        client, "sudo_set_max_allowed_validators", netuid=n, max_allowed_validators=300
    )
    assert result.error.name == "MaxValidatorsLargerThanMaxUIds"
    result = await owner_sets("sudo_set_alpha_sigmoid_steepness", steepness=-5)
    assert result.error.name == "NegativeSigmoidSteepness"
    assert (await _root(client, "sudo_set_alpha_sigmoid_steepness", netuid=n, steepness=-5)).success


async def test_reads_at_a_past_block_answer_from_that_block(client, chain):
    bob = wallet("//Bob").coldkey.ss58_address
    old_block = await client.block()
    before = (await client.query(("System", "Account"), [bob]))["data"]["free"]
    assert chain.submit(transfer(chain, 7 * 10**9)).success
    after = (await client.query(("System", "Account"), [bob]))["data"]["free"]
    assert after == before + 7 * 10**9
    # The SDK's block-pinned snapshot reads the state of that block, not the head.
    view = await client.at(old_block)
    assert (await view.query(("System", "Account"), [bob]))["data"]["free"] == before
    head = await client.at()
    assert (await head.query(("System", "Account"), [bob]))["data"]["free"] == after
    rows = await view.query_map(("SubtensorModule", "NetworksAdded"))
    assert rows == []


async def test_reads_beyond_the_kept_history_name_the_block(client, chain, monkeypatch):
    monkeypatch.setattr(chain_module, "HISTORY_BLOCKS", 5)
    chain.advance(8)
    view = await client.at(0)
    with pytest.raises(bt.ChainError, match="block 0 is older than the 5 blocks"):
        await view.query(("System", "Number"), [])
    substrate = client._substrate  # the protocol object behind the client
    with pytest.raises(bt.ChainError, match="no block with hash 0xabc"):
        await substrate.query("System", "Number", [], block_hash="0xabc")


async def test_sdk_subnet_and_epoch_reads(client, chain):
    assert (await client.subnets.subnet_registration_cost()).rao == NETWORK_MIN_LOCK_RAO
    subnet = await make_subnet(client, chain)
    # The lock cost doubles after a registration and decays linearly, as on subtensor.
    since = chain.head - chain.state.subnets[subnet.netuid].registered_at
    decay = NETWORK_MIN_LOCK_RAO // NETWORK_LOCK_REDUCTION_INTERVAL * since
    cost = await client.subnets.subnet_registration_cost()
    assert cost.rao == 2 * NETWORK_MIN_LOCK_RAO - decay
    [info] = await client.subnets.all()
    assert (info.netuid, info.tempo, info.neuron_count) == (subnet.netuid, 10, 1)
    schedule = await client.subnets.subnet_start_schedule(subnet.netuid)
    registered = chain.state.subnets[subnet.netuid].registered_at
    assert schedule["earliest_start_block"] == registered + START_CALL_DELAY
    status = await client.epochs.epoch_status(subnet.netuid)
    assert status["tempo"] == 10 and status["block"] == chain.head
    next_start = status["next_epoch_start_block"]
    assert 0 <= next_start - chain.head <= 10
    chain.advance(next_start - chain.head)
    # The epoch ran in exactly the block the read announced.
    assert chain.state.subnets[subnet.netuid].last_epoch_block == next_start


async def test_unknown_items_are_named_once(client):
    with pytest.raises(bt.ChainError) as caught:
        await client.query(("SubtensorModule", "NoSuchItem"), [1])
    message = str(caught.value)
    assert message.count("does not model") == 1 and "SubtensorModule.NoSuchItem" in message


def test_every_generic_setter_takes_netuid_and_one_value():
    from wmnet.localnet.calls.schema import schema_for
    from wmnet.localnet.params import ADMIN_SETTERS

    for setter in ADMIN_SETTERS:
        assert list(schema_for("AdminUtils", setter))[0] == "netuid", setter
        assert len(schema_for("AdminUtils", setter)) == 2, setter
