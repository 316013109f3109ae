"""Button presses and the text that follows one (a rejection's reason): each re-checks that
the item is still open and still the presser's, so a decision elsewhere makes a button stale."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from inkless.calendar.events import record_answer
from inkless.chat.notify import settle
from inkless.chat.telegram.conversation import Conversation
from inkless.chat.telegram.sender import markup
from inkless.directory import PersonInfo
from inkless.handlers.chains import acts_for, refusal
from inkless.handlers.receipts import record_receipt
from inkless.handlers.signoff import decide, decided_text
from inkless.mail.verdict import Verdict
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import (
    Approval,
    Attendee,
    ChatLink,
    Document,
    Event,
    Recipient,
    ShortMessageRecipient,
)

log = logging.getLogger(__name__)
CANCEL_WORDS = ("取消", "cancel")


class Answer:
    """What a button press says back: a short toast, and optionally new text for its message."""

    def __init__(self, toast: str, *, message: str | None = None, follow_up: str | None = None,
                 buttons: list[list[list[str]]] | None = None) -> None:
        self.toast, self.message, self.follow_up, self.buttons = toast, message, follow_up, buttons


class Buttons(Conversation):
    """What a press does, by the kind in its callback data (ack, ap, apc, x, rs, sm)."""

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, chat = update.callback_query, update.effective_chat
        if query is None or chat is None:
            return
        data = query.data or ""
        async with self._sessions() as session, session.begin():
            person = await self._person(session, chat.id)
            if person is None:
                answer = Answer(self._t("bot_unlinked", domain=self.config.domain))
            else:
                answer = await self._press(session, person, chat.id, data)
        await query.answer(answer.toast[:190], show_alert=len(answer.toast) > 60)
        if answer.message is not None:
            await query.edit_message_text(answer.message)
        if answer.follow_up is not None and update.effective_message is not None:
            await update.effective_message.reply_text(answer.follow_up, reply_markup=markup(answer.buttons))
        self._on_queued()

    async def _press(self, session: AsyncSession, person: PersonInfo, chat_id: int, data: str) -> Answer:
        kind, _, rest = data.partition(":")
        handlers: dict[str, Callable[[AsyncSession, PersonInfo, int, list[str]], Awaitable[Answer]]] = {
            "ack": self._ack, "ap": self._approval_button, "apc": self._approval_confirmed, "x": self._cancel,
            "rs": self._rsvp, "sm": self._short_read}
        handler = handlers.get(kind)
        parts = rest.split(":") if rest else []
        if handler is None or not all(part.isdigit() or part in ("y", "n", "a", "d") for part in parts):
            return Answer(self._t("bot_cancelled"))
        return await handler(session, person, chat_id, parts)

    def _refused(self, person: PersonInfo, chat_id: int, data: str) -> Answer:
        log.info("chat %s (%s) pressed a button of someone else: %s", chat_id, person.email, data)
        return Answer(self._t("bot_not_yours"))

    async def _ack(self, session: AsyncSession, person: PersonInfo, chat_id: int, parts: list[str]) -> Answer:
        recipient = await session.get(Recipient, int(parts[0]), with_for_update=True)
        if recipient is None or recipient.person_id != person.id:
            return self._refused(person, chat_id, f"ack:{parts[0]}")
        await record_receipt(session, recipient, now=self._clock.now(), actor=person.email, channel="bot",
                             acknowledged=True, language=self.language)
        document = await session.get(Document, recipient.document_id)
        done = self._t("bot_acknowledged", title=document.title if document else "")
        return Answer(done, message=done)

    async def _open_approval(self, session: AsyncSession, person: PersonInfo, approval_id: int
                             ) -> tuple[Approval | None, Document | None, Answer | None]:
        """The approval if this person may decide it now; otherwise the answer to give."""
        approval = await session.get(Approval, approval_id, with_for_update=True)
        if approval is None or not acts_for(self._office(), person.email, approval):
            return None, None, Answer(self._t("bot_not_yours"))
        if approval.asked_at is None:  # the chain asks each approver in turn
            return None, None, Answer(self._t("bot_not_your_turn"))
        document = await session.get(Document, approval.document_id, with_for_update=True)
        assert document is not None
        if await refusal(session, self._office(), person.email, approval, document) is not None:
            return None, None, Answer(self._t("bot_not_yours"))
        if not await queries.decidable(session, approval, document):
            shown = decided_text(self._office(), document, approval) if approval.decision else self._t(
                "bot_decided", title=document.title, version=approval.version, who="-", at="-",
                decision=document.status)
            return None, None, Answer(shown, message=shown)
        return approval, document, None

    async def _approval_button(self, session: AsyncSession, person: PersonInfo, chat_id: int,
                               parts: list[str]) -> Answer:
        approval, document, refusal = await self._open_approval(session, person, int(parts[0]))
        if refusal is not None or approval is None or document is None:
            return refusal or Answer(self._t("bot_cancelled"))
        if parts[1:] == ["y"]:
            question = self._t("bot_confirm_approve", title=document.title, version=approval.version)
            return Answer(question, follow_up=question,
                          buttons=[[[self._t("bot_confirm_button"), f"apc:{approval.id}"],
                                    [self._t("bot_cancel_button"), "x"]]])
        link = await session.get(ChatLink, chat_id, with_for_update=True)
        assert link is not None
        link.awaiting = f"reject:{approval.id}"
        return Answer(self._t("bot_ask_reason"), follow_up=self._t("bot_ask_reason"))

    async def _approval_confirmed(self, session: AsyncSession, person: PersonInfo, chat_id: int,
                                  parts: list[str]) -> Answer:
        approval, document, refusal = await self._open_approval(session, person, int(parts[0]))
        if refusal is not None or approval is None or document is None:
            return refusal or Answer(self._t("bot_cancelled"))
        await decide(session, self._office(), document, approval, Verdict("approve", None, ""), channel="bot",
                     actor=person.email, now=self._clock.now())
        shown = decided_text(self._office(), document, approval)
        return Answer(shown, message=shown)

    async def _cancel(self, session: AsyncSession, person: PersonInfo, chat_id: int, parts: list[str]) -> Answer:
        link = await session.get(ChatLink, chat_id, with_for_update=True)
        if link is not None:
            link.awaiting = None
        return Answer(self._t("bot_cancelled"), message=self._t("bot_cancelled"))

    async def _rsvp(self, session: AsyncSession, person: PersonInfo, chat_id: int, parts: list[str]) -> Answer:
        attendee = await session.get(Attendee, int(parts[0]), with_for_update=True)
        if attendee is None or attendee.person_id != person.id or len(parts) != 3:
            return self._refused(person, chat_id, "rs:" + ":".join(parts))
        event = await session.get(Event, attendee.event_id, with_for_update=True)
        assert event is not None
        if event.status == "CANCELLED" or int(parts[1]) != event.sequence:
            shown = self._t("bot_event_cancelled", title=event.title, when="-") if event.status == "CANCELLED" \
                else self._t("bot_cancelled")
            return Answer(shown, message=shown)
        partstat = "ACCEPTED" if parts[2] == "a" else "DECLINED"
        await record_answer(session, self._office(), event, attendee, partstat, None, channel="bot",
                            actor=person.email, now=self._clock.now())
        shown = self._t("bot_answered", answer=self._t("bot_accept_button" if partstat == "ACCEPTED"
                                                       else "bot_decline_button"), title=event.title)
        return Answer(shown, message=shown)

    async def _short_read(self, session: AsyncSession, person: PersonInfo, chat_id: int, parts: list[str]) -> Answer:
        copy = await session.get(ShortMessageRecipient, int(parts[0]), with_for_update=True)
        if copy is None or copy.person_id != person.id:
            return self._refused(person, chat_id, f"sm:{parts[0]}")
        now = self._clock.now()
        if copy.read_at is None:
            copy.read_at = now
            record(session, now=now, actor=person.email, action="short_message.read", subject_type="short_message",
                   subject_id=copy.message_id, detail={"recipient": copy.id, "channel": "bot"})
        await settle(session, f"s{copy.id}", self._t("bot_read"), now=now)
        return Answer(self._t("bot_read"))

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A plain message: the reason for a rejection the chat was asked for, or nothing."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not message.text:
            return
        reply = None
        async with self._sessions() as session, session.begin():
            link = await session.get(ChatLink, chat.id, with_for_update=True)
            person = self._office().directory.person_by_id(link.person_id) if link else None
            if link is None or person is None:
                reply = self._t("bot_unlinked", domain=self.config.domain)
            elif link.awaiting and link.awaiting.startswith("reject:"):
                approval_id = int(link.awaiting.partition(":")[2])
                link.awaiting = None
                if message.text.strip().lower() in CANCEL_WORDS:
                    reply = self._t("bot_cancelled")
                else:
                    approval, document, refusal = await self._open_approval(session, person, approval_id)
                    if refusal is not None or approval is None or document is None:
                        reply = refusal.toast if refusal else self._t("bot_cancelled")
                    else:
                        await decide(session, self._office(), document, approval,
                                     Verdict("reject", message.text.strip(), message.text), channel="bot",
                                     actor=person.email, now=self._clock.now())
                        reply = decided_text(self._office(), document, approval)
            else:
                reply = self._t("bot_help")
        await message.reply_text(reply)
        self._on_queued()
