"""`init_app` is all the wiring: state keys, middlewares, the routes table."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.calendar.feeds import FeedCache
from inkless.chat.telegram.bot import ChatBot
from inkless.chat.wecom.app import WecomApp
from inkless.clock import Clock
from inkless.config import Config
from inkless.office import Office
from inkless.web import signin
from inkless.web.api_auth import API_BURST, API_PER_SECOND, bearer_auth, hash_token
from inkless.web.auth import Signer
from inkless.web.fields import MAX_ID, is_id
from inkless.web.keys import (
    API_LIMIT,
    CHAT,
    CLOCK,
    CONFIG,
    FEED_CACHE,
    HEALTH,
    OFFICE,
    ON_QUEUED,
    ON_STORED,
    SESSIONS,
    SIGNIN_LIMIT,
    WEB_SIGNER,
    WECOM,
)
from inkless.web.limits import RateLimit
from inkless.web.routes import ROUTES
from inkless.web.security import (
    add_security_headers,
    refuse_encoded_bodies,
    web_session,
)

# The keys and helpers other web modules have always imported from here.
__all__ = ["API_LIMIT", "CHAT", "CLOCK", "CONFIG", "FEED_CACHE", "HEALTH", "MAX_ID", "OFFICE", "ON_QUEUED",
           "ON_STORED", "SESSIONS", "SIGNIN_LIMIT", "WEB_SIGNER", "hash_token", "init_app", "is_id", "json_error"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


@web.middleware
async def plain_urls(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A URL carrying NUL or other control characters is refused before any handler sees it
    (the databases cannot compare such text, and no form or link produces it)."""
    if any(ord(ch) < 32 for ch in request.path) or any(
            ord(ch) < 32 for key, value in request.query.items() for ch in key + value):
        raise web.HTTPBadRequest(text="control characters are not allowed in the URL")
    return await handler(request)


def init_app(*, config: Config, sessions: async_sessionmaker[AsyncSession], clock: Clock,
             office: Callable[[], Office], on_queued: Callable[[], None],
             on_stored: Callable[[], None] = lambda: None,
             health: dict[str, Callable[[], str]] | None = None,
             chat: Callable[[], ChatBot | None] = lambda: None,
             wecom: Callable[[], WecomApp | None] = lambda: None) -> web.Application:
    """Build the aiohttp application."""
    # auto_decompress off: a request body is never inflated (refuse_encoded_bodies refuses it).
    app = web.Application(middlewares=[errors, refuse_encoded_bodies, plain_urls, bearer_auth, web_session],
                          client_max_size=1024 * 1024, handler_args={"auto_decompress": False})
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
    app[WECOM] = wecom
    app[SIGNIN_LIMIT] = RateLimit(burst=signin.PER_CLIENT_BURST, per_second=signin.PER_CLIENT_PER_HOUR / 3600,
                                  now=clock.now)
    app[API_LIMIT] = RateLimit(burst=API_BURST, per_second=API_PER_SECOND, now=clock.now)
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.append(signin.mailer)
    aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("inkless.web", "templates"), autoescape=True)
    app.add_routes(ROUTES)
    return app
