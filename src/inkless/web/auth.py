"""Sign-in by one-time mailed link, signed session cookies, and CSRF tokens for forms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.config import Config
from inkless.storage.models import SigninLink

COOKIE = "inkless_session"


class Signer:
    """HMAC signatures for session cookies and CSRF tokens, keyed by secret_key."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"inkless-web\0" + secret_key.encode()).digest()

    def sign(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def check(self, purpose: str, value: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(purpose, value), signature)


def session_cookie(signer: Signer, email: str, *, lifetime: float) -> str:
    expires = int(time.time() + lifetime)
    body = base64.urlsafe_b64encode(f"{email}|{expires}".encode()).decode()
    return f"{body}.{signer.sign('session', body)}"


def session_email(signer: Signer, cookie: str | None) -> str | None:
    """The signed-in person's email, or None for a missing, forged or expired cookie."""
    if not cookie or "." not in cookie:
        return None
    body, _, signature = cookie.rpartition(".")
    if not signer.check("session", body, signature):
        return None
    try:
        email, _, expires = base64.urlsafe_b64decode(body.encode()).decode().rpartition("|")
    except (ValueError, UnicodeDecodeError):
        return None
    if not expires.isdigit() or int(expires) < time.time():
        return None
    return email


def csrf_token(signer: Signer, context: str) -> str:
    """The CSRF token of a form: bound to the session (or the link) the form belongs to."""
    return signer.sign("csrf", context)


async def check_csrf(request: web.Request, signer: Signer, context: str) -> MultiDictProxy[str | bytes | bytearray | FileField]:
    """The posted form, after checking its csrf_token; 403 when it is missing or wrong."""
    form = await request.post()
    token = form.get("csrf_token")
    if not isinstance(token, str) or not signer.check("csrf", context, token):
        raise web.HTTPForbidden(text="missing or invalid csrf_token")
    return form


def link_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_signin_link(session: AsyncSession, config: Config, email: str, next_path: str, *,
                             now: datetime) -> str:
    """A fresh one-time link secret for email (stored hashed, expiring)."""
    token = secrets.token_urlsafe(32)
    session.add(SigninLink(email=email, token_hash=link_hash(token), next_path=next_path, created_at=now,
                           expires_at=now + timedelta(minutes=config.web.signin_link_minutes)))
    return token


async def spend_signin_link(session: AsyncSession, token: str, *, now: datetime) -> SigninLink | None:
    """Use a link once: the link if it was valid, unused and unexpired; None otherwise."""
    result = await session.execute(
        update(SigninLink)
        .where(SigninLink.token_hash == link_hash(token), SigninLink.used_at.is_(None), SigninLink.expires_at > now)
        .values(used_at=now)
        .returning(SigninLink)
    )
    return result.scalar_one_or_none()


def safe_next(path: str | None) -> str:
    """Only same-site relative paths are followed after sign-in."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\\\" in path:
        return "/"
    return path
