"""What a validator reports to the ledger: usage events and weight attribution.

Both are pydantic records with a ``kind`` tag, so one JSON-lines stream can carry
both and a reader validates every line before trusting it.

* :class:`UsageEvent`: one answered (or failed) request: who did the work, how much
  (``units``: predicted steps for a rollout, samples for a training shard), the
  miner's device seconds, whether it was a validator's probe (``synthetic``) or a
  paying customer's request (``organic``), and whether it passed verification.
* :class:`WeightAttribution`: when a validator sets weights, how much of each miner's
  weight came from each workload, so the ledger can split that miner's emission
  across workloads (subsidy per workload).
* :class:`CapacityRecord`: a miner's ``/v1/capacity`` answer as the validator saw it
  (the offered capacity behind the ledger's utilization figure).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.spec import MAX_REPORTED_MS, Workload

# No NaN or infinity anywhere: one such value would poison every sum the ledger takes.
_RECORD = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
_MAX_UNITS = 2**62  # the ledger's BIGINT columns, with room to sum


class UsageEvent(BaseModel):
    model_config = _RECORD
    kind: Literal["usage"] = "usage"
    request_id: str = Field(min_length=1, max_length=128)
    time: float  # unix seconds
    netuid: int = Field(ge=0, le=65535)
    validator_hotkey: str = Field(max_length=64)
    miner_uid: int = Field(ge=0, le=65535)
    miner_hotkey: str = Field(max_length=64)
    workload: Workload
    units: int = Field(ge=0, le=_MAX_UNITS)
    device_seconds: float = Field(ge=0, le=MAX_REPORTED_MS / 1000)
    origin: Literal["synthetic", "organic"]
    verified: bool
    reason: str = Field(max_length=200)  # "ok" or why the answer failed


class WeightAttribution(BaseModel):
    """One miner's row of a validator's weights set at ``block``; ``by_workload`` are
    the shares of ``weight`` earned by each workload (summing to 1)."""

    model_config = _RECORD
    kind: Literal["attribution"] = "attribution"
    time: float
    netuid: int = Field(ge=0, le=65535)
    block: int = Field(ge=0)
    validator_hotkey: str = Field(max_length=64)
    miner_uid: int = Field(ge=0, le=65535)
    miner_hotkey: str = Field(max_length=64)
    weight: float = Field(ge=0, le=1)
    by_workload: dict[Workload, float]

    @model_validator(mode="after")
    def _shares(self) -> WeightAttribution:
        total = sum(self.by_workload.values())
        if any(v < 0 for v in self.by_workload.values()) or abs(total - 1.0) > 1e-6:
            raise ValueError("by_workload shares must be non-negative and sum to 1")
        return self


class CapacityRecord(BaseModel):
    model_config = _RECORD
    kind: Literal["capacity"] = "capacity"
    netuid: int = Field(ge=0, le=65535)
    miner_uid: int = Field(ge=0, le=65535)
    report: CapacityReport


# One line of a validator's usage stream: any of the three, told apart by ``kind``.
UsageRecord = Annotated[
    UsageEvent | WeightAttribution | CapacityRecord, Field(discriminator="kind")
]
