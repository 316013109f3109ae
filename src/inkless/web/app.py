"""`init_app` is all the wiring: state keys, middlewares, the routes table."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.calendar.feeds import FeedCache
from inkless.chat.bot import ChatBot
from inkless.clock import Clock
from inkless.config import Config
from inkless.handlers.pipeline import Office
from inkless.web.auth import Signer
from inkless.storage.models import ApiToken

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", Config)
OFFICE: web.AppKey[Callable[[], Office]] = web.AppKey("office")
ON_QUEUED: web.AppKey[Callable[[], None]] = web.AppKey("on_queued")
# Wakes the inbox worker: an admin put a stored message back to "new" (reprocess).
ON_STORED: web.AppKey[Callable[[], None]] = web.AppKey("on_stored")
WEB_SIGNER = web.AppKey("web_signer", Signer)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
CLOCK = web.AppKey("clock", Clock)
HEALTH = web.AppKey("health", dict[str, Callable[[], str]])
FEED_CACHE = web.AppKey("feed_cache", FeedCache)
CHAT: web.AppKey[Callable[[], ChatBot | None]] = web.AppKey("chat")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


MAX_ID = 2**63 - 1


def is_id(raw: str) -> bool:
    """Whether a path or query value can be a row id: ASCII digits within 64 bits (anything
    else is "not found", never a database error)."""
    return raw.isascii() and raw.isdigit() and int(raw) <= MAX_ID


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status,
                             dumps=lambda obj: json.dumps(obj, ensure_ascii=False))


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn HTTP errors into JSON answers under /api, and unexpected ones into a 500 without details."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.status >= 400:
            return json_error(exc.status, exc.text or exc.reason)
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_error(500, "internal error")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@web.middleware
async def plain_urls(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A URL carrying NUL or other control characters is refused before any handler sees it
    (the databases cannot compare such text, and no form or link produces it)."""
    if any(ord(ch) < 32 for ch in request.path) or any(
            ord(ch) < 32 for key, value in request.query.items() for ch in key + value):
        raise web.HTTPBadRequest(text="control characters are not allowed in the URL")
    return await handler(request)


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """/api/v1 needs `Authorization: Bearer <token>` (config api.tokens or `inkless api-token`)."""
    if not request.path.startswith("/api/v1/") or request.path == "/api/v1/openapi.json":
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorised("missing bearer token")
    token = token.strip()
    config = request.app[CONFIG]
    if any(hmac.compare_digest(token, static) for static in config.api.tokens):
        return await handler(request)
    async with request.app[SESSIONS]() as session:
        found = await session.scalar(select(ApiToken.id).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)))
    if found is None:
        return _unauthorised("invalid bearer token")
    return await handler(request)


def _unauthorised(message: str) -> web.Response:
    response = json_error(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="inkless"'
    return response


def init_app(*, config: Config, sessions: async_sessionmaker[AsyncSession], clock: Clock,
             office: Callable[[], Office], on_queued: Callable[[], None],
             on_stored: Callable[[], None] = lambda: None,
             health: dict[str, Callable[[], str]] | None = None,
             chat: Callable[[], ChatBot | None] = lambda: None) -> web.Application:
    """Build the aiohttp application."""
    from inkless.web.routes import ROUTES

    app = web.Application(middlewares=[errors, plain_urls, bearer_auth], client_max_size=1024 * 1024)
    app[CONFIG] = config
    app[SESSIONS] = sessions
    app[CLOCK] = clock
    app[OFFICE] = office
    app[ON_QUEUED] = on_queued
    app[ON_STORED] = on_stored
    app[WEB_SIGNER] = Signer(config.secret_key)
    app[HEALTH] = health or {}
    app[FEED_CACHE] = FeedCache()
    app[CHAT] = chat
    aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("inkless.web", "templates"), autoescape=True)
    app.add_routes(ROUTES)
    return app
