"""Every refusal the chain makes, with subtensor's error name."""

from __future__ import annotations

import bittensor as bt
import pytest

from tests.localnet.conftest import make_subnet, register_raw, set_weights_raw, sudo, wallet
from wmnet.localnet.codec import ComposedCall, SignedExtrinsic

pytestmark = pytest.mark.asyncio


async def _subnet_with_validator(client, chain, miners: int = 3):
    subnet = await make_subnet(client, chain)
    validator = wallet("//Bob", "validator")
    assert (await register_raw(client, subnet.netuid, validator)).success
    ms = [wallet("//Charlie", f"m{i}") for i in range(miners)]
    for m in ms:
        assert (await register_raw(client, subnet.netuid, m)).success
    stake = bt.AddStake(
        netuid=subnet.netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_tao=100
    )
    assert (await client.execute(stake, validator)).success
    graph = await client.subnets.metagraph(subnet.netuid)
    chain.advance(graph.tempo + 1)  # an epoch grants the validator its permit
    return subnet, validator, ms


def _name(result) -> str | None:
    assert not result.success, "expected a failure"
    return result.error.name if result.error else None


async def test_set_weights_rejections(client, chain):
    subnet, validator, miners = await _subnet_with_validator(client, chain)
    n = subnet.netuid
    # A key the chain has never seen is refused by the pool and leaves no account.
    stranger = wallet("//Dave", "stranger")
    refused = await set_weights_raw(client, n, stranger, [2], [1])
    assert not refused.success and "Payment" in refused.message
    assert chain.state.find_account(stranger.hotkey.ss58_address) is None
    # A funded key that is not registered here fails on chain, with subtensor's name.
    outsider = wallet("//Dave", "stranger")
    outsider.hotkey = outsider.coldkey
    assert (
        _name(await set_weights_raw(client, n, outsider, [2], [1])) == "HotKeyNotRegisteredInSubNet"
    )
    assert (
        _name(await set_weights_raw(client, n, validator, [2, 3], [1])) == "WeightVecNotEqualSize"
    )
    assert _name(await set_weights_raw(client, n, validator, [2, 2], [1, 1])) == "DuplicateUids"
    assert (
        _name(await set_weights_raw(client, n, validator, [2, 99], [1, 1]))
        == "UidVecContainInvalidOne"
    )
    assert (
        _name(await set_weights_raw(client, n, validator, list(range(7)), [1] * 7))
        == "UidsLengthExceedUidsInSubNet"
    )
    # A miner without a permit may only set a self-weight.
    miner_uid = (await client.subnets.metagraph(n)).by_hotkey(miners[0].hotkey.ss58_address).uid
    assert (
        _name(await set_weights_raw(client, n, miners[0], [0, 1], [1, 1]))
        == "NeuronNoValidatorPermit"
    )
    assert (await set_weights_raw(client, n, miners[0], [miner_uid], [1])).success

    await sudo(client, "sudo_set_weights_version_key", netuid=n, weights_version_key=5)
    assert (
        _name(await set_weights_raw(client, n, validator, [2], [1], 4))
        == "IncorrectWeightVersionKey"
    )
    await sudo(client, "sudo_set_min_allowed_weights", netuid=n, min_allowed_weights=3)
    assert (
        _name(await set_weights_raw(client, n, validator, [2, 3], [1, 1], 5))
        == "WeightVecLengthIsLow"
    )
    await sudo(client, "sudo_set_max_weight_limit", netuid=n, max_weight_limit=30_000)
    assert (
        _name(await set_weights_raw(client, n, validator, [2, 3, 4], [10, 1, 1], 5))
        == "MaxWeightExceeded"
    )
    assert (await set_weights_raw(client, n, validator, [2, 3, 4], [1, 1, 1], 5)).success

    await sudo(client, "sudo_set_weights_set_rate_limit", netuid=n, weights_set_rate_limit=100)
    assert (
        _name(await set_weights_raw(client, n, validator, [2, 3, 4], [1, 1, 1], 5))
        == "SettingWeightsTooFast"
    )
    # The SDK catches the same rate limit before signing.
    with pytest.raises(bt.ChainError) as caught:
        await client.execute(
            bt.SetWeights(netuid=n, uids=[2, 3, 4], weights=[1, 1, 1], version_key=5), validator
        )
    assert caught.value.code == bt.ErrorCode.RATE_LIMITED

    assert _name(await set_weights_raw(client, 77, validator, [2], [1])) == "MechanismDoesNotExist"


async def test_commit_reveal_paths(client, chain):
    subnet, validator, _ = await _subnet_with_validator(client, chain)
    n = subnet.netuid
    # With commit-reveal on, plain weights are refused and timelocked commits are stored.
    on = bt.SetHyperparameter(netuid=n, name="commit_reveal_weights_enabled", value=True)
    assert (await client.execute(on, subnet.owner)).success
    assert _name(await set_weights_raw(client, n, validator, [2], [1])) == "CommitRevealEnabled"
    result = await client.execute(bt.SetWeights(netuid=n, uids=[2, 3], weights=[1, 1]), validator)
    assert result.success, result.message
    commits = await client.weights.timelocked_weight_commits(n)
    assert [c["hotkey"] for rows in commits.values() for c in rows] == [
        validator.hotkey.ss58_address
    ]
    off = bt.SetHyperparameter(netuid=n, name="commit_reveal_weights_enabled", value=False)
    assert (await client.execute(off, subnet.owner)).success
    commit = bt.calls.SubtensorModule.commit_timelocked_mechanism_weights(
        netuid=n, mecid=0, commit=b"x" * 64, reveal_round=1, commit_reveal_version=4
    )
    assert (
        _name(await client.submit_call(commit, validator, signer="hotkey"))
        == "CommitRevealDisabled"
    )


async def test_registration_and_subnet_rejections(client, chain):
    owner = wallet("//Alice", "owner")
    netuid = (await client.execute(bt.RegisterSubnet(), owner)).data["netuid"]
    assert (
        _name(await client.execute(bt.StartCall(netuid=netuid), owner))
        == "NeedWaitingMoreBlocksToStarCall"
    )
    chain.advance(10)
    assert (
        _name(await client.execute(bt.StartCall(netuid=netuid), wallet("//Bob")))
        == "NotSubnetOwner"
    )
    assert (await client.execute(bt.StartCall(netuid=netuid), owner)).success
    assert (
        _name(await client.execute(bt.StartCall(netuid=netuid), owner))
        == "FirstEmissionBlockNumberAlreadySet"
    )

    miner = wallet("//Charlie", "m")
    assert (await register_raw(client, netuid, miner)).success
    assert _name(await register_raw(client, netuid, miner)) == "HotKeyAlreadyRegisteredInSubNet"
    assert _name(await register_raw(client, 42, wallet("//Dave", "y"))) == "SubnetNotExists"
    broke = wallet("//Nobody", "h")
    result = await register_raw(client, netuid, broke)
    assert not result.success and "pay some fees" in result.message
    off = bt.SetHyperparameter(netuid=netuid, name="registration_allowed", value=False)
    assert (await client.execute(off, owner)).success
    assert (
        _name(await register_raw(client, netuid, wallet("//Eve", "z")))
        == "SubNetRegistrationDisabled"
    )

    # Staking to an unknown hotkey, or on a subnet not yet started.
    ghost = bt.AddStake(
        netuid=netuid, hotkey_ss58=wallet("//Ferdie", "ghost").hotkey.ss58_address, amount_tao=1
    )
    assert _name(await client.execute(ghost, owner)) == "HotKeyAccountNotExists"
    other = (await client.execute(bt.RegisterSubnet(), wallet("//Bob", "owner2"))).data["netuid"]
    early = bt.AddStake(
        netuid=other, hotkey_ss58=wallet("//Bob", "owner2").hotkey.ss58_address, amount_tao=1
    )
    assert _name(await client.execute(early, wallet("//Bob", "owner2"))) == "SubtokenDisabled"
    # Another coldkey cannot register a hotkey it does not own.
    thief = wallet("//Dave", "x")
    thief.hotkey = miner.hotkey
    assert _name(await register_raw(client, other, thief)) == "NonAssociatedColdKey"

    # Serving twice inside the rate limit.
    assert (
        await client.execute(bt.ServeAxon(netuid=netuid, ip="127.0.0.1", port=9000), miner)
    ).success
    again = await client.execute(bt.ServeAxon(netuid=netuid, ip="127.0.0.1", port=9001), miner)
    assert _name(again) == "ServingRateLimitExceeded"


async def test_root_and_sudo_rejections(client, chain):
    subnet = await make_subnet(client, chain)
    bob = wallet("//Bob")
    # A root-only setter from the owner, and Sudo.sudo from a non-sudo key.
    call = bt.calls.Call("AdminUtils", "sudo_set_kappa", {"netuid": subnet.netuid, "kappa": 1})
    result = await client.submit_call(call, subnet.owner)
    assert _name(result) == "BadOrigin"
    inner = await client.compose(call)
    assert _name(await client.submit_call(bt.calls.Sudo.sudo(call=inner), bob)) == "RequireSudo"
    # A failing inner call: the outer extrinsic succeeds, Sudid carries the error.
    bad_inner = await client.compose(
        bt.calls.Call("AdminUtils", "sudo_set_kappa", {"netuid": 99, "kappa": 1})
    )
    result = await client.submit_call(bt.calls.Sudo.sudo(call=bad_inner), wallet("//Alice"))
    assert not result.success and result.error.name == "SubnetNotExists"


async def test_pool_refuses_bad_signatures_and_nonces(client, chain):
    alice = wallet("//Alice").coldkey
    bob = wallet("//Bob").coldkey
    call = ComposedCall(
        "Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": 10**9}
    )
    genesis = chain.state.genesis_hash
    nonce = chain.next_nonce(alice.ss58_address)
    payload = SignedExtrinsic.payload(call, alice.ss58_address, nonce, genesis)
    forged = SignedExtrinsic(call, alice.ss58_address, nonce, bob.sign(payload), genesis)
    receipt = chain.submit(forged)
    assert not receipt.included and "BadProof" in receipt.error_message
    good = SignedExtrinsic(call, alice.ss58_address, nonce, alice.sign(payload), genesis)
    before = chain.state.account(bob.ss58_address).free
    assert chain.submit(good).success
    assert chain.state.account(bob.ss58_address).free == before + 10**9
    replay = chain.submit(good)
    assert not replay.included and "Stale" in replay.error_message
    malformed = ComposedCall(
        "SubtensorModule", "burned_register", {"netuid": "one", "hotkey": "nope"}
    )
    nonce = chain.next_nonce(alice.ss58_address)
    payload = SignedExtrinsic.payload(malformed, alice.ss58_address, nonce, genesis)
    receipt = chain.submit(
        SignedExtrinsic(malformed, alice.ss58_address, nonce, alice.sign(payload), genesis)
    )
    assert not receipt.included and "invalid call parameter" in receipt.error_message
    head = chain.head
    assert chain.submit(good).included is False and chain.head == head  # refused: no block sealed


async def test_full_subnet_replaces_lowest_pruning_score(client, chain):
    subnet = await make_subnet(client, chain)
    n = subnet.netuid
    await sudo(client, "sudo_set_max_allowed_uids", netuid=n, max_allowed_uids=3)
    await sudo(client, "sudo_set_immunity_period", netuid=n, immunity_period=0)
    a, b = wallet("//Bob", "a"), wallet("//Charlie", "b")
    assert (await register_raw(client, n, a)).success
    assert (await register_raw(client, n, b)).success
    result = await client.execute(bt.ServeAxon(netuid=n, ip="127.0.0.1", port=9100), a)
    assert result.success
    chain.state.subnets[n].neurons[2].pruning_score = 100  # b scores better than a
    newcomer = wallet("//Dave", "new")
    assert (await register_raw(client, n, newcomer)).success
    graph = await client.subnets.metagraph(n)
    assert graph.neurons[1].hotkey == newcomer.hotkey.ss58_address  # a (uid 1) replaced
    assert graph.neurons[1].axon is None  # its axon cleared
    assert graph.neurons[0].hotkey == subnet.owner.hotkey.ss58_address  # owner never pruned
