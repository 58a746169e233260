"""Setting weights through the SDK: one attempt per call, never raising, and saying
how long to wait when the chain says so.

Each tempo the validator turns its moving scores into one weight vector and submits
``bittensor.SetWeights`` (on a chain with commit-reveal on, the SDK turns it into a
timelocked commit). A refusal is normal life on a chain and comes back as a
:class:`WeightOutcome`:

- **rate limited**: subtensor accepts a validator's weights only when
  ``block - LastUpdate[uid] >= WeightsSetRateLimit`` or it never set any
  (``check_rate_limit``, ``pallets/subtensor/src/subnets/weights.rs``). The SDK's
  ``SetWeights`` preflight checks the same and raises ``ChainError(code=RATE_LIMITED)``,
  "… Retry in ~N blocks". The outcome says how many blocks to wait, from the SDK's
  message or, when it has none, from those two storage items; retrying sooner only
  collects more refusals.
- **refused** for another reason (no permit, a pool rejection, the chain down): the
  caller decides when to try again (the loop backs off in blocks).

Nothing here sleeps: a validator's rounds go on while it waits for its next chance.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import bittensor as bt
from bittensor.result import ChainError, ErrorCode

log = logging.getLogger(__name__)

_RETRY_IN = re.compile(r"retry in ~?(\d+) blocks?", re.IGNORECASE)


class WeightRefusal(StrEnum):
    NO_SCORES = "no_scores"  # nothing to set yet: no miner has a positive score
    RATE_LIMITED = "rate_limited"  # too soon after the last weights; wait retry_in_blocks
    REFUSED = "refused"  # the SDK or the chain said no for another reason


@dataclass(frozen=True)
class WeightOutcome:
    ok: bool
    attempts: int
    message: str
    refusal: WeightRefusal | None = None
    retry_in_blocks: int | None = None  # RATE_LIMITED: blocks until the chain allows it


async def blocks_until_allowed(client: bt.Client, netuid: int, hotkey: str) -> int:
    """Blocks until ``hotkey`` may set weights on ``netuid`` again (0: now), read the way
    subtensor decides it: ``WeightsSetRateLimit`` against this uid's ``LastUpdate``."""
    block = await client.block()
    uid = await client.query(("SubtensorModule", "Uids"), [netuid, hotkey], block=block)
    limit = int(await client.query(("SubtensorModule", "WeightsSetRateLimit"), [netuid]) or 0)
    # LastUpdate is keyed by the mechanism's storage index: the netuid for mechanism 0.
    last = await client.query(("SubtensorModule", "LastUpdate"), [netuid], block=block)
    if uid is None or not limit or not isinstance(last, list | tuple) or int(uid) >= len(last):
        return 0
    last_update = int(last[int(uid)])
    if last_update == 0:  # never set: subtensor lets the first weights through
        return 0
    return max(0, limit - (block - last_update))


async def _wait_stated(client: bt.Client, message: str, netuid: int, hotkey: str) -> int:
    found = _RETRY_IN.search(message)
    if found:
        return max(1, int(found.group(1)))
    try:
        return max(1, await blocks_until_allowed(client, netuid, hotkey))
    except Exception:  # noqa: BLE001 - a read failing here only loses the precise wait
        return 1


def _is_rate_limit(error: BaseException | str) -> bool:
    if isinstance(error, ChainError):
        return error.code == ErrorCode.RATE_LIMITED
    text = str(error).lower()
    return "toofast" in text.replace(" ", "") or "rate limit" in text


async def set_weights(
    client: bt.Client, wallet: Any, netuid: int, weights: dict[int, float]
) -> WeightOutcome:
    """Submit ``weights`` (uid -> weight) once; the outcome says what happened, never raises."""
    if not weights:
        return WeightOutcome(
            False, 0, "no miner has a positive score yet", refusal=WeightRefusal.NO_SCORES
        )
    uids = sorted(weights)
    intent = bt.SetWeights(netuid=netuid, uids=uids, weights=[weights[u] for u in uids])
    hotkey = wallet.hotkey.ss58_address
    try:
        # Included is enough to know the outcome; waiting for finality would only hold
        # the loop for more blocks.
        result = await client.execute(intent, wallet, wait_for_finalization=False)
    except Exception as error:  # noqa: BLE001 - the chain's refusal must not end the loop
        message = f"{type(error).__name__}: {error}"
        if _is_rate_limit(error):
            wait = await _wait_stated(client, str(error), netuid, hotkey)
            return WeightOutcome(False, 1, message, WeightRefusal.RATE_LIMITED, wait)
        return WeightOutcome(False, 1, message, WeightRefusal.REFUSED)
    if result.success:
        return WeightOutcome(True, 1, "ok")
    message = str(result.message)
    if _is_rate_limit(message):  # the chain's own SettingWeightsTooFast
        wait = await _wait_stated(client, message, netuid, hotkey)
        return WeightOutcome(False, 1, message, WeightRefusal.RATE_LIMITED, wait)
    return WeightOutcome(False, 1, message, WeightRefusal.REFUSED)
