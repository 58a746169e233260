"""Asking miners: btauth/1-signed requests over httpx, with deadlines and size caps.

Every failure becomes a :class:`QueryOutcome` with ``result=None`` and a reason (the
caller scores it 0); nothing here raises for a miner's misbehaviour, so one bad miner
never stops a round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from wmnet.protocol.auth import signed_get, signed_post
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.rollout import RolloutResult, RolloutTask
from wmnet.protocol.shard import ShardResult, ShardTask
from wmnet.protocol.spec import CAPACITY_PATH, MAX_RESPONSE_BYTES, ROLLOUT_PATH, SHARD_PATH


@dataclass(frozen=True)
class QueryOutcome:
    result: RolloutResult | ShardResult | None
    latency_s: float
    reason: str  # "ok", or why there is no usable result
    status: int | None = None


def axon_url(axon: str) -> str:
    """``ip:port`` (the metagraph's form) -> ``http://ip:port``."""
    return f"http://{axon}"


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise ValueError(f"response larger than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def query_rollout(
    http: httpx.AsyncClient,
    wallet: Any,
    axon: str,
    miner_hotkey: str,
    task: RolloutTask,
    timeout_s: float | None = None,
) -> QueryOutcome:
    """POST ``task`` to the miner at ``axon``; the answer or why there is none."""
    return await _query(http, wallet, axon, miner_hotkey, ROLLOUT_PATH, task, timeout_s)


async def query_shard(
    http: httpx.AsyncClient,
    wallet: Any,
    axon: str,
    miner_hotkey: str,
    task: ShardTask,
    timeout_s: float | None = None,
) -> QueryOutcome:
    """POST a training-shard ``task``; the ``ShardResult`` or why there is none."""
    return await _query(http, wallet, axon, miner_hotkey, SHARD_PATH, task, timeout_s)


async def _query(
    http: httpx.AsyncClient,
    wallet: Any,
    axon: str,
    miner_hotkey: str,
    path: str,
    task: RolloutTask | ShardTask,
    timeout_s: float | None,
) -> QueryOutcome:
    body, headers = signed_post(wallet, path, task, miner_hotkey)
    timeout = timeout_s if timeout_s is not None else task.deadline_ms / 1000
    start = time.monotonic()
    try:
        async with http.stream(
            "POST", axon_url(axon) + path, content=body, headers=headers, timeout=timeout
        ) as response:
            raw = await _read_capped(response, MAX_RESPONSE_BYTES)
            status = response.status_code
    except httpx.TimeoutException:
        return QueryOutcome(None, time.monotonic() - start, "timeout")
    except (httpx.HTTPError, ValueError, OSError) as exc:
        return QueryOutcome(None, time.monotonic() - start, f"transport: {type(exc).__name__}")
    latency = time.monotonic() - start
    if latency > timeout:
        return QueryOutcome(None, latency, "late", status)
    if status != 200:
        return QueryOutcome(None, latency, f"http {status}", status)
    model = RolloutResult if path == ROLLOUT_PATH else ShardResult
    try:
        result = model.model_validate_json(raw)
    except ValidationError as exc:
        return QueryOutcome(None, latency, f"malformed: {exc.error_count()} errors", status)
    return QueryOutcome(result, latency, "ok", status)


async def query_capacity(
    http: httpx.AsyncClient, wallet: Any, axon: str, miner_hotkey: str, timeout_s: float = 5.0
) -> CapacityReport | None:
    """The miner's capacity report, or None when it does not answer properly."""
    headers = signed_get(wallet, CAPACITY_PATH, miner_hotkey)
    try:
        response = await http.get(
            axon_url(axon) + CAPACITY_PATH, headers=headers, timeout=timeout_s
        )
        if response.status_code != 200 or len(response.content) > 64 * 1024:
            return None
        return CapacityReport.model_validate_json(response.content)
    except (httpx.HTTPError, ValidationError, OSError):
        return None
