"""The SQLite engine's statements: one hand-off to the driver's thread each, or none on the
workers' inline engine (which waits for the write lock on the event loop, not in SQLite);
results as the DBAPI gives them (rows, rowcount, lastrowid, RETURNING, executemany, errors)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from inkless.storage import engine as engine_module
from inkless.storage.engine import create_engine, transient_database_error
from tests.conftest import build_config


def _engine(tmp_path: Path, *, inline: bool) -> AsyncEngine:
    return create_engine(build_config({"database": f"sqlite+aiosqlite:///{tmp_path}/x.db"}, source="test",
                                      base_dir=tmp_path), inline=inline)


@pytest.mark.parametrize("inline", [False, True], ids=["threaded", "inline"])
async def test_a_statement_is_one_hand_off_and_reads_back_as_the_driver_gives_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inline: bool) -> None:
    engine = _engine(tmp_path, inline=inline)
    one = 0 if inline else 1
    hand_offs = 0
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal hand_offs
        hand_offs += 1
        return await execute(self, fn, *args, **kwargs)

    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))  # after the transaction's BEGIN IMMEDIATE
            hand_offs = 0
            inserted = await connection.execute(text("INSERT INTO t (name) VALUES (:name)"), {"name": "a"})
            assert (inserted.lastrowid, inserted.rowcount, hand_offs) == (1, 1, one)

            many = await connection.execute(text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}])
            assert many.rowcount == 2

            hand_offs = 0
            returned = await connection.execute(text("UPDATE t SET name = name || '!' WHERE id > 1 RETURNING id, name"))
            assert (sorted(returned.all()), hand_offs) == ([(2, "b!"), (3, "c!")], one)

            hand_offs = 0
            rows = await connection.execute(text("SELECT id, name FROM t ORDER BY id"))
            assert list(rows.keys()) == ["id", "name"]
            assert rows.fetchmany(2) == [(1, "a"), (2, "b!")]
            assert (rows.fetchall(), hand_offs) == ([(3, "c!")], one)

            # Big values and many rows are no work for the event loop: they go to the thread.
            hand_offs = 0
            await connection.execute(text("INSERT INTO t (name) VALUES (:name)"), {"name": "x" * 100_000})
            await connection.execute(text("INSERT INTO t (name) VALUES (:name)"),
                                     [{"name": f"row {i}"} for i in range(engine_module.INLINE_ROWS + 1)])
            assert hand_offs == 2
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 4 + engine_module.INLINE_ROWS + 1

            with pytest.raises(IntegrityError):
                await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
            await connection.rollback()
    finally:
        await engine.dispose()


async def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_an_inline_transaction_waits_for_the_write_lock_without_stopping_the_loop(tmp_path: Path) -> None:
    engine = _engine(tmp_path, inline=True)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
        holder = sqlite3.connect(str(tmp_path / "x.db"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer (another process, say) holds the lock
        holder.execute("INSERT INTO t (name) VALUES ('first')")

        async def write() -> None:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t (name) VALUES ('second')"))

        ticks = 0
        longest = 0.0  # the longest the loop went without running the ticker

        async def tick() -> None:
            nonlocal ticks, longest
            loop = asyncio.get_running_loop()
            last = loop.time()
            while True:
                ticks += 1
                await asyncio.sleep(0.005)
                longest, last = max(longest, loop.time() - last), loop.time()

        writer, ticker = asyncio.create_task(write()), asyncio.create_task(tick())
        # While the writer waits for the lock, the loop goes on (a wait inside SQLite would
        # hold it for the whole busy timeout).
        await _wait_for(lambda: ticks >= 50)
        assert not writer.done()
        # Not a speed figure: SQLite's own busy wait holds the loop for whole seconds.
        assert longest < 0.5
        holder.execute("COMMIT")
        await asyncio.wait_for(writer, 10)
        ticker.cancel()
        holder.close()
        async with engine.connect() as connection:
            names = (await connection.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
        assert names == ["first", "second"]
    finally:
        await engine.dispose()


async def test_an_inline_wait_for_the_lock_ends_as_busy_after_the_busy_wait(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(tmp_path, inline=True)
    monkeypatch.setattr(engine_module, "BUSY_WAIT", 0.2)
    holder = sqlite3.connect(str(tmp_path / "x.db"), isolation_level=None)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError) as raised:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t DEFAULT VALUES"))
        # A busy database is no fault of the work: the workers count it and try again later.
        assert transient_database_error(raised.value)
    finally:
        holder.close()
        await engine.dispose()


async def test_inline_statements_let_the_loop_run_between_them(tmp_path: Path) -> None:
    # Each inline statement gives the loop a turn first, as a hand-off to the thread did:
    # SMTP sessions answer between a document's statements.
    engine = _engine(tmp_path, inline=True)
    turns = 0

    async def other() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        task = asyncio.create_task(other())
        await asyncio.sleep(0)
        async with engine.begin() as connection:
            start = turns
            for _ in range(100):
                await connection.execute(text("INSERT INTO t DEFAULT VALUES"))
            assert turns - start >= 100
        task.cancel()
    finally:
        await engine.dispose()
