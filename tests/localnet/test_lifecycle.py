"""A whole subnet lifecycle through the real SDK, checked against Yuma by hand."""

from __future__ import annotations

import bittensor as bt
import pytest

from tests.localnet.conftest import make_subnet, register_raw, wallet
from wmnet.localnet.params import RAO_PER_TAO, SUBNET_OWNER_CUT_U16, U16_MAX
from wmnet.localnet.payout import block_split

pytestmark = pytest.mark.asyncio


async def test_lifecycle_matches_hand_computed_yuma(client, chain):
    subnet = await make_subnet(client, chain)
    netuid = subnet.netuid
    validator = wallet("//Bob", "validator")
    miners = [wallet("//Charlie", f"miner{i}") for i in range(3)]

    # The validator through the SDK intent (which always takes the MEV-shield
    # path), the miners as plain extrinsics.
    result = await client.execute(bt.BurnedRegister(netuid=netuid), validator)
    assert result.success and result.data.get("shielded") is True, result.message
    for miner in miners:
        result = await register_raw(client, netuid, miner)
        assert result.success, result.message

    result = await client.execute(
        bt.AddStake(netuid=netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_tao=1000),
        validator,
    )
    assert result.success, result.message
    for port, miner in enumerate(miners, start=8091):
        result = await client.execute(bt.ServeAxon(netuid=netuid, ip="127.0.0.1", port=port), miner)
        assert result.success, result.message

    # Validator permits are granted by an epoch: wait for one.
    graph = await client.subnets.metagraph(netuid)
    tempo = graph.tempo
    chain.advance(tempo + 1)
    graph = await client.subnets.metagraph(netuid)
    v_uid = graph.by_hotkey(validator.hotkey.ss58_address).uid
    miner_uids = [graph.by_hotkey(m.hotkey.ss58_address).uid for m in miners]
    assert graph.neurons[v_uid].validator_permit
    assert [graph.neurons[u].axon for u in miner_uids] == [
        f"127.0.0.1:{p}" for p in (8091, 8092, 8093)
    ]

    result = await client.execute(
        bt.SetWeights(netuid=netuid, uids=miner_uids, weights=[0.5, 0.3, 0.2]), validator
    )
    assert result.success, result.message
    stored = (await client.weights.weights(netuid))[v_uid]
    assert set(stored) == set(miner_uids)

    before = await client.subnets.metagraph(netuid)
    stake_before = {n.uid: n.total_stake.rao for n in before.neurons}
    chain.advance(2 * tempo)  # an epoch every `tempo` blocks: exactly two
    after = await client.subnets.metagraph(netuid)

    # By hand: the validator holds >99 % of the stake, so kappa-consensus for
    # each miner is the validator's own weight; nothing is clipped, and
    # incentive is its normalised weight row.
    raw = {uid: w for uid, w in (await client.query_map(("SubtensorModule", "Weights"), [netuid]))}[
        v_uid
    ]
    # The same row read by key, as Weights(netuid, uid).
    row = await client.query(("SubtensorModule", "Weights"), [netuid, v_uid])
    assert [tuple(p) for p in row] == [tuple(p) for p in raw]
    total = sum(w for _, w in raw)
    expected_incentive = {uid: w / total for uid, w in raw}
    # One validator with bonds: it earns all dividends.
    # Emission per epoch: `tempo` blocks of 1 TAO, each 18 % to the owner and the rest
    # half to miners by incentive, half to the validator; the shares are I32F32, so a
    # UID's rao may fall short by (its part / 2^32) and a rao of truncation.
    pending = block_split(RAO_PER_TAO, SUBNET_OWNER_CUT_U16).times(tempo)
    miner_half, validator_half = pending.server, pending.validator
    slack = (pending.server + pending.validator) // 2**32 + 2

    for uid in miner_uids:
        neuron = after.neurons[uid]
        assert neuron.incentive == pytest.approx(expected_incentive[uid], abs=2 / U16_MAX)
        assert neuron.dividends == 0
        expected = miner_half * expected_incentive[uid]
        assert neuron.emission.rao == pytest.approx(expected, abs=slack)
        # Two epochs paid, each credited as stake.
        assert neuron.total_stake.rao - stake_before[uid] == pytest.approx(
            2 * expected, abs=2 * slack
        )
    v = after.neurons[v_uid]
    assert v.dividends == pytest.approx(1.0, abs=1 / U16_MAX)
    assert v.incentive == 0
    assert v.emission.rao == pytest.approx(validator_half, abs=slack)
    assert sum(after.neurons[u].incentive for u in miner_uids) == pytest.approx(
        1.0, abs=3 / U16_MAX
    )

    # Bonds carried over both epochs: the EMA (alpha 0.1) of the row-normalised
    # weights from zero is (1 - 0.9^2)·w, stored as truncated u16 fractions.
    bonds = (await client.weights.bonds(netuid))[v_uid]
    for uid, w in raw:
        assert bonds[uid] == pytest.approx((1 - 0.9**2) * w / total, abs=2 / U16_MAX)

    # History for the ledger: two epochs since the weights, per UID.
    history = chain.epoch_history(netuid, since_block=before.block + 1)
    assert len({row["block"] for row in history}) == 2
    assert sum(row["server_emission"] for row in history) == pytest.approx(2 * miner_half, abs=6)
