"""What a chat member can do, whichever channel they use (the Telegram bot, WeCom).

A button press carries callback data (`ap:12:y`, `rs:5:3:a`, …) and acts for the person the
channel has established (a linked Telegram chat, a WeCom userid from the org file); every
press re-checks that the item is still open and still theirs, so a decision elsewhere makes
a button stale. A rejection asks for its reason, which the person's next text gives.
Commands (/desk, /pending, /today, /send) answer with text, and /pending with cards.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from inkless.calendar.events import record_answer
from inkless.chat.notify import Buttons, settle
from inkless.chat.short import ShortMessageError, send_short_message
from inkless.clock import Clock
from inkless.config import Config
from inkless.directory import PersonInfo
from inkless.handlers.chains import acts_for, refusal
from inkless.handlers.receipts import record_receipt
from inkless.handlers.signoff import decide, decided_text
from inkless.mail import compose
from inkless.mail.texts import text
from inkless.mail.verdict import Verdict
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import (
    Approval,
    Attendee,
    Document,
    Event,
    Recipient,
    ShortMessageRecipient,
)

log = logging.getLogger(__name__)
CANCEL_WORDS = ("取消", "cancel")


@dataclass
class Answer:
    """What a press says back: a short toast, optionally new text for its message, and a
    follow-up message (with buttons)."""

    toast: str
    message: str | None = None
    follow_up: str | None = None
    buttons: Buttons | None = None
    decided: bool = False


class Awaiting(Protocol):
    """Where a channel keeps what a person's next text answers (`reject:<approval id>`)."""

    async def set(self, session: AsyncSession, value: str | None) -> None: ...


@dataclass(frozen=True)
class Card:
    """A message with buttons to send in answer (/pending)."""

    text: str
    item: str
    buttons: Buttons


class Actions:
    """The presses and commands of one channel: `channel` is what audits and records say
    (bot, wecom); `confirm` asks again before an approval (a chat's inline button is one
    careless tap away; a WeCom card's button is pressed on the card that names the
    document and version)."""

    def __init__(self, *, config: Config, office: Callable[[], Office], clock: Clock, channel: str,
                 confirm: bool) -> None:
        self.config, self._office, self._clock = config, office, clock
        self.channel, self._confirm = channel, confirm

    @property
    def language(self) -> str:
        return self.config.language

    def t(self, key: str, **values: object) -> str:
        return text(self.language, key, **values)

    # Presses ---------------------------------------------------------------------------

    async def press(self, session: AsyncSession, person: PersonInfo, data: str, awaiting: Awaiting) -> Answer:
        kind, _, rest = data.partition(":")
        handlers: dict[str, Callable[[AsyncSession, PersonInfo, list[str], Awaiting], Awaitable[Answer]]] = {
            "ack": self._ack, "ap": self._approval_button, "apc": self._approval_confirmed, "x": self._cancel,
            "rs": self._rsvp, "sm": self._short_read}
        handler = handlers.get(kind)
        parts = rest.split(":") if rest else []
        if handler is None or not all(part.isdigit() and len(part) < 19 or part in ("y", "n", "a", "d")
                                      for part in parts) or (kind not in ("x",) and not parts):
            return Answer(self.t("bot_cancelled"))
        return await handler(session, person, parts, awaiting)

    def _refused(self, person: PersonInfo, data: str) -> Answer:
        log.info("%s (%s) pressed a button of someone else: %s", self.channel, person.email, data)
        return Answer(self.t("bot_not_yours"))

    async def _ack(self, session: AsyncSession, person: PersonInfo, parts: list[str], awaiting: Awaiting) -> Answer:
        recipient = await session.get(Recipient, int(parts[0]), with_for_update=True)
        if recipient is None or recipient.person_id != person.id:
            return self._refused(person, f"ack:{parts[0]}")
        await record_receipt(session, recipient, now=self._clock.now(), actor=person.email, channel=self.channel,
                             acknowledged=True, language=self.language)
        document = await session.get(Document, recipient.document_id)
        done = self.t("bot_acknowledged", title=document.title if document else "")
        return Answer(done, message=done, decided=True)

    async def open_approval(self, session: AsyncSession, person: PersonInfo, approval_id: int
                            ) -> tuple[Approval | None, Document | None, Answer | None]:
        """The approval if this person may decide it now; otherwise the answer to give."""
        approval = await session.get(Approval, approval_id, with_for_update=True)
        if approval is None or not acts_for(self._office(), person.email, approval):
            return None, None, Answer(self.t("bot_not_yours"))
        if approval.asked_at is None:  # the chain asks each approver in turn
            return None, None, Answer(self.t("bot_not_your_turn"))
        document = await session.get(Document, approval.document_id, with_for_update=True)
        assert document is not None
        if await refusal(session, self._office(), person.email, approval, document) is not None:
            return None, None, Answer(self.t("bot_not_yours"))
        if not await queries.decidable(session, approval, document):
            shown = decided_text(self._office(), document, approval) if approval.decision else self.t(
                "bot_decided", title=document.title, version=approval.version, who="-", at="-",
                decision=document.status)
            return None, None, Answer(shown, message=shown)
        return approval, document, None

    async def _approval_button(self, session: AsyncSession, person: PersonInfo, parts: list[str],
                               awaiting: Awaiting) -> Answer:
        approval, document, refused = await self.open_approval(session, person, int(parts[0]))
        if refused is not None or approval is None or document is None:
            return refused or Answer(self.t("bot_cancelled"))
        if parts[1:] == ["y"]:
            if not self._confirm:
                return await self._approve(session, person, approval, document)
            question = self.t("bot_confirm_approve", title=document.title, version=approval.version)
            return Answer(question, follow_up=question,
                          buttons=[[[self.t("bot_confirm_button"), f"apc:{approval.id}"],
                                    [self.t("bot_cancel_button"), "x"]]])
        if parts[1:] != ["n"]:
            return Answer(self.t("bot_cancelled"))
        await awaiting.set(session, f"reject:{approval.id}")
        asked = self.t("bot_ask_reason") if self._confirm else self.t(
            "wecom_ask_reason", title=document.title, version=approval.version)
        return Answer(asked, follow_up=asked)

    async def _approval_confirmed(self, session: AsyncSession, person: PersonInfo, parts: list[str],
                                  awaiting: Awaiting) -> Answer:
        approval, document, refused = await self.open_approval(session, person, int(parts[0]))
        if refused is not None or approval is None or document is None:
            return refused or Answer(self.t("bot_cancelled"))
        return await self._approve(session, person, approval, document)

    async def _approve(self, session: AsyncSession, person: PersonInfo, approval: Approval,
                       document: Document) -> Answer:
        await decide(session, self._office(), document, approval, Verdict("approve", None, ""), channel=self.channel,
                     actor=person.email, now=self._clock.now())
        shown = decided_text(self._office(), document, approval)
        return Answer(shown, message=shown, decided=True)

    async def _cancel(self, session: AsyncSession, person: PersonInfo, parts: list[str], awaiting: Awaiting) -> Answer:
        await awaiting.set(session, None)
        return Answer(self.t("bot_cancelled"), message=self.t("bot_cancelled"))

    async def _rsvp(self, session: AsyncSession, person: PersonInfo, parts: list[str], awaiting: Awaiting) -> Answer:
        attendee = await session.get(Attendee, int(parts[0]), with_for_update=True)
        if attendee is None or attendee.person_id != person.id or len(parts) != 3 or parts[2] not in ("a", "d"):
            return self._refused(person, "rs:" + ":".join(parts))
        event = await session.get(Event, attendee.event_id, with_for_update=True)
        assert event is not None
        if event.status == "CANCELLED" or int(parts[1]) != event.sequence:
            shown = self.t("bot_event_cancelled", title=event.title, when="-") if event.status == "CANCELLED" \
                else self.t("bot_cancelled")
            return Answer(shown, message=shown)
        partstat = "ACCEPTED" if parts[2] == "a" else "DECLINED"
        await record_answer(session, self._office(), event, attendee, partstat, None, channel=self.channel,
                            actor=person.email, now=self._clock.now())
        shown = self.t("bot_answered", answer=self.t("bot_accept_button" if partstat == "ACCEPTED"
                                                     else "bot_decline_button"), title=event.title)
        return Answer(shown, message=shown, decided=True)

    async def _short_read(self, session: AsyncSession, person: PersonInfo, parts: list[str],
                          awaiting: Awaiting) -> Answer:
        copy = await session.get(ShortMessageRecipient, int(parts[0]), with_for_update=True)
        if copy is None or copy.person_id != person.id:
            return self._refused(person, f"sm:{parts[0]}")
        now = self._clock.now()
        if copy.read_at is None:
            copy.read_at = now
            record(session, now=now, actor=person.email, action="short_message.read", subject_type="short_message",
                   subject_id=copy.message_id, detail={"recipient": copy.id, "channel": self.channel})
        await settle(session, f"s{copy.id}", self.t("bot_read"), label=self.t("bot_read"), now=now)
        return Answer(self.t("bot_read"), decided=True)

    async def reason(self, session: AsyncSession, person: PersonInfo, awaited: str, said: str) -> str:
        """The text after a rejection button: its reason (or 取消), deciding the approval."""
        approval_id = int(awaited.partition(":")[2])
        if said.strip().lower() in CANCEL_WORDS:
            return self.t("bot_cancelled")
        approval, document, refused = await self.open_approval(session, person, approval_id)
        if refused is not None or approval is None or document is None:
            return refused.toast if refused else self.t("bot_cancelled")
        await decide(session, self._office(), document, approval, Verdict("reject", said.strip(), said),
                     channel=self.channel, actor=person.email, now=self._clock.now())
        return decided_text(self._office(), document, approval)

    # Commands --------------------------------------------------------------------------

    def _principals(self, person: PersonInfo) -> list[int]:
        """The members whose sign-offs this person decides as their delegate."""
        return [member.id for member in self._office().directory.principals(person.email)]

    async def desk(self, session: AsyncSession, person: PersonInfo) -> str:
        approvals = await queries.pending_approvals(session, person.id, self._principals(person))
        _, unread = await queries.unacknowledged(session, person.id, limit=0)
        today = await self._today(session, person)
        top = "\n".join(f"· {document.title}" for _, document, _ in approvals[:5])
        return self.t("bot_desk", approvals=len(approvals), documents=unread, events=len(today), top=top)

    async def pending(self, session: AsyncSession, person: PersonInfo) -> list[Card]:
        """Each sign-off waiting for this person, as a card with its buttons."""
        return [Card(compose.urgent_subject("", document.urgency) + self.t(
                    "bot_approval", title=document.title, version=approval.version, sender=document.sender,
                    excerpt=""), item=f"a{approval.id}",
                     buttons=[[[self.t("bot_approve_button"), f"ap:{approval.id}:y"],
                               [self.t("bot_reject_button"), f"ap:{approval.id}:n"]]])
                for approval, document, _ in await queries.pending_approvals(session, person.id,
                                                                               self._principals(person))]

    async def today(self, session: AsyncSession, person: PersonInfo) -> str:
        events = await self._today(session, person)
        if not events:
            return self.t("bot_today_none")
        zone = self.config.zone
        return "\n".join(f"{event.start.astimezone(zone):%H:%M}–{event.end.astimezone(zone):%H:%M} {event.title}"
                         + (f"（{event.location}）" if event.location else "") for event in events)

    async def send(self, session: AsyncSession, person: PersonInfo, args: list[str]) -> str:
        """`/send unit text`: a short message to a unit at or below one where the person is a clerk or leader."""
        if len(args) < 2:
            return self.t("bot_send_usage")
        unit, body = args[0].lower(), " ".join(args[1:])
        office = self._office()
        if unit not in office.directory.units or not any(
                person.roles_in(above) & {"clerk", "leader"} for above in office.directory.ancestors(unit)):
            return self.t("bot_send_refused")
        try:
            message = await send_short_message(session, office, person, [unit], body, source=self.channel,
                                               now=self._clock.now())
        except ShortMessageError as error:
            return str(error)
        copies = await queries.short_message_channels(session, message.id)
        chat = sum(1 for channel in copies if channel != "mail")
        return self.t("bot_sent_short", count=len(copies), bot=chat, mail=copies.count("mail"))

    async def _today(self, session: AsyncSession, person: PersonInfo) -> list[Event]:
        zone = self.config.zone
        day = self._clock.now().astimezone(zone).date()
        start = datetime.combine(day, time(0), tzinfo=zone)
        return await queries.confirmed_events(session, person.id, person.email,
                                              self._office().directory.reaching(person),
                                              start=start, end=start + timedelta(days=1))
