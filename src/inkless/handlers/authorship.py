"""Whether a reply was written by the person its token names: the rule every reply that
decides something (a sign-off, a forward, a publication) must pass (SPEC §2.2)."""

from __future__ import annotations

from inkless.addresses import fold_address
from inkless.errors import Discard
from inkless.handlers.context import Context
from inkless.mail import authres
from inkless.mail.autoreply import automatic_reason
from inkless.mail.parse import header_text


def check_reply(ctx: Context, expected: str, what: str) -> str:
    """The reply's author when the reply may decide; Discard (audited, no answer) otherwise.

    It decides only when the header From and the envelope sender are both the person the
    token was issued to (`expected`) and the token came in the address the reply was sent
    to: a forwarded request carries its token in References, so whoever holds a copy could
    otherwise answer for that person. Over IMAP the envelope sender is the Return-Path the
    delivering server wrote; without one nothing shows who sent the reply (a null sender).
    """
    reason = automatic_reason(ctx.message, ctx.inbound.mail_from)
    if reason is not None:
        raise Discard(f"automatic reply ignored ({reason})")
    author = ctx.message.sender
    if author != fold_address(expected):
        raise Discard(f"reply to {what} from {author or '(no From)'}, but the token was issued to {expected}")
    envelope = fold_address(ctx.inbound.mail_from or "")
    if envelope != author:
        raise Discard(f"reply to {what}: header From does not match the envelope sender "
                      f"(From {author}, envelope {envelope or '<>'})")
    if not ctx.token_addressed:
        raise Discard(f"reply to {what} from {author} carries the token only in References/In-Reply-To "
                      "(as any forwarded copy does), not in the address it was sent to")
    trusted = ctx.config.smtp.trusted_authserv_id
    results = [header_text(v) for v in ctx.message.message.get_all("Authentication-Results") or []]
    if trusted and not authres.passed(results, trusted):
        raise Discard(f"reply to {what} from {author} without dkim=pass or spf=pass from {trusted}")
    return author
