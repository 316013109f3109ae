"""Receipts (回执): delivery reports, read receipts and acknowledgements of issued copies.

Each copy went out with its own envelope sender (bounce+…), Disposition-Notification-To
(receipt+…) and Reply-To (reply+…). What comes back to those addresses sets the copy's
times: a DSN `delivered` → delivered_at, `failed` → failed with the reason; an MDN
`displayed` for this very copy → read_at; a human reply → acknowledged_at with its text
as the comment. Anything that does not belong to the copy changes nothing and is audited.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from flufl.bounce import all_failures
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.addresses import fold_address
from inkless.chat import notify as chat
from inkless.errors import Discard, Quarantine
from inkless.handlers import forward
from inkless.handlers.answer import answer
from inkless.handlers.authorship import check_reply
from inkless.handlers.classified import refuse_if_classified
from inkless.handlers.context import Context
from inkless.handlers.issue import copy_message_id
from inkless.mail.autoreply import automatic_reason
from inkless.mail.parse import header_text
from inkless.mail.reply_text import reply_text
from inkless.mail.texts import text
from inkless.printable import printable
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Document, Recipient
from inkless.tokens import Token

# The reason a plain-text bounce quotes: an SMTP reply ("550 5.1.1 <a@b>: User unknown", Exim)
# or a line ending in an enhanced status code ("Sorry, no mailbox here by that name. (#5.1.1)", qmail).
_SMTP_ERROR = re.compile(r"\b[45]\d\d[ -]\d\.\d{1,3}\.\d{1,3}\b[^\r\n]*|[^\r\n]*\(#[45]\.\d{1,3}\.\d{1,3}\)")
_READ_RECEIPT_SUBJECT = re.compile(r"^\s*(已读|已讀|Read|Gelesen|Lu)\s*[:：]", re.IGNORECASE)


async def record_receipt(
    session: AsyncSession,
    recipient: Recipient,
    *,
    now: datetime,
    actor: str,
    channel: str,
    delivered: bool = False,
    read: bool = False,
    acknowledged: bool = False,
    failed_reason: str | None = None,
    comment: str | None = None,
    language: str = "zh",
) -> list[str]:
    """Set a copy's receipt times (never moving one that is set) and audit what changed.

    Acknowledging implies reading, and reading implies delivery: a later state fills an
    earlier one that is still empty. The desk and the chat bot call this too.
    """
    changed = []
    if acknowledged and recipient.acknowledged_at is None:
        recipient.acknowledged_at = now
        changed.append("acknowledged")
    if (read or acknowledged) and recipient.read_at is None:
        recipient.read_at = now
        changed.append("read")
    if (delivered or read or acknowledged) and recipient.delivered_at is None:
        recipient.delivered_at = now
        changed.append("delivered")
    if failed_reason is not None and not recipient.failed:
        recipient.failed = True
        recipient.reason = printable(failed_reason)  # quoted from a bounce: any bytes
        changed.append("failed")
    if comment:
        recipient.comment = comment
        changed.append("comment")
    if "acknowledged" in changed:
        title = await session.scalar(select(Document.title).where(Document.id == recipient.document_id))
        await chat.settle(session, f"d{recipient.id}", text(language, "bot_acknowledged", title=title),
                          label=text(language, "label_acknowledged"), now=now)
    if changed:
        record(session, now=now, actor=actor, action="receipt." + "+".join(changed), subject_type="recipient",
               subject_id=recipient.id, detail={"document": recipient.document_id, "channel": channel,
                                                "reason": failed_reason, "comment": comment})
    if "acknowledged" in changed:
        signed = await queries.sign_for_units(session, recipient, now=now)
        if signed:
            record(session, now=now, actor=recipient.email, action="unit.signed", subject_type="document",
                   subject_id=recipient.document_id, detail={"units": signed, "channel": channel})
    return changed


async def _recipient(ctx: Context, token: Token) -> Recipient:
    recipient = await ctx.session.get(Recipient, token.item, with_for_update=True)
    if recipient is None or recipient.person_id != token.person:
        raise Quarantine(f"token names no copy {token.item}")
    return recipient


async def handle_copy_reply(ctx: Context, token: Token) -> None:
    """A human reply to a copy acknowledges it; its text is kept as the comment. A DSN or MDN
    sent to the reply address (SPEC §2: `<>` to a reply address counts only then) is one."""
    message = ctx.message.message
    report = message.get_param("report-type") if message.get_content_type() == "multipart/report" else None
    if report == "disposition-notification":
        await handle_mdn(ctx, token)
        return
    if report == "delivery-status":
        await handle_bounce(ctx, token)
        return
    recipient = await _recipient(ctx, token)
    reason = automatic_reason(ctx.message, ctx.inbound.mail_from)
    if reason is not None:
        raise Discard(f"automatic reply ignored ({reason})")
    if ctx.message.sender != recipient.email:
        raise Discard(f"reply to the copy of {recipient.email} came from {ctx.message.sender or '(no From)'}")
    envelope = fold_address(ctx.inbound.mail_from or "")
    if envelope != recipient.email:
        # An acknowledgement may sign for the recipient's whole unit: the header From alone,
        # which anyone can write, does not show who sent it.
        raise Discard(f"reply to the copy of {recipient.email}: header From does not match the envelope sender "
                      f"(envelope {envelope or '<>'})")
    comment = reply_text(ctx.message.text, ctx.message.html) or None
    now = ctx.clock.now()
    await record_receipt(ctx.session, recipient, now=now, actor=recipient.email, channel="mail",
                         acknowledged=True, comment=comment, language=ctx.config.language)
    request = forward.read_forward(comment or "")
    if request is None:
        return
    try:
        # Forwarding makes a document in the receiver's unit's name: the reply must be shown to be
        # theirs as a sign-off decision must (envelope, the token in the address it was sent to,
        # upstream authentication).
        check_reply(ctx, recipient.email, f"the copy {recipient.id}")
    except Discard as refused:
        record(ctx.session, now=now, actor=recipient.email, action="document.forward_refused",
               subject_type="recipient", subject_id=recipient.id, detail={"reason": refused.reason})
        return
    refuse_if_classified(ctx, "", request.instructions)
    outcome = await forward.forward_down(ctx.session, ctx.office, recipient, request, now=now, channel="mail")
    if outcome.refusal is not None:
        person = ctx.directory.person(recipient.email)
        title = await ctx.session.scalar(select(Document.title).where(Document.id == recipient.document_id))
        record(ctx.session, now=now, actor=recipient.email, action="document.forward_refused",
               subject_type="recipient", subject_id=recipient.id, detail={"reason": outcome.refusal})
        if person is not None:
            language = ctx.config.language
            await answer(ctx, person, "forward_refused", text(language, "forward_refused_subject", title=title),
                         text(language, "forward_refused_body", title=title, reason=outcome.refusal),
                         token=Token("reply", "d", recipient.id, person.id))


def _report_part(message: Message, kind: str) -> Message | None:
    for part in message.walk():
        if part.get_content_type() == kind:
            return part
    return None


def _fields(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status or message/disposition-notification part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    raw = part.get_payload(decode=True)
    data = raw if isinstance(raw, bytes) else str(payload).encode("utf-8", "surrogateescape")
    return [BytesHeaderParser(policy=compat32).parsebytes(block.strip() + b"\n")
            for block in re.split(rb"\r?\n\r?\n", data) if block.strip()]


def _value(block: Message, name: str) -> str:
    """A report field's value, unfolded (RFC 5322 §2.2.3): MTAs fold long Diagnostic-Codes."""
    return re.sub(r"\s*\r?\n\s+", " ", header_text(block[name] or "")).strip()


def _address(value: str | None) -> str:
    """The address of a Final-Recipient / Original-Recipient field ("rfc822; a@b")."""
    text = header_text(value or "")
    return text.split(";", 1)[-1].strip().strip("<>").lower()


async def handle_mdn(ctx: Context, token: Token) -> None:
    """A read receipt (RFC 8098) for this copy: `displayed` sets read_at."""
    recipient = await _recipient(ctx, token)
    expected = copy_message_id(ctx.signer, recipient.id, recipient.person_id or 0)
    part = _report_part(ctx.message.message, "message/disposition-notification")
    if part is None:
        # Some clients (Foxmail, older Outlook) send a plain "已读：…" / "Read: …" mail instead.
        if _READ_RECEIPT_SUBJECT.match(ctx.message.subject):
            if ctx.message.sender != recipient.email:
                raise Discard(f"read receipt for the copy of {recipient.email} came from "
                              f"{ctx.message.sender or '(no From)'}")
            await record_receipt(ctx.session, recipient, now=ctx.clock.now(), actor=recipient.email,
                                 channel="mail", read=True)
            return
        raise Quarantine("mail to a receipt address that is not a read receipt")
    fields = _fields(part)
    original = next((header_text(b["Original-Message-ID"]) for b in fields if b["Original-Message-ID"]), "")
    disposition = next((header_text(b["Disposition"]) for b in fields if b["Disposition"]), "")
    if original.strip() != expected:
        raise Discard(f"read receipt for {original.strip() or '(no Original-Message-ID)'}, not for copy {expected}")
    if "displayed" not in disposition.lower():
        record(ctx.session, now=ctx.clock.now(), actor=recipient.email, action="receipt.mdn_other",
               subject_type="recipient", subject_id=recipient.id, detail={"disposition": disposition})
        return
    await record_receipt(ctx.session, recipient, now=ctx.clock.now(), actor=recipient.email, channel="mail",
                         read=True)


def _decoded(address: bytes | str) -> str:
    return (address.decode("utf-8", "replace") if isinstance(address, bytes) else address).lower()


async def handle_bounce(ctx: Context, token: Token) -> None:
    """A delivery report for this copy: RFC 3464 DSN, or a non-standard bounce (flufl.bounce)."""
    if token.kind != "d":
        record(ctx.session, now=ctx.clock.now(), actor="relay", action="bounce.notice",
               subject_type="inbound", subject_id=ctx.inbound.id, detail={"kind": token.kind, "item": token.item})
        raise Discard(f"bounce of a notice (kind {token.kind}, item {token.item})")
    recipient = await _recipient(ctx, token)
    now = ctx.clock.now()
    part = _report_part(ctx.message.message, "message/delivery-status")
    if part is not None:
        blocks = _fields(part)[1:]  # the first block is about the message, the rest per recipient
        mine = [b for b in blocks if recipient.email in (_address(b["Final-Recipient"]),
                                                         _address(b["Original-Recipient"]))]
        if not mine:
            others = ", ".join(_address(b["Final-Recipient"]) for b in blocks) or "(none)"
            raise Discard(f"delivery report for {others}, not for {recipient.email}")
        for block in mine:
            action = _value(block, "Action").lower()
            status = _value(block, "Status")
            diagnostic = _value(block, "Diagnostic-Code")
            if action == "failed":
                reason = f"{status} {diagnostic.split(';', 1)[-1].strip()}".strip() or "delivery failed"
                await record_receipt(ctx.session, recipient, now=now, actor="relay", channel="mail",
                                     failed_reason=reason)
            elif action == "delivered":
                await record_receipt(ctx.session, recipient, now=now, actor="relay", channel="mail", delivered=True)
            else:
                record(ctx.session, now=now, actor="relay", action=f"receipt.dsn_{action or 'unknown'}",
                       subject_type="recipient", subject_id=recipient.id, detail={"status": status,
                                                                                  "diagnostic": diagnostic})
        return
    temporary, permanent = (set(map(_decoded, found)) for found in all_failures(ctx.message.message))
    addresses = permanent | temporary
    if recipient.email in permanent:
        quoted = _SMTP_ERROR.search(ctx.message.text)
        reason = quoted.group(0).strip() if quoted else f"bounced: {ctx.message.subject[:120]}"
        await record_receipt(ctx.session, recipient, now=now, actor="relay", channel="mail", failed_reason=reason)
        return
    if recipient.email in addresses:
        record(ctx.session, now=now, actor="relay", action="receipt.bounce_temporary", subject_type="recipient",
               subject_id=recipient.id, detail={"subject": ctx.message.subject[:200]})
        return
    if addresses:
        raise Discard(f"bounce for {', '.join(sorted(addresses))}, not for {recipient.email}")
    raise Quarantine(f"bounce for {recipient.email} not understood")
