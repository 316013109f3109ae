"""What every part of the bot works with: the office, the database, the clock, the actions
every channel shares, and the person a chat is linked to (a chat learns nothing before it
is linked)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update

from inkless.chat import links
from inkless.chat.actions import Actions
from inkless.clock import Clock
from inkless.config import Config
from inkless.directory import PersonInfo
from inkless.mail.texts import text
from inkless.office import Office
from inkless.storage.models import ChatLink


class ChatAwaiting:
    """A linked chat's next text answers what `awaiting` on its link says."""

    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id

    async def set(self, session: AsyncSession, value: str | None) -> None:
        link = await session.get(ChatLink, self.chat_id, with_for_update=True)
        if link is not None:
            link.awaiting = value


class Conversation:
    """The bot's shared state and the steps every command and button takes first."""

    def __init__(self, *, config: Config, sessions: async_sessionmaker[AsyncSession], office: Callable[[], Office],
                 clock: Clock, on_queued: Callable[[], None]) -> None:
        self.config, self._sessions, self._office, self._clock = config, sessions, office, clock
        self._on_queued = on_queued
        # A tap on an inline button is easily a mistake: approvals are confirmed.
        self.actions = Actions(config=config, office=office, clock=clock, channel="bot", confirm=True)

    @property
    def language(self) -> str:
        return self.config.language

    def _t(self, key: str, **values: object) -> str:
        return text(self.language, key, **values)

    async def _person(self, session: AsyncSession, chat_id: int) -> PersonInfo | None:
        person_id = await links.person_of(session, chat_id)
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
