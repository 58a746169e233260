"""The customer gateway: paying customers buy rollouts through the validator.

``POST /v1/rollouts`` (``wmnet.protocol.gateway``): every check first, then the
reservation, then the work, then the charge (the shape of the chain's call handlers):

1. the API key (``Authorization: Bearer wmk_…``) names an active customer, else 401;
   an ``Idempotency-Key`` header is required (400), the body is within
   ``MAX_REQUEST_BYTES`` (413) and a valid request (422) for the reference model (404);
2. **reserve** the key (``wmnet.ledger.orders.OrderBook``) before any miner is asked:
   bound to the request's SHA-256, the quote (price × steps, × the full-check multiple
   for ``"verification": "full"``) moved from credit to held (402 when it does not
   cover it). The key with another request: 409, always (the binding is in the
   ledger, not in a cache). The same request again: the stored answer
   (``replayed``), or, while the first is in flight here, wait for it;
3. the best-scoring miners are asked in turn (at most ``max_attempts``) through the
   validator's own ask-and-bind path (``wmnet.validator.rollouts``): an answer that
   passes the binding checks is delivered; with ``"full"`` it must pass the
   teacher-forced check first (a failure there penalizes the miner);
4. the held quote is **charged** and the answer stored in one transaction, then the
   customer is answered. A sample of answered orders (``AuditPolicy.organic_rate``,
   drawn after receipt) is audited afterwards; a failed audit refunds the order
   (exactly once, also across a restart: queued audits are re-queued at start) and
   opens the miner's penalty window. When nobody delivers: the hold is released, 503.

What a customer receives is what was checked: miners are asked for latents only, and
frames (``return_frames``) are decoded by the gateway from the bound latents with its
own reference decoder (on the validator's model thread); nothing a miner sends beyond
the latents the binding checks (and, with ``"full"``, the teacher-forced check) cover
reaches the customer. Every miner is asked through the bounded client
(``wmnet.validator.miner_client``): the order's deadline all in, the answer capped at
what an honest answer can take.

Every miner's answer is recorded as an ``organic`` usage event and counted in the
tempo's work, so serving customers earns weight.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from wmnet.ledger.billing import Billing, BillingError, IdempotencyConflict, InsufficientCredit
from wmnet.ledger.orders import OrderBook, OrderInfo
from wmnet.protocol.arrays import Array
from wmnet.protocol.audit import AuditJob, AuditVerdict
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
from wmnet.validator.auditor import Auditor
from wmnet.validator.miner_client import miner_http_client
from wmnet.validator.outcomes import MinerOutcome, Reason, usage_event
from wmnet.validator.penalties import Penalty
from wmnet.validator.rollouts import Delivery, ask_and_bind
from wmnet.validator.targets import MinerTarget
from wmnet.validator.usage import UsageSink
from wmnet.worldmodel.model import WorldModel
from wmnet.worldmodel.rollout import to_uint8

log = logging.getLogger(__name__)
WAIT_SLACK_S = 5.0  # beyond the first order's own deadlines, a duplicate waits this long


class GatewayError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class GatewayDeps:
    """What the gateway works with; ``candidates`` lists miners best first,
    ``on_delivery`` counts a delivery in the validator's tempo work, ``compute`` is the
    validator's model thread (decoding frames; None: a thread of the default pool)."""

    billing: Billing
    wallet: Any
    model: WorldModel
    model_id: str
    usage: UsageSink
    netuid: int
    candidates: Callable[[], list[MinerTarget]]
    auditor: Auditor
    on_delivery: Callable[[Delivery], None] = lambda _d: None
    max_attempts: int = 3
    orders: OrderBook | None = None
    compute: Executor | None = None
    _inflight: dict[int, asyncio.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.orders is None:
            self.orders = OrderBook(self.billing, self.wallet.hotkey.ss58_address)

    @property
    def book(self) -> OrderBook:
        assert self.orders is not None
        return self.orders


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse(ErrorBody(error=code, detail=detail).model_dump(), status_code=status)


def _api_key(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key", "").strip()


async def _customer(deps: GatewayDeps, request: Request):  # noqa: ANN202 - CustomerInfo
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


def _task(deps: GatewayDeps, order: CustomerRolloutRequest) -> RolloutTask:
    return RolloutTask(
        task_id=secrets.token_hex(12),
        model_id=deps.model_id,
        context=order.context,
        actions=order.actions,
        precision=order.precision,
        deadline_ms=order.deadline_ms,
        return_frames=False,  # frames come from the bound latents, decoded here
    )


def checked_frames(model: WorldModel, result: RolloutResult) -> Array:
    """The frames of a bound answer, decoded here from its latents (uint8
    ``(T, 3, H, W)``, as the miner's engine decodes them)."""
    latents = torch.from_numpy(result.latents.numpy()).to(model.device)
    with torch.inference_mode():
        frames = to_uint8(model.decode(latents[None]))[0]
    return Array.of(frames.cpu().numpy())


async def _with_frames(
    deps: GatewayDeps, order: CustomerRolloutRequest, result: RolloutResult
) -> RolloutResult:
    """What the customer receives: the miner's latents and digests, and frames only
    as the gateway decodes them (whatever frames a miner sent are dropped)."""
    frames = None
    if order.return_frames:
        loop = asyncio.get_running_loop()
        frames = await loop.run_in_executor(deps.compute, checked_frames, deps.model, result)
    return result.model_copy(update={"frames": frames})


async def _deliver(
    deps: GatewayDeps, order: CustomerRolloutRequest, http: httpx.AsyncClient, key: str
) -> Delivery | None:
    """Ask miners best first until one delivers (bound; with ``full``, checked)."""
    for target in deps.candidates()[: deps.max_attempts]:
        delivery = await ask_and_bind(http, deps.wallet, deps.model, target, _task(deps, order))
        outcome = delivery.outcome
        if outcome.accepted and order.verification == "full":
            assert delivery.result is not None
            job = deps.auditor.job(outcome, delivery.task, delivery.result, "organic", "full")
            (verdict,) = await deps.auditor.run([job])
            if verdict.outcome != "passed":
                outcome = replace(outcome, reason=Reason(verdict.reason), detail=verdict.detail)
                delivery = Delivery(outcome, delivery.task, delivery.result)
        deps.usage.record(
            usage_event(
                outcome,
                workload="rollout",
                origin="organic",
                netuid=deps.netuid,
                validator_hotkey=deps.wallet.hotkey.ss58_address,
            )
        )
        deps.on_delivery(delivery)
        if outcome.accepted:
            deps.auditor.accepted(outcome)
            return delivery
        log.info("gateway: uid %d failed order %s: %s", target.uid, key, outcome.text())
    return None


async def _replay(deps: GatewayDeps, info: OrderInfo, customer_id: int) -> CustomerRolloutResponse:
    assert info.answer is not None
    stored = CustomerRolloutResponse.model_validate_json(info.answer)
    balance = await run_in_threadpool(deps.billing.balance, customer_id)
    charge = stored.charge.model_copy(update={"replayed": True, "balance_micro": balance})
    return stored.model_copy(update={"charge": charge})


def _audit_done(deps: GatewayDeps) -> Callable[[AuditJob, AuditVerdict, Penalty | None], None]:
    """The auditor's listener: a customer order's verdict settles it (refund if failed)."""

    def done(job: AuditJob, verdict: AuditVerdict, _penalty: Penalty | None) -> None:
        if job.origin != "organic" or job.trigger == "full":
            return
        refund = deps.book.finish_audit(job.request_id, verdict.outcome, verdict.reason)
        if refund is not None:
            log.warning(
                "order %s failed its audit: refunded %d micro to customer %d",
                job.request_id,
                refund.amount_micro,
                refund.customer_id,
            )

    return done


def queued_audit_jobs(deps: GatewayDeps) -> list[AuditJob]:
    """Answered orders whose audit never reported (a restart): their audit jobs."""
    jobs = []
    for info in deps.book.queued_audits():
        if info.task is None or info.answer is None:
            continue
        stored = CustomerRolloutResponse.model_validate_json(info.answer)
        task = RolloutTask.model_validate_json(info.task)
        target = MinerTarget(stored.miner_uid, stored.miner_hotkey, "")
        outcome = MinerOutcome(target, task.task_id, Reason.OK, units=task.horizon)
        answer = stored.result.model_copy(update={"frames": None})  # frames are ours
        jobs.append(deps.auditor.job(outcome, task, answer, "organic", "organic"))
    return jobs


async def _order(
    deps: GatewayDeps, app: FastAPI, customer_id: int, key: str, order: CustomerRolloutRequest
) -> CustomerRolloutResponse:
    units = len(order.actions)
    full = order.verification == "full"
    try:
        reservation = await run_in_threadpool(
            deps.book.reserve, customer_id, key, order.sha256(), order.canonical(),
            "rollout", units, full,
        )  # fmt: skip
    except IdempotencyConflict as exc:
        raise GatewayError(409, "conflict", str(exc)) from None
    except InsufficientCredit as exc:
        raise GatewayError(402, "payment_required", str(exc)) from None
    except BillingError as exc:
        raise GatewayError(503, "unsupported", f"no price for rollouts: {exc}") from None
    info = reservation.order
    if not reservation.fresh:
        if info.state == "pending":  # the first request with this key is in flight here
            event = deps._inflight.get(info.id)
            if event is not None:
                wait = deps.max_attempts * order.deadline_ms / 1000 + WAIT_SLACK_S
                try:
                    await asyncio.wait_for(event.wait(), timeout=wait)
                except TimeoutError:
                    raise GatewayError(
                        409, "conflict", "an order under this key is still in flight"
                    ) from None
            else:  # reserved a moment ago, its event not set up yet
                await asyncio.sleep(0.05)
            return await _order(deps, app, customer_id, key, order)
        return await _replay(deps, info, customer_id)
    # Fresh: compute the *stored* request (the same bytes the key is bound to).
    stored = CustomerRolloutRequest.model_validate_json(info.request)
    deps._inflight[info.id] = event = asyncio.Event()
    charged = False
    try:
        delivery = await _deliver(deps, stored, app.state.http, key)
        if delivery is None:
            raise GatewayError(503, "no_miner", "no miner delivered a checked rollout; not charged")
        bound: RolloutResult = delivery.result  # type: ignore[assignment]
        audit = "passed" if full else "none"
        if not full and deps.auditor.draw_organic(delivery.task, bound):
            audit = "queued"
        result = await _with_frames(deps, stored, bound)
        target = delivery.outcome.target
        response = CustomerRolloutResponse(
            request_id=delivery.task.task_id,
            miner_uid=target.uid,
            miner_hotkey=target.hotkey,
            verified=True,
            verification=stored.verification,
            result=result,
            charge=ChargeInfo(amount_micro=info.quote_micro, currency=info.currency,
                              balance_micro=0, replayed=False),
        )  # fmt: skip
        charge = await run_in_threadpool(
            deps.book.complete, info.id, delivery.task.model_dump_json().encode(),
            response.model_dump_json().encode(), delivery.task.task_id, audit,
        )  # fmt: skip
        charged = True
        if audit == "queued":  # the miner's answer as bound (without our frames)
            outcome = delivery.outcome
            deps.auditor.submit(
                [deps.auditor.job(outcome, delivery.task, bound, "organic", "organic")]
            )
        charge_info = response.charge.model_copy(update={"balance_micro": charge.balance_micro})
        return response.model_copy(update={"charge": charge_info})
    finally:
        if not charged:
            await run_in_threadpool(deps.book.release, info.id)
        deps._inflight.pop(info.id, None)
        event.set()


def create_gateway_app(deps: GatewayDeps) -> FastAPI:
    deps.auditor.listeners.append(_audit_done(deps))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        released = await run_in_threadpool(deps.book.release_orphans)
        if released:
            log.info("gateway: %d orders left in flight by a restart released", released)
        requeued = await run_in_threadpool(queued_audit_jobs, deps)
        deps.auditor.submit(requeued)
        if requeued:
            log.info("gateway: %d customer orders' audits queued again", len(requeued))
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
    async def quote(
        request: Request, units: int, workload: str = "rollout", verification: str = "sampled"
    ) -> QuoteResponse:
        await _customer(deps, request)
        if verification not in ("sampled", "full"):
            raise GatewayError(400, "invalid", "verification is sampled or full")
        try:
            q = await run_in_threadpool(deps.billing.quote, workload, units, verification == "full")
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
        try:
            order = CustomerRolloutRequest.model_validate_json(await _body(request))
        except ValidationError as exc:
            raise GatewayError(
                422, "invalid", f"{exc.error_count()} invalid fields: {exc}"
            ) from None
        if order.model_id not in (None, deps.model_id):
            raise GatewayError(404, "unknown_model", f"this gateway serves {deps.model_id}")
        return await _order(deps, app, customer.id, key, order)

    return app
