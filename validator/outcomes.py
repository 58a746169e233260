"""One record per miner asked, for both workloads, and one builder of usage records.

A round (a rollout round, a training-shard round, a customer order) ends with one
:class:`MinerOutcome` per miner it asked. Code that acts on an outcome (scoring,
penalties, the ledger) branches on :class:`Reason`, a ``StrEnum`` in the manner of the
SDK's ``ErrorCode``; the free text in ``detail`` is for people (logs, the ledger's
``reason`` column) and nothing branches on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from wmnet.protocol.usage import UsageEvent
from wmnet.validator.targets import MinerTarget


class Reason(StrEnum):
    """Why an answer was accepted or scored 0 (the first check it failed).

    One enum from the wire to the ledger: the bounded miner client
    (``wmnet.validator.miner_client``) ends every exchange with one of the transport
    codes below, the binding checks, the full check and the shard checks with theirs.
    """

    OK = "ok"
    # Transport (``wmnet.validator.miner_client``): the miner did not deliver in time,
    # within the bounds, or at all. Unpaid, never a penalty.
    TIMEOUT = "timeout"  # the total deadline passed mid-exchange (a drip, a hung miner)
    LATE = "late"  # the whole answer arrived, but after the deadline
    TRANSPORT = "transport"  # refused, reset, closed mid-answer, bad HTTP
    ENCODED = "encoded"  # a Content-Encoding other than identity: refused unread
    TOO_LARGE = "too_large"  # the body passed its cap
    HTTP_ERROR = "http_error"  # a status other than 200 (the detail says which)
    MALFORMED = "malformed"  # not the protocol's model, or a value out of its bounds
    # Binding checks: the answer is not an answer to this task (score 0, no penalty:
    # the validator pays nothing for it, and it cost the miner as little as the check).
    OTHER_TASK = "other_task"
    MODEL_MISMATCH = "model_mismatch"
    BAD_SHAPE = "bad_shape"
    NON_FINITE = "non_finite"
    UNBOUND = "unbound"  # digests do not bind the latents
    # The full check (an audit, or a customer's synchronous full verification).
    OUTSIDE_TOLERANCE = "outside_tolerance"
    CHECK_REFUSED = "check_refused"  # the task itself did not fit the model: no fraud
    # Training shards (``wmnet.validator.shard_updates``, ``wmnet.validator.shards``).
    UPDATE_REFUSED = "update_refused"  # missing, not a regular file, corrupt, unreadable
    UNSIGNED = "unsigned"  # not a valid envelope by anyone for this task
    NO_GAIN = "no_gain"  # decoded, but does not help its own shard
    COPY = "copy"  # another miner's work: signed by it, or overlapping an earlier one
    # Not asked: the miner is inside a penalty window.
    PENALIZED = "penalized"

    @property
    def fraud(self) -> bool:
        """A failed audit or a copied update: what opens a penalty window. Slow, absent
        or malformed answers are not fraud, only unpaid."""
        return self in (Reason.OUTSIDE_TOLERANCE, Reason.COPY)


@dataclass(frozen=True)
class MinerOutcome:
    """What one miner delivered for one task, as the validator judged it."""

    target: MinerTarget
    request_id: str
    reason: Reason
    detail: str = ""
    units: int = 0  # the work delivered (predicted steps, samples); counted when accepted
    latency_s: float = 0.0
    deadline_s: float = 0.0
    device_seconds: float = 0.0  # the miner's own report, for utilization

    @property
    def accepted(self) -> bool:
        return self.reason is Reason.OK

    def text(self) -> str:
        return self.reason.value if not self.detail else f"{self.reason.value}: {self.detail}"


def usage_event(
    outcome: MinerOutcome,
    *,
    workload: str,
    origin: str,
    netuid: int,
    validator_hotkey: str,
    now: float | None = None,
) -> UsageEvent:
    """The ledger's usage record of an outcome (units only for accepted work)."""
    return UsageEvent(
        request_id=outcome.request_id,
        time=time.time() if now is None else now,
        netuid=netuid,
        validator_hotkey=validator_hotkey,
        miner_uid=outcome.target.uid,
        miner_hotkey=outcome.target.hotkey,
        workload=workload,  # type: ignore[arg-type]  # checked by the model
        units=outcome.units if outcome.accepted else 0,
        device_seconds=outcome.device_seconds,
        origin=origin,  # type: ignore[arg-type]
        verified=outcome.accepted,
        reason=outcome.text()[:200],
    )
