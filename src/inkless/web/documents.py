"""The workspace's documents (SPEC §3): `/documents` (what one received, sent, must decide or
drafted, with search and filters), an attachment's original bytes, the printable GB/T 9704
rendition and its PDF."""

from __future__ import annotations

import asyncio
import re
import weakref
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
from aiohttp import web

from inkless.directory import UPWARD_TYPES
from inkless.handlers.classify import DOCUMENT_TYPES
from inkless.handlers.issue import co_issuers_of, long_date
from inkless.storage import queries
from inkless.storage.models import Attachment, Document
from inkless.web.fields import is_id
from inkless.web.keys import CONFIG, OFFICE, SESSIONS
from inkless.web.pages import (
    PRINT_STYLESHEET,
    PRINT_STYLESHEET_URL,
    may_see,
    message,
    page,
    signed_in,
    to_signin,
    words,
)

PAGE_SIZE = 30
# A content type as a browser should get it: type/subtype and a charset, nothing injected.
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback name and the real one as RFC 8187 `filename*`."""
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\;' else "_" for ch in filename) or "attachment"
    return 'attachment; filename="' + fallback + "\"; filename*=UTF-8''" + quote(filename, safe="")


async def attachment(request: web.Request) -> web.StreamResponse:
    """GET /documents/{id}/attachments/{n}: the n-th file (1-based) of the latest version, byte for
    byte, to whoever may see the document; 404 to anyone else, as for a file that does not exist."""
    person = signed_in(request)
    if person is None:
        raise to_signin(request)
    raw, position = request.match_info["id"], request.match_info["n"]
    if not is_id(raw) or not is_id(position):
        return message(request, "not_found", 404)
    async with request.app[SESSIONS]() as session:
        document = await session.get(Document, int(raw))
        if document is None:
            return message(request, "not_found", 404)
        [view] = await queries.document_views(session, [document])
        if not may_see(request.app[OFFICE](), person, document, view.approvals):
            return message(request, "not_found", 404)
        chosen = await queries.attachment_at(session, view.versions[-1].id, int(position))
    if chosen is None:
        return message(request, "not_found", 404)
    return file_response(chosen)


# Types a browser would run as a page (or script) of this site: always downloaded as bytes.
_ACTIVE = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/javascript")


def file_response(chosen: Attachment) -> web.Response:
    """An attachment as a download: its bytes, its name (RFC 6266) and its type (an active
    type is sent as application/octet-stream)."""
    kind = chosen.content_type.split(";")[0].strip().lower()
    if not _CONTENT_TYPE.match(kind) or kind in _ACTIVE:
        kind = "application/octet-stream"
    return web.Response(body=chosen.data, headers={"Content-Disposition": content_disposition(chosen.filename),
                                                   "Content-Type": kind, "Cache-Control": "private, no-store"})


def _date(raw: str | None, zone: object, *, end: bool = False) -> datetime | None:
    """A YYYY-MM-DD form field as the start (or the end) of that day in the timezone."""
    if not raw:
        return None
    try:
        day = datetime.strptime(raw.strip(), "%Y-%m-%d").date()
    except ValueError:
        return None
    moment = datetime.combine(day + timedelta(days=1) if end else day, time(0), tzinfo=zone)  # type: ignore[arg-type]
    return moment


async def document_list(request: web.Request) -> web.Response:
    """GET /documents: the signed-in person's documents — received (with their own and their
    unit's signing), sent by them or their unit, awaiting their sign-off, drafts — searched and
    filtered, newest first, a page at a time."""
    email = signed_in(request)
    if email is None:
        raise to_signin(request)
    office, config = request.app[OFFICE](), request.app[CONFIG]
    person = office.directory.person(email)
    assert person is not None
    query = request.query
    box = query.get("box") if query.get("box") in queries.BOXES else None
    status = query.get("status") if query.get("status") in ("pending_approval", "rejected", "issued") else None
    wanted = queries.DocumentFilter(
        box=box, words=(query.get("q") or "").strip()[:200] or None, type=(query.get("type") or None),
        unit=query.get("unit") if query.get("unit") in office.directory.units else None, status=status,
        since=_date(query.get("from"), config.zone), until=_date(query.get("to"), config.zone, end=True))
    before = int(query["before"]) if is_id(query.get("before", "")) else None
    principals = office.directory.principals(email)
    async with request.app[SESSIONS]() as session:
        documents = await queries.find_documents(session, wanted, reader=email, person=person, principals=principals,
                                                 limit=PAGE_SIZE + 1, before=before)
        shown = documents[:PAGE_SIZE]
        mine = await queries.receipts_of(session, person.id, [d.id for d in shown])
        units = await queries.units_of(session, [d.id for d in shown])
    signs_for = set(office.directory.signs_for(person, person.units))
    rows = []
    for document in shown:
        own = mine.get(document.id)
        unit_rows = [u for u in units.get(document.id, []) if u.unit_id in signs_for]
        rows.append({"document": document, "mine": own, "unit": unit_rows[0] if unit_rows else None})
    more = None
    if len(documents) > PAGE_SIZE:
        more = "/documents?" + urlencode({**{k: v for k, v in query.items() if k != "before"},
                                          "before": str(shown[-1].id)})
    names = {unit_id: unit.name for unit_id, unit in office.directory.units.items()}
    types = [*DOCUMENT_TYPES, *config.documents.extra_types]
    return page(request, "documents.html", rows=rows, more=more, box=box or "", query=query, units=names,
                types=types, boxes=queries.BOXES)


async def print_view(request: web.Request) -> web.StreamResponse:
    """GET /documents/{id}/print: the document in the GB/T 9704 layout (版头, 主体, 版记) as a page
    to print; `?format=pdf` gives the same as a PDF (WeasyPrint) for filing."""
    email = signed_in(request)
    if email is None:
        raise to_signin(request)
    raw = request.match_info["id"]
    if not is_id(raw):
        return message(request, "not_found", 404)
    office, config = request.app[OFFICE](), request.app[CONFIG]
    person = office.directory.person(email)
    assert person is not None
    async with request.app[SESSIONS]() as session:
        document = await session.get(Document, int(raw))
        if document is None:
            return message(request, "not_found", 404)
        [view] = await queries.document_views(session, [document])
        if not may_see(office, email, document, view.approvals):
            return message(request, "not_found", 404)
        mine = (await queries.receipts_of(session, person.id, [document.id])).get(document.id)
    names = {unit_id: unit.name for unit_id, unit in office.directory.units.items()}
    issuers = [names.get(u, u) for u in [document.unit_id, *co_issuers_of(document)]]
    signer = office.directory.person(document.signer) if document.signer else None
    version = view.versions[-1]
    context: dict[str, Any] = {
        "document": document, "body": version.body, "copy_number": mine.copy_number if mine else None,
        "issuers": issuers, "organ": document.source_organ or "、".join(issuers),
        "main": [names.get(u.unit_id, u.unit_id) for u in view.units if u.role == "main"],
        "copied": [names.get(u.unit_id, u.unit_id) for u in view.units if u.role == "copy"],
        "signer": (signer.display if signer else document.signer) if document.type in UPWARD_TYPES else None,
        "issue_date": long_date(document.issue_date, config.language) if document.issue_date else "",
        "attachments": [a.filename for a in view.attachments.get(version.id, [])],
    }
    if request.query.get("format") != "pdf":
        return page(request, "print.html", print_stylesheet=PRINT_STYLESHEET_URL, **context)
    html = aiohttp_jinja2.render_string("print.html", request, {
        **context, "t": words(request), "pdf": True, "print_css": PRINT_STYLESHEET.decode()})
    if len(html) > PDF_LIMIT:
        return message(request, "too_long_for_pdf", 413)
    try:
        async with _rendering():  # one PDF at a time: each is seconds of CPU
            pdf = await asyncio.to_thread(_pdf, html)
    except PdfUnavailable as missing:
        return web.Response(status=503, text=f"PDF not available here: {missing}. Install WeasyPrint's Debian "
                                              "libraries (apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
                                              "fonts-wqy-zenhei); the page itself prints from the browser.")
    filename = f"{document.number or document.incoming_number or document.title}.pdf"
    return web.Response(body=pdf, content_type="application/pdf",
                        headers={"Content-Disposition": content_disposition(filename).replace("attachment", "inline", 1),
                                 "Cache-Control": "private, no-store"})


class PdfUnavailable(Exception):
    """WeasyPrint (or the Pango it draws with) is not installed."""


# The largest page made into a PDF (a document of some 200 pages; longer ones print from the page).
PDF_LIMIT = 400_000
_RENDERING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _rendering() -> asyncio.Semaphore:
    """One PDF at a time in this process (its event loop)."""
    return _RENDERING.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(1))


def _no_fetching(url: str, *args: object, **kwargs: object) -> dict[str, object]:
    """WeasyPrint's URL fetcher: the page needs nothing from outside, and gets nothing (no
    file://, no http:// a document's text could make it ask for)."""
    raise ValueError(f"not fetched: {url[:80]}")


def _pdf(html: str) -> bytes:
    try:
        from weasyprint import HTML  # type: ignore[import-untyped]
    except (ImportError, OSError) as missing:  # OSError: Pango's libraries are missing
        raise PdfUnavailable(str(missing).splitlines()[0][:200]) from None
    return bytes(HTML(string=html, url_fetcher=_no_fetching).write_pdf())
