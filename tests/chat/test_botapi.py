"""Self-test of the fake Bot API against the real python-telegram-bot (22.x).

Each test runs PTB inside the test's event loop: an Application polling the fake with a
short long-poll timeout, or a bare Bot for single calls. The fake must answer the way PTB
expects (parsable objects, the right error statuses) for the chat bridge's tests to mean
anything.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.chat.botapi import FakeBotAPI

CHAT = 1001
POLL_TIMEOUT = 1  # long-poll seconds; get_updates_read_timeout stays above it


def make_application(api: FakeBotAPI, token: str | None = None) -> Application[Any, Any, Any, Any, Any, Any]:
    return (Application.builder()
            .token(token or api.token)
            .base_url(api.base_url + "/bot")
            .base_file_url(api.base_url + "/file/bot")
            .get_updates_read_timeout(POLL_TIMEOUT + 5)
            .build())


def make_bot(api: FakeBotAPI) -> Bot:
    return Bot(api.token, base_url=api.base_url + "/bot", base_file_url=api.base_url + "/file/bot")


@asynccontextmanager
async def polling(api: FakeBotAPI, *handlers: BaseHandler[Any, Any, Any]) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """An Application with `handlers`, initialized and polling the fake; stopped on exit."""
    application = make_application(api)
    for handler in handlers:
        application.add_handler(handler)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=POLL_TIMEOUT, poll_interval=0)
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()


async def test_command_reply(botapi: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("welcome " + " ".join(context.args or []))

    async with polling(botapi, CommandHandler("start", start)):
        await botapi.push_text("/start abc", chat_id=CHAT, first_name="Alice")
        [reply] = await botapi.wait_sent(CHAT)

    assert reply["chat_id"] == CHAT and reply["text"] == "welcome abc"
    assert isinstance(reply["message_id"], int)
    assert botapi.messages_to(CHAT) == [reply]
    methods = [method for method, _ in botapi.calls]
    assert methods[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    # the wire format: strings only; the final getUpdates confirms the command's update
    assert dict(botapi.calls[methods.index("sendMessage")][1]) == {"chat_id": str(CHAT), "text": "welcome abc"}
    assert botapi.calls[-1] == ("getUpdates", {"timeout": "0", "offset": "2"})
    assert botapi.updates == []


async def test_inline_button_answer_and_edit(botapi: FakeBotAPI) -> None:
    seen: list[tuple[str | None, Any]] = []

    async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("批准", callback_data="approve:7"),
                                          InlineKeyboardButton("退回", callback_data="reject:7")]])
        await update.message.reply_text("收文 7 待签", reply_markup=keyboard)

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        seen.append((query.data, getattr(query.message, "reply_markup", None)))
        await query.answer("ok")
        await query.edit_message_text("done")

    async with polling(botapi, CommandHandler("menu", menu), CallbackQueryHandler(button)):
        await botapi.push_text("/menu", chat_id=CHAT)
        [card] = await botapi.wait_sent(CHAT)
        assert card["reply_markup"] == {"inline_keyboard": [[
            {"text": "批准", "callback_data": "approve:7"},
            {"text": "退回", "callback_data": "reject:7"},
        ]]}
        query_id = await botapi.press(card["message_id"], "approve:7", chat_id=CHAT)
        await botapi.wait_until(lambda: len(botapi.edits) == 1, what="the edit")

    [(data, markup)] = seen
    assert data == "approve:7"
    assert isinstance(markup, InlineKeyboardMarkup)  # PTB saw the message with its buttons
    assert markup.inline_keyboard[0][1].callback_data == "reject:7"
    assert botapi.answered == [{"callback_query_id": query_id, "text": "ok"}]
    assert botapi.edits == [{"chat_id": CHAT, "message_id": card["message_id"], "text": "done",
                             "method": "editMessageText"}]
    [now] = botapi.messages_to(CHAT)
    assert now["text"] == "done" and "reply_markup" not in now
    assert botapi.sent == [card]  # the sent record keeps what was sent


async def test_failures_then_recovery(botapi: FakeBotAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22.2+: retry_after as timedelta, no warning
    async with make_bot(botapi) as bot:
        botapi.fail_next("sendMessage", status=429, retry_after=1)
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(CHAT, "one")
        assert flood.value.retry_after == timedelta(seconds=1)

        botapi.fail_next("sendMessage", status=0, times=2)
        for _ in range(2):
            with pytest.raises(NetworkError):  # TimedOut is a NetworkError too
                await bot.send_message(CHAT, "two")

        botapi.fail_next("sendMessage", status=400, retry_after=None, description="Bad Request: chat not found")
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.send_message(CHAT, "three")

        message = await bot.send_message(CHAT, "four")

    assert message.text == "four" and message.chat.id == CHAT
    assert message.from_user is not None and message.from_user.id == bot.id
    assert [m["text"] for m in botapi.sent] == ["four"]
    assert [p["text"] for m, p in botapi.calls if m == "sendMessage"] == ["one", "two", "two", "three", "four"]


async def test_api_refusals_match_telegram(botapi: FakeBotAPI) -> None:
    async with make_bot(botapi) as bot:
        with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
            await bot.send_message(CHAT, "x", reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("long", callback_data="x" * 65)]]))
        with pytest.raises(BadRequest, match="(?i)too long"):
            await bot.send_message(CHAT, "x" * 4097)
        sent = await bot.send_message(CHAT, "same")
        with pytest.raises(BadRequest, match="(?i)not modified"):
            await bot.edit_message_text("same", chat_id=CHAT, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="(?i)query is too old"):
            await bot.answer_callback_query("no-such-query")
        assert await bot.delete_message(CHAT, sent.message_id)
        with pytest.raises(BadRequest, match="(?i)message to edit not found"):
            await bot.edit_message_text("gone", chat_id=CHAT, message_id=sent.message_id)
    assert botapi.messages_to(CHAT) == [] and botapi.deleted == [{"chat_id": CHAT, "message_id": sent.message_id}]


async def test_wrong_token_is_refused(botapi: FakeBotAPI) -> None:
    application = make_application(botapi, token="654321:WRONG-TOKEN")
    with pytest.raises(InvalidToken):
        await application.initialize()
    await application.bot.request.shutdown()  # initialize() failed, so shutdown() would skip it
    assert botapi.calls == [("getMe", {})]


async def test_stop_answers_a_pending_long_poll() -> None:
    api = FakeBotAPI()
    await api.start()
    async with make_bot(api) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30, read_timeout=40))
        await api.wait_until(lambda: any(m == "getUpdates" for m, _ in api.calls), what="the long poll")
        # stop() must wake the poll rather than wait out its 30 s; a deadline, not a measurement
        await asyncio.wait_for(api.stop(), timeout=5)
        assert await poll == ()


async def test_update_ids_offsets_and_limit(botapi: FakeBotAPI) -> None:
    async with make_bot(botapi) as bot:
        for n in range(3):
            await botapi.push_text(f"m{n}", chat_id=CHAT)
        first = await bot.get_updates(limit=2)
        assert [u.update_id for u in first] == [1, 2]
        assert [u.message.text for u in first if u.message] == ["m0", "m1"]
        rest = await bot.get_updates(offset=first[-1].update_id + 1, allowed_updates=["message"])
        assert [u.update_id for u in rest] == [3]
        assert json.loads(botapi.calls[-1][1]["allowed_updates"]) == ["message"]
        assert await bot.get_updates(offset=4, timeout=0) == ()
