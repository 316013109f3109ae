"""Reminders and escalation of pending sign-offs, counted in working days."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.handlers.signoff import ask
from inkless.mail.texts import text
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Approval, Document, DocumentUnit, DocumentVersion, Recipient
from inkless.tokens import Token
from inkless.workdays import add_working_days, add_working_hours, office_hours


def _due(office: Office, since: datetime, days: int, document: Document) -> datetime:
    """When a wait that began at `since` is over: `days` working days, or for a 特急/加急
    document `urgent_remind_after_hours` office hours (SPEC §2.9)."""
    workflow, zone = office.config.workflow, office.config.zone
    if document.urgency:
        return add_working_hours(since, workflow.urgent_remind_after_hours, zone, office_hours(workflow.working_hours))
    return add_working_days(since, days, zone)


async def _claim(session: AsyncSession, approval_id: int, column: str, now: datetime) -> bool:
    """Mark a reminder step done; only one process (or run) ever wins it."""
    result = await session.execute(update(Approval).where(
        Approval.id == approval_id, getattr(Approval, column).is_(None), Approval.decision.is_(None)
    ).values({column: now}))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def remind_approvals(session: AsyncSession, office: Office, *, now: datetime) -> int:
    """Remind approvers silent for `approval_remind_after` working days, then escalate to leaders."""
    days = office.config.workflow.approval_remind_after
    latest = select(func.max(DocumentVersion.version)).where(
        DocumentVersion.document_id == Approval.document_id).scalar_subquery()
    rows = (await session.execute(
        select(Approval, Document).join(Document, Document.id == Approval.document_id).where(
            Approval.decision.is_(None), Approval.asked_at.is_not(None), Approval.escalated_at.is_(None),
            Document.status == "pending_approval", Approval.version == latest))).all()
    acted = 0
    for approval, document in rows:
        assert approval.asked_at is not None
        if approval.reminded_at is None:
            if now >= _due(office, approval.asked_at, days, document) and \
                    await _claim(session, approval.id, "reminded_at", now):
                version = await session.scalar(select(DocumentVersion).where(
                    DocumentVersion.document_id == document.id, DocumentVersion.version == approval.version))
                assert version is not None
                await ask(session, office, approval, document, version, now=now, reminder=True)
                acted += 1
        elif now >= _due(office, approval.reminded_at, days, document) and \
                await _claim(session, approval.id, "escalated_at", now):
            await _escalate(session, office, approval, document, now=now)
            acted += 1
    return acted


async def _escalate(session: AsyncSession, office: Office, approval: Approval, document: Document, *,
                    now: datetime) -> None:
    language = office.config.language
    approver = office.directory.person(approval.approver)
    leaders = office.directory.leaders_above(approval.unit_id or document.unit_id, besides=approval.approver)
    assert approval.asked_at is not None
    values = {"approver": approver.display if approver else approval.approver, "title": document.title,
              "version": approval.version, "unit": office.directory.units[document.unit_id].name,
              "asked_at": approval.asked_at.astimezone(office.config.zone).strftime("%Y-%m-%d %H:%M"),
              "url": f"{office.config.web.base_url}/documents/{document.id}"}
    for leader in leaders:
        await notices.send(session, office, notices.Notice(
            kind="signoff_escalation", unit_id=document.unit_id, to_email=leader.email, to_name=leader.name,
            subject=text(language, "signoff_escalate_subject", **values),
            text=text(language, "signoff_escalate_body", **values),
            message_id=f"<inkless.a{approval.id}.escalated.p{leader.id}@{office.config.domain}>",
            mail_from=office.signer.address(Token("bounce", "a", approval.id, leader.id)),
            urgency=document.urgency), now=now)
    record(session, now=now, actor="inkless", action="signoff.escalated", subject_type="approval",
           subject_id=approval.id, detail={"to": [leader.email for leader in leaders]})


async def remind_silent(session: AsyncSession, office: Office, *, now: datetime) -> int:
    """`ack_remind_after` working days after issue: one reminder to each recipient who has not
    acknowledged, and one digest to the sender of who is still silent."""
    config = office.config
    candidates = (await session.scalars(select(Document).where(
        Document.status == "issued", Document.silent_digest_at.is_(None), Document.issued_at.is_not(None)))).all()
    acted = 0
    for document in candidates:
        assert document.issued_at is not None
        if now < _due(office, document.issued_at, config.workflow.ack_remind_after, document):
            continue
        claimed = await session.execute(update(Document).where(
            Document.id == document.id, Document.silent_digest_at.is_(None)).values(silent_digest_at=now))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        silent = (await session.scalars(select(Recipient).where(
            Recipient.document_id == document.id, Recipient.acknowledged_at.is_(None), Recipient.failed.is_(False),
            Recipient.ack_reminded_at.is_(None)).order_by(Recipient.id))).all()
        units = (await queries.units_of(session, [document.id]))[document.id]
        unsigned = [unit for unit in units if unit.acknowledged_at is None]
        for recipient in silent:
            recipient.ack_reminded_at = now
            theirs = [unit for unit in unsigned if unit.unit_id in (recipient.signs_for or "").split("\n")]
            await _remind_recipient(session, office, document, recipient, theirs, now=now)
        if silent:
            await _digest_to_sender(session, office, document, list(silent), unsigned, now=now)
            record(session, now=now, actor="inkless", action="receipt.reminded", subject_type="document",
                   subject_id=document.id, detail={"silent": len(silent)})
            acted += 1
    return acted


async def _remind_recipient(session: AsyncSession, office: Office, document: Document, recipient: Recipient,
                            unsigned: list[DocumentUnit], *, now: datetime) -> None:
    """A reminder to one silent recipient; to a receiver, also which of their units has not
    signed for it yet."""
    language, config, signer = office.config.language, office.config, office.signer
    units = text(language, "ack_remind_units", units="、".join(office.directory.unit_name(u.unit_id) for u in unsigned)) \
        if unsigned else ""
    person_id = recipient.person_id or 0
    ack = signer.local_part(Token("ack", "d", recipient.id, person_id))
    reply = Token("reply", "d", recipient.id, person_id)
    await notices.send(session, office, notices.Notice(
        kind="ack_reminder", unit_id=document.unit_id, to_email=recipient.email, to_name=recipient.name,
        subject=text(language, "ack_remind_subject", title=document.title,
                     number=document.number or document.incoming_number),
        text=units + text(language, "ack_remind_body", title=document.title,
                          number=document.number or document.incoming_number, url=f"{config.web.base_url}/ack/{ack}"),
        message_id=signer.message_id(reply, suffix="remind"), references=signer.message_id(reply),
        mail_from=signer.address(Token("bounce", "d", recipient.id, person_id)),
        reply_to=signer.address(reply), urgency=document.urgency), now=now)


async def _digest_to_sender(session: AsyncSession, office: Office, document: Document, silent: list[Recipient],
                            silent_units: list[DocumentUnit], *, now: datetime) -> None:
    sender = office.directory.person(document.sender)
    if sender is None:
        return
    language = office.config.language
    names = "\n".join(f"  {r.name or ''} <{r.email}>" for r in silent)
    units_text = text(language, "silent_units", units="\n".join(
        f"  {office.directory.unit_name(unit.unit_id)}（{text(language, 'copy_units' if unit.role == 'copy' else 'main_units')}）"
        for unit in silent_units)) if silent_units else ""
    await notices.send(session, office, notices.Notice(
        kind="silent_digest", unit_id=document.unit_id, to_email=sender.email, to_name=sender.name,
        subject=text(language, "silent_digest_subject", title=document.title, count=len(silent)),
        text=text(language, "silent_digest_body", title=document.title,
                  number=document.number or document.incoming_number, names=names,
                  units=units_text,
                  count=len(silent), url=f"{office.config.web.base_url}/documents/{document.id}?show=unacknowledged"),
        message_id=f"<inkless.d{document.id}.silent@{office.config.domain}>",
        mail_from=office.signer.address(Token("bounce", "n", document.id, sender.id))), now=now)
