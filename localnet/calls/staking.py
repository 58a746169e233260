"""Staking: TAO in, alpha out, at a fixed price of 1 alpha = 1 TAO.

Simplification (docs/localnet.md): the local chain has no AMM pool, so a
stake swap never slips and costs no swap fee. Everything else a subnet test
depends on — who holds stake, how much, on which hotkey — is kept exactly.
"""

from __future__ import annotations

from typing import Any

from wmnet.localnet.calls import CallContext, as_address, as_int, handler
from wmnet.localnet.errors import DispatchError
from wmnet.localnet.params import DEFAULT_MIN_STAKE_RAO, RAO_PER_TAO
from wmnet.localnet.state import stake_key

ALPHA_PRICE_RAO = RAO_PER_TAO  # rao per alpha


def _check_stake_target(ctx: CallContext, hotkey: str, netuid: int) -> None:
    subnet = ctx.subnet(netuid)
    if hotkey not in ctx.state.hotkey_owner:
        raise DispatchError("HotKeyAccountNotExists")
    if subnet.first_emission_block is None:
        raise DispatchError("SubtokenDisabled")


@handler("SubtensorModule", "add_stake", "add_stake_limit")
def add_stake(
    ctx: CallContext,
    hotkey: Any,
    netuid: Any,
    amount_staked: Any,
    limit_price: Any = None,
    **_: Any,
) -> None:
    coldkey = ctx.signed()
    hotkey = as_address(hotkey, "hotkey")
    netuid, amount = as_int(netuid, "netuid"), as_int(amount_staked, "amount_staked")
    _check_stake_target(ctx, hotkey, netuid)
    if amount < DEFAULT_MIN_STAKE_RAO:
        raise DispatchError("AmountTooLow")
    if limit_price is not None and as_int(limit_price, "limit_price") < ALPHA_PRICE_RAO:
        raise DispatchError("SlippageTooHigh")
    account = ctx.state.account(coldkey)
    if account.free < amount:
        raise DispatchError("NotEnoughBalanceToStake")
    account.free -= amount
    key = stake_key(hotkey, coldkey, netuid)
    ctx.state.stakes[key] = ctx.state.stakes.get(key, 0) + amount
    ctx.emit("SubtensorModule", "StakeAdded", [coldkey, hotkey, amount, amount, netuid, 0])


@handler("SubtensorModule", "remove_stake", "remove_stake_limit")
def remove_stake(
    ctx: CallContext,
    hotkey: Any,
    netuid: Any,
    amount_unstaked: Any,
    limit_price: Any = None,
    **_: Any,
) -> None:
    coldkey = ctx.signed()
    hotkey = as_address(hotkey, "hotkey")
    netuid, amount = as_int(netuid, "netuid"), as_int(amount_unstaked, "amount_unstaked")
    _check_stake_target(ctx, hotkey, netuid)
    key = stake_key(hotkey, coldkey, netuid)
    held = ctx.state.stakes.get(key, 0)
    if amount <= 0 or held < amount:
        raise DispatchError("NotEnoughStakeToWithdraw")
    if 0 < held - amount < DEFAULT_MIN_STAKE_RAO:
        raise DispatchError("AmountTooLow")
    if limit_price is not None and as_int(limit_price, "limit_price") > ALPHA_PRICE_RAO:
        raise DispatchError("SlippageTooHigh")
    ctx.state.stakes[key] = held - amount
    ctx.state.account(coldkey).free += amount
    ctx.emit("SubtensorModule", "StakeRemoved", [coldkey, hotkey, amount, amount, netuid, 0])
