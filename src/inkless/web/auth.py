"""Sign-in by one-time mailed link, server-side sessions, CSRF tokens, and where `next` may lead."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.config import Config
from inkless.storage.models import SigninLink, WebSession

COOKIE = "inkless_session"
# Set by the sign-in pages: their forms are bound to it, so a form posted from another
# site (without the cookie, or with a token made for another browser) is refused.
PRESESSION_COOKIE = "inkless_signin"
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")


class Signer:
    """HMAC signatures for CSRF tokens, keyed by secret_key."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"inkless-web\0" + secret_key.encode()).digest()

    def sign(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def check(self, purpose: str, value: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(purpose, value), signature)


def csrf_token(signer: Signer, context: str) -> str:
    """The CSRF token of a form: bound to the session (or the link and browser) the form belongs to."""
    return signer.sign("csrf", context)


async def check_csrf(request: web.Request, signer: Signer, context: str) -> MultiDictProxy[str | bytes | bytearray | FileField]:
    """The posted form, after checking its csrf_token; 403 when it is missing or wrong."""
    form = await request.post()
    token = form.get("csrf_token")
    if not isinstance(token, str) or not signer.check("csrf", context, token):
        raise web.HTTPForbidden(text="missing or invalid csrf_token")
    return form


def secret_hash(secret: str) -> str:
    """What the database keeps of a link's or a session's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def well_formed(secret: str | None) -> bool:
    """Whether a cookie value can be one of our secrets (anything else is not looked up)."""
    return secret is not None and _SECRET.fullmatch(secret) is not None


# Pre-sessions: the browser a sign-in form was shown to ------------------------------------


def presession(request: web.Request) -> tuple[str, bool]:
    """The browser's pre-session value, and whether it is new (to be set on the answer)."""
    value = request.cookies.get(PRESESSION_COOKIE)
    if well_formed(value):
        assert value is not None
        return value, False
    return secrets.token_urlsafe(32), True


def set_presession(response: web.StreamResponse, value: str, *, secure: bool) -> None:
    response.set_cookie(PRESESSION_COOKIE, value, httponly=True, samesite="Lax", secure=secure, path="/")


def posted_presession(request: web.Request) -> str:
    """The pre-session a posted sign-in form must be bound to; 403 when the browser has none."""
    value = request.cookies.get(PRESESSION_COOKIE)
    if not well_formed(value):
        raise web.HTTPForbidden(text="the sign-in form was not shown to this browser; open the page again")
    assert value is not None
    return value


# Sign-in links ----------------------------------------------------------------------------


async def create_signin_link(session: AsyncSession, config: Config, email: str, next_path: str, *,
                             now: datetime) -> str:
    """A fresh one-time link secret for email (stored hashed, expiring)."""
    token = secrets.token_urlsafe(32)
    session.add(SigninLink(email=email, token_hash=secret_hash(token), next_path=next_path, created_at=now,
                           expires_at=now + timedelta(minutes=config.web.signin_link_minutes)))
    return token


async def spend_signin_link(session: AsyncSession, token: str, *, now: datetime) -> SigninLink | None:
    """Use a link once: the link if it was valid, unused and unexpired; None otherwise."""
    result = await session.execute(
        update(SigninLink)
        .where(SigninLink.token_hash == secret_hash(token), SigninLink.used_at.is_(None), SigninLink.expires_at > now)
        .values(used_at=now)
        .returning(SigninLink)
    )
    return result.scalar_one_or_none()


# Sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    """The session a request came with: whose it is, and its row (forms are bound to it)."""

    email: str
    session_id: int


async def start_session(session: AsyncSession, email: str, *, now: datetime, lifetime: timedelta) -> str:
    """A new session for email; returns the cookie's secret (the row keeps its SHA-256)."""
    # Expired sessions are of no use to anyone: each sign-in clears them away.
    await session.execute(delete(WebSession).where(WebSession.expires_at < now))
    secret = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=secret_hash(secret), email=email, created_at=now, expires_at=now + lifetime))
    return secret


async def find_session(session: AsyncSession, secret: str | None, *, now: datetime) -> SignedIn | None:
    """The live session a cookie names, or None (unknown, expired or signed out)."""
    if not well_formed(secret):
        return None
    assert secret is not None
    row = (await session.execute(select(WebSession.id, WebSession.email).where(
        WebSession.token_hash == secret_hash(secret), WebSession.ended_at.is_(None),
        WebSession.expires_at > now))).first()
    return SignedIn(row.email, row.id) if row is not None else None


async def end_session(session: AsyncSession, session_id: int, *, now: datetime) -> None:
    """Sign out: the session's cookie, wherever copies of it are, no longer signs anyone in."""
    await session.execute(update(WebSession).where(WebSession.id == session_id).values(ended_at=now))


# Where to go after signing in -------------------------------------------------------------

# What may stay as it is in a path and query (RFC 3986 pchar, "/" and "?", and "%" of
# escapes already made); everything else, non-ASCII text included, is percent-encoded.
_PATH_SAFE = "/?:@!$&'()*+,;=-._~%"
_NEXT_LIMIT = 2000


def safe_next(raw: str | None) -> str:
    """A path on this site to go on to after sign-in; "/" for anything else.

    Browsers drop tabs and newlines from a URL, read a backslash as a slash and a leading
    "//" as another host, so "/\\t/evil.example" would leave the site after sign-in:
    any control character, space or backslash, "//" anywhere in the path, a scheme or a
    host refuses the value.
    """
    if not raw or len(raw) > _NEXT_LIMIT or not raw.startswith("/"):
        return "/"
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in raw):
        return "/"
    path = raw.partition("?")[0].partition("#")[0]
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or "//" in path:
        return "/"
    return quote(raw, safe=_PATH_SAFE)
