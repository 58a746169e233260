"""Per-hotkey token buckets, refilled in proportion to stake (priority by stake).

A validator holding the mean stake of the permitted callers refills at ``rate``
requests/s; one holding twice the mean refills twice as fast. A floor keeps a small
but permitted validator from being starved outright. Every bucket holds at most
``burst`` tokens and starts full.

Only callers that passed authorization get a bucket, so the table is bounded by the
subnet's permitted validators, not by whoever sends requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# A validator below a tenth of the mean stake still refills at a tenth of `rate`.
MIN_SHARE = 0.1


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def refill_rate(self, stake_share: float) -> float:
        """Tokens/s for a caller whose stake is ``stake_share`` times the mean."""
        return self.rate * max(MIN_SHARE, stake_share)

    def take(self, hotkey: str, stake_share: float = 1.0) -> float:
        """Take one token. Returns 0.0 on success, else seconds until one is available."""
        rate = self.refill_rate(stake_share)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(hotkey)
            if bucket is None:
                bucket = self._buckets[hotkey] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate

    def forget_except(self, hotkeys: set[str]) -> None:
        """Drop buckets of hotkeys no longer permitted (called on metagraph refresh)."""
        with self._lock:
            for key in [k for k in self._buckets if k not in hotkeys]:
                del self._buckets[key]
