"""The chat outbox worker: sends queued bot messages and edits, within Telegram's limits.

Rows are claimed like outbound mail (FOR UPDATE SKIP LOCKED), sent one by one at most
`max_per_second` overall and one per `per_chat_interval` per chat, and recorded one by
one, so a stop or crash leaves at most the message in flight unrecorded. A stop releases
the claimed rows it did not get to, so the next start sends them at once. RetryAfter
pauses all sending for as long as Telegram asks; network errors retry with backoff;
refusals (blocked bot, chat gone) fail the row with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from inkless.clock import Clock
from inkless.config.sections import TelegramSection, WorkerSection
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import ChatMessage, ShortMessageRecipient
from inkless.worker import Worker

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 12


def markup(buttons: list[list[list[str]]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in row]
                                 for row in buttons])


class Pace:
    """At most `per_second` sends overall and one per `per_chat` seconds to any chat."""

    def __init__(self, per_second: float, per_chat: float) -> None:
        self._gap = 1.0 / per_second
        self._per_chat = per_chat
        self._next = 0.0
        self._next_in_chat: dict[int, float] = {}

    async def turn(self, chat_id: int) -> None:
        """Wait for this chat's next slot (rate limiting, not synchronisation)."""
        now = time.monotonic()
        at = max(self._next, self._next_in_chat.get(chat_id, 0.0))
        if at > now:
            await asyncio.sleep(at - now)
            now = time.monotonic()
        self._next = now + self._gap
        self._next_in_chat[chat_id] = now + self._per_chat
        if len(self._next_in_chat) > 10_000:
            self._next_in_chat = {chat: t for chat, t in self._next_in_chat.items() if t > now}

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, time.monotonic() + seconds)


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after becomes a timedelta; either form is read here.
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ChatSender(Worker):
    """Delivers the chat outbox through a python-telegram-bot Bot."""

    def __init__(self, *, bot: Bot, sessions: async_sessionmaker[AsyncSession], settings: TelegramSection,
                 worker_settings: WorkerSection, clock: Clock, claimer: Callable[[], queries.Claimer]) -> None:
        super().__init__()
        self._bot = bot
        self._sessions = sessions
        self._settings = settings
        self._worker_settings = worker_settings
        self._clock = clock
        self._claimer = claimer
        self._worker_id = claimer().worker
        self.pace = Pace(settings.max_per_second, settings.per_chat_interval)

    async def idle_timeout(self) -> float:
        poll = self._worker_settings.poll_interval
        async with self._sessions() as session:
            due = await queries.next_due(session, ChatMessage)
        if due is None:
            return poll
        return max(0.0, min(poll, (due - self._clock.now()).total_seconds()))

    async def run_once(self) -> int:
        rows = await self._claim(limit=max(1, int(self._settings.max_per_second)))
        for index, row in enumerate(rows):
            if self._stopping and time.monotonic() > self._drain_until:
                await self._release(rows[index:])
                break
            await self._deliver(row)
            self.progressed()
        return len(rows)

    async def _claim(self, *, limit: int) -> list[ChatMessage]:
        """Claim due messages: queued ones, and those a process that is gone had claimed."""
        async with self._sessions() as session, session.begin():
            return await queries.claim_due(session, ChatMessage, self._claimer(), limit=limit)

    async def _release(self, rows: list[ChatMessage]) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(update(ChatMessage).where(
                ChatMessage.id.in_([row.id for row in rows]), ChatMessage.claimed_by == self._worker_id,
                ChatMessage.status == "sending").values(status="queued", claimed_by=None, claimed_at=None))

    async def _deliver(self, row: ChatMessage) -> None:
        await self.pace.turn(row.chat_id)
        try:
            if row.action == "edit":
                telegram_id = await self._edit(row)
                if telegram_id is None:
                    return
            else:
                sent = await self._bot.send_message(row.chat_id, row.text, reply_markup=markup(row.buttons))
                telegram_id = sent.message_id
        except RetryAfter as error:
            seconds = _seconds(error)
            self.pace.pause(seconds)
            await self._retry(row, f"Telegram asked to wait {seconds:g} s", seconds, count=False)
        except BadRequest as error:
            if "not modified" in str(error).lower():
                await self._sent(row, None)
            else:
                await self._fail(row, f"refused: {error}")
        except Forbidden as error:
            await self._fail(row, f"refused: {error}")
        except NetworkError as error:
            await self._retry(row, f"network: {error}", min(300.0, 2.0 ** row.attempts))
        except TelegramError as error:
            await self._fail(row, f"{type(error).__name__}: {error}")
        else:
            await self._sent(row, telegram_id)

    async def _edit(self, row: ChatMessage) -> int | None:
        """Edit the message `row.target` sent; wait while that one is still on its way."""
        async with self._sessions() as session:
            target = await session.get(ChatMessage, row.target)
        if target is None or target.status == "failed":
            await self._fail(row, "the message to edit was never sent")
            return None
        if target.telegram_message_id is None:
            await self._retry(row, "the message to edit is not sent yet", 1.0, count=False)
            return None
        await self._bot.edit_message_text(row.text, chat_id=row.chat_id, message_id=target.telegram_message_id,
                                          reply_markup=markup(row.buttons))
        return target.telegram_message_id

    async def _sent(self, row: ChatMessage, telegram_id: int | None) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            await session.execute(update(ChatMessage).where(ChatMessage.id == row.id).values(
                status="sent", sent_at=now, telegram_message_id=telegram_id, attempts=ChatMessage.attempts + 1,
                last_error=None))
            if row.kind == "short_message" and row.item:
                await session.execute(update(ShortMessageRecipient).where(
                    ShortMessageRecipient.id == int(row.item[1:]), ShortMessageRecipient.sent_at.is_(None))
                    .values(sent_at=now))

    async def _retry(self, row: ChatMessage, reason: str, seconds: float, *, count: bool = True) -> None:
        if count and row.attempts + 1 >= MAX_ATTEMPTS:
            await self._fail(row, f"gave up after {row.attempts + 1} attempts: {reason}")
            return
        async with self._sessions() as session, session.begin():
            await session.execute(update(ChatMessage).where(ChatMessage.id == row.id).values(
                status="queued", claimed_by=None, last_error=reason,
                attempts=ChatMessage.attempts + (1 if count else 0),
                next_attempt_at=self._clock.now() + timedelta(seconds=seconds)))

    async def _fail(self, row: ChatMessage, reason: str) -> None:
        now = self._clock.now()
        log.warning("chat message %s to chat %s failed: %s", row.id, row.chat_id, reason)
        async with self._sessions() as session, session.begin():
            await session.execute(update(ChatMessage).where(ChatMessage.id == row.id).values(
                status="failed", last_error=reason, attempts=ChatMessage.attempts + 1))
            if row.kind == "short_message" and row.item:
                await session.execute(update(ShortMessageRecipient).where(
                    ShortMessageRecipient.id == int(row.item[1:])).values(failed=True, reason=reason))
            record(session, now=now, actor="telegram", action="chat.failed", subject_type="chat_message",
                   subject_id=row.id, detail={"chat": row.chat_id, "reason": reason})
