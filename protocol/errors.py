"""Error bodies: every 4xx/5xx a miner (or the gateway) returns has this shape."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ErrorCode = Literal[
    "unauthenticated",  # 401: btauth/1 headers missing, stale, replayed or forged
    "forbidden",  # 403: authenticated but not registered / no permit / too little stake
    "payment_required",  # 402: the customer's prepaid credit does not cover the quote
    "conflict",  # 409: an idempotency key reused for a different request
    "rate_limited",  # 429: the caller's token bucket is empty
    "too_large",  # 413: body over the limit
    "invalid",  # 400/422: malformed JSON or a field outside its bounds
    "unknown_model",  # 404: the miner does not serve this model id
    "unsupported",  # 400: a precision or workload this miner does not offer
    "no_miner",  # 503 (gateway): no miner delivered verified work; nothing was charged
    "overloaded",  # 503: queue full or the deadline cannot be met (see retry_after_s)
    "internal",  # 500: a bug; the body never carries a traceback
]


class ErrorBody(BaseModel):
    """``{"error": "<code>", "detail": "<reason>", "retry_after_s": 1.0}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    error: ErrorCode
    detail: str = Field(max_length=2000)
    retry_after_s: float | None = None
