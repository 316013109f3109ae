"""Sign-off (签发): the approval chain, decided by the approvers' replies.

Each approver of a version gets a request whose reply address carries a token for that
approval (one approver, one version). The first human line of the reply decides;
the final approval numbers and issues the document, a rejection returns it to the sender,
whose reply becomes the next version and restarts the chain.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.addresses import fold_address
from inkless.chat import notify as chat
from inkless.directory import PersonInfo
from inkless.errors import Discard, Quarantine
from inkless.handlers.context import Context
from inkless.handlers.issue import issue_document
from inkless.mail import authres
from inkless.mail.autoreply import automatic_reason
from inkless.mail.parse import ParsedAttachment, header_text
from inkless.mail.reply_text import reply_text
from inkless.mail.texts import text
from inkless.mail.verdict import Verdict, read_verdict, why_unclear
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Approval, Document, DocumentVersion, Evidence
from inkless.tokens import Token


def chain_of(document: Document, office: Office) -> list[PersonInfo]:
    """The approvers of the issuing unit, in order, without the sender."""
    unit = office.directory.units[document.unit_id]
    people = [office.directory.person(email) for email in unit.approvers if email != document.sender]
    return [person for person in people if person is not None]


async def start_signoff(session: AsyncSession, office: Office, document: Document, version: DocumentVersion,
                        approvers: list[PersonInfo], *, now: datetime) -> None:
    """Create one approval row per approver of this version and ask the first."""
    rows = [Approval(document_id=document.id, version=version.version, position=position, approver=person.email,
                     person_id=person.id) for position, person in enumerate(approvers)]
    session.add_all(rows)
    document.status = "pending_approval"
    await session.flush()
    record(session, now=now, actor="inkless", action="signoff.started", subject_type="document",
           subject_id=document.id, detail={"version": version.version, "approvers": [p.email for p in approvers]})
    await ask(session, office, rows[0], document, version, now=now)


async def ask(session: AsyncSession, office: Office, approval: Approval, document: Document,
              version: DocumentVersion, *, now: datetime, reminder: bool = False) -> None:
    """Send (or remind) the approval request: the document with the instruction to reply."""
    language = office.config.language
    token = Token("reply", "a", approval.id, approval.person_id or 0)
    person = office.directory.person(approval.approver)
    sender = office.directory.person(document.sender)
    steps = await session.scalar(select(Approval.position).where(
        Approval.document_id == document.id, Approval.version == approval.version).order_by(
        Approval.position.desc()).limit(1))
    attachments = await queries.attachments_of(session, version.id)
    intro = text(language, "signoff_intro", sender=sender.display if sender else document.sender,
                 step=approval.position + 1, steps=(steps or 0) + 1)
    body = f"{intro}\n\n{document.title}\n\n{version.body.rstrip()}\n"
    subject_key = "signoff_remind_subject" if reminder else "signoff_subject"
    if approval.asked_at is None:
        approval.asked_at = now
    notice = notices.Notice(
        kind="signoff_reminder" if reminder else "signoff_request",
        unit_id=document.unit_id,
        to_email=approval.approver,
        to_name=person.name if person else None,
        subject=text(language, subject_key, title=document.title, version=approval.version),
        text=body,
        message_id=office.signer.message_id(token, suffix="remind" if reminder else ""),
        mail_from=office.signer.address(Token("bounce", "a", approval.id, approval.person_id or 0)),
        reply_to=office.signer.address(token),
        references=office.signer.message_id(token) if reminder else None,
        attachments=[ParsedAttachment(a.filename, a.content_type, a.data) for a in attachments],
    )
    buttons = chat.Notification(
        person_id=approval.person_id, key=f"approval:{approval.id}:{'remind' if reminder else 'ask'}",
        kind="approval", item=f"a{approval.id}",
        text=text(language, "bot_approval", title=document.title, version=approval.version,
                  sender=sender.display if sender else document.sender, excerpt=version.body.strip()[:300]),
        buttons=[[[text(language, "bot_approve_button"), f"ap:{approval.id}:y"],
                  [text(language, "bot_reject_button"), f"ap:{approval.id}:n"]]]) \
        if approval.person_id is not None else None
    await notices.tell(session, office, [(notice, buttons)], now=now)
    record(session, now=now, actor="inkless", action="signoff.reminded" if reminder else "signoff.asked",
           subject_type="approval", subject_id=approval.id,
           detail={"document": document.id, "version": approval.version, "approver": approval.approver})


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


async def _latest_version(session: AsyncSession, document_id: int) -> DocumentVersion:
    version = await session.scalar(select(DocumentVersion).where(DocumentVersion.document_id == document_id)
                                   .order_by(DocumentVersion.version.desc()).limit(1))
    assert version is not None
    return version


async def _answer(ctx: Context, document: Document, to: str, kind: str, subject: str, body: str,
                  token: Token) -> None:
    """An automatic answer to a person's reply, within the hourly cap (then silently skipped)."""
    now = ctx.clock.now()
    if not await notices.may_answer(ctx.session, to, kind=kind, now=now, limit=ctx.config.workflow.auto_answer_limit):
        record(ctx.session, now=now, actor="inkless", action="answer.capped", subject_type="document",
               subject_id=document.id, detail={"to": to, "kind": kind})
        return
    person = ctx.directory.person(to)
    await notices.send(ctx.session, ctx.office, notices.Notice(
        kind=kind, unit_id=document.unit_id, to_email=to, to_name=person.name if person else None,
        subject=subject, text=body, message_id=ctx.signer.message_id(token, suffix=f"answer{ctx.inbound.id}"),
        mail_from="", reply_to=ctx.signer.address(token), references=ctx.message.message_id,
        auto_replied=True), now=now)


async def handle_approval_reply(ctx: Context, token: Token) -> None:
    """An approver's reply: decide, ask again, or say it was already decided."""
    session, now, language = ctx.session, ctx.clock.now(), ctx.config.language
    approval = await session.get(Approval, token.item, with_for_update=True)
    if approval is None or approval.person_id != token.person:
        raise Quarantine(f"token names no approval {token.item}")
    document = await session.get(Document, approval.document_id, with_for_update=True)
    assert document is not None
    author = check_reply(ctx, approval.approver, f"approval {approval.id}")
    if not await queries.decidable(session, approval, document):
        decided = approval if approval.decision is not None else None
        record(session, now=now, actor=author, action="signoff.reply_after_decision", subject_type="approval",
               subject_id=approval.id, detail={"inbound": ctx.inbound.id, "status": document.status})
        await _answer(ctx, document, author, "already_decided",
                      text(language, "decided_subject", title=document.title),
                      text(language, "decided_body", version=approval.version,
                           who=_display(ctx, decided.approver if decided else document.sender),
                           at=_local(ctx, decided.decided_at if decided and decided.decided_at else now),
                           decision=text(language, f"decision_{decided.decision}") if decided and decided.decision
                           else document.status), token)
        return
    new_text = reply_text(ctx.message.text, ctx.message.html)
    verdict = read_verdict(new_text)
    if verdict.decision is None:
        record(session, now=now, actor=author, action="signoff.unclear", subject_type="approval",
               subject_id=approval.id, detail={"inbound": ctx.inbound.id, "first_line": verdict.first_line,
                                               "rule": verdict.rule})
        await _answer(ctx, document, author, "clarification", text(language, "unclear_subject", title=document.title),
                      text(language, "unclear_body", line=verdict.first_line[:200],
                           why=why_unclear(language, verdict)), token)
        return
    await decide(session, ctx.office, document, approval, verdict, channel="mail", actor=author, now=now,
                 evidence=await _evidence(ctx, approval, token, new_text, verdict, now))


async def _evidence(ctx: Context, approval: Approval, token: Token, stripped: str, verdict: Verdict,
                    now: datetime) -> Evidence:
    raw = ctx.inbound.raw or await queries.inbound_raw(ctx.session, ctx.inbound.id)  # let go of if big
    results = "\n".join(header_text(v) for v in ctx.message.message.get_all("Authentication-Results") or []) or None
    local = ctx.signer.local_part(token)
    digest = hashlib.sha256(b"\0".join([raw, (results or "").encode(), local.encode(), stripped.encode(),
                                        (verdict.decision or "").encode()])).hexdigest()
    return Evidence(approval_id=approval.id, inbound_id=ctx.inbound.id, created_at=now, raw=raw,
                    authentication_results=results, token=local, stripped_text=stripped,
                    verdict=verdict.decision or "unclear", sha256=digest)


async def decide(session: AsyncSession, office: Office, document: Document, approval: Approval, verdict: Verdict,
                 *, channel: str, actor: str, now: datetime, evidence: Evidence | None = None) -> None:
    """Record a decision and move the chain: ask the next approver, issue, or return to the sender."""
    approval.decision = verdict.decision
    approval.comment = verdict.comment
    approval.decided_at = now
    approval.channel = channel
    if evidence is not None:
        session.add(evidence)
    record(session, now=now, actor=actor, action=f"signoff.{verdict.decision}", subject_type="approval",
           subject_id=approval.id, detail={"document": document.id, "version": approval.version,
                                           "comment": verdict.comment, "channel": channel})
    await chat.settle(session, f"a{approval.id}", decided_text(office, document, approval), now=now)
    version = await _latest_version(session, document.id)
    if verdict.decision == "approve":
        following = await session.scalar(select(Approval).where(
            Approval.document_id == document.id, Approval.version == approval.version,
            Approval.position == approval.position + 1))
        if following is not None:
            await ask(session, office, following, document, version, now=now)
            return
        attachments = [ParsedAttachment(a.filename, a.content_type, a.data)
                       for a in await queries.attachments_of(session, version.id)]
        await issue_document(session, document, version, attachments, office=office, now=now)
        return
    document.status = "rejected"
    await _return_to_sender(session, office, document, approval, now=now)


def decided_text(office: Office, document: Document, approval: Approval) -> str:
    """"Decided by … at …: …", for chat messages whose buttons no longer apply."""
    language = office.config.language
    approver = office.directory.person(approval.approver)
    at = (approval.decided_at.astimezone(office.config.zone).strftime("%Y-%m-%d %H:%M")
          if approval.decided_at else "")
    return text(language, "bot_decided", title=document.title, version=approval.version,
                who=approver.display if approver else approval.approver, at=at,
                decision=text(language, f"decision_{approval.decision}") if approval.decision else "")


async def _return_to_sender(session: AsyncSession, office: Office, document: Document, approval: Approval,
                            *, now: datetime) -> None:
    language = office.config.language
    sender = office.directory.person(document.sender)
    token = Token("reply", "v", approval.id, sender.id if sender else 0)
    approver = office.directory.person(approval.approver)
    await notices.send(session, office, notices.Notice(
        kind="rejected_notice", unit_id=document.unit_id, to_email=document.sender,
        to_name=sender.name if sender else None,
        subject=text(language, "rejected_subject", title=document.title, version=approval.version),
        text=text(language, "rejected_body", title=document.title, version=approval.version,
                  approver=approver.display if approver else approval.approver,
                  comment=approval.comment or text(language, "no_comment"), next=approval.version + 1),
        message_id=office.signer.message_id(token), mail_from=office.signer.address(
            Token("bounce", "v", approval.id, sender.id if sender else 0)),
        reply_to=office.signer.address(token)), now=now)


async def handle_revision(ctx: Context, token: Token) -> None:
    """The sender's reply to a rejection: its text and attachments become the next version."""
    session, now, language = ctx.session, ctx.clock.now(), ctx.config.language
    approval = await session.get(Approval, token.item)
    if approval is None:
        raise Quarantine(f"token names no approval {token.item}")
    document = await session.get(Document, approval.document_id, with_for_update=True)
    assert document is not None
    author = check_reply(ctx, document.sender, f"returned document {document.id}")
    latest = await _latest_version(session, document.id)
    if document.status != "rejected" or latest.version != approval.version:
        record(session, now=now, actor=author, action="revision.already_received", subject_type="document",
               subject_id=document.id, detail={"inbound": ctx.inbound.id})
        await _answer(ctx, document, author, "already_decided", text(language, "decided_subject", title=document.title),
                      text(language, "decided_body", version=approval.version, who=_display(ctx, author),
                           at=_local(ctx, latest.created_at), decision=document.status), token)
        return
    body = reply_text(ctx.message.text, ctx.message.html)
    if not body and not ctx.message.attachments:
        await _answer(ctx, document, author, "clarification",
                      text(language, "revision_empty_subject", title=document.title),
                      text(language, "revision_empty_body"), token)
        return
    version = DocumentVersion(document_id=document.id, version=latest.version + 1, created_at=now, body=body,
                              body_html=None)
    session.add(version)
    await session.flush()
    if ctx.message.attachments:
        files = [(a.filename, a.content_type, a.data) for a in ctx.message.attachments]
    else:
        files = [(a.filename, a.content_type, a.data) for a in await queries.attachments_of(session, latest.id)]
    await queries.add_attachments(session, version.id, files)
    record(session, now=now, actor=author, action="document.revised", subject_type="document",
           subject_id=document.id, detail={"version": version.version, "inbound": ctx.inbound.id})
    await start_signoff(session, ctx.office, document, version, chain_of(document, ctx.office), now=now)


def _display(ctx: Context, email: str) -> str:
    person = ctx.directory.person(email)
    return person.display if person else email


def _local(ctx: Context, value: datetime) -> str:
    return value.astimezone(ctx.config.zone).strftime("%Y-%m-%d %H:%M")
