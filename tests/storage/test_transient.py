"""Which database errors the workers wait out (transient) rather than blame on the work."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from inkless.storage.engine import transient_database_error
from tests.conftest import free_port


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_deadlock_is_transient_and_a_wrong_statement_is_not(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id int PRIMARY KEY, n int)"))
            await connection.execute(text("INSERT INTO t VALUES (1, 0), (2, 0)"))
        first_locked, second_locked = asyncio.Event(), asyncio.Event()

        async def update(connection: AsyncConnection, mine: int, theirs: int, locked: asyncio.Event,
                         other: asyncio.Event) -> None:
            async with connection.begin():
                await connection.execute(text("UPDATE t SET n = n + 1 WHERE id = :id"), {"id": mine})
                locked.set()
                await other.wait()
                await connection.execute(text("UPDATE t SET n = n + 1 WHERE id = :id"), {"id": theirs})

        async with engine.connect() as a, engine.connect() as b:
            outcomes = await asyncio.gather(update(a, 1, 2, first_locked, second_locked),
                                            update(b, 2, 1, second_locked, first_locked), return_exceptions=True)
        [deadlock] = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert isinstance(deadlock, DBAPIError) and "deadlock" in str(deadlock)
        assert transient_database_error(deadlock)

        with pytest.raises(DBAPIError) as wrong:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT no_such_column FROM t"))
        assert not transient_database_error(wrong.value)
    finally:
        await engine.dispose()


async def test_an_unreachable_database_is_transient() -> None:
    engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        with pytest.raises(Exception) as refused:
            async with engine.connect():
                pass
        assert transient_database_error(refused.value)
    finally:
        await engine.dispose()


async def test_a_sqlite_write_lock_held_past_the_busy_timeout_is_transient(tmp_path: Any) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/t.db", connect_args={"timeout": 0.1})
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n int)"))
        async with engine.connect() as holder:
            await holder.execute(text("BEGIN IMMEDIATE"))
            with pytest.raises(DBAPIError) as busy:
                async with engine.connect() as waiter:
                    await waiter.execute(text("BEGIN IMMEDIATE"))
            await holder.execute(text("ROLLBACK"))
        assert "database is locked" in str(busy.value)
        assert transient_database_error(busy.value)
    finally:
        await engine.dispose()
