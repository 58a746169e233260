"""Activity cutoff as current subtensor derives it: ActivityCutoffFactorMilli per-mille of
the tempo, at least one block, computed from the tempo in force wherever it is used."""

from __future__ import annotations

import bittensor as bt
import pytest

from tests.localnet.conftest import make_subnet, sudo, wallet
from tests.localnet.epoch_paths import Hyper, assert_dust_only, open_path
from wmnet.localnet.params import activity_cutoff_blocks


def test_cutoff_is_a_factor_of_the_tempo_never_below_one_block() -> None:
    assert activity_cutoff_blocks(13_889, 360) == 5_000  # the legacy cutoff at tempo 360
    assert activity_cutoff_blocks(13_889, 10) == 138
    assert activity_cutoff_blocks(50_000, 99) == 4_950
    assert activity_cutoff_blocks(1_000, 0) == 1  # tempo 0 would give 0: floored at 1


async def hyper(client: bt.Client, netuid: int) -> tuple[int, int]:
    hp = await client.subnets.subnet_hyperparameters(netuid)
    return hp["activity_cutoff"], hp["activity_cutoff_factor"]


async def test_factor_set_by_the_owner_and_cutoff_following_the_tempo(client, chain) -> None:
    subnet = await make_subnet(client, chain)
    n = subnet.netuid
    assert await hyper(client, n) == (138, 13_889)  # tempo 10 by default

    intent = bt.SetHyperparameter(netuid=n, name="activity_cutoff_factor", value=2_500)
    assert (await client.execute(intent, subnet.owner)).success
    assert await hyper(client, n) == (25, 2_500)
    # A later tempo change moves the cutoff without setting the factor again.
    await sudo(client, "sudo_set_tempo", netuid=n, tempo=100)
    assert await hyper(client, n) == (250, 2_500)
    await sudo(client, "sudo_set_tempo", netuid=n, tempo=0)
    assert await hyper(client, n) == (1, 2_500)

    # The legacy absolute setter still stores its item, but the epoch does not read it.
    await sudo(client, "sudo_set_activity_cutoff", netuid=n, activity_cutoff=7)
    assert await client.query(("SubtensorModule", "ActivityCutoff"), [n]) == 7
    assert await hyper(client, n) == (1, 2_500)


async def test_factor_bounds(client, chain) -> None:
    subnet = await make_subnet(client, chain)
    n = subnet.netuid
    with pytest.raises(ValueError):  # the SDK refuses it before composing
        bt.SetHyperparameter(netuid=n, name="activity_cutoff_factor", value=999)
    for factor in (999, 50_001):
        call = bt.calls.AdminUtils.sudo_set_activity_cutoff_factor(netuid=n, factor_milli=factor)
        result = await client.submit_call(call, subnet.owner)
        assert result.error.name == "ActivityCutoffFactorMilliOutOfBounds"
    # Root is bounded as well: the inner call fails, the factor is unchanged.
    inner = await client.compose(
        bt.calls.AdminUtils.sudo_set_activity_cutoff_factor(netuid=n, factor_milli=50_001)
    )
    result = await client.submit_call(bt.calls.Sudo.sudo(call=inner), wallet("//Alice"))
    assert not result.success and "activity-cutoff factor" in result.message
    assert (await hyper(client, n))[1] == 13_889


async def test_the_epoch_uses_the_derived_cutoff() -> None:
    """A validator that stops setting weights is active for factor · tempo / 1000 blocks,
    then inactive: its weights stop counting and, with no incentive left, the whole
    non-owner emission goes to validators by stake."""
    async with open_path("chain", Hyper(max_validators=4)) as net:
        await net.add_neurons([1, 0])
        await net.epoch()  # a permit
        cutoff = await net.activity_cutoff()
        assert cutoff == 13_889 * 50 // 1000  # the harness runs the chain at tempo 50
        await net.set_weights(0, [1], [65_535])
        s = await net.epoch()
        assert s.incentive == [0, 65_535]
        graph = await net.client.subnets.metagraph(net.netuid)
        assert graph.neurons[1].active

        await net.next_block(cutoff)
        s = await net.epoch()
        graph = await net.client.subnets.metagraph(net.netuid)
        assert not graph.neurons[1].active
        assert s.incentive == [0, 0]
        assert s.emission == pytest.approx([1.0, 0.0], abs=1e-9)
        assert_dust_only(s)
