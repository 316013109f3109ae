"""Thousands of rows at once on PostgreSQL (a fan-out's recipients and copies), on the
driver's (asyncpg) connection inside the session's transaction.

Through SQLAlchemy the same rows cost two to four times as much: each row's parameters are
processed in Python and go to the server as an execution of their own, or, with RETURNING,
as multi-row statements of thousands of parameters that the server parses anew. Here they
go as COPY, or as one INSERT … SELECT FROM unnest(…) when the new ids are wanted.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# Fewer rows than this go through SQLAlchemy as usual (and on SQLite, all of them).
BULK_ROWS = 100


def bulk(session: AsyncSession, rows: int) -> bool:
    """Whether `rows` rows are worth the driver's bulk path on the session's database."""
    return rows >= BULK_ROWS and session.get_bind().dialect.name == "postgresql"


async def driver(connection: AsyncConnection) -> Any:
    """The asyncpg connection under an engine connection (in its transaction, if any)."""
    found = (await connection.get_raw_connection()).driver_connection
    assert found is not None
    return found


async def _driver(session: AsyncSession) -> Any:
    return await driver(await session.connection())


async def copy_rows(session: AsyncSession, table: str, columns: Sequence[str],
                    records: Iterable[tuple[Any, ...]] | AsyncIterable[tuple[Any, ...]]) -> None:
    """COPY the records (tuples of Python values, in the columns' order) into table; from an
    async iterator, each goes to the server as it comes."""
    await (await _driver(session)).copy_records_to_table(table, columns=list(columns), records=records)


async def fetch(session: AsyncSession, statement: str, *arguments: Any) -> list[tuple[Any, ...]]:
    """Run a statement (PostgreSQL's $n parameters) and return its rows."""
    return [tuple(record) for record in await (await _driver(session)).fetch(statement, *arguments)]
