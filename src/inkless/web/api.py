"""JSON API /api/v1: documents, quarantine, and the OpenAPI description."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any

from aiohttp import web
from sqlalchemy import select
from yarl import URL

from inkless.handlers.issue import co_issuers_of
from inkless.storage import queries
from inkless.storage.models import Document, DocumentUnit
from inkless.storage.visibility import document_visible_to
from inkless.web import cascade
from inkless.web.api_auth import api_client, only_admins
from inkless.web.fields import is_id
from inkless.web.keys import CONFIG, OFFICE, SESSIONS
from inkless.web.openapi import OPENAPI

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DOCUMENT_STATUSES = ("pending_approval", "rejected", "issued")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)


async def read_json(request: web.Request) -> Any:
    """The request's JSON body; 400 with a message for anything else, however deeply nested."""
    body = await request.read()
    try:
        return json.loads(body)
    except RecursionError:
        raise bad_request("the body must be a JSON object (this one is nested too deeply)") from None
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are no text
        raise bad_request("the body must be a JSON object") from None


def iso(value: datetime | None, request: web.Request) -> str | None:
    """ISO 8601 with the configured zone's offset, or null."""
    return None if value is None else value.astimezone(request.app[CONFIG].zone).isoformat()


def page_limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not is_id(raw) or int(raw) < 1:
        raise bad_request("limit must be a whole number from 1 (values above 1000 are capped)")
    return min(int(raw), MAX_LIMIT)


def before_cursor(request: web.Request) -> int | None:
    raw = request.query.get("before")
    if raw is None:
        return None
    if not is_id(raw):
        raise bad_request("before must be an id")
    return int(raw)


def parse_since(raw: str, request: web.Request) -> datetime:
    """An ISO 8601 date (midnight in the configured zone) or date-time (zone assumed if absent)."""
    zone = request.app[CONFIG].zone
    try:
        if len(raw) == 10:
            value = datetime.combine(date.fromisoformat(raw), time(0), tzinfo=zone)
        else:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"since must be an ISO 8601 date or date-time, got {raw!r}") from None
    if not 1900 <= value.year <= 2200:
        raise bad_request(f"since must be between the years 1900 and 2200, got {raw!r}")
    return value if value.tzinfo else value.replace(tzinfo=zone)


def page(request: web.Request, items: list[dict[str, Any]], limit: int, last_id: int | None) -> web.Response:
    following = None
    if len(items) == limit and last_id is not None:
        following = str(URL(request.app[CONFIG].web.base_url + request.path)
                        .with_query({**request.query, "before": str(last_id)}))
    return json_response({"items": items, "next": following})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of /api/v1 (no token needed)."""
    spec = dict(OPENAPI)
    spec["servers"] = [{"url": request.app[CONFIG].web.base_url}]
    return json_response(spec)


async def list_documents(request: web.Request) -> web.Response:
    """Documents, newest first, filtered by status, issuing unit, type, creation time and text
    (number, title, body, attachment names and text), and by box: what the token's owner (or,
    for a token that sees everything, the member `as` names) received, sent or must decide."""
    limit = page_limit(request)
    status = request.query.get("status")
    if status and status not in DOCUMENT_STATUSES:
        raise bad_request(f"status must be one of {', '.join(DOCUMENT_STATUSES)}")
    box = request.query.get("box")
    if box is not None and box not in queries.BOXES:
        raise bad_request(f"box must be one of {', '.join(queries.BOXES)}")
    client = api_client(request)
    office = request.app[OFFICE]()
    person = client.owner
    if (as_email := request.query.get("as")) is not None:
        if not client.sees_everything:
            raise web.HTTPForbidden(text="only tokens of admins (or of api.tokens) may read as another member")
        person = office.directory.person(as_email)
        if person is None:
            raise bad_request(f"as: {as_email[:100]} is not a member")
    if box is not None and person is None:
        raise bad_request("box needs a member: this token has no owner, name one with as=")
    since = request.query.get("since")
    until = request.query.get("until")
    wanted = queries.DocumentFilter(
        box=box, words=request.query.get("q") or None, type=request.query.get("type") or None,
        unit=request.query.get("unit") or None, status=status or None,
        since=parse_since(since, request) if since else None,
        until=parse_since(until, request) if until else None)
    reader = client.reader.email if client.reader else (person.email if as_email is not None and person else None)
    principals = office.directory.principals(person.email) if person else []
    async with request.app[SESSIONS]() as session:
        documents = await queries.find_documents(session, wanted, reader=reader, person=person, principals=principals,
                                                 limit=limit, before=before_cursor(request))
        views = await queries.document_views(session, documents)
    items = [document_json(view, request) for view in views]
    return page(request, items, limit, documents[-1].id if documents else None)


async def get_document(request: web.Request) -> web.Response:
    """One document with versions, approvals and the per-recipient receipt table."""
    raw = request.match_info["id"]
    if not is_id(raw):
        raise web.HTTPNotFound(text=f"no document {raw}")
    query = select(Document).where(Document.id == int(raw))
    if (owner := api_client(request).reader) is not None:
        query = query.where(document_visible_to(owner.email, _principals(request, owner.email)))
    async with request.app[SESSIONS]() as session:
        document = await session.scalar(query)
        if document is None:
            raise web.HTTPNotFound(text=f"no document {raw}")
        [view] = await queries.document_views(session, [document])
    return json_response(document_json(view, request))


def _principals(request: web.Request, email: str) -> list[str]:
    """The members whose sign-offs this member decides as their delegate (their drafts are visible)."""
    return [member.email for member in request.app[OFFICE]().directory.principals(email)]


def document_json(view: queries.DocumentView, request: web.Request) -> dict[str, Any]:
    """The API shape of a document (SPEC §3): absent values are null, never ""."""
    document = view.document
    return {
        "id": document.id,
        "number": document.number,
        "type": document.type,
        "title": document.title,
        "status": document.status,
        "public": document.public,
        "sender": document.sender,
        "unit": document.unit_id,
        "created_at": iso(document.created_at, request),
        "issued_at": iso(document.issued_at, request),
        "versions": [
            {
                "version": version.version,
                "created_at": iso(version.created_at, request),
                "body": version.body,
                "attachments": [{"filename": a.filename, "size": a.size, "sha256": a.sha256}
                                for a in view.attachments.get(version.id, [])],
            }
            for version in view.versions
        ],
        "approvals": [
            {
                "version": a.version,
                # Who decided: the approver, or their delegate on their behalf (`on_behalf_of`).
                "approver": a.decided_by or a.approver,
                "decision": a.decision,
                "comment": a.comment or None,
                "decided_at": iso(a.decided_at, request),
                "channel": a.channel,
                "unit": a.unit_id or document.unit_id,
                "on_behalf_of": a.approver if a.decided_by else None,
            }
            for a in view.approvals
        ],
        "urgency": document.urgency,
        "signer": document.signer,
        "issue_date": document.issue_date.isoformat() if document.issue_date else None,
        "co_issuers": co_issuers_of(document),
        "direction": document.direction,
        "source_organ": document.source_organ,
        "source_number": document.source_number,
        "incoming_number": document.incoming_number,
        "parent_id": document.parent_id,
        "answers_id": document.answers_id,
        "answered_by": view.answered_by,
        "units": [unit_json(unit, request) for unit in view.units],
        "recipients": [
            {
                "email": r.email,
                "sent_at": iso(r.sent_at, request),
                "delivered_at": iso(r.delivered_at, request),
                "read_at": iso(r.read_at, request),
                "acknowledged_at": iso(r.acknowledged_at, request),
                "failed": r.failed,
                "reason": r.reason or None,
                "comment": r.comment or None,
                "copy_number": r.copy_number,
            }
            for r in view.recipients
        ],
    }


def unit_json(unit: DocumentUnit, request: web.Request) -> dict[str, Any]:
    """A recipient unit (SPEC §2.8): main or copy, and when and by whom it signed for it."""
    return {"unit": unit.unit_id, "role": unit.role, "acknowledged_at": iso(unit.acknowledged_at, request),
            "by": unit.acknowledged_by}


async def document_tree(request: web.Request) -> web.Response:
    """GET /api/v1/documents/{id}/tree: the document and every forward of it, at every level,
    each with its units' signing (SPEC §2.8). A forward still awaiting sign-off is a node too
    (a town stalled on its leader is what the county looks for); to a reader who may not see
    it, it shows its unit, status and units only."""
    raw = request.match_info["id"]
    if not is_id(raw):
        raise web.HTTPNotFound(text=f"no document {raw}")
    query = select(Document).where(Document.id == int(raw))
    reader = api_client(request).reader
    if reader is not None:
        query = query.where(document_visible_to(reader.email, _principals(request, reader.email)))
    async with request.app[SESSIONS]() as session:
        root = await session.scalar(query)
        if root is None:
            raise web.HTTPNotFound(text=f"no document {raw}")
        found = await queries.cascade(session, root, reader=reader.email if reader else None,
                                      principals=_principals(request, reader.email) if reader else ())
    return json_response(node_json(cascade.tree(found, request.app[OFFICE]().directory), request))


def node_json(node: cascade.Node, request: web.Request) -> dict[str, Any]:
    """A cascade node: {id, number, unit, status, title, units, children}; title and number are
    null for a draft the reader may not see."""
    document = node.document
    return {"id": document.id, "number": (document.number or document.incoming_number) if node.visible else None,
            "unit": document.unit_id, "status": document.status, "title": document.title if node.visible else None,
            "units": [{"unit": u.unit_id, "role": u.role, "acknowledged_at": iso(u.acknowledged_at, request),
                       "by": u.by} for u in node.units],
            "children": [node_json(child, request) for child in node.children]}


async def list_quarantine(request: web.Request) -> web.Response:
    """Messages that could not be processed, with the reason, newest first (admins only)."""
    only_admins(request)
    limit = page_limit(request)
    since = request.query.get("since")
    after = parse_since(since, request) if since else None
    async with request.app[SESSIONS]() as session:
        rows = await queries.quarantined(session, limit=limit, before=before_cursor(request), since=after)
    items = [{"id": row.id, "received_at": iso(row.received_at, request), "mail_from": row.mail_from or None,
              "rcpt_to": [r for r in row.rcpt_tos.split("\n") if r], "size": row.size, "reason": row.reason}
             for row in rows]
    return page(request, items, limit, rows[-1].id if rows else None)
