"""``GET /v1/capacity``: what a miner offers right now (the ledger's utilization base).

Every value is bounded here, before anything stores or uses it: counts within
``MAX_SLOTS`` / ``MAX_QUEUE`` (the ledger's columns are int32), finite times, a
``window_s`` of at most a day, each workload and precision named once. A report outside
them is refused whole (the validator records nothing for that miner this refresh).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from wmnet.protocol.spec import (
    MAX_QUEUE,
    MAX_SLOTS,
    MAX_WINDOW_S,
    PRECISIONS,
    SPEC_VERSION,
    WORKLOADS,
    Precision,
    Workload,
)

ModelName = Annotated[str, Field(pattern=r"^[0-9a-f]{12,64}$")]
# Unix seconds from 1970 to 2100: finite, and exact in a float64 column.
UnixTime = Annotated[float, Field(ge=0, le=4_102_444_800)]


def _unique(items: list) -> list:
    if len(set(items)) != len(items):
        raise ValueError("each entry may appear once")
    return items


class CapacityReport(BaseModel):
    """One miner's offered capacity at ``time`` (unix seconds).

    ``slots`` is how many tasks it runs at once (its largest batch), ``queue_limit``
    how many more it will hold before answering 503; ``busy_fraction`` is the share of
    the last ``window_s`` seconds its device spent computing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    spec_version: int = SPEC_VERSION
    hotkey: str = Field(max_length=64)
    time: UnixTime
    device: str = Field(max_length=32)
    device_name: str = Field(max_length=128)
    workloads: Annotated[list[Workload], Field(max_length=len(WORKLOADS)), AfterValidator(_unique)]
    precisions: Annotated[
        list[Precision], Field(max_length=len(PRECISIONS)), AfterValidator(_unique)
    ]
    models_loaded: Annotated[list[ModelName], Field(max_length=64), AfterValidator(_unique)]
    slots: int = Field(ge=0, le=MAX_SLOTS)
    queue_limit: int = Field(ge=0, le=MAX_QUEUE)
    queue_depth: int = Field(ge=0, le=MAX_QUEUE)
    free_slots: int = Field(ge=0, le=MAX_SLOTS)
    busy_fraction: float = Field(ge=0, le=1)
    window_s: float = Field(gt=0, le=MAX_WINDOW_S)

    @model_validator(mode="after")
    def _consistent(self) -> CapacityReport:
        if self.free_slots > self.slots:
            raise ValueError("free_slots cannot exceed slots")
        return self
