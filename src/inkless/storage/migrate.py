"""Bring the database to the latest Alembic migration, under a lock shared by all processes."""

from __future__ import annotations

import asyncio
import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every Inkless process.
ADVISORY_LOCK_KEY = 0x1A4B1E55


def _alembic_config(connection: Connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")


async def upgrade(engine: AsyncEngine, sqlite_path: Path | None = None) -> None:
    """Run pending migrations; concurrent callers wait for each other instead of colliding."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            try:
                await connection.run_sync(_upgrade)
                await connection.commit()
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                await connection.commit()
        return
    lock_path = (sqlite_path or Path("inkless")).with_suffix(".migrate.lock")
    with open(lock_path, "w") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(_upgrade)
                await connection.commit()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
