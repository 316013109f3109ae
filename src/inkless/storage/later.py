"""Rows a worker's transaction writes at its end, one statement for many (issue 21).

A document's processing writes rows it hardly ever reads again in the same transaction: its
audit entries, its search entry, its addressed units and its queued mail (the outbox is read
by the outbox worker, after the commit). Each was a statement of its own, the search entry in
a savepoint of its own: half of a two-recipient document's statements. In a session that
`defers` them, they wait in the session and `write` writes them, each kind as one statement
for every document of an inbox batch.

The rules that keep this invisible:
- a question about those tables asked in the transaction (`units_of`, `indexed_files`,
  `audit_log`) writes what waits first, so it sees what it would have seen;
- a savepoint rolled back takes the rows added in it along, and rows it had written for the
  transaction before it began (a question in it wrote them) wait again;
- a transaction that commits with rows still waiting writes them first, and one rolled back
  forgets them;
- only rows nothing refers to wait (no foreign key of a row written meanwhile may point at
  one): a mail body that waited with its copies broke a fan-out, whose 10,000 copies are
  written at once, and bought nothing measurable, so bodies are written at once.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import Executable

log = logging.getLogger(__name__)
_KEY = "inkless.later"
# Rows of one statement beyond this many gain nothing by waiting (later_many).
MANY = 100


@dataclass(frozen=True)
class Rows:
    """What one thing (an audit entry, a document's search entry, a queued mail) is written
    with: statements and each one's values. tolerant: a database's refusal is logged, not
    raised (the thing is left unwritten and the transaction goes on); `about` names it there."""

    writes: tuple[tuple[Executable, dict[str, Any]], ...]
    tolerant: bool = False
    about: str = ""


@dataclass
class _Waiting:
    # The rows of the transaction, in order; the first `written` of them are in the database.
    rows: list[Rows] = field(default_factory=list)
    written: int = 0
    # (rows, written) when each savepoint began. Kept with the savepoint's marker, which
    # SQLAlchemy closes before it announces the savepoint's rollback.
    marks: weakref.WeakKeyDictionary[SessionTransaction, tuple[int, int]] = field(
        default_factory=weakref.WeakKeyDictionary)


def _waiting(session: AsyncSession | Session) -> _Waiting | None:
    found: _Waiting | None = session.info.get(_KEY)
    return found


def defer(session: AsyncSession) -> None:
    """From now on, the rows `later` is given in this session wait for `write` (or its commit)."""
    session.info.setdefault(_KEY, _Waiting())


def later(session: AsyncSession, *rows: Rows) -> bool:
    """Keep rows for the session's `write` if it defers them; False: it does not, write them now."""
    waiting = _waiting(session)
    if waiting is None:
        return False
    waiting.rows.extend(rows)
    return True


def later_many(session: AsyncSession, statement: Executable, values: Sequence[dict[str, Any]]) -> bool:
    """`later` for rows of one statement; more than MANY (a fan-out's copies) are a statement
    of their own anyway, and are left to the caller to write now."""
    return len(values) <= MANY and later(session, *(Rows(((statement, row),)) for row in values))


async def keep(session: AsyncSession, rows: Rows) -> None:
    """Write rows with the session's others if it defers them, else now."""
    if not later(session, rows):
        await _write_kind(session, [rows])


async def write(session: AsyncSession) -> None:
    """Write the rows waiting in the session: the same statements' values as one execution."""
    waiting = _waiting(session)
    if waiting is None or waiting.written == len(waiting.rows):
        return
    end = len(waiting.rows)
    for kind in _kinds(waiting.rows[waiting.written:end]):
        await _write_kind(session, kind)
    waiting.written = end


async def _write_kind(session: AsyncSession, kind: Sequence[Rows]) -> None:
    """Write rows of one kind; tolerant ones in a savepoint, and after a refusal each in one of
    its own, so the others are written."""
    if not kind[0].tolerant:
        await _execute(session, kind)
        return
    try:
        async with session.begin_nested():
            await _execute(session, kind)
    except DBAPIError:
        if len(kind) > 1:
            for one in kind:
                await _write_kind(session, [one])
        else:
            log.exception("%s could not be written", kind[0].about or "a row")


def _kinds(rows: Sequence[Rows]) -> list[list[Rows]]:
    """Rows grouped by the statements they are written with, in the order first added."""
    kinds: dict[tuple[int, ...], list[Rows]] = {}
    for one in rows:
        kinds.setdefault(tuple(id(statement) for statement, _ in one.writes) + (one.tolerant,), []).append(one)
    return list(kinds.values())


def _statements(kind: Sequence[Rows]) -> Iterator[tuple[Executable, list[dict[str, Any]]]]:
    """Each statement of a kind with every row's values for it."""
    for index, (statement, _) in enumerate(kind[0].writes):
        yield statement, [one.writes[index][1] for one in kind]


async def _execute(session: AsyncSession, kind: Sequence[Rows]) -> None:
    for statement, values in _statements(kind):
        await session.execute(statement, values)


@event.listens_for(Session, "after_transaction_create")
def _mark(session: Session, transaction: SessionTransaction) -> None:
    waiting = _waiting(session)
    if waiting is not None and transaction.nested:
        waiting.marks[transaction] = (len(waiting.rows), waiting.written)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, transaction: SessionTransaction) -> None:
    waiting = _waiting(session)
    if waiting is None:
        return
    if transaction.nested:
        rows, written = waiting.marks.pop(transaction, (len(waiting.rows), waiting.written))
        del waiting.rows[rows:]
        waiting.written = min(waiting.written, written)
    elif transaction.parent is None:
        waiting.rows.clear()
        waiting.written = 0


@event.listens_for(Session, "before_commit")
def _write_left(session: Session) -> None:
    """A commit with rows still waiting writes them first (plainly: a refusal fails the commit)."""
    waiting = _waiting(session)
    if waiting is None or session.in_nested_transaction():
        return
    for kind in _kinds(waiting.rows[waiting.written:]):
        for statement, values in _statements(kind):
            session.execute(statement, values)
    waiting.rows.clear()
    waiting.written = 0
