"""The customer gateway: paying customers buy rollouts through the validator.

``POST /v1/rollouts`` (``wmnet.protocol.gateway``), checks first, then the work, then
the charge (the shape of the chain's call handlers: check everything, then mutate):

1. the API key (``Authorization: Bearer wmk_…``) names an active customer, else 401;
   an ``Idempotency-Key`` header is required (400), the body is within
   ``MAX_REQUEST_BYTES`` (413) and a valid request (422) for the reference model (404);
2. the quote (price table × predicted steps) is covered by prepaid credit, else 402,
   before any miner is asked;
3. the best-scoring miners are asked in turn (at most ``max_attempts``), each answer
   verified with the same teacher-forced check as the validator's own probes;
4. only a verified answer is charged (``Billing.charge``: atomic, once per idempotency
   key) and returned; a failed one is recorded as organic, unverified usage and the
   next miner is tried. When nobody delivers, 503 and nothing is charged.

What a customer receives is what was checked: miners are asked for latents only, and
frames (``return_frames``) are decoded by the gateway from the verified latents with
its own reference decoder; nothing a miner sends beyond the checked latents reaches
the customer. Every miner is asked through the bounded client
(``wmnet.validator.miner_client``): the order's deadline all in, the answer capped.

A retry under a key already charged returns the stored answer without new work
(bounded in-memory cache) or, after a restart, recomputes it and is charged nothing
more (``replayed``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from wmnet.ledger.billing import (
    Billing,
    BillingError,
    CustomerInfo,
    IdempotencyConflict,
    InsufficientCredit,
)
from wmnet.protocol.arrays import Array
from wmnet.protocol.errors import ErrorBody
from wmnet.protocol.gateway import (
    GATEWAY_QUOTE_PATH,
    GATEWAY_ROLLOUTS_PATH,
    IDEMPOTENCY_HEADER,
    ChargeInfo,
    CustomerRolloutRequest,
    CustomerRolloutResponse,
    QuoteResponse,
)
from wmnet.protocol.rollout import RolloutResult, RolloutTask
from wmnet.protocol.spec import MAX_REQUEST_BYTES
from wmnet.protocol.usage import UsageEvent
from wmnet.validator.miner_client import miner_http_client, query_rollout, rollout_cap
from wmnet.validator.targets import MinerTarget
from wmnet.validator.usage import UsageSink, device_seconds
from wmnet.validator.verification import verify_answers
from wmnet.worldmodel.model import WorldModel
from wmnet.worldmodel.rollout import to_uint8

log = logging.getLogger(__name__)


class GatewayError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class GatewayDeps:
    """What the gateway works with; ``candidates`` lists miners best first."""

    billing: Billing
    wallet: Any
    model: WorldModel
    model_id: str
    usage: UsageSink
    netuid: int
    candidates: Callable[[], list[MinerTarget]]
    max_attempts: int = 3
    cache_size: int = 1024
    _answers: OrderedDict[tuple[int, str], CustomerRolloutResponse] = field(
        default_factory=OrderedDict
    )


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse(ErrorBody(error=code, detail=detail).model_dump(), status_code=status)


def _api_key(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key", "").strip()


async def _customer(deps: GatewayDeps, request: Request) -> CustomerInfo:
    key = _api_key(request)
    customer = await run_in_threadpool(deps.billing.authenticate, key) if key else None
    if customer is None:
        raise GatewayError(401, "unauthenticated", "a valid API key is required")
    return customer


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise GatewayError(413, "too_large", f"body larger than {MAX_REQUEST_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def checked_frames(model: WorldModel, result: RolloutResult) -> Array:
    """The frames of a verified answer, decoded here from its checked latents (uint8
    ``(T, 3, H, W)``, as the miner's engine decodes them)."""
    latents = torch.from_numpy(result.latents.numpy()).to(model.device)
    with torch.inference_mode():
        frames = to_uint8(model.decode(latents[None]))[0]
    return Array.of(frames.cpu().numpy())


async def _deliver(
    deps: GatewayDeps, order: CustomerRolloutRequest, http: httpx.AsyncClient, key: str
) -> tuple[MinerTarget, RolloutTask, Any] | None:
    """Ask miners best first until one answer verifies; every answer is recorded."""
    cfg = deps.model.cfg
    for target in deps.candidates()[: deps.max_attempts]:
        task = RolloutTask(
            task_id=secrets.token_hex(12),
            model_id=deps.model_id,
            context=order.context,
            actions=order.actions,
            precision=order.precision,
            deadline_ms=order.deadline_ms,
            return_frames=False,  # frames come from the checked latents, decoded here
        )
        cap = rollout_cap(task, (cfg.latent_channels, cfg.grid, cfg.grid), cfg.resolution)
        outcome = await query_rollout(
            http, deps.wallet, target.axon, target.hotkey, task, max_bytes=cap
        )
        verified, reason = False, outcome.reason
        result = outcome.result
        if result is not None:
            (verdict,) = await asyncio.to_thread(verify_answers, deps.model, [(task, result)])
            verified, reason = verdict.verified, verdict.reason
        compute_s = device_seconds(
            result.timing.compute_ms / 1000 if result is not None else 0.0, outcome.latency_s
        )
        deps.usage.record(
            UsageEvent(
                request_id=task.task_id,
                time=time.time(),
                netuid=deps.netuid,
                validator_hotkey=deps.wallet.hotkey.ss58_address,
                miner_uid=target.uid,
                miner_hotkey=target.hotkey,
                workload="rollout",
                units=task.horizon if verified else 0,
                device_seconds=compute_s,
                origin="organic",
                verified=verified,
                reason=reason,
            )
        )
        if verified and result is not None:
            frames = None
            if order.return_frames:
                frames = await asyncio.to_thread(checked_frames, deps.model, result)
            return target, task, result.model_copy(update={"frames": frames})
        log.info("gateway: uid %d failed request %s: %s", target.uid, key, reason)
    return None


def create_gateway_app(deps: GatewayDeps) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with miner_http_client() as http:
            app.state.http = http
            yield

    app = FastAPI(title="wmnet gateway", docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.exception_handler(GatewayError)
    async def _gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.detail)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"ok": True, "miners": len(deps.candidates())}

    @app.get(GATEWAY_QUOTE_PATH)
    async def quote(request: Request, units: int, workload: str = "rollout") -> QuoteResponse:
        await _customer(deps, request)
        try:
            q = await run_in_threadpool(deps.billing.quote, workload, units)
        except BillingError as exc:
            raise GatewayError(400, "invalid", str(exc)) from None
        return QuoteResponse(
            workload=q.workload,
            units=q.units,
            micro_per_unit=q.micro_per_unit,
            amount_micro=q.amount_micro,
            currency=q.currency,
        )

    @app.post(GATEWAY_ROLLOUTS_PATH)
    async def rollouts(request: Request) -> CustomerRolloutResponse:
        customer = await _customer(deps, request)
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        if not 1 <= len(key) <= 128:
            raise GatewayError(
                400, "invalid", f"send an {IDEMPOTENCY_HEADER} header (1-128 characters)"
            )
        cached = deps._answers.get((customer.id, key))
        if cached is not None:
            return cached.model_copy(
                update={"charge": cached.charge.model_copy(update={"replayed": True})}
            )
        try:
            order = CustomerRolloutRequest.model_validate_json(await _body(request))
        except ValidationError as exc:
            raise GatewayError(
                422, "invalid", f"{exc.error_count()} invalid fields: {exc}"
            ) from None
        if order.model_id not in (None, deps.model_id):
            raise GatewayError(404, "unknown_model", f"this gateway serves {deps.model_id}")
        units = len(order.actions)
        try:
            price = await run_in_threadpool(deps.billing.quote, "rollout", units)
        except BillingError as exc:
            raise GatewayError(503, "unsupported", f"no price for rollouts: {exc}") from None
        if customer.credit_micro < price.amount_micro or customer.credit_micro <= 0:
            raise GatewayError(
                402,
                "payment_required",
                f"credit {customer.credit_micro} is less than the quote {price.amount_micro}",
            )
        delivered = await _deliver(deps, order, app.state.http, key)
        if delivered is None:
            raise GatewayError(
                503, "no_miner", "no miner delivered a verified rollout; not charged"
            )
        target, task, result = delivered
        try:
            charge = await run_in_threadpool(
                deps.billing.charge, customer, key, "rollout", units, request_id=task.task_id
            )
        except InsufficientCredit as exc:
            raise GatewayError(402, "payment_required", str(exc)) from None
        except IdempotencyConflict as exc:
            raise GatewayError(409, "conflict", str(exc)) from None
        response = CustomerRolloutResponse(
            request_id=task.task_id,
            miner_uid=target.uid,
            verified=True,
            result=result,
            charge=ChargeInfo(
                amount_micro=charge.amount_micro,
                currency=charge.currency,
                balance_micro=charge.balance_micro,
                replayed=charge.replayed,
            ),
        )
        deps._answers[(customer.id, key)] = response
        while len(deps._answers) > deps.cache_size:
            deps._answers.popitem(last=False)
        return response

    return app
