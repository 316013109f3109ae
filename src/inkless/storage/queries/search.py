"""Search over documents: what each is found by, and which documents contain a text.

Chinese is written without spaces, so a search is for a substring, not a word: SQLite asks its
FTS5 trigram table, PostgreSQL `ILIKE` under a pg_trgm index (migration 0014)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Insert, Select, and_, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from inkless.directory import PersonInfo
from inkless.storage.later import Rows, keep, write
from inkless.storage.models import Approval, Document, DocumentText, Recipient
from inkless.storage.models.base import table_of
from inkless.storage.upsert import insert_for
from inkless.storage.visibility import document_visible_to

# Characters of a document's text kept for search, and of a search.
CONTENT_LIMIT = 1_000_000
WORDS_LIMIT = 200


def _storable(text_: str) -> str:
    """Text either database takes: no NUL (PostgreSQL refuses it), no lone surrogates."""
    return text_.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")


async def indexed_files(session: AsyncSession, document_id: int, version: int) -> str | None:
    """The files' names and text kept for this version of a document, if they were read."""
    await write(session)  # its search entry may still wait (storage/later.py)
    row = await session.execute(select(DocumentText.version, DocumentText.files)
                                .where(DocumentText.document_id == document_id))
    found = row.first()
    return found.files if found is not None and found.version == version else None


def _indexing(dialect: str) -> Insert:
    table = table_of(DocumentText)
    statement = insert_for(dialect, table)
    return statement.on_conflict_do_update(index_elements=[table.c.document_id], set_={
        "version": statement.excluded.version, "files": statement.excluded.files,
        "content": statement.excluded.content})


# Built once, values as execution parameters (never .values(), which a cached compiled
# statement would keep: a megabyte of text).
_INDEX = {dialect: _indexing(dialect) for dialect in ("postgresql", "sqlite")}
_FTS = text("INSERT OR REPLACE INTO document_fts (rowid, content) VALUES (:id, :content)")


async def index_document(session: AsyncSession, document_id: int, version: int, head: str, files: str) -> None:
    """Keep what a document is found by (replacing what it was found by before). Never fails
    the caller: text a database refuses is logged and the document stays unfound by it."""
    files = _storable(files[:CONTENT_LIMIT])
    content = _storable((head + "\n" + files)[:CONTENT_LIMIT])
    dialect = session.get_bind().dialect.name
    writes: tuple[tuple[Executable, dict[str, Any]], ...] = (
        (_INDEX[dialect], {"document_id": document_id, "version": version, "files": files, "content": content}),)
    if dialect == "sqlite":
        # FTS5 replaces the row's terms in the index as well.
        writes += ((_FTS, {"id": document_id, "content": content}),)
    await keep(session, Rows(writes, tolerant=True, about=f"document {document_id}'s search entry"))


def _pattern(words: str) -> str:
    escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Trigram indexes serve substrings of at least this many characters.
TRIGRAM = 3


def containing(dialect: str, words: str, among: Select[Any] | None = None) -> Select[Any]:
    """The ids of the documents whose number, title, body or attachments contain `words` (any
    case). Three characters or more go to the trigram index; shorter text is looked for by a
    scan of `document_texts` (no trigram index can serve it: SQLite's FTS5 would find nothing,
    PostgreSQL's GIN index is slower than the scan)."""
    words = words[:WORDS_LIMIT]
    indexed = len(words) >= TRIGRAM
    if dialect == "sqlite" and indexed and not any(ch in words for ch in "%_\\"):
        # FTS5 uses its index only for a LIKE without ESCAPE: text with LIKE's own characters scans.
        query = select(text("rowid")).select_from(text("document_fts")).where(
            text("content LIKE :pattern").bindparams(pattern=f"%{words}%"))
        return query.where(literal_column("rowid").in_(among)) if among is not None else query
    if dialect == "postgresql" and not indexed:
        match = func.strpos(func.lower(DocumentText.content), words.lower()) > 0
    else:
        match = DocumentText.content.ilike(_pattern(words), escape="\\")
    query = select(DocumentText.document_id).where(match)
    return query.where(DocumentText.document_id.in_(among)) if among is not None else query


BOXES = ("received", "sent", "pending", "drafts")


@dataclass(frozen=True)
class DocumentFilter:
    """What a list of documents is narrowed to: a box of one person's (received, sent by them or
    their unit, awaiting their sign-off, their drafts), text, type, unit, status, dates."""

    box: str | None = None
    words: str | None = None
    type: str | None = None
    unit: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def find_documents(session: AsyncSession, wanted: DocumentFilter, *, reader: str | None,
                         person: PersonInfo | None, principals: Sequence[PersonInfo] = (), limit: int,
                         before: int | None = None) -> list[Document]:
    """Documents, newest first, that `reader` may see (None: everyone's) and `wanted` asks for;
    the boxes are `person`'s, who decides sign-offs for `principals` as their delegate."""
    delegated_by = [principal.email for principal in principals]
    query = select(Document).order_by(Document.id.desc()).limit(limit)
    if reader is not None:
        query = query.where(document_visible_to(reader, delegated_by))
    if wanted.box is not None:
        if person is None:
            return []
        query = query.where(_box(wanted.box, person, [principal.id for principal in principals]))
    if wanted.words:
        query = query.where(Document.id.in_(containing(session.get_bind().dialect.name, wanted.words)))
    if wanted.type:
        query = query.where(Document.type == wanted.type)
    if wanted.unit:
        query = query.where(Document.unit_id == wanted.unit)
    if wanted.status:
        query = query.where(Document.status == wanted.status)
    if wanted.since is not None:
        query = query.where(Document.created_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(Document.created_at < wanted.until)
    if before is not None:
        query = query.where(Document.id < before)
    return list((await session.scalars(query)).all())


def _box(box: str, person: PersonInfo, principals: Sequence[int]) -> ColumnElement[bool]:
    if box == "received":
        return Document.id.in_(select(Recipient.document_id).where(Recipient.person_id == person.id))
    if box == "sent":
        return or_(Document.sender == person.email,
                   and_(Document.unit_id.in_(person.units), Document.direction == "outgoing"))
    if box == "pending":
        return and_(Document.status == "pending_approval", Document.id.in_(
            select(Approval.document_id).where(Approval.person_id.in_([person.id, *principals]),
                                               Approval.decision.is_(None), Approval.asked_at.is_not(None))))
    return and_(Document.sender == person.email, Document.status != "issued")
