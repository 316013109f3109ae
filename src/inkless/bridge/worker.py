"""The loop shared by the background workers: rounds of work, wake-ups, a draining stop."""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)
# A failing round (the database gone, say) is retried after this many seconds, doubling.
RETRY_FIRST, RETRY_MAX = 0.5, 30.0


class Worker(ABC):
    """Runs `run_once()` rounds until stopped; between empty rounds waits for a wake-up.

    `stop()` lets the worker finish what is already there (for at most `drain` seconds):
    a stop request is always followed by one full round. A round that raises is logged and
    tried again after a growing pause: nothing a round does is lost by failing, since all
    work is claimed in the database and unclaimed again by its lease.
    """

    def __init__(self) -> None:
        self.wakeup = asyncio.Event()
        self._stopping = False
        self._drain_until = 0.0

    def stop(self, *, drain: float = 10.0) -> None:
        """Finish what is already stored (for at most `drain` seconds), then return from run()."""
        self._stopping = True
        self._drain_until = time.monotonic() + drain
        self.wakeup.set()

    @abstractmethod
    async def run_once(self) -> int:
        """One round of work; how many items it handled."""

    @abstractmethod
    async def idle_timeout(self) -> float:
        """How long to wait for a wake-up after an empty round."""

    async def run(self) -> None:
        failures = 0
        while True:
            stopping = self._stopping
            try:
                handled = await self.run_once()
                timeout = 0.0 if handled else await self.idle_timeout()
                failures = 0
            except Exception:
                failures += 1
                timeout = min(RETRY_MAX, RETRY_FIRST * 2 ** (failures - 1))
                log.exception("%s: round failed (%d in a row); trying again in %.1f s", type(self).__name__,
                              failures, timeout)
                handled = 0
                if stopping:
                    return
            if stopping and (not handled or time.monotonic() > self._drain_until):
                return
            if handled:
                continue
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout)
            except TimeoutError:
                pass
            self.wakeup.clear()
