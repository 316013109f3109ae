"""Background work gives way while mail is arriving.

Ingest, processing and delivery share one event loop (SPEC §1: one asyncio process). A
message is safe the moment it is stored, so under a burst of incoming mail the workers
wait for a quiet moment rather than slow the SMTP edge down; they never wait longer than
`max_defer`, so a steady stream still gets processed.

"Mail arriving" is any SMTP activity (a new connection, RCPT, DATA), not only a stored
message: with stores alone as the signal, gaps between messages opened the gate often enough
that processing took the loop (and on SQLite the write lock) from the sessions, which slowed
ingest, which made more gaps (bench/ingest: 0.3-0.4x the bare sink instead of ~0.9x).
"""

from __future__ import annotations

import asyncio
import time


class IngestPressure:
    """Tracks when mail last arrived; workers await `quiet()` before each piece of work."""

    def __init__(self, *, quiet_for: float = 0.005, max_defer: float = 2.0) -> None:
        self.quiet_for = quiet_for
        self.max_defer = max_defer
        self._last_arrival = 0.0

    def arrived(self) -> None:
        self._last_arrival = time.monotonic()

    def arriving(self) -> bool:
        """Whether mail is arriving now (what `quiet()` would wait out)."""
        return time.monotonic() - self._last_arrival < self.quiet_for

    async def quiet(self) -> None:
        """Return once no mail has arrived for `quiet_for` seconds, or after `max_defer`."""
        deadline = time.monotonic() + self.max_defer
        while True:
            now = time.monotonic()
            idle = now - self._last_arrival
            if idle >= self.quiet_for or now >= deadline:
                return
            await asyncio.sleep(min(self.quiet_for - idle, deadline - now))
