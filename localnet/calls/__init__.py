"""Extrinsic handlers, one module per pallet area, registered by (module, function).

A handler checks every condition first and only then mutates state, so a
failed dispatch leaves state as it was (subtensor gets the same from its
storage transaction layer). It raises :class:`DispatchError` with subtensor's
error name on failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wmnet.localnet.errors import DispatchError, InvalidTransaction
from wmnet.localnet.state import ChainState, Subnet

ROOT = "<root>"


@dataclass
class CallContext:
    """What a handler sees: the state, the block being built, and who called."""

    state: ChainState
    block: int
    origin: str  # signer ss58, or ROOT for a sudo-dispatched call
    events: list[dict[str, Any]] = field(default_factory=list)
    extrinsic_index: int = 0
    # Hook the chain installs so Sudo.sudo can dispatch its inner call.
    dispatch: Callable[[CallContext, str, str, dict[str, Any]], None] | None = None
    function: str = ""
    # Signers whose shielded inner extrinsic this carrier releases.
    release_shielded: list[str] = field(default_factory=list)

    def emit(self, module: str, event: str, attributes: Any) -> None:
        self.events.append(
            {
                "phase": {"ApplyExtrinsic": self.extrinsic_index},
                "extrinsic_idx": self.extrinsic_index,
                "event": {"module_id": module, "event_id": event, "attributes": attributes},
                "topics": [],
            }
        )

    def subnet(self, netuid: Any, missing: str = "SubnetNotExists") -> Subnet:
        netuid = as_int(netuid, "netuid")
        subnet = self.state.subnets.get(netuid)
        if subnet is None:
            raise DispatchError(missing)
        return subnet

    def signed(self) -> str:
        if self.origin == ROOT:
            raise DispatchError("BadOrigin", "a signed origin is required", pallet="System")
        return self.origin


Handler = Callable[..., None]
HANDLERS: dict[tuple[str, str], Handler] = {}


def handler(module: str, *functions: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for function in functions:
            HANDLERS[(module, function)] = fn
        return fn

    return register


def as_int(value: Any, name: str) -> int:
    """Coerce a decoded integer parameter, refusing anything that is not one."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise InvalidTransaction(
            f"invalid call parameter: {name} must be an integer, got {value!r}"
        )
    return value


def as_u16_list(value: Any, name: str) -> list[int]:
    if not isinstance(value, (list, tuple)):
        raise InvalidTransaction(f"invalid call parameter: {name} must be a list of integers")
    out = [as_int(v, name) for v in value]
    if any(v < 0 or v > 65_535 for v in out):
        raise InvalidTransaction(f"invalid call parameter: {name} entries must fit in u16")
    return out


def as_address(value: Any, name: str) -> str:
    from wmnet.localnet.keys import is_ss58

    if isinstance(value, dict) and "Id" in value:  # MultiAddress::Id
        value = value["Id"]
    if not isinstance(value, str) or not is_ss58(value):
        raise InvalidTransaction(
            f"invalid call parameter: {name} must be an ss58 address, got {value!r}"
        )
    return value


def load_all() -> None:
    """Import every handler module so its registrations run."""
    from wmnet.localnet.calls import (  # noqa: F401
        admin,
        balances,
        mev,
        registration,
        serving,
        staking,
        subnets,
        weights,
    )
