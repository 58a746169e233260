"""The customer gateway on the wire: what a paying customer sends and gets back.

A customer authenticates with an API key (``Authorization: Bearer wmk_…``) and names
each request with an ``Idempotency-Key`` header: a retry under the same key is charged
once. Money is in integer micro-units of the ledger's currency.
"""

from __future__ import annotations

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


class ChargeInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    amount_micro: int
    currency: str
    balance_micro: int
    replayed: bool  # True: this key was charged before; nothing was debited now


class CustomerRolloutResponse(BaseModel):
    """The verified rollout, who computed it, and what it cost."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    request_id: str
    miner_uid: int
    verified: bool
    result: RolloutResult
    charge: ChargeInfo


class QuoteResponse(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    workload: str
    units: int
    micro_per_unit: int
    amount_micro: int
    currency: str
