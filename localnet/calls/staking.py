"""Staking: TAO in, alpha out, at a fixed price of 1 alpha = 1 TAO.

Simplification (docs/localnet.md): the local chain has no AMM pool, so a
stake swap never slips and costs no swap fee. Everything else a subnet test
depends on — who holds stake, how much, on which hotkey — is kept exactly.
"""

from __future__ import annotations

from wmnet.localnet.calls import CallContext, handler
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
    hotkey: str,
    netuid: int,
    amount_staked: int,
    limit_price: int | None = None,
    allow_partial: bool = False,
) -> None:
    coldkey = ctx.signed()
    amount = amount_staked
    _check_stake_target(ctx, hotkey, netuid)
    if amount < DEFAULT_MIN_STAKE_RAO:
        raise DispatchError("AmountTooLow")
    if limit_price is not None and limit_price < ALPHA_PRICE_RAO:
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
    hotkey: str,
    netuid: int,
    amount_unstaked: int,
    limit_price: int | None = None,
    allow_partial: bool = False,
) -> None:
    coldkey = ctx.signed()
    amount = amount_unstaked
    _check_stake_target(ctx, hotkey, netuid)
    key = stake_key(hotkey, coldkey, netuid)
    held = ctx.state.stakes.get(key, 0)
    if amount <= 0 or held < amount:
        raise DispatchError("NotEnoughStakeToWithdraw")
    if 0 < held - amount < DEFAULT_MIN_STAKE_RAO:
        raise DispatchError("AmountTooLow")
    if limit_price is not None and limit_price > ALPHA_PRICE_RAO:
        raise DispatchError("SlippageTooHigh")
    ctx.state.stakes[key] = held - amount
    ctx.state.account(coldkey).free += amount
    ctx.emit("SubtensorModule", "StakeRemoved", [coldkey, hotkey, amount, amount, netuid, 0])
