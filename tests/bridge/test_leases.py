"""Jobs one process runs at a time: the scheduler goes to one process, and to another when
that one stops; a lease is taken, renewed and released as documented."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.storage import queries
from inkless.storage.models import Lease
from tests.conftest import CaptureRelay, wait_for


async def holder(service: Service, name: str) -> str | None:
    assert service.sessions is not None
    async with service.sessions() as session:
        return await session.scalar(select(Lease.holder).where(Lease.name == name))


async def test_the_scheduler_runs_in_one_process_and_passes_on_when_it_stops(
        make_service: Any, relay: CaptureRelay, tmp_path: Any) -> None:
    fast = {"scheduler_interval": 0.2}
    first: Service = await make_service(relay, worker=fast, directory=tmp_path / "a")
    second: Service = await make_service(relay, worker=fast, directory=tmp_path / "b")

    async def held() -> bool:
        return await holder(first, "scheduler") in (first.worker_id, second.worker_id)
    await wait_for(held, what="one process to hold the scheduler")
    running, standing_by = (first, second) if await holder(first, "scheduler") == first.worker_id else (second, first)
    await running.stop()

    async def passed_on() -> bool:
        return await holder(standing_by, "scheduler") == standing_by.worker_id
    await wait_for(passed_on, what="the other process to take the scheduler over")


async def test_a_lease_is_exclusive_until_it_expires(make_service: Any, relay: CaptureRelay) -> None:
    service: Service = await make_service(relay)
    assert service.sessions is not None
    now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    async with service.sessions() as session, session.begin():
        assert await queries.take_lease(session, "job", "a", now=now, seconds=60)
        assert not await queries.take_lease(session, "job", "b", now=now + timedelta(seconds=30), seconds=60)
        assert await queries.take_lease(session, "job", "a", now=now + timedelta(seconds=30), seconds=60)  # renewed
        assert not await queries.take_lease(session, "job", "b", now=now + timedelta(seconds=80), seconds=60)
        assert await queries.take_lease(session, "job", "b", now=now + timedelta(seconds=91), seconds=60)  # expired
        await queries.release_lease(session, "job", "a")  # not a's any more: nothing happens
        assert await session.scalar(select(Lease.holder).where(Lease.name == "job")) == "b"
        await queries.release_lease(session, "job", "b")
        assert await queries.take_lease(session, "job", "c", now=now + timedelta(seconds=92), seconds=60)
