"""The WeCom side of the chat outbox: application messages, template cards, card updates.

A row with buttons goes as a `button_interaction` template card (its buttons' keys are the
same callback data the Telegram bot uses; its task id was given when it was queued); a row
without as a text message. A decision replaces a card's
buttons with its outcome through `update_template_card` and the single-use response code
the card's last send or press gave.

WeCom's answers become the outbox's: a rate limit (45009, 45033) or a busy system (-1)
pauses sending and retries with backoff; credentials or the IP allow-list refused (40001,
40013, 60020, …) keep everything waiting (the channel is down, not the message); a member
WeCom does not know (81013, `invaliduser`) fails that row, and a short message then goes
by mail.
"""

from __future__ import annotations

import time
from typing import Any

from inkless.chat.outbox import Refused, Retry, Sent
from inkless.chat.wecom.api import WecomApi, WecomError, WecomUnavailable
from inkless.mail.texts import text
from inkless.storage.models import ChatMessage

BUSY = frozenset({-1, 45009, 45033, 45011})
# The application cannot call at all: wrong secret or corp id, this server's IP not allowed, …
DOWN = frozenset({40001, 40013, 40056, 41001, 41004, 48002, 60011, 60020, 301002})
UNKNOWN_USER = frozenset({81013, 60111, 46004})
MAX_TEXT_BYTES = 2048
TITLE, SUBTITLE, BUTTON = 26, 112, 10


def clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit - 1] + "…"


def clip_bytes(value: str, limit: int) -> str:
    encoded = value.encode()
    if len(encoded) <= limit:
        return value
    return encoded[:limit - 3].decode(errors="ignore") + "…"


class WecomChannel:
    """Application messages to members by userid."""

    name = "wecom"

    def __init__(self, api: WecomApi, *, language: str) -> None:
        self._api = api
        self._language = language
        self._down_since: float | None = None

    @property
    def state(self) -> str:
        if self._down_since is None:
            return "ok"
        return f"down for {time.monotonic() - self._down_since:.0f} s (WeCom refused the application's credentials)"

    def address(self, row: ChatMessage) -> str:
        return row.userid or ""

    async def send(self, row: ChatMessage) -> Sent:
        assert row.userid is not None
        body: dict[str, Any] = {"touser": row.userid, "agentid": self._api.settings.agent_id}
        if row.buttons and row.task_id:
            body |= {"msgtype": "template_card", "template_card": self._card(row, row.task_id)}
        else:
            body |= {"msgtype": "text", "text": {"content": clip_bytes(row.text, MAX_TEXT_BYTES)}}
        try:
            answer = await self._call("message/send", body, row)
        except Refused as refused:
            if row.task_id and row.last_error and row.last_error.startswith("network") and "task_id" in str(refused):
                # The first try reached WeCom but its answer did not reach us: the card is there.
                return Sent()
            raise
        invalid = {user.lower() for user in str(answer.get("invaliduser") or "").split("|") if user}
        if row.userid.lower() in invalid:
            raise Refused(f"WeCom does not know the userid {row.userid}")
        code = answer.get("response_code")
        return Sent(response_code=code if isinstance(code, str) and 0 < len(code) <= 512 else None)

    async def replace(self, row: ChatMessage, target: ChatMessage) -> Sent | None:
        if not target.response_code or target.userid is None:
            return None  # a text message, or a card already replaced: nothing to change
        await self._call("message/update_template_card", {
            "userids": [target.userid], "agentid": self._api.settings.agent_id,
            "response_code": target.response_code,
            "button": {"replace_name": clip(row.label or row.text, BUTTON * 2)}}, row)
        return Sent()

    def _card(self, row: ChatMessage, task_id: str) -> dict[str, Any]:
        head, _, rest = row.text.strip().partition("\n")
        kind = text(self._language, f"wecom_kind_{row.kind}" if row.kind in (
            "approval", "document", "invitation", "short_message") else "wecom_kind_other")
        return {
            "card_type": "button_interaction",
            "source": {"desc": kind},
            "main_title": {"title": clip(head, TITLE)},
            "sub_title_text": clip(rest.strip() or head, SUBTITLE),
            "task_id": task_id,
            "button_list": [{"text": clip(label, BUTTON), "style": 1 if index == 0 else 2, "key": data}
                            for index, (label, data) in enumerate(
                                button for line in row.buttons or [] for button in line)][:6],
        }

    async def _call(self, method: str, body: dict[str, Any], row: ChatMessage) -> dict[str, Any]:
        backoff = min(300.0, 2.0 ** row.attempts)
        try:
            answer = await self._api.call(method, body)
        except WecomUnavailable as error:
            raise Retry(f"network: {error}", backoff) from None
        except WecomError as error:
            if error.errcode in BUSY:
                raise Retry(str(error), backoff, pause=True) from None
            if error.errcode in DOWN:
                self._down_since = self._down_since or time.monotonic()
                down_for = time.monotonic() - self._down_since
                raise Retry(str(error), min(300.0, max(5.0, down_for)), count=False, pause=True) from None
            if error.errcode in UNKNOWN_USER:
                raise Refused(f"WeCom does not know the userid {row.userid} ({error})") from None
            raise Refused(str(error)) from None
        self._down_since = None
        return answer
