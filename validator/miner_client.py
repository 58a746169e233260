"""Asking miners: the one bounded path every read from a miner goes through.

A miner is untrusted: whatever it sends, or however slowly, the validator spends at
most a known amount of time, memory and decoding on it. Every exchange here
(``query_rollout``, ``query_shard``, ``query_capacity``; the loop, the shard rounds and
the gateway all use these) is bounded three ways:

* **time**: one total deadline around the whole exchange (pool wait, connect, send,
  headers, body), enforced with ``asyncio.timeout``; httpx's own timeouts are per read,
  so a miner dripping one byte per read would otherwise hold a request forever;
* **bytes**: the body is read raw (``Response.aiter_raw``) into one buffer and the
  exchange is dropped as soon as it passes the cap (a declared ``Content-Length`` over
  the cap is refused before reading); headers are bounded by h11 (16 KiB);
* **decoding**: the request sends ``Accept-Encoding: identity`` and any answer whose
  ``Content-Encoding`` is not identity is refused unread, so no gzip bomb (single or
  stacked) is ever inflated; redirects are not followed.

Then the body is validated against the ``wmnet.protocol`` model, whose bounds refuse
out-of-range or non-finite values. Every failure is a :class:`QueryOutcome` with
``result=None`` and an :class:`Outcome` code (the caller scores it 0); nothing here
raises for a miner's misbehaviour, so one bad miner never stops a round.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from wmnet.protocol.auth import signed_get, signed_post
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.rollout import RolloutResult, RolloutTask
from wmnet.protocol.shard import ShardResult, ShardTask
from wmnet.protocol.spec import (
    CAPACITY_PATH,
    MAX_CAPACITY_BYTES,
    MAX_RESPONSE_BYTES,
    MAX_SHARD_RESULT_BYTES,
    ROLLOUT_PATH,
    SHARD_PATH,
)

# How long a capacity report may take, all in (it is a few hundred bytes).
CAPACITY_TIMEOUT_S = 5.0
# A capacity report whose clock is further than this from ours is refused: its time
# becomes a ledger row, and a miner must not write history or the future.
MAX_CLOCK_SKEW_S = 600.0

T = TypeVar("T", bound=BaseModel)


class Outcome(StrEnum):
    """Why an exchange gave a usable result or not (code branches on these)."""

    OK = "ok"
    TIMEOUT = "timeout"  # the total deadline passed (slow drip, a hung miner)
    TRANSPORT = "transport"  # refused, reset, closed mid-answer, bad HTTP
    ENCODED = "encoded"  # a Content-Encoding other than identity: refused unread
    TOO_LARGE = "too_large"  # the body passed the cap
    HTTP_ERROR = "http"  # a status other than 200
    MALFORMED = "malformed"  # not the protocol's model, or a value out of bounds


@dataclass(frozen=True)
class QueryOutcome(Generic[T]):
    """One exchange with one miner: the validated answer, or why there is none."""

    result: T | None
    latency_s: float  # wall time of the whole exchange, as the validator measured it
    code: Outcome
    detail: str = ""
    status: int | None = None

    @property
    def reason(self) -> str:
        """``ok``, or the code and what went wrong (for logs and usage events)."""
        return self.code.value if not self.detail else f"{self.code.value}: {self.detail}"

    @property
    def ok(self) -> bool:
        return self.code is Outcome.OK and self.result is not None


class _Refused(Exception):
    def __init__(self, code: Outcome, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def axon_url(axon: str) -> str:
    """``ip:port`` (the metagraph's form) -> ``http://ip:port``."""
    return f"http://{axon}"


def miner_http_client(max_connections: int = 256) -> httpx.AsyncClient:
    """The validator's HTTP client for miners: no redirects, no proxies from the
    environment (miners are reached directly), enough connections that every miner of
    a round is asked at once (a request queued for a pool slot still counts against
    its own deadline)."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64),
    )


async def _read_raw(response: httpx.Response, cap: int) -> bytearray:
    """The body as sent (no content decoding), refused as soon as it passes ``cap``."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _Refused(Outcome.ENCODED, f"content-encoding {encoding[:40]!r} refused")
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise _Refused(Outcome.TOO_LARGE, f"declared {declared[:20]} bytes, cap {cap}")
    body = bytearray()
    async for chunk in response.aiter_raw():
        if len(body) + len(chunk) > cap:
            raise _Refused(Outcome.TOO_LARGE, f"body over the {cap}-byte cap")
        body += chunk
    return body


async def _exchange(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict,
    content: bytes | None,
    deadline_s: float,
    cap: int,
) -> tuple[int, bytearray]:
    """Status and raw body of one request, all of it within ``deadline_s``."""
    headers = {**headers, "Accept-Encoding": "identity"}
    async with asyncio.timeout(deadline_s):
        async with http.stream(
            method, url, content=content, headers=headers, timeout=deadline_s
        ) as response:
            if response.status_code != 200:
                # An error body is not needed: refuse it unread (no cap to spend).
                raise _Refused(Outcome.HTTP_ERROR, str(response.status_code), response.status_code)
            return response.status_code, await _read_raw(response, cap)


async def _query(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict,
    content: bytes | None,
    model: type[T],
    deadline_s: float,
    cap: int,
) -> QueryOutcome[T]:
    start = time.monotonic()

    def took() -> float:
        return time.monotonic() - start

    try:
        status, body = await _exchange(http, method, url, headers, content, deadline_s, cap)
    except (TimeoutError, httpx.TimeoutException):
        return QueryOutcome(None, took(), Outcome.TIMEOUT, f"no full answer in {deadline_s:g} s")
    except _Refused as refused:
        return QueryOutcome(None, took(), refused.code, refused.detail, refused.status)
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return QueryOutcome(None, took(), Outcome.TRANSPORT, type(exc).__name__)
    latency = took()
    if latency > deadline_s:  # the last bytes came in as the deadline fired
        return QueryOutcome(None, latency, Outcome.TIMEOUT, "late", status)
    try:
        result = model.model_validate_json(body)
    except ValidationError as exc:
        return QueryOutcome(None, latency, Outcome.MALFORMED, _first_error(exc), status)
    return QueryOutcome(result, latency, Outcome.OK, "", status)


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0] if errors else {"loc": (), "msg": "invalid"}
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"{exc.error_count()} errors, first {where}: {first.get('msg', '')}"[:160]


def rollout_cap(task: RolloutTask, latent_shape: tuple[int, ...], resolution: int) -> int:
    """The most bytes an honest answer to ``task`` can take, with room to spare: its
    arrays as base64 (context and predicted latents, frames when asked) and digests,
    doubled, plus 64 KiB; never above ``MAX_RESPONSE_BYTES``."""
    per_latent = 4 * math.prod(latent_shape)
    arrays = per_latent * (task.context.n_frames + task.horizon)
    if task.return_frames:
        arrays += task.horizon * 3 * resolution * resolution
    expected = 4 * (arrays + 2) // 3 + 70 * task.horizon
    return min(MAX_RESPONSE_BYTES, 2 * expected + 64 * 1024)


async def query_rollout(
    http: httpx.AsyncClient,
    wallet: Any,
    axon: str,
    miner_hotkey: str,
    task: RolloutTask,
    timeout_s: float | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> QueryOutcome[RolloutResult]:
    """POST ``task`` to the miner at ``axon``; the answer or why there is none, within
    the task's deadline (or ``timeout_s``) all in."""
    body, headers = signed_post(wallet, ROLLOUT_PATH, task, miner_hotkey)
    deadline = timeout_s if timeout_s is not None else task.deadline_ms / 1000
    url = axon_url(axon) + ROLLOUT_PATH
    return await _query(http, "POST", url, headers, body, RolloutResult, deadline, max_bytes)


async def query_shard(
    http: httpx.AsyncClient,
    wallet: Any,
    axon: str,
    miner_hotkey: str,
    task: ShardTask,
    timeout_s: float | None = None,
) -> QueryOutcome[ShardResult]:
    """POST a training-shard ``task``; the ``ShardResult`` or why there is none."""
    body, headers = signed_post(wallet, SHARD_PATH, task, miner_hotkey)
    deadline = timeout_s if timeout_s is not None else task.deadline_ms / 1000
    url = axon_url(axon) + SHARD_PATH
    return await _query(
        http, "POST", url, headers, body, ShardResult, deadline, MAX_SHARD_RESULT_BYTES
    )


async def query_capacity(
    http: httpx.AsyncClient,
    wallet: Any,
    axon: str,
    miner_hotkey: str,
    timeout_s: float = CAPACITY_TIMEOUT_S,
) -> QueryOutcome[CapacityReport]:
    """The miner's capacity report (its own hotkey, its clock within
    ``MAX_CLOCK_SKEW_S`` of ours), or why there is none."""
    headers = signed_get(wallet, CAPACITY_PATH, miner_hotkey)
    url = axon_url(axon) + CAPACITY_PATH
    outcome = await _query(
        http, "GET", url, headers, None, CapacityReport, timeout_s, MAX_CAPACITY_BYTES
    )
    report = outcome.result
    if report is None:
        return outcome
    if report.hotkey != miner_hotkey:
        return QueryOutcome(None, outcome.latency_s, Outcome.MALFORMED, "another hotkey's report")
    if abs(report.time - time.time()) > MAX_CLOCK_SKEW_S:
        return QueryOutcome(
            None, outcome.latency_s, Outcome.MALFORMED, "report time too far from now"
        )
    return outcome
