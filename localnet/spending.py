"""What a spending intent costs, read through the one seam before anything is signed.

Commands that burn or stake TAO (register a hotkey, create a subnet, stake) show this
quote and, on a public network, ask before they submit. The figures come from the
chain and the SDK's dry run (``Client.plan``: the transaction fee), never from
constants: burn and subnet costs float with demand.

- registration burn: ``SubtensorModule.Burn[netuid]`` (``client.subnets.burn``);
- subnet creation: the network lock cost (``subnet_registration_cost``), locked as the
  owner's stake in the new subnet's pool;
- stake: the amount asked for, moved from the coldkey's free balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import bittensor as bt

RAO_PER_TAO = 1_000_000_000


def tao(rao: int) -> str:
    """``τ1.000125000``: an exact amount for people (9 decimals, no float)."""
    sign = "-" if rao < 0 else ""
    whole, frac = divmod(abs(rao), RAO_PER_TAO)
    return f"{sign}τ{whole:,}.{frac:09d}"


@dataclass(frozen=True)
class Quote:
    """One spending action on one network, in rao."""

    action: str  # "register hotkey 5F… on netuid 1"
    network: str
    coldkey: str  # who pays
    fee_rao: int | None  # the transaction fee, None when the SDK could not estimate it
    burn_rao: int = 0  # registration burn or subnet lock cost
    stake_rao: int = 0  # TAO moved into stake
    balance_rao: int | None = None  # the coldkey's free balance now
    warnings: list[str] = field(default_factory=list)

    @property
    def total_rao(self) -> int:
        return self.burn_rao + self.stake_rao + (self.fee_rao or 0)

    @property
    def affordable(self) -> bool:
        return self.balance_rao is None or self.balance_rao >= self.total_rao

    def summary(self) -> str:
        """One line: what, where, and every part of the cost."""
        parts = []
        if self.burn_rao:
            parts.append(f"cost {tao(self.burn_rao)}")
        if self.stake_rao:
            parts.append(f"stake {tao(self.stake_rao)}")
        parts.append(f"fee {tao(self.fee_rao)}" if self.fee_rao is not None else "fee unknown")
        balance = (
            f"; coldkey balance {tao(self.balance_rao)}" if self.balance_rao is not None else ""
        )
        total = f"total {tao(self.total_rao)}"
        return f"{self.action} on {self.network}: {', '.join(parts)} ({total}){balance}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "network": self.network,
            "coldkey": self.coldkey,
            "fee_rao": self.fee_rao,
            "burn_rao": self.burn_rao,
            "stake_rao": self.stake_rao,
            "total_rao": self.total_rao,
            "balance_rao": self.balance_rao,
            "warnings": self.warnings,
        }


def _rao(balance: Any) -> int:
    return int(balance.rao) if hasattr(balance, "rao") else int(balance)


async def quote(client: bt.Client, intent: Any, wallet: Any, network: str) -> Quote:
    """The cost of ``intent`` signed by ``wallet``'s coldkey, read now (nothing is signed)."""
    coldkey = wallet.coldkeypub.ss58_address
    burn = stake = 0
    if isinstance(intent, bt.BurnedRegister):
        burn = _rao(await client.subnets.burn(intent.netuid))
        action = f"register hotkey {wallet.hotkey.ss58_address} on netuid {intent.netuid}"
    elif isinstance(intent, bt.RegisterSubnet):
        burn = _rao(await client.read("subnet_registration_cost"))
        action = "create a subnet"
    elif isinstance(intent, bt.AddStake):
        stake = _rao(intent.amount_tao)
        action = f"stake onto hotkey {intent.hotkey_ss58} on netuid {intent.netuid}"
    else:
        action = str(intent.op)
    plan = await client.plan(intent, wallet)
    balance = await client.balances.get(coldkey)
    return Quote(
        action=action,
        network=network,
        coldkey=coldkey,
        fee_rao=_rao(plan.fee) if plan.fee is not None else None,
        burn_rao=burn,
        stake_rao=stake,
        balance_rao=_rao(balance),
        warnings=[*plan.warnings, *plan.violations],
    )
