"""Prices used to value emission: alpha→TAO from the chain, TAO→currency from
configuration, both as exact integers with the source each came from.

* ``alpha_price_rao``: TAO rao per whole alpha (``10**9`` is 1 α = 1 TAO, as on wmnet's
  chain). Read from the subnet pool (``tao_in * 1e9 // alpha_in``) unless configured.
* ``tao_price_micro``: currency micro-units per whole TAO, from ``--tao-price`` or
  ``WMNET_TAO_PRICE`` (a decimal such as ``312.5``); None when not configured, and
  then nothing is valued in currency (reports say so).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

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


@dataclass(frozen=True)
class Valuation:
    currency: str = DEFAULT_CURRENCY
    tao_price_micro: int | None = None
    tao_price_source: str = "not configured (set --tao-price or WMNET_TAO_PRICE)"
    alpha_price_rao: int | None = None  # None: read the pool price from the chain
    alpha_price_source: str = ""

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
            fields["alpha_price_rao"] = parse_decimal(alpha_price, RAO_PER_TAO, "--alpha-price")
            fields["alpha_price_source"] = f"config: --alpha-price {alpha_price}"
        return cls(**fields)


def value_micro(rao: int, alpha_price_rao: int, tao_price_micro: int | None) -> int | None:
    """Alpha rao valued in currency micro-units (floored), None without a TAO price."""
    if tao_price_micro is None:
        return None
    return rao * alpha_price_rao * tao_price_micro // (RAO_PER_TAO * RAO_PER_TAO)
