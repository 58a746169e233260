"""Extrinsic handlers, one module per pallet area, registered by (module, function).

A handler checks every condition first and only then mutates state, so a
failed dispatch leaves state as it was (subtensor gets the same from its
storage transaction layer). It raises :class:`DispatchError` with subtensor's
error name on failure. Parameters arrive decoded and complete: the pool
refuses a call whose parameters do not decode (calls/schema.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wmnet.localnet.calls.schema import schema_for
from wmnet.localnet.errors import DispatchError
from wmnet.localnet.registry import Registry
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

    def subnet(self, netuid: int, missing: str = "SubnetNotExists") -> Subnet:
        subnet = self.state.subnets.get(netuid)
        if subnet is None:
            raise DispatchError(missing)
        return subnet

    def signed(self) -> str:
        if self.origin == ROOT:
            raise DispatchError("BadOrigin", "a signed origin is required", pallet="System")
        return self.origin


Handler = Callable[..., None]
HANDLERS: Registry[tuple[str, str], Handler] = Registry("call handler")


def handler(module: str, *functions: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` for each ``module.function``; each must have a parameter schema.

    The handler is called with exactly the schema's parameters, already
    decoded (calls/schema.py), so it never sees a malformed value.
    """

    def register(fn: Handler) -> Handler:
        for function in functions:
            schema_for(module, function)  # fails at import for a call with no schema
            HANDLERS.add((module, function), fn)
        return fn

    return register


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
