"""My desk (我的办公桌): what waits for the signed-in person, and the buttons to act on it.

Every action is a POST carrying the session's CSRF token, and every item is looked up as
the signed-in person's own: an id that belongs to someone else is "not found" and nothing
changes. Decisions go through the functions mail replies and bot buttons use (`decide`,
`record_receipt`, `record_answer`), so the trail reads the same whichever way someone acted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.calendar import feeds
from inkless.calendar.events import describe_time, record_answer
from inkless.chat import links
from inkless.chat.notify import addresses
from inkless.directory import PersonInfo
from inkless.handlers import forward as forwarding
from inkless.handlers import publication
from inkless.handlers.chains import acts_for, refusal
from inkless.handlers.receipts import record_receipt
from inkless.handlers.signoff import decide
from inkless.mail.verdict import Verdict
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.models import (
    Approval,
    Attendee,
    Document,
    Event,
    Recipient,
    ShortMessage,
    Task,
)
from inkless.web.auth import check_csrf
from inkless.web.fields import is_id
from inkless.web.keys import CLOCK, CONFIG, OFFICE, ON_QUEUED, SESSIONS, WEB_SIGNER
from inkless.web.pages import message, page, session_csrf, signed_in, to_signin, words
from inkless.web.security import current_session

# What a redirect back to the desk may announce (?done=…); anything else is ignored.
NOTICES = ("approved", "rejected", "acknowledged", "accepted", "declined", "rotated", "forwarded", "published")
DOCUMENTS_SHOWN = 50
MESSAGES_SHOWN = 10
ANSWERS = {"accept": "ACCEPTED", "decline": "DECLINED"}

Form = MultiDictProxy[str | bytes | bytearray | FileField]


# Who is asking -------------------------------------------------------------------------


def member(request: web.Request) -> PersonInfo:
    """The signed-in member; anyone else is sent to sign in and comes back here."""
    email = signed_in(request)
    person = request.app[OFFICE]().directory.person(email) if email else None
    if person is None:
        raise to_signin(request)
    return person


async def acting_member(request: web.Request) -> tuple[PersonInfo, Form]:
    """The signed-in member and the posted form, after its CSRF check; 403 otherwise."""
    email, current = signed_in(request), current_session(request)
    person = request.app[OFFICE]().directory.person(email) if email else None
    if person is None or current is None:
        raise web.HTTPForbidden(text="not signed in")
    return person, await check_csrf(request, request.app[WEB_SIGNER], session_csrf(current))


def member_page(request: web.Request, template: str, person: PersonInfo, **context: Any) -> web.Response:
    """A page with the navigation between desk, task board and (for admins) the admin page."""
    return page(request, template, is_admin="admin" in person.roles, **context)


def back_to_desk(notice: str, anchor: str = "") -> web.HTTPSeeOther:
    """Post/redirect/get: a reload never repeats the action."""
    return web.HTTPSeeOther(location=f"/desk?done={notice}{anchor}")


def item_id(request: web.Request) -> int:
    """The numeric {id} of the URL; anything else names nothing (404)."""
    raw = request.match_info["id"]
    if not is_id(raw):
        raise web.HTTPNotFound()
    return int(raw)


# What the desk shows -------------------------------------------------------------------


@dataclass(frozen=True)
class PendingApproval:
    """An approval the person can decide now, its document and the start of its text."""

    approval: Approval
    document: Document
    excerpt: str
    # The member it is decided for, when the person is their delegate.
    on_behalf_of: str | None = None


@dataclass(frozen=True)
class Unacknowledged:
    """The person's copy of an issued document, not yet acknowledged."""

    recipient: Recipient
    document: Document


@dataclass(frozen=True)
class UnitPending:
    """A document a unit the person signs for has not signed for yet (签收), with their own copy
    (to sign with) and whether the unit has units below to forward it to (转发)."""

    unit_name: str
    role: str
    document: Document
    recipient: Recipient | None
    can_forward: bool


@dataclass(frozen=True)
class Appointment:
    """An event on the person's schedule; `attendee` is set when they are invited (RSVP)."""

    event: Event
    attendee: Attendee | None
    time: str
    organised: bool


@dataclass(frozen=True)
class ShortNote:
    """A short message to the person, with its sender's name."""

    message: ShortMessage
    sender: str


async def pending_approvals(session: AsyncSession, office: Office, person: PersonInfo) -> list[PendingApproval]:
    """Asked, undecided approvals of the latest version of documents still awaiting sign-off:
    the person's own and those of the members they decide for as delegate; urgent first."""
    principals = [member.id for member in office.directory.principals(person.email)]
    return [PendingApproval(approval, document, " ".join(body.split())[:160],
                            None if approval.person_id == person.id else office.directory.display(approval.approver))
            for approval, document, body in await queries.pending_approvals(session, person.id, principals)
            if approval.person_id == person.id or document.sender != person.email]


async def unacknowledged(session: AsyncSession, person: PersonInfo) -> tuple[list[Unacknowledged], int]:
    """The person's copies of issued documents not yet acknowledged, newest first, and how many."""
    rows, total = await queries.unacknowledged(session, person.id, limit=DOCUMENTS_SHOWN)
    return [Unacknowledged(recipient, document) for recipient, document in rows], total


async def unit_pending(session: AsyncSession, office: Office, person: PersonInfo) -> list[UnitPending]:
    """What the units the person signs for (as their receiver, or clerk/leader where there is
    none) still have to sign for."""
    directory = office.directory
    units = directory.signs_for(person, person.units)
    rows = await queries.unsigned_units(session, person.id, units, limit=DOCUMENTS_SHOWN)
    return [UnitPending(directory.units[unit.unit_id].name, unit.role, document, recipient,
                        len(directory.subtree(unit.unit_id)) > 1)
            for unit, document, recipient in rows if unit.unit_id in directory.units]


def week_of(today: date) -> tuple[date, date]:
    """Tomorrow and the Monday after: "this week" is the rest of the calendar week (本周)."""
    return today + timedelta(days=1), today + timedelta(days=7 - today.weekday())


async def appointments(session: AsyncSession, office: Office, person: PersonInfo, now: datetime
                       ) -> tuple[list[Appointment], list[Appointment]]:
    """Today's and the rest of this week's events: meetings the person attends or organises,
    and schedule entries of their units or of them alone (as their calendar feed has them)."""
    zone = office.config.zone
    today = now.astimezone(zone).date()
    tomorrow, monday = week_of(today)
    start, middle, end = (datetime.combine(day, time(0), tzinfo=zone) for day in (today, tomorrow, monday))
    events = await queries.confirmed_events(session, person.id, person.email, office.directory.reaching(person),
                                            start=start, end=end)
    invited = await queries.invitations(session, person.id, [event.id for event in events])
    shown = [Appointment(event, invited.get(event.id), describe_time(event, office), event.organizer == person.email)
             for event in events]
    return [a for a in shown if a.event.start < middle], [a for a in shown if a.event.start >= middle]


async def open_tasks(session: AsyncSession, person: PersonInfo, today: date) -> list[tuple[Task, bool]]:
    """Tasks of the person's units not yet done, with their overdue flag, overdue first."""
    tasks = await queries.tasks_of(session, units=person.units)
    return [(task, today > task.deadline) for task in tasks]


async def short_messages(session: AsyncSession, office: Office, person: PersonInfo) -> list[ShortNote]:
    """The newest short messages to the person, by bot or by mail alike."""
    rows = await queries.short_messages_to(session, person.id, limit=MESSAGES_SHOWN)
    return [ShortNote(row, office.directory.display(row.sender)) for row in rows]


async def render_desk(request: web.Request, person: PersonInfo, *, chat_code: str | None = None,
                      refusal: str | None = None) -> web.Response:
    """The whole desk; the calendar feed URL is made on first view, like `inkless feed-url`."""
    office, config, now = request.app[OFFICE](), request.app[CONFIG], request.app[CLOCK].now()
    today = now.astimezone(config.zone).date()
    async with request.app[SESSIONS]() as session, session.begin():
        approvals = await pending_approvals(session, office, person)
        documents, documents_total = await unacknowledged(session, person)
        for_unit = await unit_pending(session, office, person)
        files = await queries.attachment_names(session, [d.document.id for d in documents])
        # Held documents of the units at and below the person's that they may confirm.
        below = {unit for own in person.units for unit in office.directory.subtree(own)}
        held = [document for document in await queries.held_for_publication(session, sorted(below))
                if person in publication.confirmers(office, document)]
        today_events, week_events = await appointments(session, office, person, now)
        tasks = await open_tasks(session, person, today)
        notes = await short_messages(session, office, person)
        feed = await feeds.feed_url(session, config, person_id=person.id, now=now)
        # The channels notifications go out on, by the rule that sends them.
        reached = (await addresses(session, office, [person.id])).get(person.id, [])
    channels = [("mail", person.email)]
    telegram_chats = sum(1 for address in reached if address.channel == "telegram")
    if telegram_chats:
        channels.append(("telegram", str(telegram_chats)))
    channels += [("wecom", address.userid or "") for address in reached if address.channel == "wecom"]
    units = {unit_id: unit.name for unit_id, unit in office.directory.units.items()}
    done = request.query.get("done", "")
    return member_page(
        request, "desk.html", person, approvals=approvals, documents=documents, documents_total=documents_total,
        for_unit=for_unit, refusal=refusal, held=held, files=files,
        today_events=today_events, week_events=week_events, tasks=tasks, notes=notes, feed=feed, units=units,
        display=office.directory.display, chat_enabled=bool(config.telegram.token), chat_code=chat_code, channels=channels,
        chat_minutes=int(config.telegram.link_code_minutes), links=config.desk.links,
        notice=words(request)[f"done_{done}"] if done in NOTICES else None)


async def desk(request: web.Request) -> web.Response:
    """GET /desk."""
    return await render_desk(request, member(request))


async def home(request: web.Request) -> web.Response:
    """GET /: the desk when signed in, otherwise the sign-in page (never a 404)."""
    if signed_in(request) is None:
        raise web.HTTPSeeOther(location="/signin")
    return await render_desk(request, member(request))


# Actions -------------------------------------------------------------------------------


async def decide_approval(request: web.Request) -> web.StreamResponse:
    """POST /desk/approvals/{id}: approve or reject, exactly as a mail reply would."""
    person, form = await acting_member(request)
    decision = form.get("decision")
    if decision not in ("approve", "reject"):
        return message(request, "bad_form", 400)
    comment = str(form.get("comment") or "").strip() or None
    office, now = request.app[OFFICE](), request.app[CLOCK].now()
    async with request.app[SESSIONS]() as session, session.begin():
        approval = await session.get(Approval, item_id(request), with_for_update=True)
        if approval is None or not acts_for(office, person.email, approval):
            return message(request, "not_found", 404)
        document = await session.get(Document, approval.document_id, with_for_update=True)
        assert document is not None
        if await refusal(session, office, person.email, approval, document) is not None:
            return message(request, "forbidden", 403)
        if not await queries.decidable(session, approval, document):
            return message(request, "stale_approval", 409)
        await decide(session, office, document, approval, Verdict(str(decision), comment, ""), channel="web",
                     actor=person.email, now=now)
    request.app[ON_QUEUED]()
    raise back_to_desk("approved" if decision == "approve" else "rejected")


async def acknowledge(request: web.Request) -> web.StreamResponse:
    """POST /desk/receipts/{id}: the "收到" button, like the ack page behind the mailed link."""
    person, _ = await acting_member(request)
    async with request.app[SESSIONS]() as session, session.begin():
        recipient = await session.get(Recipient, item_id(request), with_for_update=True)
        if recipient is None or recipient.person_id != person.id:
            return message(request, "not_found", 404)
        await record_receipt(session, recipient, now=request.app[CLOCK].now(), actor=person.email, channel="web",
                             acknowledged=True, language=request.app[CONFIG].language)
    request.app[ON_QUEUED]()
    raise back_to_desk("acknowledged", "#documents")


async def forward(request: web.Request) -> web.StreamResponse:
    """POST /desk/forward/{id}: 转发 the document of the person's copy {id} down, as a reply
    `转发：units` with the instructions would (the same checks: receivers only, units below)."""
    person, form = await acting_member(request)
    names = str(form.get("units") or "").strip()
    instructions = str(form.get("instructions") or "").strip()
    request_ = forwarding.read_forward(f"转发：{names}\n{instructions}" if names else f"转发\n{instructions}")
    if request_ is None or "\n" in names:
        return message(request, "bad_form", 400)
    office, now = request.app[OFFICE](), request.app[CLOCK].now()
    async with request.app[SESSIONS]() as session, session.begin():
        recipient = await session.get(Recipient, item_id(request), with_for_update=True)
        if recipient is None or recipient.person_id != person.id:
            return message(request, "not_found", 404)
        # A refusal changes nothing; forwarding is also signing for the document.
        outcome = await forwarding.forward_down(session, office, recipient, request_, now=now, channel="web")
        if outcome.refusal is None:
            await record_receipt(session, recipient, now=now, actor=person.email, channel="web", acknowledged=True,
                                 language=request.app[CONFIG].language)
    if outcome.refusal is not None:
        return await render_desk(request, person, refusal=words(request)["forward_refused"].format(
            reason=outcome.refusal))
    request.app[ON_QUEUED]()
    raise back_to_desk("forwarded", "#unit-documents")


async def publish(request: web.Request) -> web.StreamResponse:
    """POST /desk/publish/{id}: a leader confirms a held [公开] document's publication, as a
    reply "同意" to the request would."""
    person, _ = await acting_member(request)
    office = request.app[OFFICE]()
    async with request.app[SESSIONS]() as session, session.begin():
        document = await session.get(Document, item_id(request), with_for_update=True)
        if document is None or not await publication.confirm(session, office, document, person.email, publish=True,
                                                             channel="web", now=request.app[CLOCK].now()):
            return message(request, "not_found", 404)
    raise back_to_desk("published", "#held")


async def answer_meeting(request: web.Request) -> web.StreamResponse:
    """POST /desk/meetings/{id}: 参加 / 请假 for the version of the meeting the page showed."""
    person, form = await acting_member(request)
    partstat = ANSWERS.get(str(form.get("answer") or ""))
    sequence = str(form.get("sequence") or "")
    if partstat is None or not sequence.isdigit():
        return message(request, "bad_form", 400)
    async with request.app[SESSIONS]() as session, session.begin():
        attendee = await session.get(Attendee, item_id(request), with_for_update=True)
        if attendee is None or attendee.person_id != person.id:
            return message(request, "not_found", 404)
        event = await session.get(Event, attendee.event_id, with_for_update=True)
        assert event is not None
        if event.status != "CONFIRMED" or event.sequence != int(sequence):
            return message(request, "stale_event", 409)
        await record_answer(session, request.app[OFFICE](), event, attendee, partstat, None, channel="web",
                            actor=person.email, now=request.app[CLOCK].now())
    request.app[ON_QUEUED]()
    raise back_to_desk("accepted" if partstat == "ACCEPTED" else "declined", "#schedule")


async def rotate_feed(request: web.Request) -> web.StreamResponse:
    """POST /desk/feed: a new calendar feed URL; the old one stops working at once."""
    person, _ = await acting_member(request)
    config = request.app[CONFIG]
    async with request.app[SESSIONS]() as session, session.begin():
        await feeds.feed_url(session, config, person_id=person.id, rotate=True, now=request.app[CLOCK].now())
    raise back_to_desk("rotated", "#feed")


async def chat_code(request: web.Request) -> web.Response:
    """POST /desk/chat-code: a one-time code for `/start CODE`, shown on this answer only."""
    person, _ = await acting_member(request)
    config = request.app[CONFIG]
    if not config.telegram.token:
        return message(request, "chat_disabled", 404)
    async with request.app[SESSIONS]() as session, session.begin():
        code = await links.new_code(session, person.id, now=request.app[CLOCK].now(),
                                    minutes=config.telegram.link_code_minutes)
    return await render_desk(request, person, chat_code=code)
