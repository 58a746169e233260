"""The customer gateway on the wire: what a paying customer sends and gets back.

A customer authenticates with an API key (``Authorization: Bearer wmk_…``) and names
each request with an ``Idempotency-Key`` header: the key is bound to the request's
SHA-256 (of its canonical JSON), a retry under the same key is charged once and gets
the same answer, and the key with another request is refused (409). Money is in
integer micro-units of the ledger's currency.

``verification``: ``"sampled"`` (default) answers once the binding checks pass; a
sample of orders is audited afterwards and a failed audit refunds the order.
``"full"`` runs the teacher-forced check before answering, at the price table's
full-check multiple.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wmnet.protocol.rollout import Action, Context, ModelId, RolloutResult
from wmnet.protocol.spec import MAX_DEADLINE_MS, MAX_HORIZON, MIN_DEADLINE_MS, Precision

GATEWAY_ROLLOUTS_PATH = "/v1/rollouts"
GATEWAY_QUOTE_PATH = "/v1/quote"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class CustomerRolloutRequest(BaseModel):
    """``POST /v1/rollouts``: the rollout a customer wants (the gateway adds the task id
    and picks the miners). ``model_id`` defaults to the validator's reference model."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    model_id: ModelId | None = None
    context: Context
    actions: list[Action] = Field(min_length=1, max_length=MAX_HORIZON)
    precision: Precision = "fp32"
    deadline_ms: int = Field(default=30_000, ge=MIN_DEADLINE_MS, le=MAX_DEADLINE_MS)
    return_frames: bool = False
    verification: Literal["sampled", "full"] = "sampled"

    def canonical(self) -> bytes:
        """The request as the gateway stores it (defaults filled, one key order)."""
        return self.model_dump_json().encode()

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


class ChargeInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    amount_micro: int
    currency: str
    balance_micro: int
    replayed: bool  # True: this key was charged before; nothing was debited now


class CustomerRolloutResponse(BaseModel):
    """The rollout, who computed it, how it was checked before answering
    (``verification``), and what it cost. ``verified``: it passed those checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    request_id: str
    miner_uid: int
    miner_hotkey: str = ""
    verified: bool
    verification: Literal["sampled", "full"] = "sampled"
    result: RolloutResult
    charge: ChargeInfo


class QuoteResponse(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    workload: str
    units: int
    micro_per_unit: int
    amount_micro: int
    currency: str
