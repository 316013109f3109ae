"""This process's sign of life, by which other processes know when to take its work over.

Inbound messages, outbound mail and bot messages are claimed by writing the claimer's worker
id on the row. A process renews a lease named after its worker id (the heartbeat) every third
of `worker.heartbeat` seconds; once that runs out (kill -9, a crash, a lost host), any other
process takes what it had claimed, so claimed work waits at most about `worker.heartbeat`
seconds. A clean stop ends the heartbeat at once.

When the database was away (a restart, a failover), every process's heartbeat ran out
alike, and none of them is gone. So a process that could not renew its own heartbeat
takes nothing over by heartbeat until it has renewed it again for a whole heartbeat
period: by then the others that live have renewed theirs.

With SQLite every `inkless serve` on the database also holds a shared lock on a file next to
it, for as long as it lives (the kernel drops it when the process dies). A process that can
take that lock exclusively at its start is the only one: whoever claimed anything before
is gone, and it takes those claims over at once instead of waiting out their heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.clock import Clock
from inkless.config.sections import WorkerSection
from inkless.storage import queries
from inkless.worker import pause

log = logging.getLogger(__name__)
# After a failed renewal (the database away), try again this soon.
RETRY = 1.0


class Heartbeat:
    """Renews this process's heartbeat and says what its workers may take over."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock, holder: str,
                 settings: WorkerSection, sqlite_path: Path | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self.holder = holder
        self._settings = settings
        self._sqlite_path = sqlite_path
        self._lock_file: IO[bytes] | None = None
        # Set when this process found no other one on the SQLite database at its start.
        self.alone_since: datetime | None = None
        # Until this moment (time.monotonic()) others' heartbeats are not judged: set when our
        # own renewal succeeds again after failing.
        self._judge_from = 0.0
        self._cut_off = False

    async def start(self) -> None:
        """Take the SQLite process lock (if any) and write the first heartbeat, before any claim."""
        if self._sqlite_path is not None:
            self.alone_since = self._take_process_lock(self._sqlite_path)
            if self.alone_since is not None:
                log.info("no other process on %s: claims left from before this start are taken over at once",
                         self._sqlite_path.name)
        await self.beat()

    def _take_process_lock(self, database: Path) -> datetime | None:
        path = database.with_name(database.name + ".serve.lock")
        self._lock_file = open(path, "ab")  # noqa: SIM115 - held open for the life of the process
        descriptor = self._lock_file.fileno()
        started = self._clock.now()
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            alone = None
        else:
            alone = started
        # From now on only shared: the next process to start sees that this one lives.
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        return alone

    def claimer(self) -> queries.Claimer:
        """Who claims, now, and what counts as abandoned (for the claim queries)."""
        return queries.Claimer(worker=self.holder, now=self._clock.now(), lease=self._settings.lease,
                               alone_since=self.alone_since, heartbeats=time.monotonic() >= self._judge_from)

    async def beat(self) -> None:
        async with self._sessions() as session, session.begin():
            await queries.beat(session, self.holder, now=self._clock.now(), seconds=self._settings.heartbeat,
                               forget_after=self._settings.lease)

    async def run(self, stopping: asyncio.Event) -> None:
        """Renew the heartbeat until `stopping` is set (never in the middle of a renewal)."""
        interval = self._settings.heartbeat / 3
        while not stopping.is_set():
            try:
                await self.beat()
            except Exception as exc:  # the database is away: try again soon, before it runs out
                log.warning("cannot renew this process's heartbeat: %s", exc)
                self._cut_off = True
                await pause(stopping, min(RETRY, interval))
                continue
            if self._cut_off:
                self._cut_off = False
                self._judge_from = time.monotonic() + self._settings.heartbeat
            await pause(stopping, interval)

    async def stop(self) -> None:
        """End the heartbeat (what is still claimed is free at once) and drop the process lock."""
        try:
            async with self._sessions() as session, session.begin():
                await queries.end_heartbeat(session, self.holder, now=self._clock.now())
        except Exception as exc:  # it runs out by itself
            log.warning("cannot end this process's heartbeat: %s", exc)
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                self._lock_file.close()
            self._lock_file = None
