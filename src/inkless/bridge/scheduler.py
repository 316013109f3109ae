"""The scheduler: time-driven work (reminders, escalations), claimed so no two processes repeat it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.calendar.digest import send_rsvp_digests
from inkless.clock import Clock
from inkless.handlers.reminders import remind_approvals, remind_silent
from inkless.office import Office
from inkless.storage import queries
from inkless.tasks.core import remind_tasks
from inkless.worker import pause

log = logging.getLogger(__name__)
LEASE_NAME = "scheduler"


class Scheduler:
    """Runs the reminder rounds every `interval` seconds."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], office: Callable[[], Office], clock: Clock,
                 interval: float, on_queued: Callable[[], None], holder: str) -> None:
        self._sessions = sessions
        self._office = office
        self._clock = clock
        self._interval = interval
        self._on_queued = on_queued
        self._holder = holder

    async def run(self, stopping: asyncio.Event) -> None:
        """Run rounds until `stopping` is set (between rounds), in the one process holding the
        scheduler lease (each reminder is claimed anyway; the lease saves the others the work).
        A failing round is logged and the next one tries again."""
        try:
            while not stopping.is_set():
                try:
                    if await self._hold():
                        await self.run_once()
                except Exception:
                    log.exception("scheduler round failed")
                await pause(stopping, self._interval)
        finally:
            with contextlib.suppress(Exception):
                async with self._sessions() as session, session.begin():
                    await queries.release_lease(session, LEASE_NAME, self._holder)

    async def _hold(self) -> bool:
        async with self._sessions() as session, session.begin():
            return await queries.take_lease(session, LEASE_NAME, self._holder, now=self._clock.now(),
                                            seconds=self._interval * 3)

    async def run_once(self) -> int:
        """One round of every time-driven job; returns how many items it acted on."""
        office, now = self._office(), self._clock.now()
        async with self._sessions() as session, session.begin():
            acted = await remind_approvals(session, office, now=now)
            acted += await remind_silent(session, office, now=now)
            acted += await send_rsvp_digests(session, office, now=now)
            acted += await remind_tasks(session, office, now=now)
        if acted:
            self._on_queued()
        return acted
