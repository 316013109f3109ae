"""Mail to Inkless's return addresses: replies (sign-off, revisions), bounces, read receipts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from inkless.errors import Discard, Quarantine
from inkless.handlers import meetings, publication, receipts, signoff, tasks
from inkless.handlers.context import Context
from inkless.mail.parse import header_text
from inkless.tokens import KINDS, Token

# Headers a return's token is read from when no envelope recipient carries one: first those
# that name the address the mail was sent to, then those that only thread it to an Inkless
# message. Every forward of a request quotes its Message-ID, which carries the request's
# token, so a token found only in a thread header shows what a reply is about but never
# that its writer was the one asked: it can acknowledge, never decide.
ADDRESS_HEADERS = ("To", "Delivered-To", "X-Original-To")
THREAD_HEADERS = ("References", "In-Reply-To")


@dataclass(frozen=True)
class FoundToken:
    """A return's token and where it was found: "envelope" or the header's name."""

    token: Token
    found_in: str

    @property
    def addressed(self) -> bool:
        return self.found_in == "envelope" or self.found_in in ADDRESS_HEADERS


def find_token(ctx: Context) -> FoundToken | None:
    """The token a return carries: an envelope recipient, then To, Delivered-To,
    X-Original-To, then References, In-Reply-To (clients that drop +tags from the reply
    address still quote our Message-ID)."""
    for local in ctx.routes.returns:
        token = ctx.signer.verify_address(local)
        if token is not None:
            return FoundToken(token, "envelope")
    for name in ADDRESS_HEADERS + THREAD_HEADERS:
        for value in ctx.message.message.get_all(name) or []:
            token = ctx.signer.find(header_text(value))
            if token is not None:
                return FoundToken(token, name)
    return None


# What each kind of return address leads to: (purpose, item kind) → handler; bounces of any
# item kind go to the bounce handler, which knows which ones need no action.
RETURN_HANDLERS: dict[tuple[str, str], Callable[[Context, Token], Awaitable[None]]] = {
    ("reply", "a"): signoff.handle_approval_reply,
    ("reply", "v"): signoff.handle_revision,
    ("reply", "d"): receipts.handle_copy_reply,
    ("receipt", "d"): receipts.handle_mdn,
    ("reply", "m"): meetings.handle_rsvp,
    ("reply", "e"): meetings.handle_organizer_reply,
    ("reply", "t"): tasks.handle_member_reply,
    ("reply", "x"): tasks.handle_owner_reply,
    ("reply", "p"): publication.handle_publication_reply,
    **{("bounce", kind): receipts.handle_bounce for kind in KINDS},
}


class ReturnMail:
    """Routes a return by its token: approval replies and revisions to sign-off; replies to
    copies, read receipts and bounces to receipts."""

    name = "returns"

    async def process(self, ctx: Context) -> None:
        found = find_token(ctx)
        if found is None:
            raise Quarantine("reply without a valid Inkless token (To, References, Delivered-To, X-Original-To)")
        token = found.token
        ctx.token_addressed = found.addressed
        handler = RETURN_HANDLERS.get((token.purpose, token.kind))
        if handler is None:
            raise Discard(f"{token.purpose} mail about item kind '{token.kind}' needs no action")
        await handler(ctx, token)
