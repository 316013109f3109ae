"""The chat bot inside `inkless serve`: python-telegram-bot on the service's event loop.

Updates arrive by long polling, or by webhook when `telegram.webhook_url` is set (the
service's aiohttp app receives them). A chat learns nothing before it is linked; once
linked, its buttons and commands act for that person only, and every button re-checks
that the item is still open (a decision by mail or desk makes the button stale).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from inkless.calendar.events import record_answer
from inkless.chat import links
from inkless.chat.notify import settle
from inkless.chat.sender import ChatSender, markup
from inkless.chat.short import ShortMessageError, send_short_message
from inkless.clock import Clock
from inkless.config import Config
from inkless.directory import PersonInfo
from inkless.handlers.pipeline import Office
from inkless.handlers.receipts import record_receipt
from inkless.handlers.signoff import decide, decided_text
from inkless.handlers.verdict import Verdict
from inkless.mail.texts import text
from inkless.storage.audit import record
from inkless.storage.queries import Claimer
from inkless.storage.models import (
    Approval,
    Attendee,
    ChatLink,
    Document,
    DocumentVersion,
    Event,
    EventUnit,
    Recipient,
    ShortMessageRecipient,
)

log = logging.getLogger(__name__)
DEFAULT_API = "https://api.telegram.org"
CANCEL_WORDS = ("取消", "cancel")


class Answer:
    """What a button press says back: a short toast, and optionally new text for its message."""

    def __init__(self, toast: str, *, message: str | None = None, follow_up: str | None = None,
                 buttons: list[list[list[str]]] | None = None) -> None:
        self.toast, self.message, self.follow_up, self.buttons = toast, message, follow_up, buttons


class ChatBot:
    """The bot: its PTB Application, the update handlers, and the chat outbox worker."""

    def __init__(self, *, config: Config, sessions: async_sessionmaker[AsyncSession], office: Callable[[], Office],
                 clock: Clock, on_queued: Callable[[], None], claimer: Callable[[], Claimer]) -> None:
        settings = config.telegram
        assert settings.token, "the bot runs only with telegram.token"
        self.config, self._sessions, self._office, self._clock = config, sessions, office, clock
        self._on_queued = on_queued
        root = settings.base_url or DEFAULT_API
        self.application = self._build(root)
        self.state = "starting"
        self.sender = ChatSender(bot=self.application.bot, sessions=sessions, settings=settings,
                                 worker_settings=config.worker, clock=clock, claimer=claimer)
        # The webhook path carries a secret derived from the token, so only Telegram knows it.
        self.webhook_secret = hashlib.sha256(b"inkless-webhook\0" + settings.token.encode()).hexdigest()[:32]

    def _build(self, root: str) -> Application[Any, Any, Any, Any, Any, Any]:
        settings = self.config.telegram
        builder = (Application.builder().token(settings.token or "").base_url(f"{root}/bot")
                   .base_file_url(f"{root}/file/bot").get_updates_read_timeout(settings.poll_timeout + 10))
        application = builder.build()
        for name, handler in (("start", self.on_start), ("unlink", self.on_unlink), ("help", self.on_help),
                              ("desk", self.on_desk), ("pending", self.on_pending), ("today", self.on_today),
                              ("send", self.on_send)):
            application.add_handler(CommandHandler(name, handler))
        application.add_handler(CallbackQueryHandler(self.on_button))
        application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        application.add_error_handler(self.on_error)
        return application

    # Lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Start the bot (retrying while the Bot API cannot be reached), then send the chat outbox."""
        backoff = 1.0
        while True:
            try:
                await self.start()
                break
            except InvalidToken as error:
                self.state = f"stopped: telegram.token refused: {error}"
                log.error("chat bot: %s", self.state)
                return
            except NetworkError as error:
                self.state = f"connecting: {error}"
                log.warning("chat bot: cannot reach the Bot API (%s); retrying in %.0f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
        self.state = "ok"
        await self.sender.run()

    async def start(self) -> None:
        settings = self.config.telegram
        await self.application.initialize()
        if not self.application.running:
            await self.application.start()
        if settings.webhook_url:
            await self.application.bot.set_webhook(f"{settings.webhook_url}/{self.webhook_secret}",
                                                   allowed_updates=["message", "callback_query"],
                                                   secret_token=self.webhook_secret)
        else:
            assert self.application.updater is not None
            await self.application.updater.start_polling(timeout=settings.poll_timeout, poll_interval=0,
                                                         allowed_updates=["message", "callback_query"])

    async def stop(self) -> None:
        if not self.application.running:
            await self.application.shutdown()
            return
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def feed_webhook(self, data: dict[str, Any]) -> None:
        """An update Telegram posted to the webhook."""
        await self.application.update_queue.put(Update.de_json(data, self.application.bot))

    # Helpers ---------------------------------------------------------------------------

    @property
    def language(self) -> str:
        return self.config.language

    def _t(self, key: str, **values: object) -> str:
        return text(self.language, key, **values)

    async def _person(self, session: AsyncSession, chat_id: int) -> PersonInfo | None:
        person_id = await session.scalar(select(ChatLink.person_id).where(ChatLink.chat_id == chat_id))
        return self._office().directory.person_by_id(person_id) if person_id is not None else None

    async def _linked(self, update: Update, work: Callable[[AsyncSession, PersonInfo], Awaitable[str | None]]
                      ) -> None:
        """Run a command for the linked person; an unlinked chat is only told how to link."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None:
            return
        async with self._sessions() as session, session.begin():
            person = await self._person(session, chat.id)
            reply = self._t("bot_unlinked", domain=self.config.domain) if person is None \
                else await work(session, person)
        if reply:
            await message.reply_text(reply)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("chat update failed: %s: %s", type(context.error).__name__, context.error)

    # Commands --------------------------------------------------------------------------

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
            approvals = await self._pending_approvals(session, person)
            unread = await session.scalar(select(func.count()).select_from(Recipient).join(
                Document, Document.id == Recipient.document_id).where(
                Recipient.person_id == person.id, Recipient.acknowledged_at.is_(None)))
            today = await self._today(session, person)
            top = "\n".join(f"· {document.title}" for _, document in approvals[:5])
            return self._t("bot_desk", approvals=len(approvals), documents=unread or 0, events=len(today), top=top)
        await self._linked(update, work)

    async def on_pending(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        pending: list[tuple[Approval, Document]] = []

        async def work(session: AsyncSession, person: PersonInfo) -> str | None:
            pending.extend(await self._pending_approvals(session, person))
            return None if pending else self._t("bot_pending_none")
        await self._linked(update, work)
        for approval, document in pending:
            await message.reply_text(
                self._t("bot_approval", title=document.title, version=approval.version, sender=document.sender,
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
            copies = (await session.execute(select(ShortMessageRecipient.channel).where(
                ShortMessageRecipient.message_id == message.id))).scalars().all()
            return self._t("bot_sent_short", count=len(copies), bot=copies.count("bot"), mail=copies.count("mail"))
        await self._linked(update, work)
        self._on_queued()

    async def _pending_approvals(self, session: AsyncSession, person: PersonInfo) -> list[tuple[Approval, Document]]:
        rows = (await session.execute(select(Approval, Document).join(Document, Document.id == Approval.document_id)
                                      .where(Approval.person_id == person.id, Approval.decision.is_(None),
                                             Approval.asked_at.is_not(None), Document.status == "pending_approval")
                                      .order_by(Approval.asked_at))).all()
        return [(approval, document) for approval, document in rows]

    async def _today(self, session: AsyncSession, person: PersonInfo) -> list[Event]:
        zone = self.config.zone
        day = self._clock.now().astimezone(zone).date()
        start = datetime.combine(day, time(0), tzinfo=zone)
        units = {"all"} | {u for own in person.units for u in self._office().directory.ancestors(own)}
        return list((await session.scalars(select(Event).where(
            Event.status == "CONFIRMED", Event.start < start + timedelta(days=1), Event.end > start,
            or_(Event.id.in_(select(Attendee.event_id).where(Attendee.person_id == person.id)),
                Event.person_id == person.id, Event.organizer == person.email,
                Event.id.in_(select(EventUnit.event_id).where(EventUnit.unit_id.in_(units)))),
        ).order_by(Event.start))).all())

    # Buttons and follow-up text ---------------------------------------------------------

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
        title = await session.scalar(select(Document.title).where(Document.id == recipient.document_id))
        done = self._t("bot_acknowledged", title=title)
        return Answer(done, message=done)

    async def _open_approval(self, session: AsyncSession, person: PersonInfo, approval_id: int
                             ) -> tuple[Approval | None, Document | None, Answer | None]:
        """The approval if this person may decide it now; otherwise the answer to give."""
        approval = await session.get(Approval, approval_id, with_for_update=True)
        if approval is None or approval.person_id != person.id:
            return None, None, Answer(self._t("bot_not_yours"))
        document = await session.get(Document, approval.document_id, with_for_update=True)
        assert document is not None
        latest = await session.scalar(select(func.max(DocumentVersion.version)).where(
            DocumentVersion.document_id == document.id))
        if approval.decision is not None or document.status != "pending_approval" or approval.version != latest:
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
