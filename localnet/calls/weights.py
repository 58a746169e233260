"""Weights: set_weights / set_mechanism_weights with every subtensor check,
in subtensor's order, and timelocked (commit-reveal v3) commits.

Timelocked commits are stored and listed but never revealed: revealing needs
a drand round fetched over the internet, which an offline local chain (like
an offline real localnet) never gets. Test subnets disable commit-reveal.
"""

from __future__ import annotations

import hashlib

from wmnet.localnet.calls import CallContext, handler
from wmnet.localnet.errors import DispatchError
from wmnet.localnet.params import U16_MAX
from wmnet.localnet.state import Subnet, TimelockedCommit

MAX_UNREVEALED_COMMITS = 10


def epoch_index(subnet: Subnet, block: int) -> int:
    """subtensor's get_epoch_index: (block + netuid + 1) // (tempo + 1)."""
    return (block + subnet.netuid + 1) // (subnet.hp("Tempo") + 1)


def max_upscale(values: list[int]) -> list[int]:
    """Scale so the largest weight becomes u16::MAX (subtensor stores it so)."""
    top = max(values, default=0)
    if top == 0:
        return list(values)
    return [min(U16_MAX, (v * U16_MAX + top // 2) // top) for v in values]


def is_self_weight(uid: int, uids: list[int], values: list[int]) -> bool:
    return len(values) == 1 and len(uids) >= 1 and uids[0] == uid


def rate_limit_ok(subnet: Subnet, uid: int, block: int) -> bool:
    last = subnet.neurons[uid].last_update
    return last == 0 or block - last >= subnet.hp("WeightsSetRateLimit")


def _check_mechanism(ctx: CallContext, netuid: int, mecid: int) -> Subnet:
    subnet = ctx.subnet(netuid, missing="MechanismDoesNotExist")
    if mecid != 0:  # one mechanism per subnet on this chain
        raise DispatchError("MechanismDoesNotExist")
    return subnet


def set_weights_checked(
    ctx: CallContext, subnet: Subnet, uids: list[int], values: list[int], version_key: int
) -> None:
    hotkey = ctx.signed()
    if len(uids) != len(values):
        raise DispatchError("WeightVecNotEqualSize")
    n = len(subnet.neurons)
    if len(uids) > n:
        raise DispatchError("UidsLengthExceedUidsInSubNet")
    uid = subnet.uid_of(hotkey)
    if uid is None:
        raise DispatchError("HotKeyNotRegisteredInSubNet")
    if ctx.state.hotkey_stake(hotkey, subnet.netuid) < ctx.state.stake_threshold:
        raise DispatchError("NotEnoughStakeToSetWeights")
    network_key = subnet.hp("WeightsVersionKey")
    if network_key != 0 and version_key < network_key:
        raise DispatchError("IncorrectWeightVersionKey")
    if subnet.hp("CommitRevealWeightsEnabled"):
        raise DispatchError("CommitRevealEnabled")
    if not rate_limit_ok(subnet, uid, ctx.block):
        raise DispatchError("SettingWeightsTooFast")
    self_weight = is_self_weight(uid, uids, values)
    if not self_weight and not subnet.neurons[uid].validator_permit:
        raise DispatchError("NeuronNoValidatorPermit")
    if len(set(uids)) != len(uids):
        raise DispatchError("DuplicateUids")
    if any(u >= n for u in uids):
        raise DispatchError("UidVecContainInvalidOne")
    if not self_weight and len(values) < min(subnet.hp("MinAllowedWeights"), n):
        raise DispatchError("WeightVecLengthIsLow")
    upscaled = max_upscale(values)
    limit = subnet.hp("MaxWeightsLimit")
    total = sum(upscaled)
    # Normalised, no single weight may exceed limit / u16::MAX of the row.
    if not self_weight and limit < U16_MAX and total and max(upscaled) * U16_MAX > limit * total:
        raise DispatchError("MaxWeightExceeded")
    subnet.weights[uid] = [(u, w) for u, w in zip(uids, upscaled, strict=True)]
    subnet.neurons[uid].last_update = ctx.block
    ctx.emit("SubtensorModule", "WeightsSet", [subnet.netuid, uid])


@handler("SubtensorModule", "set_mechanism_weights")
def set_mechanism_weights(
    ctx: CallContext,
    netuid: int,
    mecid: int,
    dests: list[int],
    weights: list[int],
    version_key: int,
) -> None:
    subnet = _check_mechanism(ctx, netuid, mecid)
    set_weights_checked(ctx, subnet, dests, weights, version_key)


@handler("SubtensorModule", "set_weights")
def set_weights(
    ctx: CallContext, netuid: int, dests: list[int], weights: list[int], version_key: int
) -> None:
    set_mechanism_weights(ctx, netuid, 0, dests, weights, version_key)


@handler(
    "SubtensorModule",
    "commit_timelocked_mechanism_weights",
    "commit_timelocked_weights",
    "commit_crv3_mechanism_weights",
    "commit_crv3_weights",
)
def commit_timelocked(
    ctx: CallContext,
    netuid: int,
    commit: bytes,
    reveal_round: int,
    mecid: int = 0,
    commit_reveal_version: int = 4,
) -> None:
    hotkey = ctx.signed()
    subnet = _check_mechanism(ctx, netuid, mecid)
    if not subnet.hp("CommitRevealWeightsEnabled"):
        raise DispatchError("CommitRevealDisabled")
    uid = subnet.uid_of(hotkey)
    if uid is None:
        raise DispatchError("HotKeyNotRegisteredInSubNet")
    if not rate_limit_ok(subnet, uid, ctx.block):
        raise DispatchError("CommittingWeightsTooFast")
    mine = [c for c in subnet.timelocked_commits if c.hotkey == hotkey]
    if len(mine) >= MAX_UNREVEALED_COMMITS:
        raise DispatchError("TooManyUnrevealedCommits")
    subnet.timelocked_commits.append(
        TimelockedCommit(
            hotkey=hotkey,
            block=ctx.block,
            commit="0x" + commit.hex(),
            reveal_round=reveal_round,
            commit_reveal_version=commit_reveal_version,
        )
    )
    subnet.neurons[uid].last_update = ctx.block
    ctx.emit(
        "SubtensorModule",
        "TimelockedWeightsCommitted",
        # subtensor: `let commit_hash = BlakeTwo256::hash(&commit)`.
        [
            hotkey,
            subnet.netuid,
            "0x" + hashlib.blake2b(commit, digest_size=32).hexdigest(),
            reveal_round,
        ],  # fmt: skip
    )
