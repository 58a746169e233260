"""The auth gate: a FastAPI dependency that runs before any body parsing.

Order (cheap and unauthenticated checks first, each failure its own status):

1. body size: ``Content-Length`` over ``MAX_REQUEST_BYTES`` -> 413 before reading, and
   the stream is cut off at the limit when no length is declared;
2. authentication: ``bittensor.http_auth.verify`` over the *raw* body bytes, the
   method and the path with its query exactly as sent (btauth/1: shape, receiver,
   freshness, signature, then replay) -> 401 with the SDK's reason;
3. authorization from the cached metagraph (never a chain read per request):
   registered on the netuid, holding a validator permit, stake >= the minimum -> 403;
4. the caller's token bucket, refilled in proportion to stake -> 429 + ``Retry-After``.

The standard subnet template's blacklist indexes the hotkey list before checking
membership and crashes on strangers; here an unknown hotkey is a plain lookup miss.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from bittensor import http_auth
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from wmnet.miner.errors import MinerError, forbidden, invalid, unauthenticated
from wmnet.miner.metagraph_cache import MetagraphCache
from wmnet.miner.metrics import MinerMetrics
from wmnet.miner.ratelimit import TokenBuckets
from wmnet.protocol.spec import MAX_REQUEST_BYTES

RAO_PER_TAO = 10**9


@dataclass(frozen=True)
class Authorized:
    """A caller that passed the gate, and the exact bytes it signed."""

    hotkey: str
    uid: int
    stake_rao: int
    body: bytes


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise invalid("Content-Length is not a decimal number")
        if int(declared) > limit:
            raise MinerError(413, "too_large", f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise MinerError(413, "too_large", f"request body larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise invalid("the client went away before sending its body") from None
    return b"".join(chunks)


def request_target(request: Request) -> str:
    """The path and query exactly as the client sent them (what btauth/1 signs)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    target = raw.decode("latin-1")
    query = request.scope.get("query_string") or b""
    return f"{target}?{query.decode('latin-1')}" if query else target


class Gate:
    def __init__(
        self,
        hotkey_ss58: str,
        netuid: int,
        cache: MetagraphCache,
        buckets: TokenBuckets,
        nonce_store: Any,
        metrics: MinerMetrics,
        min_stake_rao: int = 0,
        max_body: int = MAX_REQUEST_BYTES,
    ) -> None:
        self.hotkey_ss58, self.netuid = hotkey_ss58, netuid
        self.cache, self.buckets, self.metrics = cache, buckets, metrics
        self.nonce_store = nonce_store
        self.min_stake_rao = min_stake_rao
        self.max_body = max_body
        # A store that does network I/O (Redis) must not block the event loop.
        self._offload = bool(getattr(nonce_store, "blocking", False))

    async def __call__(self, request: Request) -> Authorized:
        body = await read_body(request, self.max_body)
        start = time.perf_counter()
        try:
            caller = await self._authenticate(request, body)
            member = self._authorize(caller.hotkey_ss58)
        except MinerError as error:
            self.metrics.rejections.inc(reason=error.code)
            raise
        finally:
            self.metrics.gate_seconds.observe(time.perf_counter() - start)
        return Authorized(caller.hotkey_ss58, member[0], member[1], body)

    async def _authenticate(self, request: Request, body: bytes) -> http_auth.Caller:
        check = functools.partial(
            http_auth.verify,
            request.headers,
            body,
            method=request.method,
            path=request_target(request),
            self_hotkey_ss58=self.hotkey_ss58,
            nonce_store=self.nonce_store,
        )
        try:
            return await run_in_threadpool(check) if self._offload else check()
        except http_auth.AuthError as error:
            # AuthError messages never echo the signature or payload (the SDK's contract).
            raise unauthenticated(str(error)) from None

    def _authorize(self, hotkey: str) -> tuple[int, int]:
        snap = self.cache.snapshot
        if snap is None:
            raise MinerError(503, "overloaded", "the metagraph is not loaded yet", 1.0)
        member = snap.members.get(hotkey)
        if member is None:
            raise forbidden(f"hotkey {hotkey} is not registered on netuid {self.netuid}")
        if not member.validator_permit:
            raise forbidden(f"hotkey {hotkey} holds no validator permit on netuid {self.netuid}")
        if member.stake_rao < self.min_stake_rao:
            raise forbidden(
                f"stake {member.stake_rao / RAO_PER_TAO:.9g} is below this miner's minimum "
                f"{self.min_stake_rao / RAO_PER_TAO:.9g}"
            )
        wait = self.buckets.take(hotkey, snap.stake_share(member))
        if wait > 0:
            raise MinerError(429, "rate_limited", "this hotkey's request budget is spent", wait)
        return member.uid, member.stake_rao
