"""Replay protection stores for ``bittensor.http_auth.verify``.

One process: the SDK's :class:`~bittensor.http_auth.InMemoryNonceStore`. Several
uvicorn workers (or hosts) behind one port: a replayed request may land on another
worker than the original, so they must share the store. :class:`RedisNonceStore` is
the shared one the btauth/1 spec suggests: ``SET <prefix><hotkey>:<nonce> 1 NX EX
<retention>`` is atomic, so exactly one worker accepts a given (hotkey, nonce).
"""

from __future__ import annotations

import math
from typing import Any

from bittensor import http_auth

# verify() refuses a store that forgets sooner than max_age + allowed_skew (12 s).
DEFAULT_RETENTION_S = 60.0


class RedisNonceStore:
    """A ``NonceStore`` in Redis. ``blocking`` tells the gate to call it off the event loop."""

    blocking = True

    def __init__(
        self, client: Any, prefix: str = "wmnet:nonce:", retention: float = DEFAULT_RETENTION_S
    ) -> None:
        self._redis = client
        self.prefix = prefix
        # Read by verify(), which checks it covers the freshness window.
        self.retention = retention
        self._ttl_s = max(1, math.ceil(retention))

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "wmnet:nonce:", retention: float = DEFAULT_RETENTION_S
    ) -> RedisNonceStore:
        import redis

        # Short timeouts: a stuck Redis must fail a request (500), not hang every worker.
        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return cls(client, prefix, retention)

    def check_and_store(self, hotkey_ss58: str, nonce_ns: int) -> bool:
        key = f"{self.prefix}{hotkey_ss58}:{int(nonce_ns)}"
        return bool(self._redis.set(key, b"1", nx=True, ex=self._ttl_s))

    def ping(self) -> None:
        """Raise if Redis cannot be reached (checked once at start-up)."""
        self._redis.ping()

    def close(self) -> None:
        self._redis.close()


def make_nonce_store(redis_url: str | None, prefix: str) -> Any:
    """The shared Redis store when a URL is given, else the SDK's in-memory one."""
    if redis_url:
        return RedisNonceStore.from_url(redis_url, prefix)
    return http_auth.InMemoryNonceStore(retention=DEFAULT_RETENTION_S)
