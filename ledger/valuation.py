"""Prices used to value emission: alpha→TAO from the chain (or the operator),
TAO→currency from configuration, both as exact integers with the source each came from.

Emission on a subnet is paid in the subnet's alpha token, not TAO. Three amounts are
kept apart: alpha (rao of alpha), its TAO value at the epoch's alpha price (rao of
TAO) and its currency value (micro-units).

* ``alpha_price_tao_rao``: TAO rao per whole alpha (``10**9`` is 1 α = 1 TAO, as on
  wmnet's chain). Read per epoch at the epoch's block from the runtime's own spot price,
  ``SwapRuntimeApi.current_alpha_price`` (subtensor's swap pallet ``current_price``
  × 1e9: the subnet pool's balancer price over its reserves ``SubnetTAO`` and
  ``SubnetAlphaIn``, 1 for a subnet without a pool; the SDK reads the same call for its
  limit prices). A runtime without that API falls back to the reserves' ratio
  ``tao_in * 1e9 // alpha_in`` (the SDK's ``Metagraph.price``). ``--alpha-price``
  overrides the chain. None when neither gives one (an empty pool): that epoch's
  emission then has no TAO (nor currency) value, and reports say so rather than assume
  1 α = 1 TAO.
* ``tao_price_micro``: currency micro-units per whole TAO, from ``--tao-price`` or
  ``WMNET_TAO_PRICE`` (a decimal such as ``312.5``); None when not configured, and
  then nothing is valued in currency (reports say so).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from wmnet.ledger.models import MICRO, RAO_PER_TAO

ENV_TAO_PRICE = "WMNET_TAO_PRICE"
ENV_CURRENCY = "WMNET_CURRENCY"
DEFAULT_CURRENCY = "USD"


def parse_decimal(text: str, scale: int, what: str) -> int:
    """``"312.5"`` with ``scale`` 1e6 → 312_500_000, exactly; ValueError otherwise."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"{what} must be a decimal number, not {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a finite non-negative number, not {text!r}")
    scaled = value * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {text!r} has more precision than 1/{scale} of a unit")
    return int(scaled)


def format_scaled(value: int, scale: int) -> str:
    """An integer amount in 1/scale units as an exact decimal string (``1500000``, 1e6 →
    ``"1.5"``)."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), scale)
    digits = len(str(scale)) - 1
    text = f"{whole}.{frac:0{digits}d}".rstrip("0").rstrip(".")
    return sign + text


class PriceOrigin(StrEnum):
    """Where an epoch's alpha price came from (``epochs.alpha_price_origin``)."""

    CHAIN = "chain"  # the subnet pool at the epoch's block
    CONFIG = "config"  # the operator's --alpha-price
    MISSING = "missing"  # nobody gave one: no TAO value


@dataclass(frozen=True)
class AlphaPrice:
    """TAO rao per whole alpha (None when unknown), where it came from, and the pool
    reserves (rao of TAO, rao of alpha) a chain price was computed from."""

    tao_rao: int | None
    origin: PriceOrigin
    source: str
    pool_tao_rao: int | None = None
    pool_alpha_rao: int | None = None

    @classmethod
    def from_chain(cls, spot: int | None, tao_in: int, alpha_in: int, block: int) -> AlphaPrice:
        """The price at ``block``: the runtime's spot price ``spot`` (TAO rao per alpha;
        None when the runtime lacks the call), else the pool reserves' ratio."""
        if spot is not None and spot > 0:
            source = f"chain: SwapRuntimeApi.current_alpha_price at block {block}"
            return cls(spot, PriceOrigin.CHAIN, source, tao_in, alpha_in)
        if spot is None and alpha_in > 0:
            source = f"chain: pool tao_in/alpha_in at block {block} (no SwapRuntimeApi)"
            return cls(
                tao_in * RAO_PER_TAO // alpha_in, PriceOrigin.CHAIN, source, tao_in, alpha_in
            )
        return cls(
            None,
            PriceOrigin.MISSING,
            f"missing: the chain reported no alpha price at block {block} (give --alpha-price)",
            tao_in,
            alpha_in,
        )


@dataclass(frozen=True)
class Valuation:
    currency: str = DEFAULT_CURRENCY
    tao_price_micro: int | None = None
    tao_price_source: str = "not configured (set --tao-price or WMNET_TAO_PRICE)"
    alpha_price: AlphaPrice | None = None  # None: read each epoch's price from the chain

    @classmethod
    def from_config(
        cls,
        tao_price: str | None = None,
        currency: str | None = None,
        alpha_price: str | None = None,
    ) -> Valuation:
        """From explicit options, else the environment (``WMNET_TAO_PRICE``,
        ``WMNET_CURRENCY``)."""
        currency = (currency or os.environ.get(ENV_CURRENCY) or DEFAULT_CURRENCY).upper()
        if not currency.isalnum() or len(currency) > 8:
            raise ValueError(f"currency must be a short code such as USD, not {currency!r}")
        fields: dict = {"currency": currency}
        if tao_price is not None:
            fields["tao_price_micro"] = parse_decimal(tao_price, MICRO, "--tao-price")
            fields["tao_price_source"] = f"config: --tao-price {tao_price}"
        elif os.environ.get(ENV_TAO_PRICE):
            text = os.environ[ENV_TAO_PRICE]
            fields["tao_price_micro"] = parse_decimal(text, MICRO, ENV_TAO_PRICE)
            fields["tao_price_source"] = f"config: {ENV_TAO_PRICE}={text}"
        if alpha_price is not None:
            price = parse_decimal(alpha_price, RAO_PER_TAO, "--alpha-price")
            if price == 0:
                raise ValueError("--alpha-price must be above 0 (TAO per alpha)")
            fields["alpha_price"] = AlphaPrice(
                price, PriceOrigin.CONFIG, f"config: --alpha-price {alpha_price}"
            )
        return cls(**fields)


def tao_rao(alpha_rao: int, alpha_price_tao_rao: int | None) -> int | None:
    """Rao of alpha valued in rao of TAO at the alpha price (floored); None without one."""
    if alpha_price_tao_rao is None:
        return None
    return alpha_rao * alpha_price_tao_rao // RAO_PER_TAO


def value_micro(
    alpha_rao: int, alpha_price_tao_rao: int | None, tao_price_micro: int | None
) -> int | None:
    """Rao of alpha valued in currency micro-units (floored once, from the exact product),
    None without both prices."""
    if alpha_price_tao_rao is None or tao_price_micro is None:
        return None
    return alpha_rao * alpha_price_tao_rao * tao_price_micro // (RAO_PER_TAO * RAO_PER_TAO)
