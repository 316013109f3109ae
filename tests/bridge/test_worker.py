"""A worker survives a failing round (a database outage, say): it logs, waits, and goes on."""

from __future__ import annotations

import asyncio

from inkless.worker import Worker
from tests.conftest import wait_for


class Flaky(Worker):
    """Fails its first rounds as a dropped database connection would, then works."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.rounds = 0
        self.handled = 0

    async def run_once(self) -> int:
        self.rounds += 1
        if self.rounds <= self.failures:
            raise ConnectionError("connection to the database was lost")
        if self.handled < 3:
            self.handled += 1
            return 1
        return 0

    async def idle_timeout(self) -> float:
        return 0.05


async def test_a_worker_keeps_going_after_failing_rounds() -> None:
    worker = Flaky(failures=3)
    task = asyncio.create_task(worker.run())
    await wait_for(lambda: worker.handled == 3, timeout=30, what="the worker to recover and work")
    assert not task.done()
    worker.stop(drain=1)
    await asyncio.wait_for(task, 10)
    assert worker.rounds > 3
