"""Setting weights on wmnet's chain through the SDK: success, and refusals that never raise."""

from __future__ import annotations

import bittensor as bt

from tests.localnet.conftest import make_subnet, register_raw, sudo, wallet
from wmnet.validator.weights import WeightRefusal, blocks_until_allowed, set_weights


async def _subnet_with_validator(client, chain):
    subnet = await make_subnet(client, chain)
    validator, miner = wallet("//Bob", "validator"), wallet("//Charlie", "miner")
    for w in (validator, miner):
        assert (await register_raw(client, subnet.netuid, w)).success
    stake = bt.AddStake(
        netuid=subnet.netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_tao=1000
    )
    assert (await client.execute(stake, validator)).success
    graph = await client.subnets.metagraph(subnet.netuid)
    chain.advance(graph.tempo + 1)  # an epoch hands out validator permits
    return subnet.netuid, validator, miner


async def test_weights_are_set_and_read_back(client, chain):
    netuid, validator, miner = await _subnet_with_validator(client, chain)
    graph = await client.subnets.metagraph(netuid)
    uid = graph.by_hotkey(miner.hotkey.ss58_address).uid
    outcome = await set_weights(client, validator, netuid, {uid: 1.0})
    assert outcome.ok and outcome.attempts == 1
    vuid = graph.by_hotkey(validator.hotkey.ss58_address).uid
    assert (await client.weights.weights(netuid))[vuid] == {uid: 1.0}


async def test_a_rate_limited_validator_is_told_how_long_to_wait(client, chain):
    netuid, validator, miner = await _subnet_with_validator(client, chain)
    await sudo(
        client, "sudo_set_weights_set_rate_limit", netuid=netuid, weights_set_rate_limit=1000
    )
    graph = await client.subnets.metagraph(netuid)
    uid = graph.by_hotkey(miner.hotkey.ss58_address).uid
    first = await set_weights(client, validator, netuid, {uid: 1.0})
    assert first.ok
    chain.advance(7)
    second = await set_weights(client, validator, netuid, {uid: 1.0})
    # One attempt, no blind retries: the outcome carries the chain's stated wait.
    assert not second.ok and second.attempts == 1
    assert second.refusal == WeightRefusal.RATE_LIMITED and "rate" in second.message.lower()
    read = await blocks_until_allowed(client, netuid, validator.hotkey.ss58_address)
    assert second.retry_in_blocks == read, (second, read)
    assert 1000 - 8 - 2 <= read <= 1000 - 7, read  # set at block b, now b + 7 or 8
    chain.advance(read)
    assert await blocks_until_allowed(client, netuid, validator.hotkey.ss58_address) == 0
    assert (await set_weights(client, validator, netuid, {uid: 1.0})).ok


async def test_no_positive_score_sets_nothing(client, chain):
    netuid, validator, _ = await _subnet_with_validator(client, chain)
    outcome = await set_weights(client, validator, netuid, {})
    assert not outcome.ok and outcome.attempts == 0
    assert outcome.refusal == WeightRefusal.NO_SCORES
