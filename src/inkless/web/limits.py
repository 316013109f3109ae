"""Rate limits by key (a client address, an API token): token buckets in memory.

Each process keeps its own buckets: with several processes behind one address a client
gets the limit once per process, which still bounds what one client can make Inkless do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass
class _Bucket:
    tokens: float
    at: datetime


class RateLimit:
    """At most `burst` requests at once per key, refilled at `per_second`.

    Memory is bounded: past `max_keys` keys, full buckets (keys that have been quiet) are
    forgotten first, then the oldest.
    """

    def __init__(self, *, burst: int, per_second: float, now: Callable[[], datetime],
                 max_keys: int = 10_000) -> None:
        self.burst = burst
        self.per_second = per_second
        self._now = now
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float | None:
        """Spend one request for key: None when allowed, else the seconds until the next one is."""
        now = self._now()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            self._forget_some()
            bucket = _Bucket(float(self.burst), now)
        else:
            elapsed = max(0.0, (now - bucket.at).total_seconds())
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.per_second)
            bucket.at = now
        # Re-inserted: the dict's order is the order keys were last used.
        self._buckets[key] = bucket
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.per_second

    def _forget_some(self) -> None:
        if len(self._buckets) < self._max_keys:
            return
        now = self._now()
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.at).total_seconds() * self.per_second >= self.burst:
                del self._buckets[key]
        while len(self._buckets) >= self._max_keys:
            del self._buckets[next(iter(self._buckets))]
