"""One report row's figures from summed usage, emission, revenue and capacity.

Units are in the field names (docs/ledger.md lists them all):

* ``emission_alpha_rao`` / ``emission_alpha``: miner emission in the subnet's alpha
  token (rao of alpha / decimal alpha);
* ``emission_tao_rao`` / ``emission_tao``: its TAO value, each epoch's part valued at
  that epoch's alpha price (floored per epoch and group);
* ``emission_value_micro`` / ``emission_value``: its currency value at each epoch's
  alpha and TAO prices (floored once per epoch and group from the exact product);
* ``revenue_micro`` / ``revenue``: customers' charges in the report's currency.

Integers carry the exact amounts; the decimal strings are the same amounts for people
(None where a price is missing, so a partial sum never reads as the whole).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from wmnet.ledger.models import MICRO, RAO_PER_TAO
from wmnet.ledger.valuation import format_scaled, tao_rao, value_micro

INFINITY = "∞"


def decimal_text(amount: int | None, scale: int) -> str | None:
    """An integer in 1/scale units as an exact decimal string; None stays None."""
    return None if amount is None else format_scaled(amount, scale)


def ratio_text(numerator: int | None, denominator: int) -> tuple[float | None, str]:
    if numerator is None:
        return None, "n/a"
    if denominator == 0:
        return (None, "n/a") if numerator == 0 else (None, INFINITY)
    value = numerator / denominator
    return value, f"{value:.3f}"


def per_unit(micro: int | None, units: int) -> str | None:
    if micro is None or units == 0:
        return None
    return f"{float(Fraction(micro, units * MICRO)):.9f}".rstrip("0").rstrip(".")


def sum_or_none(values: Iterable[int | None]) -> int | None:
    """The sum, or None when any value is unknown."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


@dataclass
class Usage:
    organic: int = 0
    synthetic: int = 0
    verified: int = 0
    units: int = 0
    device_seconds: float = 0.0

    def merge(self, other: Usage) -> None:
        self.organic += other.organic
        self.synthetic += other.synthetic
        self.verified += other.verified
        self.units += other.units
        self.device_seconds += other.device_seconds


@dataclass
class Emission:
    """Emission in rao of alpha, its TAO value (rao) and its currency value (micro-units),
    each part valued at its own epoch's prices; a value is None once any part lacks its
    price."""

    alpha_rao: int = 0
    tao_rao: int | None = 0
    value_micro: int | None = 0

    def add(self, alpha_rao: int, alpha_price_tao_rao: int | None, tao_micro: int | None) -> None:
        """One epoch's (or one epoch and group's) part, valued at that epoch's prices."""
        self.alpha_rao += alpha_rao
        self.tao_rao = sum_or_none([self.tao_rao, tao_rao(alpha_rao, alpha_price_tao_rao)])
        self.value_micro = sum_or_none(
            [self.value_micro, value_micro(alpha_rao, alpha_price_tao_rao, tao_micro)]
        )


def emission_fields(emission: Emission) -> dict[str, Any]:
    return {
        "emission_alpha_rao": emission.alpha_rao,
        "emission_alpha": format_scaled(emission.alpha_rao, RAO_PER_TAO),
        "emission_tao_rao": emission.tao_rao,
        "emission_tao": decimal_text(emission.tao_rao, RAO_PER_TAO),
        "emission_value_micro": emission.value_micro,
        "emission_value": decimal_text(emission.value_micro, MICRO),
    }


def figures(
    usage: Usage, emission: Emission, revenue: tuple[int, int], offered: float
) -> dict[str, Any]:
    """A row's figures; ``revenue`` is (charges, micro-units), ``offered`` slot-seconds."""
    ratio, ratio_label = ratio_text(emission.value_micro, revenue[1])
    utilization = usage.device_seconds / offered if offered > 0 else None
    requests = usage.organic + usage.synthetic
    return {
        "requests_organic": usage.organic,
        "requests_synthetic": usage.synthetic,
        "requests_verified": usage.verified,
        "requests_failed": requests - usage.verified,
        "units": usage.units,
        "device_seconds": round(usage.device_seconds, 6),
        "offered_slot_seconds": round(offered, 6),
        "utilization": utilization,
        "utilization_text": "n/a" if utilization is None else f"{100 * utilization:.1f}%",
        **emission_fields(emission),
        "revenue_events": revenue[0],
        "revenue_micro": revenue[1],
        "revenue": format_scaled(revenue[1], MICRO),
        "subsidy_ratio": ratio,
        "subsidy_ratio_text": ratio_label,
        "cost_per_unit": per_unit(emission.value_micro, usage.units),
    }


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of all rows together (sums; ratios recomputed from the sums)."""
    usage = Usage(
        organic=sum(r["requests_organic"] for r in rows),
        synthetic=sum(r["requests_synthetic"] for r in rows),
        verified=sum(r["requests_verified"] for r in rows),
        units=sum(r["units"] for r in rows),
        device_seconds=sum(r["device_seconds"] for r in rows),
    )
    emission = Emission(
        alpha_rao=sum(r["emission_alpha_rao"] for r in rows),
        tao_rao=sum_or_none(r["emission_tao_rao"] for r in rows),
        value_micro=sum_or_none(r["emission_value_micro"] for r in rows),
    )
    revenue = (sum(r["revenue_events"] for r in rows), sum(r["revenue_micro"] for r in rows))
    offered = sum(r["offered_slot_seconds"] for r in rows)
    return {"key": "total", **figures(usage, emission, revenue, offered)}
