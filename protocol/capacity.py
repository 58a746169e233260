"""``GET /v1/capacity``: what a miner offers right now (the ledger's utilization base)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from wmnet.protocol.spec import SPEC_VERSION, Precision, Workload


class CapacityReport(BaseModel):
    """One miner's offered capacity at ``time`` (unix seconds).

    ``slots`` is how many tasks it runs at once (its largest batch), ``queue_limit``
    how many more it will hold before answering 503; ``busy_fraction`` is the share of
    the last ``window_s`` seconds its device spent computing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    spec_version: int = SPEC_VERSION
    hotkey: str = Field(max_length=64)
    time: float
    device: str = Field(max_length=32)
    device_name: str = Field(max_length=128)
    workloads: list[Workload]
    precisions: list[Precision]
    models_loaded: list[str] = Field(max_length=64)
    slots: int = Field(ge=0)
    queue_limit: int = Field(ge=0)
    queue_depth: int = Field(ge=0)
    free_slots: int = Field(ge=0)
    busy_fraction: float = Field(ge=0, le=1)
    window_s: float = Field(gt=0)
