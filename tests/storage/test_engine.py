"""The SQLite engine's statements: one hand-off to the driver's thread each, results as the
DBAPI gives them (rows, rowcount, lastrowid, RETURNING, executemany, errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from inkless.storage.engine import create_engine
from tests.conftest import build_config


async def test_a_statement_is_one_hand_off_and_reads_back_as_the_driver_gives_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(build_config({"database": f"sqlite+aiosqlite:///{tmp_path}/x.db"}, source="test",
                                        base_dir=tmp_path))
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
            assert (inserted.lastrowid, inserted.rowcount, hand_offs) == (1, 1, 1)

            many = await connection.execute(text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}])
            assert many.rowcount == 2

            hand_offs = 0
            returned = await connection.execute(text("UPDATE t SET name = name || '!' WHERE id > 1 RETURNING id, name"))
            assert (sorted(returned.all()), hand_offs) == ([(2, "b!"), (3, "c!")], 1)

            hand_offs = 0
            rows = await connection.execute(text("SELECT id, name FROM t ORDER BY id"))
            assert list(rows.keys()) == ["id", "name"]
            assert rows.fetchmany(2) == [(1, "a"), (2, "b!")]
            assert (rows.fetchall(), hand_offs) == ([(3, "c!")], 1)

            with pytest.raises(IntegrityError):
                await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
            await connection.rollback()
    finally:
        await engine.dispose()
