"""Jobs one process runs at a time: the scheduler goes to one process, and to another when
that one stops; a lease is taken, renewed and released as documented. Heartbeats: work
claimed by a process is taken over when its heartbeat runs out, and only then."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from sqlalchemy import insert, select, update

from inkless.bridge.app import Service
from inkless.storage import queries
from inkless.storage.models import InboundMessage, Lease
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


NOW = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)


async def test_claims_are_taken_over_when_the_claimers_heartbeat_runs_out(make_service: Any,
                                                                          relay: CaptureRelay) -> None:
    service: Service = await make_service(relay)
    assert service.sessions is not None and service.inbox is not None
    service.inbox.stop(drain=0)  # the test claims by hand

    async def inbox_stopped() -> bool:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{service.web_port}/healthz") as response:
                return bool((await response.json())["parts"]["inbox"] == "stopped")
    await wait_for(inbox_stopped, what="the inbound worker to stop")
    claims = {"alive": NOW - timedelta(hours=1), "dead": NOW, "old-version": NOW - timedelta(seconds=31),
              "recent-old-version": NOW - timedelta(seconds=5)}
    async with service.sessions() as session, session.begin():
        ids = {}
        for holder, claimed_at in claims.items():
            ids[holder] = await session.scalar(insert(InboundMessage).values(
                received_at=NOW, source="smtp", mail_from="x@test.gov", rcpt_tos="edu@oa.test.gov", raw=b"x", size=1,
                status="processing", attempts=1, claimed_by=holder, claimed_at=claimed_at).returning(InboundMessage.id))
        await queries.beat(session, "alive", now=NOW, seconds=15, forget_after=30)
        await queries.beat(session, "dead", now=NOW - timedelta(seconds=16), seconds=15, forget_after=30)

    async def claim(**options: Any) -> list[int]:
        async with service.sessions() as session, session.begin():  # type: ignore[union-attr]
            return await queries.claim_inbound(
                session, queries.Claimer(worker="me", now=NOW, lease=30, **options), limit=20)

    async def holders() -> dict[str, str | None]:
        async with service.sessions() as session:  # type: ignore[union-attr]
            rows = await session.execute(select(InboundMessage.id, InboundMessage.claimed_by))
            return {next(h for h, i in ids.items() if i == row.id): row.claimed_by for row in rows}

    # Right after the database was away, nobody's heartbeat is judged.
    assert await claim(heartbeats=False) == []
    # One at a time: a message that kills its process takes no others' attempts with it.
    assert await claim() == [ids["dead"]]
    assert await claim() == [ids["old-version"]]  # no heartbeat, and claimed longer ago than the lease
    assert await claim() == []  # a live heartbeat, however old the claim; an old version's recent claim
    assert await holders() == {"alive": "alive", "dead": "me", "old-version": "me", "recent-old-version":
                               "recent-old-version"}
    # A process alone on SQLite at its start takes every claim from before it at once.
    assert await claim(alone_since=NOW - timedelta(seconds=1)) == [ids["alive"]]
    async with service.sessions() as session, session.begin():
        await session.execute(update(InboundMessage).values(status="done"))
        # A clean stop ends the heartbeat: its claims are free at once.
        await queries.end_heartbeat(session, "alive", now=NOW)
        assert await session.scalar(select(Lease.expires_at).where(Lease.name == "process:alive")) == NOW
        # Heartbeats that ran out longer ago than forget_after are forgotten.
        await queries.beat(session, "me", now=NOW + timedelta(seconds=60), seconds=15, forget_after=30)
        names = set((await session.scalars(select(Lease.name).where(Lease.name.startswith("process:")))).all())
    assert "process:dead" not in names and "process:alive" not in names and "process:me" in names
