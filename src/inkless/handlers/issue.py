"""Issuing a document: its number, its recipients, one personal copy each, the sender told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.chat import notify as chat
from inkless.directory import UPWARD_TYPES, Directory, PersonInfo
from inkless.handlers import publication
from inkless.handlers.index import files_text
from inkless.handlers.index import index as index_for_search
from inkless.mail import compose
from inkless.mail.parse import ParsedAttachment
from inkless.mail.texts import text
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Document, DocumentVersion
from inkless.tokens import Token, TokenSigner


@dataclass(frozen=True)
class Reach:
    """Who a document reaches: everyone, and those reached only as a copy (抄送)."""

    people: list[PersonInfo]
    copy_only: frozenset[str]


def recipients_of(document: Document, units: Sequence[tuple[str, str]], directory: Directory) -> Reach:
    """Who gets a copy (SPEC §2, §2.8), once each, without the sender: for a document received
    from outside, the receiving unit's receivers; otherwise the main units and, unless the
    document goes up (请示, 报告), their sub-units, and the copied units' own members."""
    if document.direction == "incoming":
        return Reach(directory.incoming_receivers(document.unit_id), frozenset())
    copies = [unit_id for unit_id, role in units if role == "copy"]
    main = [address for address in document.addressed_to.split("\n") if address and address not in copies]
    upward = document.type in UPWARD_TYPES
    everyone = directory.reach_roles(main, copies, upward=upward, without=document.sender)
    mains = {person.email for person in directory.reach_roles(main, [], upward=upward)}
    return Reach(everyone, frozenset(p.email for p in everyone if p.email not in mains))


def addressed_units(addresses: Sequence[str], copies: Sequence[str], directory: Directory) -> list[tuple[str, str]]:
    """The units a document is addressed to, each (unit id, main | copy); all@ addresses every unit."""
    units: dict[str, str] = {}
    for address in addresses:
        for unit_id in (directory.units if address == "all" else [address]):
            if unit_id in directory.units:
                units.setdefault(unit_id, "copy" if address in copies else "main")
    return list(units.items())


async def issue_document(
    session: AsyncSession,
    document: Document,
    version: DocumentVersion,
    attachments: Sequence[ParsedAttachment],
    *,
    office: Office,
    now: datetime,
    units: Sequence[tuple[str, str]] | None = None,
    signed_off: bool = True,
) -> None:
    """Number the document (unless `number` did already), record its recipients and queue one
    personal copy each.

    A document issued in the transaction that made it, without sign-off, says so (its
    addressed units, (unit id, main | copy), as just recorded, and signed_off=False): it has no
    approvals and no search entry yet, and nothing is read back for them."""
    directory = office.directory
    unit = directory.units[document.unit_id]
    # Read first, then everything set at once: the document is written in one UPDATE.
    if units is None:
        units = [(u.unit_id, u.role) for u in (await queries.units_of(session, [document.id]))[document.id]]
    else:
        units = sorted(units, key=lambda u: u[1] != "main")  # main first, as units_of gives them
    if document.status != "issued":
        await number(session, document, version, office=office, now=now, signed_off=signed_off)
    reach = recipients_of(document, units, directory)
    people = reach.people
    unit_ids = [unit_id for unit_id, _ in units]
    signers = {unit_id: {p.email for p in directory.signers(unit_id)} for unit_id in unit_ids}
    signs_for = [[unit_id for unit_id in unit_ids if person.email in signers[unit_id]] for person in people]
    recipient_ids = await queries.add_recipients(
        session, document.id, [(p.id, p.email, p.name) for p in people],
        ["\n".join(own) or None for own in signs_for])
    body = compose.split_body(attachments)
    body_id = await queries.add_outbox_body(session, body.tail, now=now)
    # A batch takes its numbers at its end (queries.number_at_end): what shows the number is
    # made then, while the batch holds its units' number counters (another process issuing for
    # them waits). So a new document's files are read now, not then: a Word or PDF file's
    # text takes a child process, up to index.EXTRACT_TIMEOUT.
    year_at_end = document.year if document.direction == "outgoing" and document.number is None \
        and queries.numbering_at_end(session) else None
    files = await files_text(attachments) if year_at_end is not None and not signed_off else None
    send = partial(_send, session, document, version, attachments, office=office, now=now, units=units,
                   reach=reach, signs_for=signs_for, recipient_ids=recipient_ids, body=body, body_id=body_id,
                   signed_off=signed_off, files=files)
    if year_at_end is not None:
        year = year_at_end

        async def numbered(serial: int) -> None:
            await queries.set_number(session, document, serial, number_text(unit.doc_prefix, year, serial))
            await send()
        queries.when_numbered(session, unit.id, year, numbered)
    else:
        await send()


async def _send(
    session: AsyncSession,
    document: Document,
    version: DocumentVersion,
    attachments: Sequence[ParsedAttachment],
    *,
    office: Office,
    now: datetime,
    units: Sequence[tuple[str, str]],
    reach: Reach,
    signs_for: list[list[str]],
    recipient_ids: Sequence[int],
    body: compose.SplitBody,
    body_id: int,
    signed_off: bool,
    files: str | None,
) -> None:
    """What shows the document's number: the copies, the chat notifications, the search entry
    (with `files`, its files' text, if read already), the sender's notice, the audit entry."""
    config, directory, signer = office.config, office.directory, office.signer
    unit = directory.units[document.unit_id]
    people = reach.people
    language = config.language
    tracking_url = f"{config.web.base_url}/documents/{document.id}"
    issued_at = now.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")
    issuers = [unit.name] + [directory.units[u].name for u in co_issuers_of(document) if u in directory.units]
    signer_person = directory.person(document.signer) if document.signer else None
    text_before_link = copy_text(document, version.body, unit_name="、".join(issuers),
                                 sender=directory.person(document.sender), language=language, issued_at=issued_at,
                                 attachment_names=[a.filename for a in attachments],
                                 units=[(directory.units[unit_id].name, role) for unit_id, role in units
                                        if unit_id in directory.units],
                                 signer=signer_person.display if signer_person else document.signer,
                                 url=tracking_url)
    tag = f"[{document.type}] " if document.type else ""
    subject = compose.urgent_subject(f"{tag}{document.title}（{document.number or document.incoming_number}）",
                                     document.urgency)
    from_ = compose.mailbox(unit.name, config.local_address(unit.id))
    async def copies() -> AsyncIterator[queries.OutboundCopy]:
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
                extra=[("X-Inkless-Document", str(document.id)), *compose.urgency_headers(document.urgency)],
            )
            personal = (_role_line(person, reach, language) + f"{text(language, 'copy_number')}: {index + 1:06d}\n"
                        + text_before_link
                        + _forward_hint(signs_for[index], directory, language)
                        + text(language, "ack_link", url=f"{config.web.base_url}/ack/{ack}") + "\n")
            yield queries.OutboundCopy(
                kind="document", mail_from=signer.address(Token("bounce", "d", recipient_id, person.id)),
                rcpt=person.email, headers=headers + body.head(personal), recipient_id=recipient_id)

    await queries.enqueue_made(session, copies(), count=len(people), body_id=body_id, now=now)
    excerpt = version.body.strip()[:300]
    bot_text = compose.urgent_subject("", document.urgency) + text(
        language, "bot_document", title=document.title, number=document.number or document.incoming_number,
        unit=document.source_organ or unit.name, excerpt=excerpt)
    ack_button = text(language, "bot_ack_button")
    in_chat = await chat.addresses(session, office, (person.id for person in people))  # of thousands, a few
    await chat.notify(session, office, [chat.Notification(
        person_id=person.id, key=f"document:{recipient_id}", kind="document", item=f"d{recipient_id}",
        text=bot_text, buttons=[[[ack_button, f"ack:{recipient_id}"]]])
        for person, recipient_id in zip(people, recipient_ids, strict=True) if person.id in in_chat],
        now=now, where=in_chat)
    await index_for_search(session, document, version, attachments, new=not signed_off, files=files)
    await publication.review(session, office, document, now=now, signed_off=signed_off)
    await _notify_sender(session, document, count=len(people), office=office, now=now, tracking_url=tracking_url)
    record(session, now=now, actor="inkless", action="document.issued", subject_type="document",
           subject_id=document.id, detail={"number": document.number, "recipients": len(people),
                                           "units": dict(units)})


async def number(session: AsyncSession, document: Document, version: DocumentVersion, *, office: Office,
                 now: datetime, signed_off: bool = True) -> None:
    """Make the document issued now: its number (文号) and signer (签发人) if it goes out, its
    issue date. A document issued as it comes in is numbered before its row is written, so
    the row is written once. In a batch that numbers at its end (queries.number_at_end), the
    number is left for then: issue_document makes what shows it once it is known."""
    config = office.config
    unit = office.directory.units[document.unit_id]
    if document.direction == "outgoing":
        year = now.astimezone(config.zone).year
        # 签发人: the final approver of the issuing unit's chain, or the sender without one.
        signed_by = await queries.final_approver(session, document.id, version.version, document.unit_id) \
            if signed_off else None
        document.year = year
        if not queries.numbering_at_end(session):
            document.serial = await queries.next_document_serial(session, unit.id, year)
            document.number = number_text(unit.doc_prefix, year, document.serial)
        document.signer = signed_by or document.sender
    document.status = "issued"
    document.issued_at = now
    document.issue_date = now.astimezone(config.zone).date()


def number_text(prefix: str, year: int, serial: int) -> str:
    """An outgoing document's number (文号): 办〔2026〕12号."""
    return f"{prefix}〔{year}〕{serial}号"


def co_issuers_of(document: Document) -> list[str]:
    """The units issuing a document jointly with its own (联合发文)."""
    return [unit for unit in (document.co_issuers or "").split("\n") if unit]


def _role_line(person: PersonInfo, reach: Reach, language: str) -> str:
    """A copy's first line when its reader was only copied (抄送)."""
    return text(language, "copy_only_line") + "\n\n" if person.email in reach.copy_only else ""


def _forward_hint(units: list[str], directory: Directory, language: str) -> str:
    """For a receiver of a unit with sub-units: how to forward the document down (转发)."""
    below = [child for unit in units for child in directory.subtree(unit)[1:]]
    if not below:
        return ""
    names = "、".join(directory.units[child].name for child in below[:10]) + ("…" if len(below) > 10 else "")
    return text(language, "forward_hint", units=names) + "\n"


def long_date(day: date, language: str) -> str:
    """成文日期 as written on a document: 2026年12月2日 (2 December 2026)."""
    return f"{day.year}年{day.month}月{day.day}日" if language == "zh" else f"{day.day} {day:%B} {day.year}"


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
    units: Sequence[tuple[str, str]] = (),
    signer: str | None = None,
    url: str | None = None,
) -> str:
    """The readable text of a personal copy: a short head (for a document received from
    outside, its registration), the body, the attachment list."""
    if document.direction == "incoming":
        head = [
            text(language, "incoming_intro", unit=unit_name),
            f"{text(language, 'source_organ')}: {document.source_organ or ''}",
            f"{text(language, 'source_number')}: {document.source_number or text(language, 'no_number')}",
            f"{text(language, 'incoming_number')}: {document.incoming_number}",
            f"{text(language, 'received_at')}: {issued_at}",
        ]
    else:
        head = [
            text(language, "copy_intro", unit=unit_name),
            f"{text(language, 'number')}: {document.number or text(language, 'no_number')}",
        ]
        if document.urgency:
            head.append(f"{text(language, 'urgency')}: {document.urgency}")
        if document.type:
            head.append(f"{text(language, 'type')}: {document.type}")
        head.append(f"{text(language, 'sender')}: {sender.display if sender else document.sender}")
        if signer:
            head.append(f"{text(language, 'signer')}: {signer}")
        if document.issue_date:
            head.append(f"{text(language, 'issue_date')}: {long_date(document.issue_date, language)}")
        head.append(f"{text(language, 'issued_at')}: {issued_at}")
    main = [name for name, role in units if role == "main"]
    copied = [name for name, role in units if role == "copy"]
    if main and document.direction == "outgoing":
        head.append(f"{text(language, 'main_units')}: " + "、".join(main))
    if copied:
        head.append(f"{text(language, 'copy_units')}: " + "、".join(copied))
    lines = ["\n".join(head), "", body.rstrip(), ""]
    if attachment_names:
        lines += [f"{text(language, 'attachments')}: " + "、".join(attachment_names), ""]
    if url:
        lines += [text(language, "read_online", url=url), ""]
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
