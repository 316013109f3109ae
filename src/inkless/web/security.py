"""What every request and answer goes through: no compressed bodies, the session, security headers."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from inkless.web.auth import COOKIE, SignedIn, find_session
from inkless.web.keys import CLOCK, SESSIONS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Pages use the one stylesheet at /static/inkless.css and no script; forms post to this
# site only; no one may frame a page (clickjacking) or reset its base URL.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Page URLs can carry secrets (a sign-in or ack link): never send them to another site.
    "Referrer-Policy": "same-origin",
}
# Paths that never look at the session cookie: machines call them, with tokens of their own.
_NO_SESSION = ("/api/", "/calendar/", "/static/", "/telegram/", "/wecom/", "/healthz", "/metrics")
_SIGNED_IN = web.RequestKey("signed_in", SignedIn)


@web.middleware
async def refuse_encoded_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request body with Content-Encoding is refused before anything reads it.

    aiohttp would inflate it while reading (the app turns that off as well): a 1 MB gzip
    body can hold 1 GiB of zeros, which is seconds of CPU on the event loop.
    """
    encoding = request.headers.get("Content-Encoding")
    if encoding is None or encoding.strip().lower() == "identity":
        return await handler(request)
    message = f"request bodies must not be compressed (Content-Encoding: {encoding[:40]})"
    if request.path.startswith("/api/"):
        response = web.json_response({"error": message}, status=415,
                                     dumps=lambda obj: json.dumps(obj, ensure_ascii=False))
    else:
        response = web.Response(status=415, text=message)
    # Unread, the body is drained as it came (auto_decompress is off): bytes, never inflated.
    return response


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer, errors and redirects included, gets the headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def web_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Look the session cookie up on the server: a signed-out or expired session is no session."""
    secret = request.cookies.get(COOKIE)
    if secret and not request.path.startswith(_NO_SESSION):
        async with request.app[SESSIONS]() as session:
            found = await find_session(session, secret, now=request.app[CLOCK].now())
        if found is not None:
            request[_SIGNED_IN] = found
    return await handler(request)


def current_session(request: web.Request) -> SignedIn | None:
    """The request's live session, as `web_session` found it."""
    return request.get(_SIGNED_IN)


def client_address(request: web.Request) -> str:
    """The address a request came from, for per-client limits.

    A reverse proxy on the same host (a loopback peer) names the client in the last
    X-Forwarded-For entry, which it appended itself; from any other peer the header could be
    anyone's invention and is ignored.
    """
    peer = request.remote or ""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    forwarded = request.headers.get("X-Forwarded-For", "")
    if loopback and forwarded:
        last = forwarded.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer
