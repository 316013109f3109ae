"""Leases and heartbeats: which process holds what, and when a claim is abandoned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from inkless.storage.models import Lease
from inkless.storage.upsert import insert_in


async def take_lease(session: AsyncSession, name: str, holder: str, *, now: datetime, seconds: float) -> bool:
    """Take or renew the lease `name` for `seconds`: yes when free, expired or already ours."""
    statement = insert_in(session, Lease).values(name=name, holder=holder, expires_at=now + timedelta(seconds=seconds))
    statement = statement.on_conflict_do_update(
        index_elements=["name"], set_={"holder": holder, "expires_at": now + timedelta(seconds=seconds)},
        where=or_(Lease.expires_at < now, Lease.holder == holder))
    result = await session.execute(statement.returning(Lease.holder))
    return result.scalar_one_or_none() == holder


async def release_lease(session: AsyncSession, name: str, holder: str) -> None:
    await session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


# Each running process renews a lease named HEARTBEAT + its worker id (bridge/heartbeat.py).
HEARTBEAT = "process:"


async def beat(session: AsyncSession, holder: str, *, now: datetime, seconds: float, forget_after: float) -> None:
    """Renew this process's heartbeat for `seconds`, and forget heartbeats that ran out more than
    `forget_after` seconds ago (their claims fall under the plain claim lease by then)."""
    await take_lease(session, HEARTBEAT + holder, holder, now=now, seconds=seconds)
    await session.execute(delete(Lease).where(Lease.name.startswith(HEARTBEAT),
                                              Lease.expires_at < now - timedelta(seconds=forget_after)))


async def end_heartbeat(session: AsyncSession, holder: str, *, now: datetime) -> None:
    """Mark this process stopped: whatever it still holds can be taken over at once."""
    await session.execute(update(Lease).where(Lease.name == HEARTBEAT + holder, Lease.holder == holder)
                          .values(expires_at=now))


@dataclass(frozen=True)
class Claimer:
    """Who is claiming work, and what it may take over from others."""

    worker: str
    now: datetime
    # Claims older than this many seconds, by a process that left no heartbeat (a version
    # before heartbeats, say), are abandoned: worker.lease.
    lease: float
    # Claims made before this moment by anyone else are abandoned: with SQLite, a process that
    # found no other process running at its start knows their claimers are gone.
    alone_since: datetime | None = None
    # Whether others' heartbeats can be judged: not right after the database was away, when
    # every process's heartbeat ran out alike.
    heartbeats: bool = True


def abandoned(claimer: Claimer, claimed_by: InstrumentedAttribute[str | None],
              claimed_at: InstrumentedAttribute[datetime | None]) -> ColumnElement[bool]:
    """Claimed by another process that is gone: its heartbeat ran out; or it left none and the
    claim is older than the lease; or the claim predates a start that found nobody else."""
    gone: list[ColumnElement[bool]] = []
    if claimer.heartbeats:
        heartbeats = select(Lease.holder).where(Lease.name.startswith(HEARTBEAT))
        dead = heartbeats.where(Lease.expires_at < claimer.now)
        alive = heartbeats.where(Lease.expires_at >= claimer.now)
        gone += [claimed_by.in_(dead),
                 and_(claimed_at < claimer.now - timedelta(seconds=claimer.lease), claimed_by.not_in(alive))]
    if claimer.alone_since is not None:
        gone.append(claimed_at < claimer.alone_since)
    return and_(claimed_by != claimer.worker, or_(false(), *gone))
