"""Balances pallet: transfers between accounts."""

from __future__ import annotations

from typing import Any

from wmnet.localnet.calls import CallContext, as_address, as_int, handler
from wmnet.localnet.errors import DispatchError, InvalidTransaction
from wmnet.localnet.params import EXISTENTIAL_DEPOSIT_RAO


def move_free(ctx: CallContext, source: str, dest: str, amount: int, *, keep_alive: bool) -> None:
    if amount < 0:
        raise InvalidTransaction("invalid call parameter: amount must be non-negative")
    payer = ctx.state.account(source)
    if payer.free < amount:
        raise DispatchError("InsufficientBalance", pallet="Balances")
    remaining = payer.free - amount
    if keep_alive and 0 < remaining < EXISTENTIAL_DEPOSIT_RAO or keep_alive and remaining == 0:
        raise DispatchError("Expendability", pallet="Balances")
    receiver = ctx.state.account(dest)
    if receiver.free + amount < EXISTENTIAL_DEPOSIT_RAO:
        raise DispatchError("ExistentialDeposit", pallet="Balances")
    payer.free = remaining
    receiver.free += amount
    ctx.emit("Balances", "Transfer", {"from": source, "to": dest, "amount": amount})


@handler("Balances", "transfer_keep_alive", "transfer_allow_death")
def transfer(ctx: CallContext, dest: Any, value: Any, **_: Any) -> None:
    source = ctx.signed()
    keep_alive = ctx.function == "transfer_keep_alive"
    move_free(ctx, source, as_address(dest, "dest"), as_int(value, "value"), keep_alive=keep_alive)


@handler("Balances", "transfer_all")
def transfer_all(ctx: CallContext, dest: Any, keep_alive: Any = False, **_: Any) -> None:
    source = ctx.signed()
    free = ctx.state.account(source).free
    amount = free - EXISTENTIAL_DEPOSIT_RAO if keep_alive else free
    move_free(ctx, source, as_address(dest, "dest"), max(amount, 0), keep_alive=bool(keep_alive))
