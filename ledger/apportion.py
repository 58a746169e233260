"""Largest-remainder (Hamilton) apportionment in exact integers.

Split ``total`` indivisible units (rao) across keys in proportion to integer weights
so the parts sum to ``total`` exactly: each key first gets the floor of its exact
quota ``total * w / W``; the units left over (fewer than the number of keys) go one
each to the keys with the largest remainders ``total * w mod W``, ties to the key
that sorts first. No floating point is involved, so nothing drifts.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def apportion(total: int, weights: Mapping[K, int]) -> dict[K, int]:
    """``total`` split by ``weights`` (non-negative integers); empty when all are zero."""
    if total < 0:
        raise ValueError("total must be non-negative")
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must be non-negative")
    denominator = sum(weights.values())
    if denominator == 0:
        return {}
    parts: dict[K, int] = {}
    remainders: list[tuple[int, int, K]] = []
    for order, (key, weight) in enumerate(sorted(weights.items(), key=lambda kv: str(kv[0]))):
        quotient, remainder = divmod(total * weight, denominator)
        parts[key] = quotient
        remainders.append((-remainder, order, key))
    left = total - sum(parts.values())
    for _, _, key in sorted(remainders)[:left]:
        parts[key] += 1
    return parts
