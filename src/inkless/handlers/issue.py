"""Issuing a document: its number, its recipients, one personal copy each, the sender told."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.chat import notify as chat
from inkless.directory import Directory, PersonInfo
from inkless.mail import compose
from inkless.mail.parse import ParsedAttachment
from inkless.mail.texts import text
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Document, DocumentVersion
from inkless.tokens import Token, TokenSigner


def recipients_of(document: Document, directory: Directory) -> list[PersonInfo]:
    """Everyone in the addressed units and their sub-units, once each, without the sender."""
    return directory.reach(document.addressed_to.split("\n"), without=document.sender)


async def issue_document(
    session: AsyncSession,
    document: Document,
    version: DocumentVersion,
    attachments: Sequence[ParsedAttachment],
    *,
    office: Office,
    now: datetime,
) -> None:
    """Number the document, record its recipients and queue one personal copy each."""
    config, directory, signer = office.config, office.directory, office.signer
    unit = directory.units[document.unit_id]
    year = now.astimezone(config.zone).year
    serial = await queries.next_document_serial(session, unit.id, year)
    document.year, document.serial = year, serial
    document.number = f"{unit.doc_prefix}〔{year}〕{serial}号"
    document.status = "issued"
    document.issued_at = now

    people = recipients_of(document, directory)
    recipient_ids = await queries.add_recipients(
        session, document.id, [(p.id, p.email, p.name) for p in people]
    )
    language = config.language
    tracking_url = f"{config.web.base_url}/documents/{document.id}"
    body = compose.split_body(attachments)
    body_id = await queries.add_outbox_body(session, body.tail, now=now)
    issued_at = now.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")
    text_before_link = copy_text(document, version.body, unit_name=unit.name,
                                 sender=directory.person(document.sender), language=language, issued_at=issued_at,
                                 attachment_names=[a.filename for a in attachments])
    tag = f"[{document.type}] " if document.type else ""
    subject = f"{tag}{document.title}（{document.number}）"
    from_ = compose.mailbox(unit.name, config.local_address(unit.id))
    copies = []
    for index, (person, recipient_id) in enumerate(zip(people, recipient_ids, strict=True)):
        if index % 200 == 199:
            # Composing thousands of copies is CPU work: let SMTP sessions and claim renewal run.
            await asyncio.sleep(0)
        ack = signer.local_part(Token("ack", "d", recipient_id, person.id))
        headers = compose.personal_headers(
            from_=from_,
            to=compose.mailbox(person.name, person.email),
            subject=subject,
            message_id=copy_message_id(signer, recipient_id, person.id),
            date=now,
            reply_to=signer.address(Token("reply", "d", recipient_id, person.id)),
            receipt_to=signer.address(Token("receipt", "d", recipient_id, person.id)),
            extra=[("X-Inkless-Document", str(document.id))],
        )
        personal = text_before_link + text(language, "ack_link", url=f"{config.web.base_url}/ack/{ack}") + "\n"
        copies.append(queries.OutboundCopy(
            kind="document", mail_from=signer.address(Token("bounce", "d", recipient_id, person.id)),
            rcpt=person.email, headers=headers + body.head(personal), recipient_id=recipient_id))
    await queries.enqueue(session, copies, body_id=body_id, now=now)
    excerpt = version.body.strip()[:300]
    await chat.notify(session, [chat.Notification(
        person_id=person.id, key=f"document:{recipient_id}", kind="document", item=f"d{recipient_id}",
        text=text(language, "bot_document", title=document.title, number=document.number, unit=unit.name,
                  excerpt=excerpt),
        buttons=[[[text(language, "bot_ack_button"), f"ack:{recipient_id}"]]])
        for person, recipient_id in zip(people, recipient_ids, strict=True)], now=now)
    await _notify_sender(session, document, count=len(people), office=office, now=now, tracking_url=tracking_url)
    record(session, now=now, actor="inkless", action="document.issued", subject_type="document",
           subject_id=document.id, detail={"number": document.number, "recipients": len(people)})


def copy_message_id(signer: TokenSigner, recipient_id: int, person_id: int) -> str:
    """The stable Message-ID of a recipient's copy; it carries the reply token, so replies,
    MDNs (Original-Message-ID) and DSNs point back to the recipient."""
    return signer.message_id(Token("reply", "d", recipient_id, person_id))


def copy_text(
    document: Document,
    body: str,
    *,
    unit_name: str,
    sender: PersonInfo | None,
    language: str,
    issued_at: str,
    attachment_names: list[str],
) -> str:
    """The readable text of a personal copy: a short head, the body, the attachment list."""
    head = [
        text(language, "copy_intro", unit=unit_name),
        f"{text(language, 'number')}: {document.number or text(language, 'no_number')}",
    ]
    if document.type:
        head.append(f"{text(language, 'type')}: {document.type}")
    head.append(f"{text(language, 'sender')}: {sender.display if sender else document.sender}")
    head.append(f"{text(language, 'issued_at')}: {issued_at}")
    lines = ["\n".join(head), "", body.rstrip(), ""]
    if attachment_names:
        lines += [f"{text(language, 'attachments')}: " + "、".join(attachment_names), ""]
    lines += ["--", text(language, "reply_hint")]
    return "\n".join(lines) + "\n"


async def _notify_sender(session: AsyncSession, document: Document, *, count: int, office: Office,
                         now: datetime, tracking_url: str) -> None:
    """One "issued" notice to the sender with the number and the tracking link."""
    sender = office.directory.person(document.sender)
    if sender is None:
        return
    language = office.config.language
    values = {"title": document.title, "number": document.number, "count": count, "url": tracking_url,
              "issued_at": now.astimezone(office.config.zone).strftime("%Y-%m-%d %H:%M")}
    await notices.send(session, office, notices.Notice(
        kind="issued_notice", unit_id=document.unit_id, to_email=sender.email, to_name=sender.name,
        subject=text(language, "issued_subject", **values), text=text(language, "issued_body", **values),
        message_id=f"<inkless.d{document.id}.issued@{office.config.domain}>",
        mail_from=office.signer.address(Token("bounce", "n", document.id, sender.id))), now=now)
