"""The append-only audit log: every state change, with actor and time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.printable import printable_detail
from inkless.storage.later import Rows, later, write
from inkless.storage.models import AuditEntry
from inkless.storage.models.base import table_of

_RECORD = table_of(AuditEntry).insert()


def record(
    session: AsyncSession,
    *,
    now: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: object,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit entry to the session's transaction (committed with the change it records).

    The detail often quotes a message (a sender, a reason); it is made printable, so text no
    database can store (bytes kept as surrogates, NUL) cannot make the record fail. In a
    session that defers rows (storage/later.py, the inbox worker's) it is written with the
    others at the transaction's end.
    """
    values = {"at": now, "actor": actor, "action": action, "subject_type": subject_type,
              "subject_id": None if subject_id is None else str(subject_id), "detail": printable_detail(detail or {})}
    if not later(session, Rows(((_RECORD, values),))):
        session.add(AuditEntry(**values))


async def audit_log(session: AsyncSession) -> list[AuditEntry]:
    """The whole log, oldest first."""
    await write(session)
    return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())
