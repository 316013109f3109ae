"""Documents received from outside (收文, SPEC §2.8): mail from a registered outside organ to
unit addresses is registered by each addressed unit — source organ, source number (来文字号),
an incoming number (收文编号, gapless per unit and year) — and sent to the unit's receivers,
who sign for it (签收) or forward it down (转发, handlers/forward.py)."""

from __future__ import annotations

from inkless.addresses import fold_address
from inkless.directory import ExternalOrgan
from inkless.errors import Quarantine
from inkless.handlers.context import Context
from inkless.handlers.issue import issue_document
from inkless.mail import authres
from inkless.mail.numbers import find_number
from inkless.mail.parse import header_text
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Document, DocumentVersion


def organ_of(ctx: Context) -> ExternalOrgan | None:
    """The outside organ the header From sends for, if any."""
    sender = ctx.message.sender
    return ctx.directory.external_organ(sender) if sender else None


class IncomingMail:
    """A registered outside sender's mail to units: one incoming document per addressed unit.

    The SMTP edge checks the sender as for members (the envelope is the header From, upstream
    DKIM/SPF where configured); this checks again for mail that came another way (IMAP)."""

    name = "incoming"

    async def process(self, ctx: Context) -> None:
        sender = ctx.message.sender
        organ = organ_of(ctx)
        if sender is None or organ is None:
            raise Quarantine(f"header From {sender or '(none)'} is not a registered outside sender")
        envelope = fold_address(ctx.inbound.mail_from or "")
        if envelope != sender:
            raise Quarantine(f"header From does not match the envelope sender (From {sender}, "
                             f"envelope {envelope or '<>'})")
        # In a fixed order: two processes registering mail to the same units take the counters alike.
        units = sorted(unit for unit in ctx.routes.units if unit in ctx.directory.units)
        if not units:
            raise Quarantine(f"{sender} ({organ.name}) may write only to unit addresses, not to all@")
        trusted = ctx.config.smtp.trusted_authserv_id
        results = [header_text(v) for v in ctx.message.message.get_all("Authentication-Results") or []]
        if trusted and not authres.passed(results, trusted):
            # From outside, where the upstream MTA vouches for senders, it must vouch for this one.
            raise Quarantine(f"{sender} ({organ.name}) without dkim=pass or spf=pass from {trusted}")
        empty = [unit for unit in units if not ctx.directory.incoming_receivers(unit)]
        if empty:
            raise Quarantine(f"units without members cannot receive documents: {', '.join(empty)}")
        now = ctx.clock.now()
        year = now.astimezone(ctx.config.zone).year
        number, title = find_number(ctx.subject.title, ctx.message.text)
        attachments = ctx.message.attachments
        for unit_id in units:
            unit = ctx.directory.units[unit_id]
            serial = await queries.next_incoming_serial(ctx.session, unit_id, year)
            document = Document(
                unit_id=unit_id, sender=sender, type=ctx.subject.document_type(tuple(ctx.config.documents.extra_types)),
                title=title or "(无标题)", status="pending_approval", public=False, addressed_to=unit_id,
                urgency=ctx.subject.urgency,
                inbound_id=ctx.inbound.id, created_at=now, direction="incoming", source_organ=organ.name,
                source_number=number, incoming_number=f"{unit.incoming}〔{year}〕{serial}号")
            version = DocumentVersion(version=1, created_at=now, body=ctx.message.text, body_html=ctx.message.html)
            document.versions.append(version)
            await queries.add_document(ctx.session, document)
            await queries.add_attachments(ctx.session, version.id,
                                          [(a.filename, a.content_type, a.data) for a in attachments])
            await queries.add_document_units(ctx.session, document.id, [(unit_id, "main")])
            record(ctx.session, now=now, actor=sender, action="document.received", subject_type="document",
                   subject_id=document.id, detail={"organ": organ.id, "source_number": number,
                                                   "incoming_number": document.incoming_number, "unit": unit_id})
            await issue_document(ctx.session, document, version, attachments, office=ctx.office, now=now,
                                 units=[(unit_id, "main")], signed_off=False)
