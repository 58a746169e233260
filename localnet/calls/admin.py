"""AdminUtils hyperparameter setters and Sudo.sudo.

Owner-settable setters accept the subnet owner's coldkey or root; the rest
accept root only, which on this chain means a call wrapped in ``Sudo.sudo``
signed by the sudo key (``//Alice``), as on a real localnet.
"""

from __future__ import annotations

from typing import Any

from wmnet.localnet.calls import ROOT, CallContext, as_int, handler
from wmnet.localnet.errors import DispatchError, InvalidTransaction
from wmnet.localnet.params import ADMIN_SETTERS, OWNER_SETTABLE


def _authorize(ctx: CallContext, function: str, netuid: Any) -> None:
    if ctx.origin == ROOT:
        return
    if function not in OWNER_SETTABLE:
        raise DispatchError("BadOrigin", "this setter needs root (Sudo.sudo)", pallet="System")
    subnet = ctx.subnet(netuid)
    if subnet.owner_coldkey != ctx.origin:
        raise DispatchError(
            "BadOrigin", "only the subnet owner or root may set this", pallet="System"
        )


def _value_param(params: dict[str, Any]) -> Any:
    values = [v for k, v in params.items() if k != "netuid"]
    if len(values) != 1:
        raise InvalidTransaction("invalid call parameter: expected one value besides netuid")
    return values[0]


def admin_setter(ctx: CallContext, **params: Any) -> None:
    function = ctx.function
    netuid = params.get("netuid")
    _authorize(ctx, function, netuid)
    subnet = ctx.subnet(netuid)
    value = _value_param(params)
    value = int(value) if isinstance(value, bool) else as_int(value, function)
    storage = ADMIN_SETTERS[function]
    if value < 0 and storage != "AlphaSigmoidSteepness":
        raise InvalidTransaction(f"invalid call parameter: {storage} must be non-negative")
    subnet.hyperparams[storage] = value
    ctx.emit(
        "AdminUtils",
        "HyperparameterSet",
        {"netuid": subnet.netuid, "name": storage, "value": value},
    )


for _setter in ADMIN_SETTERS:
    handler("AdminUtils", _setter)(admin_setter)


@handler("AdminUtils", "sudo_set_alpha_values")
def set_alpha_values(
    ctx: CallContext, netuid: Any, alpha_low: Any, alpha_high: Any, **_: Any
) -> None:
    _authorize(ctx, "sudo_set_alpha_values", netuid)
    subnet = ctx.subnet(netuid)
    low, high = as_int(alpha_low, "alpha_low"), as_int(alpha_high, "alpha_high")
    if not 0 < low <= high <= 65_535:
        raise DispatchError("AlphaLowOutOfRange")
    subnet.hyperparams["AlphaLow"] = low
    subnet.hyperparams["AlphaHigh"] = high


@handler("AdminUtils", "sudo_set_activity_cutoff_factor")
def set_activity_cutoff_factor(ctx: CallContext, netuid: Any, **params: Any) -> None:
    _authorize(ctx, "sudo_set_activity_cutoff_factor", netuid)
    subnet = ctx.subnet(netuid)
    factor = as_int(_value_param(params), "factor")
    # The effective cutoff is factor per-mille of a tempo.
    subnet.hyperparams["ActivityCutoff"] = factor * subnet.hp("Tempo") // 1000


@handler("AdminUtils", "sudo_set_stake_threshold")
def set_stake_threshold(ctx: CallContext, min_stake: Any, **_: Any) -> None:
    if ctx.origin != ROOT:
        raise DispatchError("BadOrigin", "this setter needs root (Sudo.sudo)", pallet="System")
    ctx.state.stake_threshold = as_int(min_stake, "min_stake")


@handler("Sudo", "sudo")
def sudo(ctx: CallContext, call: Any, **_: Any) -> None:
    signer = ctx.signed()
    if signer != ctx.state.sudo_key:
        raise DispatchError("RequireSudo", pallet="Sudo")
    inner = getattr(call, "module", None), getattr(call, "function", None)
    if inner[0] is None or ctx.dispatch is None:
        raise InvalidTransaction("invalid call parameter: Sudo.sudo needs a composed call")
    root_ctx = CallContext(
        state=ctx.state,
        block=ctx.block,
        origin=ROOT,
        events=ctx.events,
        extrinsic_index=ctx.extrinsic_index,
        dispatch=ctx.dispatch,
        function=inner[1],
    )
    try:
        ctx.dispatch(root_ctx, inner[0], inner[1], dict(call.params))
    except DispatchError as error:
        # The outer extrinsic succeeds; the inner failure lives in Sudid.
        ctx.emit("Sudo", "Sudid", {"sudo_result": {"Err": module_error(error)}})
        return
    ctx.emit("Sudo", "Sudid", {"sudo_result": {"Ok": None}})


def module_error(error: DispatchError) -> dict[str, Any]:
    """Encode a named failure as the decoded DispatchError a real node reports."""
    from wmnet.localnet.error_codes import module_error_payload

    return module_error_payload(error)
