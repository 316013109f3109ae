"""The loop shared by the background workers: rounds of work, wake-ups, a draining stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)
# A failing round (the database gone, say) is retried after this many seconds, doubling.
RETRY_FIRST, RETRY_MAX = 0.5, 30.0


async def pause(event: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`, or less once `event` is set (a wake-up, a stop); whether it is set. Loops
    that write to the database stop here, between rounds, never by cancellation in the middle
    of one: a round cancelled mid-transaction on SQLite can leave its connection holding the
    write lock, and every other connection of the process then waits for it (a shutdown that
    hangs)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


class Worker(ABC):
    """Runs `run_once()` rounds until stopped; between empty rounds waits for a wake-up.

    `stop()` lets the worker finish what is already there (for at most `drain` seconds):
    a stop request is always followed by one full round. A round that raises is logged and
    tried again after a growing pause: nothing a round does is lost by failing, since all
    work is claimed in the database and taken over by another process if this one dies.

    `health()` tells /healthz whether the worker gets on: it is stalled when it has work (a
    round under way, or rounds failing) and has made no progress (`progressed()`: an item
    done, or a round ended) for `stall_after` seconds.
    """

    def __init__(self) -> None:
        self.wakeup = asyncio.Event()
        self._stopping = False
        self._drain_until = 0.0
        self._progress_at = time.monotonic()
        self._in_round = False
        self._failures = 0
        self._last_error = ""

    def progressed(self) -> None:
        """Note that an item of work was finished (a long round is not a stalled one)."""
        self._progress_at = time.monotonic()

    def health(self, stall_after: float) -> str:
        """`ok`, or `stalled: …` with how long and the last error, when work does not move."""
        idle = time.monotonic() - self._progress_at
        if not (self._in_round or self._failures) or idle < stall_after:
            return "ok"
        why = f"; {self._failures} rounds failed in a row, the last: {self._last_error}" if self._failures else ""
        return f"stalled: no progress for {idle:.0f} s{why}"

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
            if not self._failures:
                self.progressed()  # the clock starts with the work, not with the idle time before it
            self._in_round = True
            try:
                handled = await self.run_once()
                timeout = 0.0 if handled else await self.idle_timeout()
                self._failures = 0
            except Exception as exc:
                self._failures += 1
                self._last_error = f"{type(exc).__name__}: {exc}"[:300]
                timeout = min(RETRY_MAX, RETRY_FIRST * 2 ** (self._failures - 1))
                log.exception("%s: round failed (%d in a row); trying again in %.1f s", type(self).__name__,
                              self._failures, timeout)
                handled = 0
                if stopping:
                    return
            finally:
                self._in_round = False
            if stopping and (not handled or time.monotonic() > self._drain_until):
                return
            if handled:
                continue
            await pause(self.wakeup, timeout)
            self.wakeup.clear()
