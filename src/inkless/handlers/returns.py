"""Mail to Inkless's return addresses: replies (sign-off, revisions), bounces, read receipts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from inkless.errors import Discard, Quarantine
from inkless.calendar import mail as calendar_mail
from inkless.handlers import receipts, signoff
from inkless.tasks import mail as task_mail
from inkless.handlers.pipeline import Context
from inkless.mail.parse import header_text
from inkless.tokens import KINDS, Token


def find_token(ctx: Context) -> Token | None:
    """The token a return carries: envelope recipient, then To, References, In-Reply-To,
    Delivered-To, X-Original-To (clients that drop +tags still quote our Message-ID)."""
    for local in ctx.routes.returns:
        token = ctx.signer.verify_address(local)
        if token is not None:
            return token
    for name in ("To", "References", "In-Reply-To", "Delivered-To", "X-Original-To"):
        for value in ctx.message.message.get_all(name) or []:
            token = ctx.signer.find(header_text(value))
            if token is not None:
                return token
    return None


# What each kind of return address leads to: (purpose, item kind) → handler; bounces of any
# item kind go to the bounce handler, which knows which ones need no action.
RETURN_HANDLERS: dict[tuple[str, str], Callable[[Context, Token], Awaitable[None]]] = {
    ("reply", "a"): signoff.handle_approval_reply,
    ("reply", "v"): signoff.handle_revision,
    ("reply", "d"): receipts.handle_copy_reply,
    ("receipt", "d"): receipts.handle_mdn,
    ("reply", "m"): calendar_mail.handle_rsvp,
    ("reply", "e"): calendar_mail.handle_organizer_reply,
    ("reply", "t"): task_mail.handle_member_reply,
    ("reply", "x"): task_mail.handle_owner_reply,
    **{("bounce", kind): receipts.handle_bounce for kind in KINDS},
}


class ReturnMail:
    """Routes a return by its token: approval replies and revisions to sign-off; replies to
    copies, read receipts and bounces to receipts."""

    name = "returns"

    async def process(self, ctx: Context) -> None:
        token = find_token(ctx)
        if token is None:
            raise Quarantine("reply without a valid Inkless token (To, References, Delivered-To, X-Original-To)")
        handler = RETURN_HANDLERS.get((token.purpose, token.kind))
        if handler is None:
            raise Discard(f"{token.purpose} mail about item kind '{token.kind}' needs no action")
        await handler(ctx, token)
