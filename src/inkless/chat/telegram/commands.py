"""The bot's commands: /start CODE links a chat, then /desk, /pending, /today, /send, /help, /unlink."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from inkless.chat import links
from inkless.chat.actions import Card
from inkless.chat.telegram.conversation import Conversation
from inkless.chat.telegram.sender import markup
from inkless.directory import PersonInfo


class Commands(Conversation):
    """One method per command, each answering for the linked person only."""

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
        await self._linked(update, self.actions.desk)

    async def on_pending(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        cards: list[Card] = []

        async def work(session: AsyncSession, person: PersonInfo) -> str | None:
            cards.extend(await self.actions.pending(session, person))
            return None if cards else self._t("bot_pending_none")
        await self._linked(update, work)
        for card in cards:
            await message.reply_text(card.text, reply_markup=markup(card.buttons))

    async def on_today(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._linked(update, self.actions.today)

    async def on_send(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []

        async def work(session: AsyncSession, person: PersonInfo) -> str:
            return await self.actions.send(session, person, args)
        await self._linked(update, work)
        self._on_queued()
