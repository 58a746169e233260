"""Balances pallet: transfers between accounts."""

from __future__ import annotations

from wmnet.localnet.calls import CallContext, handler
from wmnet.localnet.errors import DispatchError
from wmnet.localnet.params import EXISTENTIAL_DEPOSIT_RAO


def move_free(ctx: CallContext, source: str, dest: str, amount: int, *, keep_alive: bool) -> None:
    payer = ctx.state.account(source)
    if payer.free < amount:
        raise DispatchError("InsufficientBalance", pallet="Balances")
    remaining = payer.free - amount
    if keep_alive and 0 < remaining < EXISTENTIAL_DEPOSIT_RAO or keep_alive and remaining == 0:
        raise DispatchError("Expendability", pallet="Balances")
    existing = ctx.state.find_account(dest)
    if (existing.free if existing else 0) + amount < EXISTENTIAL_DEPOSIT_RAO:
        raise DispatchError("ExistentialDeposit", pallet="Balances")
    payer.free = remaining
    # Only a transfer that succeeds creates the receiving account.
    ctx.state.account(dest).free += amount
    ctx.emit("Balances", "Transfer", {"from": source, "to": dest, "amount": amount})


@handler("Balances", "transfer_keep_alive", "transfer_allow_death")
def transfer(ctx: CallContext, dest: str, value: int) -> None:
    source = ctx.signed()
    keep_alive = ctx.function == "transfer_keep_alive"
    move_free(ctx, source, dest, value, keep_alive=keep_alive)


@handler("Balances", "transfer_all")
def transfer_all(ctx: CallContext, dest: str, keep_alive: bool) -> None:
    source = ctx.signed()
    free = ctx.state.account(source).free
    amount = free - EXISTENTIAL_DEPOSIT_RAO if keep_alive else free
    move_free(ctx, source, dest, max(amount, 0), keep_alive=keep_alive)
