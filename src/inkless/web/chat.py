"""The chat channels' HTTP side: Telegram's webhook, WeCom's callback, and `POST /api/v1/messages`
(short messages)."""

from __future__ import annotations

import hmac
import json
import logging
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from inkless.chat.short import ShortMessageError, send_short_message
from inkless.chat.wecom.app import MAX_BODY, CallbackRefused, WecomApp
from inkless.storage.models import ShortMessage, ShortMessageRecipient
from inkless.storage.visibility import short_message_visible_to
from inkless.web.api import bad_request, json_response, read_json
from inkless.web.api_auth import act_as, api_client
from inkless.web.fields import Text, is_id
from inkless.web.keys import CHAT, CLOCK, CONFIG, OFFICE, ON_QUEUED, SESSIONS, WECOM

log = logging.getLogger(__name__)


async def telegram_webhook(request: web.Request) -> web.Response:
    """Updates Telegram posts when `telegram.webhook_url` is set; the path and header carry a secret."""
    bot = request.app[CHAT]()
    secret = request.match_info["secret"]
    if bot is None or not hmac.compare_digest(secret, bot.webhook_secret) or not hmac.compare_digest(
            request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), bot.webhook_secret):
        raise web.HTTPNotFound(text="not found")
    try:
        data = json.loads(await request.read())
    except (ValueError, RecursionError):
        raise web.HTTPBadRequest(text="the body must be a Telegram Update (JSON)") from None
    if not isinstance(data, dict) or "update_id" not in data:
        raise web.HTTPBadRequest(text="the body must be a Telegram Update (JSON)")
    await bot.feed_webhook(data)
    return web.Response(text="ok")


def _wecom(request: web.Request) -> WecomApp:
    app = request.app[WECOM]()
    if app is None:
        raise web.HTTPNotFound(text="WeCom is not configured")
    return app


async def wecom_verify(request: web.Request) -> web.Response:
    """WeCom's URL verification: the decrypted echostr, as plain text."""
    try:
        echo = await _wecom(request).verify_url(dict(request.query))
    except CallbackRefused as error:
        raise _answer(error) from None
    return web.Response(text=echo)


async def wecom_callback(request: web.Request) -> web.Response:
    """A card press or a member's text: 200 with an empty body once believed (and acted on)."""
    app = _wecom(request)
    body = await request.read()
    try:
        await app.callback(dict(request.query), body)
    except CallbackRefused as error:
        raise _answer(error) from None
    return web.Response(text="")


def _answer(error: CallbackRefused) -> web.HTTPException:
    log.warning("WeCom callback refused (%s): %s", error.status, error.reason)
    if error.status == 413:
        return web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=MAX_BODY + 1, text=error.reason)
    return (web.HTTPForbidden if error.status == 403 else web.HTTPBadRequest)(text=error.reason)


class NewMessage(BaseModel):
    """A short message: from an org member, to unit ids and/or emails, at most 500 characters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    text: Text


async def post_message(request: web.Request) -> web.Response:
    """202 {"id": …}: stored and queued; the bot and the mail relay deliver it."""
    data: Any = await read_json(request)
    try:
        message = NewMessage.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise bad_request(f"{'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}") from None
    act_as(request, message.sender, "from")
    office = request.app[OFFICE]()
    sender = office.directory.person(message.sender)
    if sender is None:
        raise bad_request(f"from: {message.sender} is not a member of the organisation")
    async with request.app[SESSIONS]() as session:
        try:
            async with session.begin():
                stored = await send_short_message(session, office, sender, message.to, message.text, source="api",
                                                  now=request.app[CLOCK].now())
        except ShortMessageError as error:
            raise bad_request(f"{error.field}: {error}") from None
    request.app[ON_QUEUED]()
    return json_response({"id": stored.id}, status=202)


async def get_message(request: web.Request) -> web.Response:
    """A short message and, per recipient, the channel and when it was sent and read."""
    raw = request.match_info["id"]
    if not is_id(raw):
        raise web.HTTPNotFound(text=f"no short message {raw}")
    zone = request.app[CONFIG].zone
    query = select(ShortMessage).where(ShortMessage.id == int(raw))
    if (owner := api_client(request).reader) is not None:
        query = query.where(short_message_visible_to(owner.id, owner.email))
    async with request.app[SESSIONS]() as session:
        message = await session.scalar(query)
        if message is None:
            raise web.HTTPNotFound(text=f"no short message {raw}")
        copies = (await session.scalars(select(ShortMessageRecipient).where(
            ShortMessageRecipient.message_id == message.id).order_by(ShortMessageRecipient.id))).all()

    def iso(value: datetime | None) -> str | None:
        return value.astimezone(zone).isoformat() if value else None

    return json_response({
        "id": message.id, "from": message.sender, "unit": message.unit_id, "text": message.text,
        "to": message.addressed_to.split("\n"), "source": message.source, "created_at": iso(message.created_at),
        "recipients": [{"email": c.email, "channel": c.channel, "sent_at": iso(c.sent_at), "read_at": iso(c.read_at),
                        "failed": c.failed, "reason": c.reason} for c in copies]})
