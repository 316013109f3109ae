"""Who calls /api/v1: bearer tokens with an owner and a scope, and the per-token rate limit.

A token made with `inkless api-token create NAME --owner EMAIL --scope read|write` works
for its owner, an org member: it sees what the owner may see (drafts only to their sender
and approvers, private events only to their attendees), and a `write` token acts only as
the owner. An owner with the `admin` role sees everything and may act for anyone. A
`read` token may only read (GET). Each such token may make `API_BURST` requests at once and
`API_PER_SECOND` a second after that (429 past it).

The static tokens of `api.tokens` are the operator's, as powerful as the config file that
holds them: they see everything, may act for anyone, and are not rate-limited. So are tokens
made with `inkless api-token create NAME` without `--owner` (SPEC's plain form): whoever can
run that command can read the database anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from inkless.directory import PersonInfo
from inkless.storage import queries
from inkless.web.keys import API_LIMIT, CONFIG, OFFICE, SESSIONS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SCOPES = ("read", "write")
# The scope of a token made without an owner: the operator's, like the static api.tokens.
OPERATOR = "operator"
API_BURST = 100
API_PER_SECOND = 10.0
READING = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class ApiClient:
    """The caller of one API request: its token's owner (None for an operator token) and scope."""

    name: str
    owner: PersonInfo | None
    scope: str

    @property
    def sees_everything(self) -> bool:
        """Operator tokens and tokens of admins see (and may act for) everyone."""
        return self.owner is None or "admin" in self.owner.roles

    @property
    def reader(self) -> PersonInfo | None:
        """The member whose view the token reads with; None when it sees everything."""
        return None if self.sees_everything else self.owner


_CLIENT = web.RequestKey("api_client", ApiClient)


def hash_token(token: str) -> str:
    """What the database keeps of a token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def api_client(request: web.Request) -> ApiClient:
    """The request's caller, as `bearer_auth` found it."""
    return request[_CLIENT]


def act_as(request: web.Request, email: str, field: str) -> None:
    """403 unless the request's token may act as email (named by `field` of the request):
    tokens that see everything act for anyone, the others only for their owner."""
    client = api_client(request)
    if client.owner is None or client.sees_everything:
        return
    person = request.app[OFFICE]().directory.person(email)
    if person is None or person.id != client.owner.id:
        raise web.HTTPForbidden(text=f"{field}: this token acts only for its owner {client.owner.email}")


def only_admins(request: web.Request) -> None:
    """403 unless the token sees everything (an operator's, or an admin's)."""
    if not api_client(request).sees_everything:
        raise web.HTTPForbidden(text="only tokens of admins (or of api.tokens) may read this")


def _answer(status: int, message: str) -> web.Response:
    response = web.json_response({"error": message}, status=status,
                                 dumps=lambda obj: json.dumps(obj, ensure_ascii=False))
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="inkless"'
    return response


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """/api/v1 needs `Authorization: Bearer <token>`; the token decides what the request may do."""
    if not request.path.startswith("/api/v1/") or request.path == "/api/v1/openapi.json":
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return _answer(401, "missing bearer token")
    if any(hmac.compare_digest(token.encode(), static.encode()) for static in request.app[CONFIG].api.tokens):
        client = ApiClient(name="api.tokens", owner=None, scope="write")
    else:
        async with request.app[SESSIONS]() as session:
            row = await queries.active_api_token(session, hash_token(token))
        if row is None:
            return _answer(401, "invalid bearer token")
        if row.owner is None and row.scope == OPERATOR:
            client = ApiClient(name=row.name, owner=None, scope="write")
            request[_CLIENT] = client
            return await handler(request)
        if row.owner is None or row.scope not in SCOPES:
            return _answer(401, "this token was made before tokens had owners; make a new one with "
                                "`inkless api-token create NAME --owner EMAIL`")
        owner = request.app[OFFICE]().directory.person(row.owner)
        if owner is None:
            return _answer(401, f"the token's owner {row.owner} is no longer a member of the organisation")
        wait = request.app[API_LIMIT].take(f"token:{row.id}")
        if wait is not None:
            response = _answer(429, f"too many requests with this token; try again in {math.ceil(wait)} s")
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        client = ApiClient(name=row.name, owner=owner, scope=row.scope)
    if request.method not in READING and client.scope != "write":
        return _answer(403, "this token may only read (scope read)")
    request[_CLIENT] = client
    return await handler(request)
