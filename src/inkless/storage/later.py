"""Rows a worker's transaction writes at its end, one statement for many (issue 21).

A document's processing writes rows that nothing in its transaction reads again: its audit
entries and its search entry. Each was a statement of its own, the search entry in a
savepoint of its own (four statements); together a third of a two-recipient document's
processing. In a session that `defers` them they wait in the session and are written by
`write`, each kind as one statement for every document of an inbox batch.

A savepoint rolled back takes the rows added in it along (a message of a batch that did not
end well leaves nothing behind), and a transaction that commits with rows still waiting writes
them first: nothing added is lost by a caller that forgot `write`.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import Executable

log = logging.getLogger(__name__)
_KEY = "inkless.later"


@dataclass(frozen=True)
class Rows:
    """What one thing (an audit entry, a document's search entry) is written with: statements
    and each one's values. tolerant: a database's refusal is logged, not raised (the thing is
    left unwritten and the transaction goes on); `about` names it in that log line."""

    writes: tuple[tuple[Executable, dict[str, Any]], ...]
    tolerant: bool = False
    about: str = ""


@dataclass
class _Waiting:
    rows: list[Rows] = field(default_factory=list)
    # How many rows were waiting when each savepoint began (a savepoint's marker is closed
    # before its rollback is announced, so the marks go with the markers, not at their end).
    marks: weakref.WeakKeyDictionary[SessionTransaction, int] = field(default_factory=weakref.WeakKeyDictionary)


def defer(session: AsyncSession) -> None:
    """From now on, the rows `later` is given in this session wait for `write` (or its commit)."""
    session.info.setdefault(_KEY, _Waiting())


def later(session: AsyncSession, rows: Rows) -> bool:
    """Keep rows for the session's `write` if it defers them; False: it does not, write them now."""
    waiting: _Waiting | None = session.info.get(_KEY)
    if waiting is None:
        return False
    waiting.rows.append(rows)
    return True


async def keep(session: AsyncSession, rows: Rows) -> None:
    """Write rows with the session's others if it defers them, else now."""
    if not later(session, rows):
        await _write_kind(session, [rows])


async def write(session: AsyncSession) -> None:
    """Write the rows waiting in the session: the same statements' values as one execution."""
    waiting: _Waiting | None = session.info.get(_KEY)
    if waiting is None or not waiting.rows:
        return
    rows, waiting.rows = waiting.rows, []
    for kind in _kinds(rows):
        await _write_kind(session, kind)


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


async def _execute(session: AsyncSession, kind: Sequence[Rows]) -> None:
    for index, (statement, _) in enumerate(kind[0].writes):
        await session.execute(statement, [one.writes[index][1] for one in kind])


@event.listens_for(Session, "after_transaction_create")
def _mark(session: Session, transaction: SessionTransaction) -> None:
    waiting: _Waiting | None = session.info.get(_KEY)
    if waiting is not None and transaction.nested:
        waiting.marks[transaction] = len(waiting.rows)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, transaction: SessionTransaction) -> None:
    waiting: _Waiting | None = session.info.get(_KEY)
    if waiting is None:
        return
    if transaction.nested:
        del waiting.rows[waiting.marks.pop(transaction, len(waiting.rows)):]
    elif transaction.parent is None:
        waiting.rows.clear()


@event.listens_for(Session, "before_commit")
def _write_left(session: Session) -> None:
    """A commit with rows still waiting writes them first (plainly: a refusal fails the commit)."""
    waiting: _Waiting | None = session.info.get(_KEY)
    if waiting is None or not waiting.rows or session.in_nested_transaction():
        return
    rows, waiting.rows = waiting.rows, []
    for kind in _kinds(rows):
        for index, (statement, _) in enumerate(kind[0].writes):
            session.execute(statement, [one.writes[index][1] for one in kind])
