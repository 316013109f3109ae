"""政务公开 (SPEC §3): the catalogue of documents issued with [公开] and reviewed (signed off, or
confirmed by a leader), searchable and paged, each with its attachments, and the Atom feed
over all of it (RFC 4287, paged as RFC 5005 archives). No sign-in."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

from aiohttp import web
from sqlalchemy import select

from inkless.storage import queries
from inkless.storage.models import Document
from inkless.web.documents import file_response
from inkless.web.fields import is_id
from inkless.web.keys import CLOCK, CONFIG, OFFICE, SESSIONS
from inkless.web.pages import message, page, words

PAGE_SIZE = 50
ATOM = "http://www.w3.org/2005/Atom"


async def _published(request: web.Request, *, limit: int, before: int | None,
                     words_: str | None = None) -> list[Document]:
    query = select(Document).where(Document.public.is_(True), Document.status == "issued",
                                   Document.published_at.is_not(None)).order_by(Document.id.desc()).limit(limit)
    if before is not None:
        query = query.where(Document.id < before)
    async with request.app[SESSIONS]() as session:
        if words_:
            # Searched among the published documents only: nothing about any other text shows.
            published = select(Document.id).where(Document.public.is_(True), Document.status == "issued",
                                                  Document.published_at.is_not(None))
            query = query.where(Document.id.in_(
                queries.containing(session.get_bind().dialect.name, words_, among=published)))
        return list((await session.scalars(query)).all())


def _before(request: web.Request) -> int | None:
    raw = request.query.get("before", "")
    return int(raw) if is_id(raw) else None


async def public_list(request: web.Request) -> web.Response:
    """GET /public: the catalogue, newest first, searched with `q`, a page at a time."""
    words_ = (request.query.get("q") or "").strip()[:200] or None
    found = await _published(request, limit=PAGE_SIZE + 1, before=_before(request), words_=words_)
    shown = found[:PAGE_SIZE]
    more = None
    if len(found) > PAGE_SIZE:
        more = "/public?" + urlencode({**({"q": words_} if words_ else {}), "before": str(shown[-1].id)})
    units = {unit_id: unit.name for unit_id, unit in request.app[OFFICE]().directory.units.items()}
    return page(request, "public_list.html", documents=shown, units=units, q=words_ or "", more=more)


async def _public_document(request: web.Request) -> tuple[Document, Any] | None:
    raw = request.match_info["id"]
    if not is_id(raw):
        return None
    async with request.app[SESSIONS]() as session:
        document = await session.get(Document, int(raw))
        if document is None or not document.public or document.status != "issued" or document.published_at is None:
            return None
        [view] = await queries.document_views(session, [document])
    return document, view


async def public_document(request: web.Request) -> web.Response:
    """GET /public/{id}: one published document, its text and its attachments."""
    found = await _public_document(request)
    if found is None:
        return message(request, "not_found", 404)
    document, view = found
    version = view.versions[-1]
    unit = request.app[OFFICE]().directory.units.get(document.unit_id)
    return page(request, "public_document.html", document=document, body=version.body,
                unit_name=unit.name if unit else document.unit_id, attachments=view.attachments.get(version.id, []))


async def public_attachment(request: web.Request) -> web.StreamResponse:
    """GET /public/{id}/attachments/{n}: a published document's file, byte for byte."""
    found = await _public_document(request)
    position = request.match_info["n"]
    if found is None or not is_id(position):
        return message(request, "not_found", 404)
    document, view = found
    async with request.app[SESSIONS]() as session:
        chosen = await queries.attachment_at(session, view.versions[-1].id, int(position))
    if chosen is None:
        return message(request, "not_found", 404)
    return file_response(chosen)


async def public_feed(request: web.Request) -> web.Response:
    """GET /public/feed.atom: the published documents, newest first, PAGE_SIZE an entry page;
    older pages are linked with rel="next" (`?before=`), so a reader can walk all of them."""
    config = request.app[CONFIG]
    before = _before(request)
    found = await _published(request, limit=PAGE_SIZE + 1, before=before)
    documents = found[:PAGE_SIZE]
    ElementTree.register_namespace("", ATOM)
    feed = ElementTree.Element(f"{{{ATOM}}}feed")

    def add(parent: ElementTree.Element, tag: str, text: str | None = None, **attributes: str) -> ElementTree.Element:
        element = ElementTree.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
        element.text = text
        return element

    base = config.web.base_url
    add(feed, "id", f"{base}/public")
    add(feed, "title", words(request)["public"])
    newest = max((d.published_at for d in documents if d.published_at), default=request.app[CLOCK].now())
    add(feed, "updated", newest.isoformat())
    add(feed, "link", rel="self", href=f"{base}/public/feed.atom" + (f"?before={before}" if before else ""))
    add(feed, "link", rel="alternate", href=f"{base}/public")
    if before is not None:
        add(feed, "link", rel="first", href=f"{base}/public/feed.atom")
    if len(found) > PAGE_SIZE:
        add(feed, "link", rel="next", href=f"{base}/public/feed.atom?before={documents[-1].id}")
    author = add(feed, "author")
    add(author, "name", config.domain)
    units = request.app[OFFICE]().directory.units
    for document in documents:
        entry = add(feed, "entry")
        add(entry, "id", f"{base}/public/{document.id}")
        add(entry, "title", document.title)
        add(entry, "updated", (document.published_at or document.issued_at or document.created_at).isoformat())
        add(entry, "link", rel="alternate", href=f"{base}/public/{document.id}")
        unit = units.get(document.unit_id)
        add(add(entry, "author"), "name", unit.name if unit else document.unit_id)
        add(entry, "summary", f"{document.number or ''} {document.type or ''}".strip())
    body = ElementTree.tostring(feed, encoding="utf-8", xml_declaration=True)
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")
