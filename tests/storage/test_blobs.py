"""Big values (a message as it arrived, an attachment, a shared outbox body) kept apart in
chunks come back byte for byte, on both backends; values stored inline before revision 0011
are still read."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.bridge.store import Arrival, SessionInboundStore, SqliteInboundStore
from inkless.clock import Clock
from inkless.storage import blobs, migrate, queries
from inkless.storage.engine import create_engine, session_factory
from inkless.storage.models import (
    Attachment,
    BlobChunk,
    Document,
    DocumentVersion,
    InboundMessage,
    OutboxBody,
)
from tests.conftest import build_config

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
# Around each edge: kept inline or apart, one chunk or more, a chunk's end.
SIZES = [0, 1, blobs.APART - 1, blobs.APART, blobs.CHUNK - 1, blobs.CHUNK, blobs.CHUNK + 1, 3 * blobs.CHUNK + 7]


@pytest.fixture
async def sessions(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], Path | None]]:
    config = build_config({"database": database_url}, source="test", base_dir=tmp_path)
    engine = create_engine(config)
    await migrate.upgrade(engine, config.sqlite_path)
    try:
        yield session_factory(engine), config.sqlite_path
    finally:
        await engine.dispose()


def value(size: int) -> bytes:
    return os.urandom(size)


async def chunk_sizes(session: AsyncSession, owner: str, owner_id: int) -> list[int]:
    rows = await session.execute(select(func.length(BlobChunk.data)).where(
        BlobChunk.owner == owner, BlobChunk.owner_id == owner_id).order_by(BlobChunk.seq))
    return [int(size) for size, in rows]


async def test_an_arrival_of_any_size_is_read_back_as_it_came(sessions) -> None:  # type: ignore[no-untyped-def]
    """Through the store SMTP and IMAP use (SQLite's own connection, or the session's group commit)."""
    factory, sqlite_path = sessions
    clock = Clock()
    store = SqliteInboundStore(sqlite_path, clock) if sqlite_path is not None else SessionInboundStore(factory, clock)
    try:
        sent = {size: value(size) for size in SIZES}
        ids = {size: await store.store(Arrival("127.0.0.1", "a@x.test", ["b@y.test"], raw)) for size, raw in sent.items()}
    finally:
        await store.close()
    async with factory() as session:
        for size, raw in sent.items():
            assert await queries.inbound_raw(session, ids[size]) == raw, size
            inbound = await session.get(InboundMessage, ids[size])
            assert inbound is not None and inbound.size == size
            # A big one is kept apart, in chunks no bigger than CHUNK: its row stays small.
            chunks = await chunk_sizes(session, blobs.INBOUND, ids[size])
            assert (inbound.raw, chunks) == ((b"", [len(raw[i:i + blobs.CHUNK]) for i in range(0, size, blobs.CHUNK)])
                                             if size >= blobs.APART else (raw, []))


async def test_arrivals_sharing_a_commit_each_get_the_id_of_their_own_row(sessions) -> None:  # type: ignore[no-untyped-def]
    """Group commit: arrivals stored at once share commits; each caller's id (its 250's queue id)
    names the row holding its own bytes, a big one among them included."""
    factory, sqlite_path = sessions
    store = SqliteInboundStore(sqlite_path, Clock()) if sqlite_path is not None else SessionInboundStore(factory, Clock())
    sent = [f"Subject: {index}\r\n\r\n".encode() + os.urandom(index % 7 * 100) for index in range(300)]
    sent[150] = value(blobs.APART + 5)
    try:
        ids = await asyncio.gather(*(store.store(Arrival("127.0.0.1", f"a{index}@x.test", ["b@y.test"], raw))
                                     for index, raw in enumerate(sent)))
    finally:
        await store.close()
    assert len(set(ids)) == len(sent)
    async with factory() as session:
        for index, (inbound_id, raw) in enumerate(zip(ids, sent, strict=True)):
            inbound = await session.get(InboundMessage, inbound_id)
            assert inbound is not None and inbound.mail_from == f"a{index}@x.test"
            assert await queries.inbound_raw(session, inbound_id) == raw


async def test_the_store_takes_a_new_connection_when_its_own_was_cut(sessions) -> None:  # type: ignore[no-untyped-def]
    """The PostgreSQL store keeps one connection for its commits; when the server ends it (a
    restart, a failover), the arrivals of that commit fail (their clients retry after a 451)
    and the next ones are stored on a new connection."""
    factory, sqlite_path = sessions
    if sqlite_path is not None:
        pytest.skip("SQLite's store writes on its own file connection, which no server can cut")
    engine = factory.kw["bind"]
    store = SessionInboundStore(factory, Clock())
    try:
        first = await store.store(Arrival(None, "a@x.test", ["b@y.test"], b"Subject: 1\r\n\r\none\r\n"))
        async with engine.connect() as admin:
            await admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                     " WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        outcomes = []
        for _ in range(2):
            try:
                outcomes.append(await store.store(Arrival(None, "a@x.test", ["b@y.test"], b"Subject: 2\r\n\r\n")))
                break
            except Exception as exc:  # the commit on the cut connection: the client would get 451
                outcomes.append(type(exc).__name__)
        stored = outcomes[-1]
        assert isinstance(stored, int) and stored > first, outcomes
        async with factory() as session:
            assert await queries.inbound_raw(session, stored) == b"Subject: 2\r\n\r\n"
            assert await session.scalar(select(func.count()).select_from(InboundMessage)) == 2
    finally:
        await store.close()


async def test_an_update_of_the_row_leaves_a_big_message_whole(sessions) -> None:  # type: ignore[no-untyped-def]
    factory, sqlite_path = sessions
    store = SqliteInboundStore(sqlite_path, Clock()) if sqlite_path is not None \
        else SessionInboundStore(factory, Clock())
    raw = value(2 * blobs.CHUNK + 3)
    try:
        inbound_id = await store.store(Arrival(None, "a@x.test", ["b@y.test"], raw))
    finally:
        await store.close()
    async with factory() as session, session.begin():
        await session.execute(update(InboundMessage).where(InboundMessage.id == inbound_id).values(
            status="processing", claimed_by="w1", claimed_at=NOW, attempts=InboundMessage.attempts + 1))
    async with factory() as session:
        assert hashlib.sha256(await queries.inbound_raw(session, inbound_id)).digest() == hashlib.sha256(raw).digest()


async def test_outbox_bodies_of_any_size_are_read_back_as_queued(sessions) -> None:  # type: ignore[no-untyped-def]
    factory, _ = sessions
    sent = {size: value(size) for size in SIZES}
    async with factory() as session, session.begin():
        ids = {size: await queries.add_outbox_body(session, body, now=NOW) for size, body in sent.items()}
    async with factory() as session:
        bodies = await queries.outbox_bodies(session, list(ids.values()))
    assert {size: bodies[body_id] for size, body_id in ids.items()} == sent


async def test_a_versions_files_come_back_in_order_with_their_bytes(sessions) -> None:  # type: ignore[no-untyped-def]
    factory, _ = sessions
    files = [(f"附件{n}.pdf", "application/pdf", value(size)) for n, size in enumerate(SIZES)]
    async with factory() as session, session.begin():
        document = Document(unit_id="office", sender="clerk@x.test", title="t", status="issued", created_at=NOW)
        document.versions.append(DocumentVersion(version=1, created_at=NOW, body="正文"))
        session.add(document)
        await session.flush()
        version_id = document.versions[0].id
        await queries.add_attachments(session, version_id, files)
    async with factory() as session:
        kept = await queries.attachments_of(session, version_id)
        assert [(a.filename, a.content_type, a.data) for a in kept] == files
        assert [(a.size, a.sha256) for a in kept] == [(len(d), hashlib.sha256(d).hexdigest()) for _, _, d in files]


async def test_big_values_stored_inline_before_the_chunks_are_still_read(sessions) -> None:  # type: ignore[no-untyped-def]
    """Rows written by a release before revision 0011 hold their bytes in their own column."""
    factory, _ = sessions
    raw, body, file = value(blobs.CHUNK + 5), value(blobs.APART), value(3 * blobs.CHUNK)
    async with factory() as session, session.begin():
        inbound_id = (await session.execute(insert(InboundMessage).values(
            received_at=NOW, source="smtp", mail_from="a@x.test", rcpt_tos="b@y.test", raw=raw, size=len(raw),
            status="done", attempts=1).returning(InboundMessage.id))).scalar_one()
        body_id = (await session.execute(insert(OutboxBody).values(data=body, created_at=NOW)
                                         .returning(OutboxBody.id))).scalar_one()
        document = Document(unit_id="office", sender="clerk@x.test", title="t", status="issued", created_at=NOW)
        document.versions.append(DocumentVersion(version=1, created_at=NOW, body="正文"))
        session.add(document)
        await session.flush()
        version_id = document.versions[0].id
        session.add(Attachment(version_id=version_id, filename="a.pdf", content_type="application/pdf",
                               size=len(file), sha256=hashlib.sha256(file).hexdigest(), data=file))
    async with factory() as session:
        assert await queries.inbound_raw(session, inbound_id) == raw
        assert await queries.outbox_bodies(session, [body_id]) == {body_id: body}
        assert [a.data for a in await queries.attachments_of(session, version_id)] == [file]
