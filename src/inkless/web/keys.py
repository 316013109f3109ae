"""The web application's state keys (typed `web.AppKey`s), imported by every web module.

They live apart from `app.py` so that a module `init_app` wires in (a middleware, the
sign-in queue) can read the state without importing the wiring.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.calendar.feeds import FeedCache
from inkless.chat.telegram.bot import ChatBot
from inkless.chat.wecom.app import WecomApp
from inkless.clock import Clock
from inkless.config import Config
from inkless.office import Office
from inkless.web.auth import Signer
from inkless.web.limits import RateLimit

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
WECOM: web.AppKey[Callable[[], WecomApp | None]] = web.AppKey("wecom")
# Sign-in requests per client address, and API requests per token (SPEC §3 web security).
SIGNIN_LIMIT = web.AppKey("signin_limit", RateLimit)
API_LIMIT = web.AppKey("api_limit", RateLimit)
