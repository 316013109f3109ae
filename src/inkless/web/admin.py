"""The admin page: quarantine (download, reprocess), the outbound queue (retry), the organisation.

Only members with the `admin` role get in; everyone else gets 403. Each action is a POST
with the session's CSRF token and is written to the audit log under the admin's address.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select

from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import InboundMessage, OutboxMessage
from inkless.web.desk import acting_member, item_id, member, member_page
from inkless.web.keys import CLOCK, OFFICE, ON_QUEUED, ON_STORED, SESSIONS
from inkless.web.pages import message, words

LISTED = 200
NOTICES = ("reprocessed", "retried")


@dataclass(frozen=True)
class UnitRow:
    """A unit in the organisation overview, with its parent's name and its own members' count."""

    unit_id: str
    name: str
    parent: str | None
    members: int


def refused(request: web.Request) -> web.Response:
    """403 for members without the admin role."""
    return message(request, "admin_only", 403)


async def admin_page(request: web.Request) -> web.Response:
    """GET /admin: what needs an administrator's eye, and who is in the organisation."""
    person = member(request)
    if "admin" not in person.roles:
        return refused(request)
    async with request.app[SESSIONS]() as session:
        quarantined = await queries.quarantined(session, limit=LISTED)
        depths = await queries.queue_depths(session)
        failed = await queries.failed_outbound(session, limit=LISTED)
    directory = request.app[OFFICE]().directory
    units = [UnitRow(unit.id, unit.name, directory.units[unit.parent].name if unit.parent in directory.units
                     else unit.parent, len(directory.members(unit.id, recursive=False)))
             for unit in directory.units.values()]
    done = request.query.get("done", "")
    return member_page(request, "admin.html", person, quarantined=quarantined, depths=depths, failed=failed,
                       units=units, people=sorted(directory.everyone(), key=lambda p: (p.units[0], p.email)),
                       unit_names={unit.unit_id: unit.name for unit in units},
                       notice=words(request)[f"done_{done}"] if done in NOTICES else None)


async def raw_message(request: web.Request) -> web.StreamResponse:
    """GET /admin/inbound/{id}.eml: a stored message exactly as it arrived."""
    person = member(request)
    if "admin" not in person.roles:
        return refused(request)
    inbound_id = item_id(request)
    async with request.app[SESSIONS]() as session:
        if await session.scalar(select(InboundMessage.id).where(InboundMessage.id == inbound_id)) is None:
            return message(request, "not_found", 404)
        raw = await queries.inbound_raw(session, inbound_id)
    return web.Response(body=raw, content_type="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="inbound-{inbound_id}.eml"', "Cache-Control": "no-store"})


async def reprocess(request: web.Request) -> web.StreamResponse:
    """POST /admin/inbound/{id}/reprocess: a quarantined message goes back to the inbox worker,
    as if just stored (attempts from zero), e.g. after the org file now lists its sender."""
    person, _ = await acting_member(request)
    if "admin" not in person.roles:
        return refused(request)
    inbound_id, now = item_id(request), request.app[CLOCK].now()
    async with request.app[SESSIONS]() as session, session.begin():
        inbound = await session.get(InboundMessage, inbound_id, with_for_update=True)
        if inbound is None:
            return message(request, "not_found", 404)
        if inbound.status != "quarantined":
            return message(request, "stale_inbound", 409)
        record(session, now=now, actor=person.email, action="inbound.reprocess", subject_type="inbound",
               subject_id=inbound.id, detail={"reason": inbound.reason, "attempts": inbound.attempts})
        await queries.reprocess_inbound(session, inbound_id)
    request.app[ON_STORED]()
    raise web.HTTPSeeOther(location="/admin?done=reprocessed#quarantine")


async def retry(request: web.Request) -> web.StreamResponse:
    """POST /admin/outbox/{id}/retry: a failed outbound message is queued again, due now.

    Its recipient row loses the failure mark: the copy is on its way again, and a second
    failure marks it anew with the new reason.
    """
    person, _ = await acting_member(request)
    if "admin" not in person.roles:
        return refused(request)
    outbox_id, now = item_id(request), request.app[CLOCK].now()
    async with request.app[SESSIONS]() as session, session.begin():
        row = await session.get(OutboxMessage, outbox_id, with_for_update=True)
        if row is None:
            return message(request, "not_found", 404)
        if row.status != "failed":
            return message(request, "stale_outbound", 409)
        record(session, now=now, actor=person.email, action="outbound.retry", subject_type="outbox",
               subject_id=row.id, detail={"rcpt": row.rcpt, "last_error": row.last_error, "attempts": row.attempts})
        await queries.retry_outbound(session, row, now)
    request.app[ON_QUEUED]()
    raise web.HTTPSeeOther(location="/admin?done=retried#outbox")
