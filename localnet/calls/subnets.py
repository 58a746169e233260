"""Subnet creation and activation: register_network, start_call."""

from __future__ import annotations

from wmnet.localnet.calls import CallContext, handler
from wmnet.localnet.epoch import initial_last_epoch_block
from wmnet.localnet.errors import DispatchError
from wmnet.localnet.params import (
    DEFAULT_HYPERPARAMS,
    MAX_SUBNETS,
    NETWORK_LOCK_REDUCTION_INTERVAL,
    NETWORK_MIN_LOCK_RAO,
    START_CALL_DELAY,
)
from wmnet.localnet.state import ChainState, Neuron, Subnet, stake_key


def network_lock_cost(state: ChainState, block: int) -> int:
    """subtensor's lock cost: doubles per registration, decays linearly back.

    cost = 2·last − (last / reduction_interval)·(blocks since last), floored
    at the minimum lock.
    """
    last = state.last_lock_cost
    if last == 0:
        return NETWORK_MIN_LOCK_RAO
    decay = (last // NETWORK_LOCK_REDUCTION_INTERVAL) * max(block - state.last_lock_block, 0)
    return max(2 * last - decay, NETWORK_MIN_LOCK_RAO)


@handler("SubtensorModule", "register_network", "register_network_with_identity")
def register_network(ctx: CallContext, hotkey: str, identity: dict | None = None) -> None:
    coldkey = ctx.signed()
    state = ctx.state
    owner = state.hotkey_owner.get(hotkey)
    if owner is not None and owner != coldkey:
        raise DispatchError("NonAssociatedColdKey")
    if len(state.subnets) >= MAX_SUBNETS:
        raise DispatchError("SubnetLimitReached")
    cost = network_lock_cost(state, ctx.block)
    account = state.account(coldkey)
    if account.free < cost:
        raise DispatchError("CannotAffordLockCost")

    netuid = next(n for n in range(1, MAX_SUBNETS + 2) if n not in state.subnets)
    account.free -= cost
    state.last_lock_cost = cost
    state.last_lock_block = ctx.block
    subnet = Subnet(
        netuid=netuid,
        owner_coldkey=coldkey,
        owner_hotkey=hotkey,
        registered_at=ctx.block,
        locked=cost,
        last_epoch_block=initial_last_epoch_block(netuid, DEFAULT_HYPERPARAMS["Tempo"], ctx.block),
        accrued_since=ctx.block,
        name=(identity or {}).get("subnet_name", "")[:256],
    )
    # As on subtensor, the owner hotkey takes UID 0 and is immune from pruning.
    subnet.neurons.append(Neuron(uid=0, hotkey=hotkey, coldkey=coldkey, registered_at=ctx.block))
    state.subnets[netuid] = subnet
    state.hotkey_owner.setdefault(hotkey, coldkey)
    state.stakes.setdefault(stake_key(hotkey, coldkey, netuid), 0)
    ctx.emit("SubtensorModule", "NetworkAdded", [netuid, 0])


@handler("SubtensorModule", "start_call")
def start_call(ctx: CallContext, netuid: int) -> None:
    coldkey = ctx.signed()
    subnet = ctx.subnet(netuid)
    if subnet.owner_coldkey != coldkey:
        raise DispatchError("NotSubnetOwner")
    if subnet.first_emission_block is not None:
        raise DispatchError("FirstEmissionBlockNumberAlreadySet")
    if ctx.block < subnet.registered_at + START_CALL_DELAY:
        raise DispatchError("NeedWaitingMoreBlocksToStarCall")
    from wmnet.localnet.emission import settle_accruals

    # The emission share of every subnet changes now: settle what accrued so far.
    settle_accruals(ctx.state, ctx.block + 1)
    subnet.first_emission_block = ctx.block + 1
    subnet.accrued_since = ctx.block + 1
    ctx.emit("SubtensorModule", "FirstEmissionBlockNumberSet", [netuid, ctx.block + 1])
