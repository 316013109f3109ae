"""INSERT … ON CONFLICT: PostgreSQL and SQLite both speak it, each through its own dialect's
construct (SQLAlchemy's generic insert has no on_conflict_*)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(dialect: str, target: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into target (a model or a table) that can say what to do on a conflict."""
    return postgresql.insert(target) if dialect == "postgresql" else sqlite.insert(target)


def insert_in(session: AsyncSession, target: Any) -> postgresql.Insert | sqlite.Insert:
    """insert_for the database the session is on."""
    return insert_for(session.get_bind().dialect.name, target)
