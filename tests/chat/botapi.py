"""A local stand-in for the Telegram Bot API, served by aiohttp on a loopback port.

The real api.telegram.org is out of reach in tests, so the chat bridge talks to this
instead: point python-telegram-bot at ``base_url + "/bot"`` (and ``base_url + "/file/bot"``)
with ``FakeBotAPI.token``. The fake speaks the Bot API's wire format the way PTB 22 uses it:

* requests are ``POST /bot<token>/<method>``, normally ``application/x-www-form-urlencoded``
  with every value a string and nested objects (``reply_markup``, ``allowed_updates``, ...)
  JSON-encoded; JSON bodies, multipart bodies and query strings are accepted as well;
* answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N,
  "description": "...", "parameters": {...}}`` with the same HTTP status, which is what PTB
  maps to its exceptions (401 -> InvalidToken, 400 -> BadRequest, ``retry_after`` ->
  RetryAfter, anything else -> NetworkError).

Implemented: getMe, getUpdates (long poll, ``offset``/``limit``/``allowed_updates``),
setWebhook, deleteWebhook, getWebhookInfo, sendMessage, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, deleteMessage. Any other method answers
``true``. Where the real API refuses something a bot could plausibly do by mistake, the fake
refuses it the same way: empty or over-long text, callback_data over 64 bytes, editing to
identical content ("message is not modified"), editing or deleting an unknown message,
answering an unknown or already answered callback query, getUpdates while a webhook is set.

Test side: ``push_text``/``push_update``/``press`` feed updates in; ``calls`` (raw, as on
the wire), ``sent``, ``edits``, ``answered``, ``deleted`` and ``messages_to`` show what the
bot did; ``wait_sent``/``wait_until`` wait on a condition (no polling sleeps);
``fail_next`` injects flood-control answers, other errors, or dropped connections. For a bot
running in another process there are small HTTP hooks: ``POST /_test/text``
(``{"text", "chat_id", "user_id"?, "first_name"?}``), ``POST /_test/press``
(``{"message_id", "data", "chat_id", "user_id"?}``) and ``GET /_test/sent``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from tests.chat.loopback import serve

JSONDict = dict[str, Any]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
BOT_USER: JSONDict = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Inkless Test Bot",
    "username": "inkless_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
MAX_TEXT = 4096  # characters after entity parsing; the fake does not parse markup
MAX_CALLBACK_DATA = 64  # bytes

# Update types delivered when allowed_updates is empty or was never given (Bot API default).
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# How form values (always strings on the wire) are decoded for sent/edits/answered/deleted.
_JSON_FIELDS = frozenset({
    "reply_markup", "entities", "caption_entities", "link_preview_options",
    "reply_parameters", "allowed_updates", "message_ids", "media",
})
_INT_FIELDS = frozenset({
    "chat_id", "message_id", "from_chat_id", "message_thread_id", "user_id", "offset",
    "limit", "timeout", "cache_time", "reply_to_message_id", "max_connections",
})
_BOOL_FIELDS = frozenset({
    "show_alert", "disable_notification", "protect_content", "drop_pending_updates",
    "disable_web_page_preview", "allow_sending_without_reply", "revoke_messages",
    "allow_paid_broadcast",
})


def decode_params(params: JSONDict) -> JSONDict:
    """Turn wire values into Python ones: ids to int, JSON fields parsed, "true"/"false" to bool.

    Values that are already typed (JSON request bodies) pass through; a chat_id such as
    "@channel" stays a string.
    """
    out: JSONDict = {}
    for key, value in params.items():
        if isinstance(value, str):
            if key in _JSON_FIELDS:
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            elif key in _INT_FIELDS:
                try:
                    value = int(value)
                except ValueError:
                    pass
            elif key in _BOOL_FIELDS and value in ("true", "false"):
                value = value == "true"
        out[key] = value
    return out


class _ApiError(Exception):
    """An error answer: HTTP status == error_code, like the real API."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def response(self) -> web.Response:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.code)


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    description: str


@dataclass
class _Stored:
    """A message the bot sent, as it currently stands."""

    record: JSONDict  # the sent record, updated by edits
    date: int
    edit_date: int | None = None
    deleted: bool = False


class FakeBotAPI:
    """The Bot API for one bot, in-process. See the module docstring for what it covers."""

    def __init__(self, token: str = DEFAULT_TOKEN, bot_user: JSONDict | None = None) -> None:
        self.token = token
        self.bot_user: JSONDict = dict(bot_user or BOT_USER)
        self.base_url = ""
        self.calls: list[tuple[str, JSONDict]] = []  # (method, params exactly as received)
        self.sent: list[JSONDict] = []  # decoded sendMessage params + "message_id"
        self.edits: list[JSONDict] = []  # decoded editMessageText/ReplyMarkup params + "method"
        self.answered: list[JSONDict] = []  # decoded answerCallbackQuery params
        self.deleted: list[JSONDict] = []  # decoded deleteMessage params
        self.webhook: JSONDict | None = None  # decoded setWebhook params while one is set
        self.allowed_updates: list[str] | None = None  # as last given to getUpdates
        self.updates: list[JSONDict] = []  # pushed, not yet confirmed by an offset
        self._messages: dict[tuple[int, int], _Stored] = {}
        self._open_queries: set[str] = set()
        self._first_names: dict[int, str] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(9_000_000_001)
        self._new_update = asyncio.Condition()  # getUpdates long polls wait here
        self._changed = asyncio.Condition()  # wait_until waits here; notified on every call
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Callable[[JSONDict], Any]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "deletemessage": self._delete_message,
        }

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1 with a free port; base_url is set once this returns."""
        app = web.Application()
        app.add_routes([
            web.post("/bot{token}/{method}", self._dispatch),
            web.get("/bot{token}/{method}", self._dispatch),
            web.post("/_test/text", self._http_push_text),
            web.post("/_test/press", self._http_press),
            web.get("/_test/sent", self._http_sent),
        ])
        app.on_shutdown.append(self._wake_pollers)
        self._closing = False
        self._runner, self.base_url = await serve(app)

    async def stop(self) -> None:
        """Stop serving. Pending long polls are answered (empty) first, so this is quick.

        aiohttp keeps running a handler whose client went away (PTB cancels its getUpdates
        on stop), and cleanup waits for it; the on_shutdown hook wakes such polls.
        """
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _wake_pollers(self, _app: web.Application | None = None) -> None:
        self._closing = True
        async with self._new_update:
            self._new_update.notify_all()

    # ---- feeding updates -------------------------------------------------------------

    async def push_update(self, update: JSONDict) -> int:
        """Queue a raw update (update_id assigned if missing) and wake long polls."""
        update.setdefault("update_id", next(self._update_ids))
        async with self._new_update:
            self.updates.append(update)
            self._new_update.notify_all()
        await self._notify()
        return int(update["update_id"])

    async def push_text(self, text: str, *, chat_id: int, user_id: int | None = None,
                        first_name: str = "User") -> None:
        """A user writes `text` to the bot; "/cmd args" carries a bot_command entity."""
        user_id = chat_id if user_id is None else user_id
        self._first_names[chat_id] = first_name
        message: JSONDict = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": {"id": user_id, "is_bot": False, "first_name": first_name},
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
        await self.push_update({"message": message})

    async def press(self, message_id: int, data: str, *, chat_id: int,
                    user_id: int | None = None) -> str:
        """A user presses an inline button with callback_data `data` on a message the bot
        sent; returns the callback query id (to match against `answered`)."""
        stored = self._messages.get((chat_id, message_id))
        if stored is None or stored.deleted:
            raise KeyError(f"the bot sent no message {message_id} to chat {chat_id}")
        user_id = chat_id if user_id is None else user_id
        query_id = str(next(self._query_ids))
        self._open_queries.add(query_id)
        query: JSONDict = {
            "id": query_id,
            "from": {"id": user_id, "is_bot": False,
                     "first_name": self._first_names.get(user_id, "User")},
            "chat_instance": str(-abs(chat_id) - 1_000_000),
            "message": self._message_object(stored),
            "data": data,
        }
        await self.push_update({"callback_query": query})
        return query_id

    # ---- test control ----------------------------------------------------------------

    def fail_next(self, method: str, *, times: int = 1, status: int = 429,
                  retry_after: int | None = 1,
                  description: str = "Too Many Requests: retry after 1") -> None:
        """Make the next `times` calls of `method` fail with HTTP `status` and an error body
        (with ``parameters.retry_after`` unless retry_after is None; PTB turns any
        retry_after into RetryAfter whatever the status, so pass None for other errors).
        status=0 drops the connection without an answer instead (PTB: NetworkError)."""
        queue = self._failures.setdefault(method.lower(), deque())
        queue.extend(_Failure(status, retry_after, description) for _ in range(times))

    def messages_to(self, chat_id: int) -> list[JSONDict]:
        """The bot's messages in a chat as they stand now: the sent record with the current
        text and reply_markup (no "reply_markup" key once the buttons are gone). Deleted
        messages are left out."""
        return [dict(s.record) for (chat, _), s in self._messages.items()
                if chat == chat_id and not s.deleted]

    def sent_to(self, chat_id: int) -> list[JSONDict]:
        """sendMessage records for a chat, as sent (edits and deletes do not change them)."""
        return [m for m in self.sent if m.get("chat_id") == chat_id]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0,
                         what: str = "") -> None:
        """Wait until predicate() holds; it is re-checked when a call arrives, when it has
        been answered, and after every push."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(predicate)
            except TimeoutError:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what or predicate}; "
                    f"calls so far: {[m for m, _ in self.calls]}") from None

    async def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[JSONDict]:
        """Wait until the bot has sent at least `count` messages to the chat; returns them
        (as sent)."""
        await self.wait_until(lambda: len(self.sent_to(chat_id)) >= count, timeout,
                              f"{count} message(s) to chat {chat_id} (have {self.sent_to(chat_id)})")
        return self.sent_to(chat_id)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- HTTP plumbing ---------------------------------------------------------------

    @staticmethod
    async def _read_params(request: web.Request) -> JSONDict:
        params: JSONDict = dict(request.query)
        if request.content_type == "application/json":
            if request.can_read_body:
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    params[key] = {"filename": value.filename, "content_type": value.content_type,
                                   "size": len(value.file.read())}
                else:
                    params[key] = value
        else:
            await request.read()  # PTB's parameterless calls: empty application/octet-stream
        return params

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await self._read_params(request)
        self.calls.append((method, params))
        await self._notify()  # a waiter may be watching for the call itself (e.g. a long poll)
        try:
            if request.match_info["token"] != self.token:
                raise _ApiError(401, "Unauthorized")
            queue = self._failures.get(method.lower())
            if queue:
                failure = queue.popleft()
                if failure.status == 0:
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response()
                raise _ApiError(failure.status, failure.description,
                                None if failure.retry_after is None
                                else {"retry_after": failure.retry_after})
            handler = self._handlers.get(method.lower())
            result = await handler(decode_params(params)) if handler else True
            return web.json_response({"ok": True, "result": result})
        except _ApiError as error:
            return error.response()
        finally:
            await self._notify()

    async def _http_push_text(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self.push_text(str(body["text"]), chat_id=int(body["chat_id"]),
                             user_id=body.get("user_id"), first_name=body.get("first_name", "User"))
        return web.json_response({"ok": True})

    async def _http_press(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            query_id = await self.press(int(body["message_id"]), str(body["data"]),
                                        chat_id=int(body["chat_id"]), user_id=body.get("user_id"))
        except KeyError as error:
            return web.json_response({"ok": False, "description": str(error)}, status=404)
        return web.json_response({"ok": True, "result": query_id})

    async def _http_sent(self, _request: web.Request) -> web.Response:
        return web.json_response(self.sent)

    # ---- Bot API objects -------------------------------------------------------------

    def _chat(self, chat_id: int) -> JSONDict:
        if chat_id > 0:
            return {"id": chat_id, "type": "private",
                    "first_name": self._first_names.get(chat_id, "User")}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}

    def _message_object(self, stored: _Stored) -> JSONDict:
        record = stored.record
        message: JSONDict = {
            "message_id": record["message_id"],
            "date": stored.date,
            "chat": self._chat(int(record["chat_id"])),
            "from": self.bot_user,
            "text": record["text"],
        }
        if stored.edit_date is not None:
            message["edit_date"] = stored.edit_date
        if record.get("entities"):
            message["entities"] = record["entities"]
        markup = record.get("reply_markup")
        # A Message only ever carries an inline keyboard; reply keyboards are not echoed.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    @staticmethod
    def _check_text(text: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise _ApiError(400, "Bad Request: message is too long")
        return text

    @staticmethod
    def _check_markup(markup: Any) -> None:
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _lookup(self, p: JSONDict, action: str) -> _Stored:
        stored = self._messages.get((p.get("chat_id"), p.get("message_id")))  # type: ignore[arg-type]
        if stored is None or stored.deleted:
            raise _ApiError(400, f"Bad Request: message to {action} not found")
        return stored

    # ---- Bot API methods -------------------------------------------------------------

    async def _get_me(self, _p: JSONDict) -> JSONDict:
        return self.bot_user

    def _deliverable(self) -> list[JSONDict]:
        def allowed(update: JSONDict) -> bool:
            kind = next((k for k in update if k != "update_id"), "")
            if self.allowed_updates:
                return kind in self.allowed_updates
            return kind not in _NOT_BY_DEFAULT

        self.updates = [u for u in self.updates if allowed(u)]  # the API drops the others
        return self.updates

    async def _get_updates(self, p: JSONDict) -> list[JSONDict]:
        if self.webhook is not None:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                 "use deleteWebhook to delete the webhook first")
        offset = int(p.get("offset") or 0)
        timeout = float(p.get("timeout") or 0)
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        if "allowed_updates" in p:
            self.allowed_updates = list(p["allowed_updates"] or []) or None
        async with self._new_update:
            if offset > 0:  # confirms every update below it
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            elif offset < 0:  # "the last -offset updates"
                self.updates = self.updates[offset:]
            if not self._deliverable() and timeout > 0 and not self._closing:
                try:
                    async with asyncio.timeout(timeout):
                        await self._new_update.wait_for(lambda: self._closing or bool(self._deliverable()))
                except TimeoutError:
                    pass
            return list(self._deliverable()[:limit])

    async def _set_webhook(self, p: JSONDict) -> bool:
        if not p.get("url"):
            self.webhook = None  # setWebhook with an empty url removes it
        else:
            self.webhook = p
        return True

    async def _delete_webhook(self, p: JSONDict) -> bool:
        self.webhook = None
        if p.get("drop_pending_updates"):
            async with self._new_update:
                self.updates = []
        return True

    async def _get_webhook_info(self, _p: JSONDict) -> JSONDict:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

    async def _send_message(self, p: JSONDict) -> JSONDict:
        if "chat_id" not in p:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        self._check_text(p.get("text"))
        self._check_markup(p.get("reply_markup"))
        record = {**p, "message_id": next(self._message_ids)}
        self.sent.append(record)
        stored = _Stored(record=dict(record), date=int(time.time()))
        self._messages[(p["chat_id"], record["message_id"])] = stored
        return self._message_object(stored)

    def _apply_edit(self, p: JSONDict, stored: _Stored, text: str) -> JSONDict | bool:
        markup = p.get("reply_markup")
        self._check_markup(markup)
        current = stored.record
        if text == current["text"] and markup == current.get("reply_markup"):
            raise _ApiError(400, "Bad Request: message is not modified: specified new message "
                                 "content and reply markup are exactly the same as a current "
                                 "content and reply markup of the message")
        current["text"] = text
        if markup is None:  # an edit without reply_markup removes the inline keyboard
            current.pop("reply_markup", None)
        else:
            current["reply_markup"] = markup
        stored.edit_date = int(time.time())
        return self._message_object(stored)

    async def _edit_message_text(self, p: JSONDict) -> JSONDict | bool:
        text = self._check_text(p.get("text"))
        if "inline_message_id" in p:
            self.edits.append({**p, "method": "editMessageText"})
            return True
        stored = self._lookup(p, "edit")
        result = self._apply_edit(p, stored, text)
        self.edits.append({**p, "method": "editMessageText"})
        return result

    async def _edit_message_reply_markup(self, p: JSONDict) -> JSONDict | bool:
        if "inline_message_id" in p:
            self.edits.append({**p, "method": "editMessageReplyMarkup"})
            return True
        stored = self._lookup(p, "edit")
        result = self._apply_edit(p, stored, stored.record["text"])
        self.edits.append({**p, "method": "editMessageReplyMarkup"})
        return result

    async def _answer_callback_query(self, p: JSONDict) -> bool:
        query_id = str(p.get("callback_query_id", ""))
        if query_id not in self._open_queries:
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired "
                                 "or query ID is invalid")
        self._open_queries.discard(query_id)
        self.answered.append(p)
        return True

    async def _delete_message(self, p: JSONDict) -> bool:
        stored = self._lookup(p, "delete")
        stored.deleted = True
        self.deleted.append(p)
        return True


def _utf16_len(text: str) -> int:
    """Entity offsets and lengths count UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@pytest.fixture
async def botapi() -> AsyncIterator[FakeBotAPI]:
    """A started FakeBotAPI (token DEFAULT_TOKEN, free port), stopped afterwards."""
    api = FakeBotAPI()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()
