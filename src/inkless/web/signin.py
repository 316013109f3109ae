"""Signing in by mailed one-time link, and signing out (SPEC §3, web security).

- The sign-in forms are bound to the browser they were shown to: a pre-session cookie and
  a CSRF token made for it, so a form posted from another site gets 403 (no login CSRF).
- A request for a link is answered at once, the same way and after the same work whoever
  asked: the link is made and mailed afterwards by one task per process (`SigninMailer`),
  so members and strangers cannot be told apart by the answer or its time.
- At most `PER_ADDRESS_PER_HOUR` links are mailed to an address in an hour (counted in the
  database, across processes); a client address may ask `PER_CLIENT_BURST` times at once and
  `PER_CLIENT_PER_HOUR` times an hour after that (429 past it).
- After sign-in the person goes on to `next`, which only ever names a path on this site.
- Sessions live in the database; signing out ends the session there.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from sqlalchemy import func, select

from inkless import notices
from inkless.storage.models import SigninLink
from inkless.web.auth import (
    COOKIE,
    check_csrf,
    create_signin_link,
    csrf_token,
    end_session,
    posted_presession,
    presession,
    safe_next,
    set_presession,
    spend_signin_link,
    start_session,
)
from inkless.web.i18n import PAGES
from inkless.web.keys import (
    CLOCK,
    CONFIG,
    OFFICE,
    ON_QUEUED,
    SESSIONS,
    SIGNIN_LIMIT,
    WEB_SIGNER,
)
from inkless.web.pages import message, page, session_csrf
from inkless.web.security import client_address, current_session

log = logging.getLogger(__name__)

PER_ADDRESS_PER_HOUR = 5
PER_CLIENT_BURST = 30
PER_CLIENT_PER_HOUR = 30.0
# Requests waiting to be mailed; past this (a flood) further ones are dropped, answered alike.
QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class SigninRequest:
    """Someone asked for a sign-in link for `email`, to go on to `next_path`."""

    email: str
    next_path: str


class SigninMailer:
    """Makes and mails the links asked for, one request at a time, off the request path."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._queue: asyncio.Queue[SigninRequest] = asyncio.Queue(maxsize=QUEUE_LIMIT)

    def submit(self, request: SigninRequest) -> None:
        try:
            self._queue.put_nowait(request)
        except asyncio.QueueFull:
            log.warning("sign-in requests are arriving faster than they are mailed; one was dropped")

    async def run(self) -> None:
        while True:
            request = await self._queue.get()
            try:
                await self.send_link(request)
            except Exception:
                log.exception("sign-in link could not be made or queued")

    async def send_link(self, request: SigninRequest) -> None:
        """Mail a link to a member, unless their address had its share this hour; strangers get nothing."""
        app = self._app
        office, config, now = app[OFFICE](), app[CONFIG], app[CLOCK].now()
        person = office.directory.person(request.email)
        if person is None:
            return
        async with app[SESSIONS]() as session, session.begin():
            recent = await session.scalar(select(func.count()).select_from(SigninLink).where(
                SigninLink.email == person.email, SigninLink.created_at > now - timedelta(hours=1)))
            if (recent or 0) >= PER_ADDRESS_PER_HOUR:
                log.info("sign-in link for %s not sent: %d sent in the last hour", person.email, recent)
                return
            token = await create_signin_link(session, config, person.email, request.next_path, now=now)
            texts = PAGES[config.language]
            await notices.send(session, office, notices.Notice(
                kind="signin_link", unit_id=person.home_unit, to_email=person.email, to_name=person.name,
                subject=texts["signin_subject"],
                text=texts["signin_body"].format(minutes=int(config.web.signin_link_minutes),
                                                 url=f"{config.web.base_url}/signin/{token}"),
                message_id=f"<inkless.signin.{secrets.token_hex(8)}@{config.domain}>",
                mail_from=""), now=now)
        app[ON_QUEUED]()


SIGNIN_MAILER = web.AppKey("signin_mailer", SigninMailer)


async def mailer(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the mailer's task runs while the app does."""
    app[SIGNIN_MAILER] = sending = SigninMailer(app)
    task = asyncio.create_task(sending.run(), name="signin-mailer")
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


def _secure(request: web.Request) -> bool:
    return request.app[CONFIG].web.base_url.startswith("https://")


async def signin_form(request: web.Request) -> web.Response:
    """GET /signin: ask for the email address; the form is bound to this browser."""
    browser, fresh = presession(request)
    response = page(request, "signin.html", next=safe_next(request.query.get("next")),
                    csrf=csrf_token(request.app[WEB_SIGNER], f"signin-form:{browser}"))
    if fresh:
        set_presession(response, browser, secure=_secure(request))
    return response


async def signin_request(request: web.Request) -> web.Response:
    """POST /signin: the same answer, at once, for anyone; the link is mailed afterwards."""
    browser = posted_presession(request)
    form = await check_csrf(request, request.app[WEB_SIGNER], f"signin-form:{browser}")
    wait = request.app[SIGNIN_LIMIT].take(f"signin:{client_address(request)}")
    if wait is not None:
        response = message(request, "signin_too_many", 429, minutes=str(math.ceil(wait / 60)))
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    email = str(form.get("email") or "").strip()
    answer = message(request, "link_sent", 200)
    # The answer leaves before any work for the address begins, so none of it shows in its time.
    await answer.prepare(request)
    await answer.write_eof()
    # No address is longer (RFC 5321); a longer value names no one and is not kept.
    if len(email) <= 320:
        request.app[SIGNIN_MAILER].submit(SigninRequest(email=email, next_path=safe_next(str(form.get("next") or "/"))))
    return answer


async def signin_confirm(request: web.Request) -> web.Response:
    """GET /signin/{token}: a button only; link scanners that prefetch cannot spend the link."""
    token = request.match_info["token"]
    browser, fresh = presession(request)
    response = page(request, "signin_confirm.html",
                    csrf=csrf_token(request.app[WEB_SIGNER], f"signin:{token}:{browser}"))
    if fresh:
        set_presession(response, browser, secure=_secure(request))
    return response


async def signin_spend(request: web.Request) -> web.Response:
    """POST /signin/{token}: spend the link once, start a session, go on."""
    token = request.match_info["token"]
    browser = posted_presession(request)
    await check_csrf(request, request.app[WEB_SIGNER], f"signin:{token}:{browser}")
    config, now = request.app[CONFIG], request.app[CLOCK].now()
    lifetime = timedelta(hours=config.web.session_hours)
    async with request.app[SESSIONS]() as session, session.begin():
        link = await spend_signin_link(session, token, now=now)
        secret = await start_session(session, link.email, now=now, lifetime=lifetime) if link else None
    if link is None or secret is None:
        return message(request, "link_invalid", 410)
    # Where the person was going; without that, their desk.
    going = safe_next(link.next_path)
    response = web.HTTPSeeOther(location="/desk" if going == "/" else going)
    response.set_cookie(COOKIE, secret, max_age=int(lifetime.total_seconds()), httponly=True, samesite="Lax",
                        secure=_secure(request), path="/")
    raise response


async def signout(request: web.Request) -> web.Response:
    """POST /signout: the session ends on the server, not only in this browser."""
    current = current_session(request)
    if current is not None:
        await check_csrf(request, request.app[WEB_SIGNER], session_csrf(current))
        async with request.app[SESSIONS]() as session, session.begin():
            await end_session(session, current.session_id, now=request.app[CLOCK].now())
    response = web.HTTPSeeOther(location="/signin")
    response.del_cookie(COOKIE, path="/")
    raise response
