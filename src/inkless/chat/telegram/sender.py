"""The Telegram side of the chat outbox: send a bot message, edit a sent one.

Telegram's answers become the outbox's: RetryAfter pauses all sending for as long as
Telegram asks; network errors retry with backoff; refusals (blocked bot, chat gone) fail the
row with the reason; "message is not modified" is an edit already done.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from inkless.chat.outbox import Refused, Retry, Sent
from inkless.storage.models import ChatMessage


def markup(buttons: list[list[list[str]]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in row]
                                 for row in buttons])


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after becomes a timedelta; either form is read here.
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramChannel:
    """Bot messages through a python-telegram-bot Bot."""

    name = "telegram"

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    def address(self, row: ChatMessage) -> str:
        return str(row.chat_id)

    async def send(self, row: ChatMessage) -> Sent:
        assert row.chat_id is not None
        async with self._answers(row):
            sent = await self._bot.send_message(row.chat_id, row.text, reply_markup=markup(row.buttons))
            return Sent(message_id=sent.message_id)
        return Sent()  # "not modified": nothing to send (only edits get this)

    async def replace(self, row: ChatMessage, target: ChatMessage) -> Sent | None:
        if target.telegram_message_id is None:
            raise Retry("the message to edit is not sent yet", 1.0, count=False)
        async with self._answers(row):
            await self._bot.edit_message_text(row.text, chat_id=row.chat_id, message_id=target.telegram_message_id,
                                              reply_markup=markup(row.buttons))
        return Sent(message_id=target.telegram_message_id)

    def _answers(self, row: ChatMessage) -> _TelegramAnswers:
        return _TelegramAnswers(row)


class _TelegramAnswers:
    """Telegram's errors, as the outbox understands them."""

    def __init__(self, row: ChatMessage) -> None:
        self._row = row

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, _: object) -> bool:
        if error is None:
            return False
        if isinstance(error, RetryAfter):
            seconds = _seconds(error)
            raise Retry(f"Telegram asked to wait {seconds:g} s", seconds, count=False, pause=True) from None
        if isinstance(error, BadRequest):
            if "not modified" in str(error).lower():
                return True
            raise Refused(str(error)) from None
        if isinstance(error, Forbidden):
            raise Refused(str(error)) from None
        if isinstance(error, NetworkError):
            raise Retry(f"network: {error}", min(300.0, 2.0 ** self._row.attempts)) from None
        if isinstance(error, TelegramError):
            raise Refused(f"{type(error).__name__}: {error}") from None
        return False
