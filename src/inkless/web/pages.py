"""Server-rendered pages: the tracking page, the ack page, public disclosure (sign-in is signin.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from inkless.handlers.issue import co_issuers_of, long_date
from inkless.handlers.receipts import record_receipt
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.models import Approval, Document, Recipient
from inkless.web import cascade
from inkless.web.auth import SignedIn, check_csrf, csrf_token, presession, set_presession
from inkless.web.fields import is_id
from inkless.web.i18n import PAGES
from inkless.web.keys import CLOCK, CONFIG, OFFICE, SESSIONS, WEB_SIGNER
from inkless.web.security import current_session

STATES = ("sent", "delivered", "read", "acknowledged", "failed")
# The one stylesheet; its URL names its content, so a new version is never read from a cache.
STYLESHEET = resources.files("inkless.web").joinpath("static/inkless.css").read_bytes()
STYLESHEET_URL = f"/static/inkless.css?v={hashlib.sha256(STYLESHEET).hexdigest()[:12]}"
# The GB/T 9704 print layout (web/documents.py print_view).
PRINT_STYLESHEET = resources.files("inkless.web").joinpath("static/print.css").read_bytes()
PRINT_STYLESHEET_URL = f"/static/print.css?v={hashlib.sha256(PRINT_STYLESHEET).hexdigest()[:12]}"


def words(request: web.Request) -> dict[str, str]:
    return PAGES[request.app[CONFIG].language]


def signed_in(request: web.Request) -> str | None:
    """The signed-in member's email, or None (no live session, or no longer a member)."""
    current = current_session(request)
    if current is None or request.app[OFFICE]().directory.person(current.email) is None:
        return None
    return current.email


def session_csrf(current: SignedIn) -> str:
    """What the CSRF tokens of a signed-in person's forms are bound to: their session."""
    return f"session:{current.session_id}"


def to_signin(request: web.Request) -> web.HTTPSeeOther:
    """Sign in first, then come back to this page."""
    return web.HTTPSeeOther(location="/signin?" + urlencode({"next": request.path_qs}))


def page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """Render a template with the wording, the signed-in person and time formatting."""
    zone = request.app[CONFIG].zone
    person = signed_in(request)

    def when(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""

    current = current_session(request)
    base = {"t": words(request), "person": person, "when": when, "stylesheet": STYLESHEET_URL,
            "csrf": csrf_token(request.app[WEB_SIGNER], session_csrf(current)) if person and current else ""}
    response = aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def stylesheet(request: web.Request) -> web.Response:
    """GET /static/inkless.css and /static/print.css."""
    body = PRINT_STYLESHEET if request.path.endswith("/print.css") else STYLESHEET
    return web.Response(body=body, content_type="text/css", charset="utf-8",
                        headers={"Cache-Control": "public, max-age=86400"})


def message(request: web.Request, key: str, status: int, **values: str) -> web.Response:
    return page(request, "message.html", status=status, message=words(request)[key].format(**values))


async def tracking(request: web.Request) -> web.Response:
    """GET /documents/{id}: head, recipients with counts and filters, sign-off trail, versions."""
    person = signed_in(request)
    if person is None:
        raise to_signin(request)
    raw = request.match_info["id"]
    if not is_id(raw):
        return message(request, "not_found", 404)
    await mark_read(request, int(raw), person)
    async with request.app[SESSIONS]() as session:
        document = await session.get(Document, int(raw))
        if document is None:
            return message(request, "not_found", 404)
        [view] = await queries.document_views(session, [document])
        found = await queries.cascade(session, document, reader=person, principals=[
            member.email for member in request.app[OFFICE]().directory.principals(person)])
    office = request.app[OFFICE]()
    if not may_see(office, person, document, view.approvals):
        return message(request, "forbidden", 403)
    counts = {"total": len(view.recipients),
              "sent": sum(1 for r in view.recipients if r.sent_at),
              "delivered": sum(1 for r in view.recipients if r.delivered_at),
              "read": sum(1 for r in view.recipients if r.read_at),
              "acknowledged": sum(1 for r in view.recipients if r.acknowledged_at),
              "failed": sum(1 for r in view.recipients if r.failed)}
    show = request.query.get("show")
    shown = {
        "unread": [r for r in view.recipients if not r.read_at],
        "unacknowledged": [r for r in view.recipients if not r.acknowledged_at],
        "failed": [r for r in view.recipients if r.failed],
    }.get(show or "", view.recipients)
    sender = office.directory.person(document.sender)
    unit = office.directory.units.get(document.unit_id)
    tree = cascade.tree(found, office.directory)
    names = {unit_id: unit.name for unit_id, unit in office.directory.units.items()}
    return page(request, "document.html", document=document, versions=view.versions, attachments=view.attachments,
                approvals=view.approvals, recipients=shown, counts=counts, states=STATES,
                percent=lambda n: round(100 * n / counts["total"]) if counts["total"] else 0,
                sender=sender.display if sender else document.sender, unit_name=unit.name if unit else document.unit_id,
                tree=tree, answered_by=view.answered_by,
                issuers="、".join(names.get(unit_id, unit_id) for unit_id in [document.unit_id, *co_issuers_of(document)]),
                unit_names=names,
                issue_date=long_date(document.issue_date, office.config.language) if document.issue_date else None,
                display=office.directory.display)


def may_see(office: Office, email: str, document: Document, approvals: Sequence[Approval]) -> bool:
    """Whether a signed-in member may see a document: issued ones; drafts only their sender,
    their approvers and those approvers' delegates."""
    if document.status == "issued" or email == document.sender:
        return True
    approvers = {approval.approver for approval in approvals}
    people = [office.directory.person(approver) for approver in approvers]
    return email in approvers | {delegate for p in people if p is not None for delegate in p.delegates}


async def mark_read(request: web.Request, document_id: int, email: str) -> None:
    """A recipient opening an issued document's page has read it (a desk view counts as read_at)."""
    person = request.app[OFFICE]().directory.person(email)
    if person is None:
        return
    async with request.app[SESSIONS]() as session, session.begin():
        recipient = await session.scalar(
            select(Recipient).join(Document, Document.id == Recipient.document_id)
            .where(Recipient.document_id == document_id, Recipient.person_id == person.id,
                   Recipient.read_at.is_(None), Document.status == "issued")
            .with_for_update(of=Recipient))
        if recipient is not None:
            await record_receipt(session, recipient, now=request.app[CLOCK].now(), actor=email, channel="web",
                                 read=True, language=request.app[CONFIG].language)


async def _ack_target(request: web.Request) -> tuple[Recipient, Document]:
    token = request.app[OFFICE]().signer.verify(request.match_info["token"])
    if token is None or token.purpose != "ack" or token.kind != "d":
        raise web.HTTPNotFound(text="unknown link")
    async with request.app[SESSIONS]() as session:
        recipient = await session.get(Recipient, token.item)
        document = await session.get(Document, recipient.document_id) if recipient else None
    if recipient is None or document is None or recipient.person_id != token.person:
        raise web.HTTPNotFound(text="unknown link")
    return recipient, document


async def ack_page(request: web.Request) -> web.Response:
    """GET /ack/{token}: who the copy was sent to and, to that person signed in, the confirm
    button. A GET never acknowledges (scanners prefetch links); a mail forwarded to someone
    else carries the link too, so it acknowledges only in the recipient's own session: anyone
    else is asked to sign in as the recipient (the sign-in link goes to the recipient's mailbox)."""
    try:
        recipient, document = await _ack_target(request)
    except web.HTTPNotFound:
        return message(request, "link_invalid", 404)
    token = request.match_info["token"]
    when = recipient.acknowledged_at.astimezone(request.app[CONFIG].zone).strftime("%Y-%m-%d %H:%M") \
        if recipient.acknowledged_at else None
    name = recipient.name or recipient.email
    current = current_session(request)
    person = signed_in(request)
    if when is not None or (person == recipient.email and current is not None):
        return page(request, "ack.html", document=document, acknowledged_at=when, name=name, mine=True,
                    csrf=csrf_token(request.app[WEB_SIGNER], _ack_csrf(token, current)) if current else "")
    browser, fresh = presession(request)
    response = page(request, "ack.html", document=document, acknowledged_at=None, name=name, mine=False,
                    other=person, email=recipient.email, next=f"/ack/{token}",
                    signin_csrf=csrf_token(request.app[WEB_SIGNER], f"signin-form:{browser}"))
    if fresh:
        set_presession(response, browser, secure=request.app[CONFIG].web.base_url.startswith("https://"))
    return response


def _ack_csrf(token: str, current: SignedIn | None) -> str:
    return f"ack:{token}:{current.session_id if current else ''}"


async def ack_confirm(request: web.Request) -> web.Response:
    """POST /ack/{token}: acknowledge, only in the session of the recipient the link was made for."""
    try:
        recipient, document = await _ack_target(request)
    except web.HTTPNotFound:
        return message(request, "link_invalid", 404)
    token = request.match_info["token"]
    current = current_session(request)
    await check_csrf(request, request.app[WEB_SIGNER], _ack_csrf(token, current))
    if current is None or signed_in(request) != recipient.email:
        return message(request, "ack_signin_needed", 403, name=recipient.name or recipient.email)
    now = request.app[CLOCK].now()
    async with request.app[SESSIONS]() as session, session.begin():
        row = await session.get(Recipient, recipient.id, with_for_update=True)
        assert row is not None
        await record_receipt(session, row, now=now, actor=row.email, channel="web", acknowledged=True,
                             language=request.app[CONFIG].language)
        acknowledged_at = row.acknowledged_at
    assert acknowledged_at is not None
    return page(request, "ack.html", document=document, name=recipient.name or recipient.email, mine=True,
                acknowledged_at=acknowledged_at.astimezone(request.app[CONFIG].zone).strftime("%Y-%m-%d %H:%M"))
