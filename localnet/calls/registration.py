"""Neuron registration: burned_register, with subtensor's pruning when full."""

from __future__ import annotations

from wmnet.localnet.calls import CallContext, handler
from wmnet.localnet.errors import DispatchError
from wmnet.localnet.state import Neuron, Subnet, stake_key


def neuron_to_prune(subnet: Subnet, block: int) -> int | None:
    """The UID a registration on a full subnet replaces.

    The non-immune neuron with the lowest pruning score (subtensor's
    emission-based score), ties broken by older registration, then lower UID.
    The owner's hotkey is never pruned. With every neuron immune, nothing is
    pruned and registration fails (``NoNeuronIdAvailable``).
    """
    immunity = subnet.hp("ImmunityPeriod")
    candidates = [
        n
        for n in subnet.neurons
        if n.hotkey != subnet.owner_hotkey and block - n.registered_at >= immunity
    ]
    if not candidates:
        return None
    chosen = min(candidates, key=lambda n: (n.pruning_score, n.registered_at, n.uid))
    return chosen.uid


def clear_uid(subnet: Subnet, uid: int) -> None:
    """Forget everything a replaced neuron left behind: its weights, bonds, axon.

    Other validators' weights *to* this UID stay stored, as on subtensor; the
    epoch masks them as outdated (set before this UID's registration).
    """
    subnet.weights.pop(uid, None)
    subnet.bonds.pop(uid, None)
    for row in subnet.bonds.values():
        row[:] = [(j, v) for j, v in row if j != uid]


@handler("SubtensorModule", "burned_register")
def burned_register(ctx: CallContext, netuid: int, hotkey: str) -> None:
    coldkey = ctx.signed()
    subnet = ctx.subnet(netuid)
    state = ctx.state
    if not subnet.hp("NetworkRegistrationAllowed"):
        raise DispatchError("SubNetRegistrationDisabled")
    if subnet.last_registration_block != ctx.block:
        subnet.registrations_this_block = 0
    if subnet.registrations_this_block >= subnet.hp("MaxRegistrationsPerBlock"):
        raise DispatchError("TooManyRegistrationsThisBlock")
    if subnet.uid_of(hotkey) is not None:
        raise DispatchError("HotKeyAlreadyRegisteredInSubNet")
    owner = state.hotkey_owner.get(hotkey)
    if owner is not None and owner != coldkey:
        raise DispatchError("NonAssociatedColdKey")
    cost = subnet.hp("Burn")
    account = state.account(coldkey)
    if account.free < cost:
        raise DispatchError("NotEnoughBalanceToStake")

    max_uids = subnet.hp("MaxAllowedUids")
    if len(subnet.neurons) < max_uids:
        uid = len(subnet.neurons)
        replaced: Neuron | None = None
    else:
        pruned = neuron_to_prune(subnet, ctx.block)
        if pruned is None:
            raise DispatchError("NoNeuronIdAvailable")
        uid = pruned
        replaced = subnet.neurons[uid]

    account.free -= cost
    state.total_issuance -= cost  # burned
    neuron = Neuron(uid=uid, hotkey=hotkey, coldkey=coldkey, registered_at=ctx.block)
    if replaced is None:
        subnet.neurons.append(neuron)
    else:
        clear_uid(subnet, uid)
        subnet.neurons[uid] = neuron
        ctx.emit("SubtensorModule", "NeuronDeregistered", [subnet.netuid, uid, replaced.hotkey])
    subnet.registrations_this_block += 1
    subnet.last_registration_block = ctx.block
    state.hotkey_owner.setdefault(hotkey, coldkey)
    state.stakes.setdefault(stake_key(hotkey, coldkey, subnet.netuid), 0)
    ctx.emit("SubtensorModule", "NeuronRegistered", [subnet.netuid, uid, hotkey])
