"""The miner's HTTP app: one factory, the gate as a dependency, ErrorBody for every error.

Endpoints (paths from ``wmnet.protocol.spec``):

* ``POST /v1/rollout`` (gated): a ``RolloutTask`` -> ``RolloutResult``;
* ``POST /v1/shard`` (gated): a ``ShardTask`` -> ``ShardResult`` (with ``--store`` only;
  see ``wmnet.miner.shard_trainer``);
* ``GET /v1/capacity`` (gated): a ``CapacityReport``;
* ``GET /healthz``: liveness and the metagraph's freshness, no auth;
* ``GET /metrics``: Prometheus text, for loopback callers unless ``metrics_public``.

The handler for a task mirrors the chain's call handlers: every check first (gate,
parse, model, precision, context, admission), then work. The body is parsed by the
handler from the bytes the gate verified, never by FastAPI before the gate has run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from wmnet.miner.cheats import Cheat, make_cheat
from wmnet.miner.config import MinerConfig
from wmnet.miner.engine import Prepared, RolloutEngine
from wmnet.miner.errors import (
    MinerError,
    error_response,
    forbidden,
    parse_body,
    render,
)
from wmnet.miner.gate import RAO_PER_TAO, Authorized, Gate
from wmnet.miner.metagraph_cache import ClientFactory, MetagraphCache, Snapshot
from wmnet.miner.metrics import CONTENT_TYPE, MinerMetrics
from wmnet.miner.nonces import make_nonce_store
from wmnet.miner.ratelimit import TokenBuckets
from wmnet.miner.recording import ResultRecorder
from wmnet.miner.results import build_result
from wmnet.miner.scheduler import BusyMeter, Scheduler
from wmnet.miner.shard_trainer import ShardTrainer, parse_shard_task
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.rollout import RolloutResult, RolloutTask, Timing
from wmnet.protocol.spec import (
    CAPACITY_PATH,
    HEALTH_PATH,
    METRICS_PATH,
    ROLLOUT_PATH,
    SHARD_PATH,
    SPEC_VERSION,
)

log = logging.getLogger("wmnet.miner")
GATED = (ROLLOUT_PATH, SHARD_PATH, CAPACITY_PATH)


@dataclass
class Miner:
    """Everything one app instance owns (``app.state.miner``); nothing is process-global."""

    config: MinerConfig
    engine: RolloutEngine
    scheduler: Scheduler
    cache: MetagraphCache
    gate: Gate
    metrics: MinerMetrics
    nonce_store: Any
    cheat: Cheat | None
    recorder: ResultRecorder | None
    trainer: ShardTrainer | None = None


def create_app(
    config: MinerConfig,
    *,
    engine: RolloutEngine | None = None,
    client_factory: ClientFactory | None = None,
    nonce_store: Any = None,
    warmup: bool = True,
    signer: Any = None,
) -> FastAPI:
    """The miner app. ``engine``, ``client_factory`` (an unconnected ``bittensor.Client``
    per call; default ``client_for(config.network)``), ``nonce_store`` and ``signer``
    (the hotkey that signs training-shard updates; default: loaded from
    ``config.wallet``) may be given (tests share one loaded engine and run the chain
    in-process)."""
    miner = _assemble(config, engine, client_factory, nonce_store)
    miner.trainer = _trainer(config, miner.engine, signer)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warmup:
            miner.scheduler.cost.per_step_s = await run_in_threadpool(miner.engine.warmup)
        miner.scheduler.start()
        await miner.cache.poll_once()
        refresher = asyncio.create_task(miner.cache.run(), name="wmnet-metagraph")
        log.info(
            "miner %s serving netuid %d on %s (%s), models %s, precisions %s",
            config.hotkey_ss58,
            config.netuid,
            miner.engine.device_label,
            "cheat: " + miner.cheat.name if miner.cheat else "honest",
            [m[:12] for m in miner.engine.model_ids],
            list(miner.engine.precisions),
        )
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            await run_in_threadpool(miner.scheduler.stop)
            if miner.trainer is not None:
                miner.trainer.close()
            close = getattr(miner.nonce_store, "close", None)
            if close is not None:
                close()

    app = FastAPI(
        title="wmnet miner",
        version=str(SPEC_VERSION),
        lifespan=lifespan,
        docs_url=None,  # nothing beyond the protocol's endpoints faces the network
        redoc_url=None,
        openapi_url=None,
    )
    app.state.miner = miner
    _errors(app)
    _routes(app, miner)
    app.add_middleware(RequestMetrics, metrics=miner.metrics)
    return app


def _assemble(
    config: MinerConfig,
    engine: RolloutEngine | None,
    client_factory: ClientFactory | None,
    nonce_store: Any,
) -> Miner:
    if engine is None:
        engine = RolloutEngine.load(
            config.model_ids, config.model_dirs, config.precisions, config.device, config.attention
        )
    if client_factory is None:
        from wmnet.localnet.network import client_for

        def client_factory() -> Any:
            return client_for(config.network)

    metrics = MinerMetrics()
    buckets = TokenBuckets(config.rate, config.burst)

    def refreshed(snap: Snapshot) -> None:
        buckets.forget_except({h for h, m in snap.members.items() if m.validator_permit})

    cache = MetagraphCache(
        config.netuid,
        client_factory,
        config.metagraph_poll_s,
        on_refresh=refreshed,
        on_failure=lambda: metrics.refresh_failures.inc(),
    )
    store = nonce_store or make_nonce_store(config.redis_url, config.redis_prefix)
    gate = Gate(
        config.hotkey_ss58,
        config.netuid,
        cache,
        buckets,
        store,
        metrics,
        min_stake_rao=round(config.min_stake * RAO_PER_TAO),
    )

    def batch_done(size: int, seconds: float) -> None:
        metrics.batches.inc()
        metrics.rollouts.inc(size)

    scheduler = Scheduler(
        engine.run,
        max_batch=config.max_batch,
        queue_limit=config.queue_limit,
        batch_wait_s=config.batch_wait_ms / 1000,
        busy=BusyMeter(config.busy_window_s),
        on_batch=batch_done,
    )
    cheat = make_cheat(config.cheat, engine, config.replay_dir)
    recorder = ResultRecorder(config.record_dir) if config.record_dir else None
    _gauges(metrics, scheduler, cache)
    return Miner(config, engine, scheduler, cache, gate, metrics, store, cheat, recorder)


def _trainer(config: MinerConfig, engine: RolloutEngine, signer: Any) -> ShardTrainer | None:
    """The shard trainer when an object store is configured (else: rollouts only): it
    writes under this hotkey's prefix only, and signs what it writes."""
    if not config.store:
        return None
    from wmnet.miner.keys import load_hotkey
    from wmnet.miner.shard_cheats import make_shard_cheat
    from wmnet.training.store import AuthorStore, open_store
    from wmnet.worldmodel.checkpoint import ModelRegistry

    if signer is None:
        if not config.wallet:
            raise ValueError("training shards need the miner's hotkey to sign its updates")
        signer = load_hotkey(config.wallet, config.wallet_hotkey, config.wallet_path)
    if signer.ss58_address != config.hotkey_ss58:
        raise ValueError("the signing hotkey is not this miner's hotkey")
    return ShardTrainer(
        AuthorStore(open_store(config.store), config.hotkey_ss58),
        signer,
        ModelRegistry(list(config.model_dirs)),
        device=str(engine.device),
        device_label=engine.device_label,
        cheat=make_shard_cheat(config.cheat),
    )


def _gauges(metrics: MinerMetrics, scheduler: Scheduler, cache: MetagraphCache) -> None:
    metrics.gauge("wmnet_miner_queue_depth", "Tasks waiting.", lambda: scheduler.queue_depth)
    metrics.gauge("wmnet_miner_running", "Tasks in the running batch.", lambda: scheduler.running)
    metrics.gauge(
        "wmnet_miner_busy_fraction",
        "Share of the recent window the device spent computing.",
        scheduler.busy.fraction,
    )
    metrics.gauge(
        "wmnet_miner_metagraph_block",
        "Block of the metagraph in use (-1 before the first).",
        lambda: cache.snapshot.block if cache.snapshot else -1,
    )
    metrics.gauge(
        "wmnet_miner_metagraph_age_seconds",
        "Seconds since the metagraph in use was read.",
        lambda: min(cache.age_s(), 1e9),
    )
    metrics.gauge(
        "wmnet_miner_metagraph_stale",
        "1 while the chain cannot be reached (the last good metagraph stays in use).",
        lambda: float(cache.stale),
    )


# --- errors ------------------------------------------------------------------------------


def _errors(app: FastAPI) -> None:
    @app.exception_handler(MinerError)
    async def miner_error(request: Request, error: MinerError) -> JSONResponse:
        return render(error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid", "request parameters are invalid")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = "no such endpoint" if error.status_code == 404 else str(error.detail)
        return error_response(error.status_code, "invalid", detail)

    @app.exception_handler(Exception)
    async def last_resort(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error on this miner (logged)")


def parse_task(raw: bytes) -> RolloutTask:
    """The task in ``raw``; 400 for bad JSON, version or workload, 422 for bad fields."""
    return parse_body(raw, RolloutTask, ROLLOUT_PATH, "rollout")


# --- routes ------------------------------------------------------------------------------


def _routes(app: FastAPI, miner: Miner) -> None:
    engine, scheduler, config = miner.engine, miner.scheduler, miner.config

    async def honest(task: RolloutTask, prepared: Prepared) -> RolloutResult:
        done = await scheduler.submit(prepared, task.deadline_ms / 1000)
        out = done.output
        timing = Timing(
            queue_ms=round(done.queue_ms, 3),
            compute_ms=round(done.compute_ms, 3),
            batch_size=done.batch_size,
        )
        return build_result(
            task,
            out.context_latents,
            out.latents,
            out.frames,
            timing,
            engine.device_label,
            out.digests,
        )

    @app.post(ROLLOUT_PATH)
    async def rollout(caller: Authorized = Depends(miner.gate)) -> Response:
        task = parse_task(caller.body)
        prepared = await run_in_threadpool(engine.prepare, task)
        if miner.cheat is not None:
            result = await miner.cheat.answer(task, prepared, lambda: honest(task, prepared))
        else:
            result = await honest(task, prepared)
        body = result.model_dump_json()
        if miner.recorder is not None:
            await run_in_threadpool(miner.recorder.write, result)
        return Response(body, media_type="application/json")

    @app.post(SHARD_PATH)
    async def shard(caller: Authorized = Depends(miner.gate)) -> Response:
        task = parse_shard_task(caller.body)
        if miner.trainer is None:
            raise MinerError(400, "unsupported", "this miner serves no training shards")
        result = await miner.trainer.answer(task, caller.hotkey)
        return Response(result.model_dump_json(), media_type="application/json")

    @app.get(CAPACITY_PATH)
    async def capacity(caller: Authorized = Depends(miner.gate)) -> Response:
        report = CapacityReport(
            hotkey=config.hotkey_ss58,
            time=time.time(),
            device=engine.device_kind,
            device_name=engine.device_name,
            workloads=["rollout"] + (["train_shard"] if miner.trainer else []),
            precisions=list(engine.precisions),
            models_loaded=engine.model_ids,
            slots=config.max_batch,
            queue_limit=config.queue_limit,
            queue_depth=scheduler.queue_depth,
            free_slots=max(0, config.max_batch - scheduler.running),
            busy_fraction=scheduler.busy.fraction(),
            window_s=scheduler.busy.window_s,
        )
        return Response(report.model_dump_json(), media_type="application/json")

    @app.get(HEALTH_PATH)
    async def health() -> dict[str, Any]:
        snap = miner.cache.snapshot
        return {
            "status": "ok",
            "hotkey": config.hotkey_ss58,
            "netuid": config.netuid,
            "metagraph_block": snap.block if snap else None,
            "metagraph_stale": miner.cache.stale or snap is None,
            "queue_depth": scheduler.queue_depth,
        }

    @app.get(METRICS_PATH)
    async def metrics(request: Request) -> Response:
        if not config.metrics_public and not _is_loopback(request):
            raise forbidden("metrics are served to loopback callers only")
        return Response(miner.metrics.render(), media_type=CONTENT_TYPE)


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    if host in ("localhost", "testclient"):  # Starlette's TestClient calls itself that
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequestMetrics:
    """Pure ASGI middleware: requests by route and status; wall time of gated ones."""

    def __init__(self, app: Any, metrics: MinerMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = scope.get("path", "")
            known = path in (*GATED, HEALTH_PATH, METRICS_PATH)
            self.metrics.requests.inc(route=path if known else "other", status=str(status))
            if path in GATED:
                self.metrics.request_seconds.observe(time.perf_counter() - start)
