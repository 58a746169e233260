"""Setting weights through the SDK, without ever crashing the loop.

Each tempo the validator turns its moving scores into one weight vector and submits
``bittensor.SetWeights`` (on a real chain with commit-reveal on the SDK turns it into a
timelocked commit). A refusal is normal life on a chain: the SDK's preflight raises
``ChainError`` with code ``rate_limited`` when it is too soon, and the chain answers
``success=False`` for others. Both are retried with exponential backoff, bounded, and
the outcome is returned, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import bittensor as bt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightOutcome:
    ok: bool
    attempts: int
    message: str


async def set_weights(
    client: bt.Client,
    wallet: Any,
    netuid: int,
    weights: dict[int, float],
    *,
    attempts: int = 4,
    backoff_s: float = 0.5,
) -> WeightOutcome:
    """Submit ``weights`` (uid -> weight); retries with backoff, never raises."""
    if not weights:
        return WeightOutcome(False, 0, "no miner has a positive score yet")
    uids = sorted(weights)
    intent = bt.SetWeights(netuid=netuid, uids=uids, weights=[weights[u] for u in uids])
    message = ""
    for attempt in range(1, attempts + 1):
        try:
            result = await client.execute(intent, wallet)
            if result.success:
                return WeightOutcome(True, attempt, "ok")
            message = str(result.message)
        except Exception as exc:  # noqa: BLE001 - the chain's refusal must not kill the loop
            message = f"{type(exc).__name__}: {exc}"
        log.warning("set_weights attempt %d/%d refused: %s", attempt, attempts, message)
        if attempt < attempts:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
    return WeightOutcome(False, attempts, message)
