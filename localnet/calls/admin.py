"""AdminUtils hyperparameter setters and Sudo.sudo.

Owner-settable setters accept the subnet owner's coldkey or root; the rest
accept root only, which on this chain means a call wrapped in ``Sudo.sudo``
signed by the sudo key (``//Alice``), as on a real localnet. Each setter's
parameter name is its own (the SDK's call catalogue, enforced by
calls/schema.py), and the preconditions subtensor's admin-utils pallet checks
(``pallets/admin-utils/src/lib.rs``) are checked here, before anything is set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wmnet.localnet.calls import ROOT, CallContext, handler
from wmnet.localnet.calls.schema import MAX_UIDS
from wmnet.localnet.errors import DispatchError
from wmnet.localnet.params import (
    ADMIN_SETTERS,
    MAX_ACTIVITY_CUTOFF_FACTOR_MILLI,
    MIN_ACTIVITY_CUTOFF_FACTOR_MILLI,
    OWNER_SETTABLE,
    U16_MAX,
)
from wmnet.localnet.state import Subnet

# subtensor do_set_alpha_values: both values at least u16::MAX / 40.
MIN_ALPHA_U16 = U16_MAX // 40
# admin-utils sudo_set_bonds_moving_average: the cap for owner-set values.
OWNER_MAX_BONDS_MOVING_AVERAGE = 975_000


def _authorize(ctx: CallContext, function: str, netuid: int) -> Subnet:
    subnet = ctx.subnet(netuid)
    if ctx.origin == ROOT:
        return subnet
    if function not in OWNER_SETTABLE:
        raise DispatchError("BadOrigin", "this setter needs root (Sudo.sudo)", pallet="System")
    if subnet.owner_coldkey != ctx.origin:
        raise DispatchError(
            "BadOrigin", "only the subnet owner or root may set this", pallet="System"
        )
    return subnet


def _check_max_allowed_uids(ctx: CallContext, subnet: Subnet, value: int) -> None:
    if value < len(subnet.neurons):
        raise DispatchError("MaxAllowedUIdsLessThanCurrentUIds", pallet="AdminUtils")
    if value > MAX_UIDS:
        raise DispatchError("MaxAllowedUidsGreaterThanDefaultMaxAllowedUids", pallet="AdminUtils")


def _check_max_allowed_validators(ctx: CallContext, subnet: Subnet, value: int) -> None:
    if value > subnet.hp("MaxAllowedUids"):
        raise DispatchError("MaxValidatorsLargerThanMaxUIds", pallet="AdminUtils")


def _check_bonds_moving_average(ctx: CallContext, subnet: Subnet, value: int) -> None:
    if ctx.origin != ROOT and value > OWNER_MAX_BONDS_MOVING_AVERAGE:
        raise DispatchError("BondsMovingAverageMaxReached", pallet="AdminUtils")


def _check_steepness(ctx: CallContext, subnet: Subnet, value: int) -> None:
    if ctx.origin != ROOT and value < 0:
        raise DispatchError("NegativeSigmoidSteepness", pallet="AdminUtils")


PRECONDITIONS: dict[str, Callable[[CallContext, Subnet, int], None]] = {
    "sudo_set_max_allowed_uids": _check_max_allowed_uids,
    "sudo_set_max_allowed_validators": _check_max_allowed_validators,
    "sudo_set_bonds_moving_average": _check_bonds_moving_average,
    "sudo_set_alpha_sigmoid_steepness": _check_steepness,
}


def admin_setter(ctx: CallContext, netuid: int, **value_param: Any) -> None:
    """A setter of one value besides netuid; the schema fixed the value's name."""
    function = ctx.function
    subnet = _authorize(ctx, function, netuid)
    (value,) = value_param.values()
    value = int(value)  # bools are stored as 0/1, as subtensor's storage reads back
    check = PRECONDITIONS.get(function)
    if check is not None:
        check(ctx, subnet, value)
    storage = ADMIN_SETTERS[function]
    subnet.hyperparams[storage] = value
    if storage == "Tempo":
        # apply_tempo_with_cycle_reset: the next epoch comes `tempo` blocks from now.
        subnet.last_epoch_block = ctx.block
    ctx.emit(
        "AdminUtils",
        "HyperparameterSet",
        {"netuid": subnet.netuid, "name": storage, "value": value},
    )


for _setter in ADMIN_SETTERS:
    handler("AdminUtils", _setter)(admin_setter)


@handler("AdminUtils", "sudo_set_alpha_values")
def set_alpha_values(ctx: CallContext, netuid: int, alpha_low: int, alpha_high: int) -> None:
    """subtensor ``do_set_alpha_values``: liquid alpha on, both ≥ u16::MAX/40, low ≤ high."""
    subnet = _authorize(ctx, "sudo_set_alpha_values", netuid)
    if not subnet.hp("LiquidAlphaOn"):
        raise DispatchError("LiquidAlphaDisabled")
    if alpha_high < MIN_ALPHA_U16:
        raise DispatchError("AlphaHighTooLow")
    if not MIN_ALPHA_U16 <= alpha_low <= alpha_high:
        raise DispatchError("AlphaLowOutOfRange")
    subnet.hyperparams["AlphaLow"] = alpha_low
    subnet.hyperparams["AlphaHigh"] = alpha_high
    ctx.emit(
        "AdminUtils",
        "HyperparameterSet",
        {"netuid": subnet.netuid, "name": "AlphaValues", "value": [alpha_low, alpha_high]},
    )


@handler("AdminUtils", "sudo_set_activity_cutoff_factor")
def set_activity_cutoff_factor(ctx: CallContext, netuid: int, factor_milli: int) -> None:
    """Store the factor itself, bounded as subtensor bounds it (owner and root alike).

    The cutoff is derived from it and the *current* tempo each epoch
    (`Subnet.activity_cutoff`, at least one block), not computed once here, so a
    later tempo change moves the cutoff as it does on subtensor.
    """
    subnet = _authorize(ctx, "sudo_set_activity_cutoff_factor", netuid)
    if not MIN_ACTIVITY_CUTOFF_FACTOR_MILLI <= factor_milli <= MAX_ACTIVITY_CUTOFF_FACTOR_MILLI:
        raise DispatchError("ActivityCutoffFactorMilliOutOfBounds")
    subnet.hyperparams["ActivityCutoffFactorMilli"] = factor_milli
    ctx.emit(
        "AdminUtils",
        "HyperparameterSet",
        {"netuid": subnet.netuid, "name": "ActivityCutoffFactorMilli", "value": factor_milli},
    )


@handler("AdminUtils", "sudo_set_stake_threshold")
def set_stake_threshold(ctx: CallContext, min_stake: int) -> None:
    if ctx.origin != ROOT:
        raise DispatchError("BadOrigin", "this setter needs root (Sudo.sudo)", pallet="System")
    ctx.state.stake_threshold = min_stake


@handler("Sudo", "sudo")
def sudo(ctx: CallContext, call: Any) -> None:
    signer = ctx.signed()
    if signer != ctx.state.sudo_key:
        raise DispatchError("RequireSudo", pallet="Sudo")
    if ctx.dispatch is None:
        raise DispatchError("Other", "no dispatcher is installed", pallet="System")
    root_ctx = CallContext(
        state=ctx.state,
        block=ctx.block,
        origin=ROOT,
        events=ctx.events,
        extrinsic_index=ctx.extrinsic_index,
        dispatch=ctx.dispatch,
        function=call.function,
    )
    try:
        ctx.dispatch(root_ctx, call.module, call.function, dict(call.params))
    except DispatchError as error:
        # The outer extrinsic succeeds; the inner failure lives in Sudid.
        ctx.emit("Sudo", "Sudid", {"sudo_result": {"Err": module_error(error)}})
        return
    ctx.emit("Sudo", "Sudid", {"sudo_result": {"Ok": None}})


def module_error(error: DispatchError) -> dict[str, Any]:
    """Encode a named failure as the decoded DispatchError a real node reports."""
    from wmnet.localnet.error_codes import module_error_payload

    return module_error_payload(error)
