"""Button presses and the text that follows one (a rejection's reason), as Telegram brings
them; what they do is the shared chat actions'."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from inkless.chat.actions import Answer
from inkless.chat.telegram.conversation import ChatAwaiting, Conversation
from inkless.chat.telegram.sender import markup
from inkless.storage.models import ChatLink


class Buttons(Conversation):
    """A press answers with a toast, may replace its message, and may ask a follow-up."""

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
                answer = await self.actions.press(session, person, data, ChatAwaiting(chat.id))
        await query.answer(answer.toast[:190], show_alert=len(answer.toast) > 60)
        if answer.message is not None:
            await query.edit_message_text(answer.message)
        if answer.follow_up is not None and update.effective_message is not None:
            await update.effective_message.reply_text(answer.follow_up, reply_markup=markup(answer.buttons))
        self._on_queued()

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A plain message: the reason for a rejection the chat was asked for, or nothing."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not message.text:
            return
        async with self._sessions() as session, session.begin():
            link = await session.get(ChatLink, chat.id, with_for_update=True)
            person = self._office().directory.person_by_id(link.person_id) if link else None
            if link is None or person is None:
                reply = self._t("bot_unlinked", domain=self.config.domain)
            elif link.awaiting and link.awaiting.startswith("reject:"):
                awaited, link.awaiting = link.awaiting, None
                reply = await self.actions.reason(session, person, awaited, message.text)
            else:
                reply = self._t("bot_help")
        await message.reply_text(reply)
        self._on_queued()
