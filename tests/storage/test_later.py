"""Rows a transaction writes at its end (storage/later.py): an inbox batch's audit entries and
search entries are written together, and exactly the ones of what the batch kept, on both
backends."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.storage import later, queries
from inkless.storage.audit import audit_log, record
from tests.storage.conftest import NOW, new_document


async def made(session: AsyncSession, title: str) -> int:
    """A document with its audit entry and its search entry, as a handler makes them."""
    document_id = await new_document(session, title)
    record(session, now=NOW, actor="clerk@test.gov", action="document.created", subject_type="document",
           subject_id=document_id, detail={"title": title})
    await queries.index_document(session, document_id, 1, title, "")
    return document_id


async def found(sessions: async_sessionmaker[AsyncSession], words: str) -> list[int]:
    async with sessions() as session:
        dialect = session.get_bind().dialect.name
        return sorted(int(i) for i in (await session.scalars(queries.containing(dialect, words))).all())


async def actions(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str | None]]:
    async with sessions() as session:
        return [(entry.action, entry.subject_id) for entry in await audit_log(session)]


async def test_a_batch_writes_the_rows_of_what_it_kept_and_only_those(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        later.defer(session)
        first = await made(session, "关于春耕备耕的通知")
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                await made(session, "关于防汛值班的通知")
                raise RuntimeError("this message of the batch ends otherwise")
        async with session.begin_nested():
            third = await made(session, "关于秋收统计的通知")
        # Nothing is written yet: a look-up in the transaction does not see them.
        assert await session.scalar(select(queries.containing(session.get_bind().dialect.name, "通知")
                                           .subquery().c[0])) is None
        await later.write(session)
    assert await actions(sessions) == [("document.created", str(first)), ("document.created", str(third))]
    assert await found(sessions, "春耕备耕") == [first]
    assert await found(sessions, "防汛值班") == []
    assert await found(sessions, "的通知") == [first, third]


async def test_a_commit_writes_what_is_still_waiting(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        later.defer(session)
        document_id = await made(session, "关于冬季安全生产的通知")
    assert await actions(sessions) == [("document.created", str(document_id))]
    assert await found(sessions, "冬季安全") == [document_id]


async def test_a_rolled_back_transaction_leaves_nothing_waiting_for_the_next(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        later.defer(session)
        with pytest.raises(RuntimeError):
            async with session.begin():
                await made(session, "关于撤回的通知")
                raise RuntimeError("rolled back")
        async with session.begin():
            kept = await made(session, "关于保留的通知")
    assert await actions(sessions) == [("document.created", str(kept))]
    assert await found(sessions, "撤回") == []
    assert await found(sessions, "保留") == [kept]


async def test_a_refused_search_entry_leaves_the_others_and_the_transaction(
        sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture) -> None:
    async with sessions() as session, session.begin():
        later.defer(session)
        first = await made(session, "关于一号文件的通知")
        # No such document: the database refuses its search entry (a foreign key).
        await queries.index_document(session, 999_999, 1, "关于不存在文件的通知", "")
        second = await made(session, "关于二号文件的通知")
        with caplog.at_level(logging.ERROR, logger="inkless.storage.later"):
            await later.write(session)
    assert await found(sessions, "号文件") == [first, second]
    assert await found(sessions, "不存在文件") == []
    assert await actions(sessions) == [("document.created", str(first)), ("document.created", str(second))]
    assert "document 999999's search entry could not be written" in caplog.text


async def test_a_session_that_does_not_defer_writes_at_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        document_id = await made(session, "关于即时写入的通知")
        assert [entry.action for entry in await audit_log(session)] == ["document.created"]
        dialect = session.get_bind().dialect.name
        assert list(await session.scalars(queries.containing(dialect, "即时写入"))) == [document_id]


async def test_a_question_in_the_transaction_sees_what_waits_and_a_rollback_after_it_loses_nothing(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        later.defer(session)
        first = await made(session, "关于一号文件的通知")
        await queries.add_document_units(session, first, [("office", "main")])
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                second = await made(session, "关于二号文件的通知")
                await queries.add_document_units(session, second, [("finance", "main"), ("tax", "copy")])
                # Asked here, the questions see every row so far (they write what waits, the
                # first document's rows too, inside this savepoint).
                units = await queries.units_of(session, [first, second])
                assert [(u.unit_id, u.role) for u in units[second]] == [("finance", "main"), ("tax", "copy")]
                assert [entry.subject_id for entry in await audit_log(session)] == [str(first), str(second)]
                raise RuntimeError("this message of the batch ends otherwise")
        # The savepoint took the second document's rows along; the first's wait again.
        await later.write(session)
    assert await actions(sessions) == [("document.created", str(first))]
    assert await found(sessions, "号文件") == [first]
    async with sessions() as session:
        units = await queries.units_of(session, [first])
    assert [(u.unit_id, u.role) for u in units[first]] == [("office", "main")]
