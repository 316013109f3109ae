"""The bot's commands: /start CODE links a chat, then /desk, /pending, /today, /send, /help, /unlink."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from inkless.chat import links
from inkless.chat.short import ShortMessageError, send_short_message
from inkless.chat.telegram.conversation import Conversation
from inkless.chat.telegram.sender import markup
from inkless.directory import PersonInfo
from inkless.mail import compose
from inkless.storage import queries
from inkless.storage.models import Approval, Document, Event


class Commands(Conversation):
    """One method per command, each answering for the linked person only."""

    def _principals(self, person: PersonInfo) -> list[int]:
        """The members whose sign-offs this person decides as their delegate."""
        return [member.id for member in self._office().directory.principals(person.email)]

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None:
            return
        code = (context.args or [""])[0]
        async with self._sessions() as session, session.begin():
            if not code:
                person = await self._person(session, chat.id)
                reply = self._t("bot_linked", name=person.display) if person else \
                    self._t("bot_unlinked", domain=self.config.domain)
            else:
                person_id = await links.link(session, code, chat.id, now=self._clock.now())
                person = self._office().directory.person_by_id(person_id) if person_id else None
                reply = self._t("bot_linked", name=person.display) if person else self._t("bot_bad_code")
        await message.reply_text(reply)

    async def on_unlink(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async def work(session: AsyncSession, person: PersonInfo) -> str:
            assert update.effective_chat is not None
            await links.unlink(session, update.effective_chat.id, now=self._clock.now())
            return self._t("bot_unlinked_done")
        await self._linked(update, work)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async def work(session: AsyncSession, person: PersonInfo) -> str:
            return self._t("bot_help")
        await self._linked(update, work)

    async def on_desk(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async def work(session: AsyncSession, person: PersonInfo) -> str:
            approvals = await queries.pending_approvals(session, person.id, self._principals(person))
            _, unread = await queries.unacknowledged(session, person.id, limit=0)
            today = await self._today(session, person)
            top = "\n".join(f"· {document.title}" for _, document, _ in approvals[:5])
            return self._t("bot_desk", approvals=len(approvals), documents=unread, events=len(today), top=top)
        await self._linked(update, work)

    async def on_pending(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        pending: list[tuple[Approval, Document, str]] = []

        async def work(session: AsyncSession, person: PersonInfo) -> str | None:
            pending.extend(await queries.pending_approvals(session, person.id, self._principals(person)))
            return None if pending else self._t("bot_pending_none")
        await self._linked(update, work)
        for approval, document, _ in pending:
            await message.reply_text(
                compose.urgent_subject("", document.urgency)
                + self._t("bot_approval", title=document.title, version=approval.version, sender=document.sender,
                          excerpt=""),
                reply_markup=markup([[[self._t("bot_approve_button"), f"ap:{approval.id}:y"],
                                      [self._t("bot_reject_button"), f"ap:{approval.id}:n"]]]))

    async def on_today(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async def work(session: AsyncSession, person: PersonInfo) -> str:
            events = await self._today(session, person)
            if not events:
                return self._t("bot_today_none")
            zone = self.config.zone
            return "\n".join(f"{event.start.astimezone(zone):%H:%M}–{event.end.astimezone(zone):%H:%M} {event.title}"
                             + (f"（{event.location}）" if event.location else "") for event in events)
        await self._linked(update, work)

    async def on_send(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []

        async def work(session: AsyncSession, person: PersonInfo) -> str:
            if len(args) < 2:
                return self._t("bot_send_usage")
            unit, body = args[0].lower(), " ".join(args[1:])
            office = self._office()
            if unit not in office.directory.units or not any(
                    person.roles_in(above) & {"clerk", "leader"} for above in office.directory.ancestors(unit)):
                return self._t("bot_send_refused")
            try:
                message = await send_short_message(session, office, person, [unit], body, source="bot",
                                                   now=self._clock.now())
            except ShortMessageError as error:
                return str(error)
            copies = await queries.short_message_channels(session, message.id)
            return self._t("bot_sent_short", count=len(copies), bot=copies.count("bot"), mail=copies.count("mail"))
        await self._linked(update, work)
        self._on_queued()

    async def _today(self, session: AsyncSession, person: PersonInfo) -> list[Event]:
        zone = self.config.zone
        day = self._clock.now().astimezone(zone).date()
        start = datetime.combine(day, time(0), tzinfo=zone)
        return await queries.confirmed_events(session, person.id, person.email,
                                              self._office().directory.reaching(person),
                                              start=start, end=start + timedelta(days=1))
