"""The loop shared by the background workers: rounds of work, wake-ups, a draining stop."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod


class Worker(ABC):
    """Runs `run_once()` rounds until stopped; between empty rounds waits for a wake-up.

    `stop()` lets the worker finish what is already there (for at most `drain` seconds):
    a stop request is always followed by one full round.
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
        while True:
            stopping = self._stopping
            handled = await self.run_once()
            if stopping and (not handled or time.monotonic() > self._drain_until):
                return
            if handled:
                continue
            try:
                await asyncio.wait_for(self.wakeup.wait(), await self.idle_timeout())
            except TimeoutError:
                pass
            self.wakeup.clear()
