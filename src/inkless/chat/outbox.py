"""The chat outbox worker, one per channel: sends queued messages and replaces sent ones.

Rows of one channel are claimed like outbound mail (FOR UPDATE SKIP LOCKED), sent one by
one within the channel's pace (`per_second` overall, one per `per_address` seconds to the
same chat or member), and recorded one by one, so a stop or crash leaves at most the message
in flight unrecorded. A stop releases the claimed rows it did not get to, so the next start
sends them at once. What goes wrong is the channel's to name: `Retry` (later, with backoff
or after the pause the service asked for) or `Refused` (the row fails with the reason). A
short message that failed on every chat channel its person has goes by mail instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.chat.short import by_mail_instead
from inkless.clock import Clock
from inkless.config.sections import WorkerSection
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import ChatMessage, ShortMessageRecipient
from inkless.worker import Worker

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 12


class Retry(Exception):
    """Try the row again after `seconds`; `count`: whether this attempt counts towards giving up;
    `pause`: the channel asked that nothing be sent for that long."""

    def __init__(self, reason: str, seconds: float, *, count: bool = True, pause: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.seconds, self.count, self.pause = reason, seconds, count, pause


class Refused(Exception):
    """The channel will not take this row (an unknown member, a blocked bot): it fails."""


@dataclass(frozen=True)
class Sent:
    """What the channel gave back for a sent message: Telegram's message id, a WeCom card's
    response code."""

    message_id: int | None = None
    response_code: str | None = None


class Channel(Protocol):
    """A chat service the outbox delivers to."""

    name: str  # the rows' `channel`: telegram | wecom

    def address(self, row: ChatMessage) -> str:
        """Whom the row goes to (for pacing per chat or member)."""

    async def send(self, row: ChatMessage) -> Sent:
        """Send a new message (with buttons, if the row has them)."""

    async def replace(self, row: ChatMessage, target: ChatMessage) -> Sent | None:
        """Show `row`'s outcome instead of what `target` (sent earlier) showed, its buttons gone;
        None when there is nothing to replace any more. Retry while `target` is not sent yet."""


class Pace:
    """At most `per_second` sends overall and one per `per_address` seconds to any address."""

    def __init__(self, per_second: float, per_address: float) -> None:
        self._gap = 1.0 / per_second
        self._per_address = per_address
        self._next = 0.0
        self._next_for: dict[str, float] = {}

    async def turn(self, address: str) -> None:
        """Wait for this address's next slot (rate limiting, not synchronisation)."""
        now = time.monotonic()
        at = max(self._next, self._next_for.get(address, 0.0))
        if at > now:
            await asyncio.sleep(at - now)
            now = time.monotonic()
        self._next = now + self._gap
        self._next_for[address] = now + self._per_address
        if len(self._next_for) > 10_000:
            self._next_for = {key: t for key, t in self._next_for.items() if t > now}

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, time.monotonic() + seconds)


class ChatOutbox(Worker):
    """Delivers one channel's rows of the chat outbox."""

    def __init__(self, *, channel: Channel, sessions: async_sessionmaker[AsyncSession], office: Callable[[], Office],
                 pace: Pace, batch: int, worker_settings: WorkerSection, clock: Clock,
                 claimer: Callable[[], queries.Claimer]) -> None:
        super().__init__()
        self.channel = channel
        self._sessions = sessions
        self._office = office
        self._worker_settings = worker_settings
        self._clock = clock
        self._claimer = claimer
        self._worker_id = claimer().worker
        self._batch = batch
        self.pace = pace
        self._mine = ChatMessage.channel == channel.name

    async def idle_timeout(self) -> float:
        poll = self._worker_settings.poll_interval
        async with self._sessions() as session:
            due = await queries.next_due(session, ChatMessage, self._mine)
        if due is None:
            return poll
        return max(0.0, min(poll, (due - self._clock.now()).total_seconds()))

    async def run_once(self) -> int:
        rows = await self._claim()
        for index, row in enumerate(rows):
            if self._stopping and time.monotonic() > self._drain_until:
                await self._release(rows[index:])
                break
            await self._deliver(row)
            self.progressed()
        return len(rows)

    async def _claim(self) -> list[ChatMessage]:
        """Claim due messages: queued ones, and those a process that is gone had claimed."""
        async with self._sessions() as session, session.begin():
            return await queries.claim_due(session, ChatMessage, self._claimer(), limit=self._batch, only=self._mine)

    async def _release(self, rows: list[ChatMessage]) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(update(ChatMessage).where(
                ChatMessage.id.in_([row.id for row in rows]), ChatMessage.claimed_by == self._worker_id,
                ChatMessage.status == "sending").values(status="queued", claimed_by=None, claimed_at=None))

    async def _deliver(self, row: ChatMessage) -> None:
        await self.pace.turn(self.channel.address(row))
        try:
            if row.action == "edit":
                async with self._sessions() as session:
                    target = await session.get(ChatMessage, row.target)
                if target is None or target.status == "failed":
                    raise Refused("the message to edit was never sent")
                if target.status != "sent":
                    raise Retry("the message to edit is not sent yet", 1.0, count=False)
                sent = await self.channel.replace(row, target)
            else:
                sent = await self.channel.send(row)
        except Retry as retry:
            if retry.pause:
                self.pace.pause(retry.seconds)
            await self._retry(row, retry)
        except Refused as refused:
            await self._fail(row, f"refused: {refused}")
        except Exception as error:
            # A channel's bug or an answer nobody foresaw: this row waits, the others go on.
            log.exception("%s message %s: unexpected error", self.channel.name, row.id)
            await self._retry(row, Retry(f"unexpected: {type(error).__name__}", min(300.0, 2.0 ** row.attempts)))
        else:
            await self._sent(row, sent)

    async def _sent(self, row: ChatMessage, sent: Sent | None) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            values: dict[str, object] = {"status": "sent", "sent_at": now, "attempts": ChatMessage.attempts + 1,
                                         "last_error": None}
            if sent is not None and row.action == "send":
                # A press may have come before this answer: its response code is the newer one.
                values |= {"telegram_message_id": sent.message_id,
                           "response_code": func.coalesce(ChatMessage.response_code, sent.response_code)}
            await session.execute(update(ChatMessage).where(ChatMessage.id == row.id).values(**values))
            if row.action == "edit" and row.target is not None:
                # The code that replaced the buttons is spent.
                await session.execute(update(ChatMessage).where(ChatMessage.id == row.target)
                                      .values(response_code=None))
            if row.kind == "short_message" and row.item:
                await session.execute(update(ShortMessageRecipient).where(
                    ShortMessageRecipient.id == int(row.item[1:]), ShortMessageRecipient.sent_at.is_(None))
                    .values(sent_at=now))

    async def _retry(self, row: ChatMessage, retry: Retry) -> None:
        if retry.count and row.attempts + 1 >= MAX_ATTEMPTS:
            await self._fail(row, f"gave up after {row.attempts + 1} attempts: {retry.reason}")
            return
        async with self._sessions() as session, session.begin():
            await session.execute(update(ChatMessage).where(ChatMessage.id == row.id).values(
                status="queued", claimed_by=None, last_error=retry.reason,
                attempts=ChatMessage.attempts + (1 if retry.count else 0),
                next_attempt_at=self._clock.now() + timedelta(seconds=retry.seconds)))

    async def _fail(self, row: ChatMessage, reason: str) -> None:
        now = self._clock.now()
        where = row.chat_id if row.channel == "telegram" else row.userid
        log.warning("%s message %s to %s failed: %s", self.channel.name, row.id, where, reason)
        async with self._sessions() as session, session.begin():
            await session.execute(update(ChatMessage).where(ChatMessage.id == row.id).values(
                status="failed", last_error=reason, attempts=ChatMessage.attempts + 1))
            record(session, now=now, actor=self.channel.name, action="chat.failed", subject_type="chat_message",
                   subject_id=row.id, detail={"channel": self.channel.name, "to": where, "reason": reason})
            if row.kind == "short_message" and row.item and row.action == "send":
                await self._short_message_failed(session, row, reason)

    async def _short_message_failed(self, session: AsyncSession, row: ChatMessage, reason: str) -> None:
        """The copy goes by mail once no chat channel of its person can still deliver it."""
        recipient = await session.get(ShortMessageRecipient, int(row.item[1:]) if row.item else 0,
                                      with_for_update=True)
        if recipient is None or recipient.sent_at is not None or recipient.channel == "mail":
            return
        others = (await session.scalars(select(ChatMessage.status).where(
            ChatMessage.item == row.item, ChatMessage.action == "send", ChatMessage.id != row.id))).all()
        if any(status != "failed" for status in others):
            return
        await by_mail_instead(session, self._office(), recipient, f"{self.channel.name}: {reason}",
                              now=self._clock.now())
