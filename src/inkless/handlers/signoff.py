"""Sign-off (签发): the approval chain, decided by the approvers' replies.

Each approver of a version gets a request whose reply address carries a token for that
approval (one approver, one version). The first human line of the reply decides;
the final approval numbers and issues the document, a rejection returns it to the sender,
whose reply becomes the next version and restarts the chain.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.addresses import fold_address
from inkless.chat import notify as chat
from inkless.errors import Discard, Quarantine
from inkless.handlers.authorship import check_reply
from inkless.handlers.chains import Chain, chains_of, refusal, same_chain
from inkless.handlers.classified import refuse_if_classified
from inkless.handlers.context import Context
from inkless.handlers.index import index as index_for_search
from inkless.handlers.issue import co_issuers_of, issue_document
from inkless.mail import compose
from inkless.mail.parse import ParsedAttachment, header_text
from inkless.mail.reply_text import reply_text
from inkless.mail.texts import text
from inkless.mail.verdict import Verdict, read_verdict, why_unclear
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Approval, Document, DocumentVersion, Evidence
from inkless.tokens import Token


async def start_signoff(session: AsyncSession, office: Office, document: Document, version: DocumentVersion,
                        chains: list[Chain], *, now: datetime) -> None:
    """Create one approval row per approver of this version and ask the first of each unit's
    chain: the units sign off in parallel, each in its order."""
    rows: list[Approval] = []
    firsts: list[Approval] = []
    for chain in chains:
        for index, person in enumerate(chain.approvers):
            row = Approval(document_id=document.id, version=version.version, position=len(rows),
                           approver=person.email, person_id=person.id, unit_id=chain.unit_id)
            rows.append(row)
            if index == 0:
                firsts.append(row)
    session.add_all(rows)
    document.status = "pending_approval"
    await session.flush()
    await index_for_search(session, document, version, [ParsedAttachment(a.filename, a.content_type, a.data)
                                                        for a in await queries.attachments_of(session, version.id)])
    record(session, now=now, actor="inkless", action="signoff.started", subject_type="document",
           subject_id=document.id, detail={"version": version.version, "approvers": [r.approver for r in rows],
                                           "units": [chain.unit_id for chain in chains]})
    for first in firsts:
        await ask(session, office, first, document, version, now=now)


async def ask(session: AsyncSession, office: Office, approval: Approval, document: Document,
              version: DocumentVersion, *, now: datetime, reminder: bool = False) -> None:
    """Send (or remind) the approval request: the document with the instruction to reply, to
    the approver and to each of their delegates (whose replies decide on their behalf)."""
    language = office.config.language
    person = office.directory.person(approval.approver)
    sender = office.directory.person(document.sender)
    steps = (await session.execute(select(Approval.position).where(
        Approval.document_id == document.id, Approval.version == approval.version, same_chain(approval))
        .order_by(Approval.position))).scalars().all()
    attachments = await queries.attachments_of(session, version.id)
    intro = text(language, "signoff_intro", sender=sender.display if sender else document.sender,
                 step=list(steps).index(approval.position) + 1 if approval.position in steps else 1,
                 steps=max(len(steps), 1))
    issuers = co_issuers_of(document)
    if issuers:
        names = "、".join(office.directory.unit_name(unit) for unit in [document.unit_id, *issuers])
        intro += "\n" + text(language, "signoff_joint", units=names,
                             unit=office.directory.unit_name(approval.unit_id or document.unit_id))
    body = f"{intro}\n\n{document.title}\n\n{version.body.rstrip()}\n"
    subject_key = "signoff_remind_subject" if reminder else "signoff_subject"
    if approval.asked_at is None:
        approval.asked_at = now
    files = [ParsedAttachment(a.filename, a.content_type, a.data) for a in attachments]
    told: list[tuple[notices.Notice, chat.Notification | None]] = []
    # A delegate who sent the document, or who is on this chain themselves, is not asked: one
    # person never signs off their own document or two steps of one chain (chains.refusal).
    chain = set((await session.execute(select(Approval.approver).where(
        Approval.document_id == document.id, Approval.version == approval.version, same_chain(approval))
    )).scalars().all())
    delegates = [office.directory.person(email) for email in (person.delegates if person else ())
                 if email != document.sender and email not in chain]
    for asked, on_behalf in [(person, False), *[(delegate, True) for delegate in delegates]]:
        if asked is None:
            continue
        token = Token("reply", "a", approval.id, asked.id)
        lead = text(language, "signoff_delegate_intro", member=person.display) + "\n" \
            if on_behalf and person is not None else ""
        notice = notices.Notice(
            kind="signoff_reminder" if reminder else "signoff_request",
            unit_id=approval.unit_id or document.unit_id,
            to_email=asked.email,
            to_name=asked.name,
            subject=text(language, subject_key, title=document.title, version=approval.version),
            text=lead + body,
            message_id=office.signer.message_id(token, suffix="remind" if reminder else ""),
            mail_from=office.signer.address(Token("bounce", "a", approval.id, asked.id)),
            reply_to=office.signer.address(token),
            references=office.signer.message_id(token) if reminder else None,
            attachments=files,
            urgency=document.urgency,
        )
        buttons = chat.Notification(
            person_id=asked.id, key=f"approval:{approval.id}:{asked.id}:{'remind' if reminder else 'ask'}",
            kind="approval", item=f"a{approval.id}",
            text=compose.urgent_subject("", document.urgency) + lead + text(
                language, "bot_approval", title=document.title, version=approval.version,
                sender=sender.display if sender else document.sender, excerpt=version.body.strip()[:300]),
            buttons=[[[text(language, "bot_approve_button"), f"ap:{approval.id}:y"],
                      [text(language, "bot_reject_button"), f"ap:{approval.id}:n"]]])
        told.append((notice, buttons))
    await notices.tell(session, office, told, now=now)
    record(session, now=now, actor="inkless", action="signoff.reminded" if reminder else "signoff.asked",
           subject_type="approval", subject_id=approval.id,
           detail={"document": document.id, "version": approval.version, "approver": approval.approver,
                   "delegates": [d.email for d in delegates if d is not None]})


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
    if approval is None:
        raise Quarantine(f"token names no approval {token.item}")
    if approval.person_id != token.person:
        # A delegate's own request: it decides only while they are still the approver's delegate.
        delegate = ctx.directory.person_by_id(token.person)
        if delegate is None or not ctx.directory.delegate_of(delegate.email, approval.approver):
            raise Discard(f"reply to approval {approval.id} on a token of person {token.person}, who is not "
                          f"{approval.approver}'s delegate (any more)")
        expected = delegate.email
    else:
        expected = approval.approver
    document = await session.get(Document, approval.document_id, with_for_update=True)
    assert document is not None
    author = check_reply(ctx, expected, f"approval {approval.id}")
    refused = await refusal(session, ctx.office, author, approval, document)
    if refused is not None:
        raise Discard(f"reply to approval {approval.id} from {author}: {refused}")
    if not await queries.decidable(session, approval, document):
        decided = approval if approval.decision is not None else None
        record(session, now=now, actor=author, action="signoff.reply_after_decision", subject_type="approval",
               subject_id=approval.id, detail={"inbound": ctx.inbound.id, "status": document.status})
        await _answer(ctx, document, author, "already_decided",
                      text(language, "decided_subject", title=document.title),
                      text(language, "decided_body", version=approval.version,
                           who=ctx.directory.display((decided.decided_by or decided.approver) if decided else document.sender),
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
    """Record a decision and move the chain: ask the unit's next approver, issue once every
    unit's chain has approved, or return it to the sender at the first rejection.

    `actor` is who decided: the approver, or one of their delegates (recorded as deciding on
    the approver's behalf, and the approver is told)."""
    approval.decision = verdict.decision
    approval.comment = verdict.comment
    approval.decided_at = now
    approval.channel = channel
    on_behalf_of = approval.approver if fold_address(actor) != fold_address(approval.approver) else None
    approval.decided_by = fold_address(actor) if on_behalf_of else None
    if evidence is not None:
        session.add(evidence)
    record(session, now=now, actor=actor, action=f"signoff.{verdict.decision}", subject_type="approval",
           subject_id=approval.id, detail={"document": document.id, "version": approval.version,
                                           "comment": verdict.comment, "channel": channel,
                                           "unit": approval.unit_id, "on_behalf_of": on_behalf_of})
    await chat.settle(session, f"a{approval.id}", decided_text(office, document, approval),
                      label=decided_label(office, approval), now=now)
    if on_behalf_of:
        await _tell_principal(session, office, document, approval, now=now)
    version = await queries.latest_version(session, document.id)
    if verdict.decision == "approve":
        following = await session.scalar(select(Approval).where(
            Approval.document_id == document.id, Approval.version == approval.version, same_chain(approval),
            Approval.position > approval.position).order_by(Approval.position).limit(1))
        if following is not None:
            await ask(session, office, following, document, version, now=now)
            return
        waiting = await session.scalar(select(func.count()).select_from(Approval).where(
            Approval.document_id == document.id, Approval.version == approval.version,
            Approval.decision.is_(None)))
        if waiting:
            return  # a co-issuer's chain is still signing off
        attachments = [ParsedAttachment(a.filename, a.content_type, a.data)
                       for a in await queries.attachments_of(session, version.id)]
        await issue_document(session, document, version, attachments, office=office, now=now)
        return
    document.status = "rejected"
    # The other units' requests no longer apply: their chat buttons say so.
    others = (await session.scalars(select(Approval).where(
        Approval.document_id == document.id, Approval.version == approval.version, Approval.decision.is_(None),
        Approval.asked_at.is_not(None)))).all()
    for other in others:
        await chat.settle(session, f"a{other.id}", decided_text(office, document, approval),
                          label=decided_label(office, approval), now=now)
    await _return_to_sender(session, office, document, approval, now=now)


async def _tell_principal(session: AsyncSession, office: Office, document: Document, approval: Approval, *,
                          now: datetime) -> None:
    """A delegate decided: the member it was for is told, by mail."""
    language = office.config.language
    member = office.directory.person(approval.approver)
    if member is None or approval.decided_by is None:
        return
    values = {"delegate": office.directory.display(approval.decided_by), "title": document.title,
              "version": approval.version, "decision": text(language, f"decision_{approval.decision}"),
              "comment": approval.comment or text(language, "no_comment"),
              "at": now.astimezone(office.config.zone).strftime("%Y-%m-%d %H:%M"),
              "url": f"{office.config.web.base_url}/documents/{document.id}"}
    await notices.send(session, office, notices.Notice(
        kind="delegate_decided", unit_id=approval.unit_id or document.unit_id, to_email=member.email,
        to_name=member.name, subject=text(language, "delegate_told_subject", **values),
        text=text(language, "delegate_told_body", **values),
        message_id=f"<inkless.a{approval.id}.delegated@{office.config.domain}>",
        mail_from=office.signer.address(Token("bounce", "a", approval.id, member.id))), now=now)


def decided_text(office: Office, document: Document, approval: Approval) -> str:
    """"Decided by … at …: …", for chat messages whose buttons no longer apply."""
    language = office.config.language
    who = office.directory.display(approval.approver)
    if approval.decided_by:
        who = text(language, "on_behalf", delegate=office.directory.display(approval.decided_by), member=who)
    at = (approval.decided_at.astimezone(office.config.zone).strftime("%Y-%m-%d %H:%M")
          if approval.decided_at else "")
    return text(language, "bot_decided", title=document.title, version=approval.version, who=who, at=at,
                decision=text(language, f"decision_{approval.decision}") if approval.decision else "")


def decided_label(office: Office, approval: Approval) -> str:
    """已同意 / 已不同意: what a WeCom card shows instead of its buttons."""
    language = office.config.language
    return text(language, "label_decided", decision=text(language, f"decision_{approval.decision}"))


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
    latest = await queries.latest_version(session, document.id)
    if document.status != "rejected" or latest.version != approval.version:
        record(session, now=now, actor=author, action="revision.already_received", subject_type="document",
               subject_id=document.id, detail={"inbound": ctx.inbound.id})
        await _answer(ctx, document, author, "already_decided", text(language, "decided_subject", title=document.title),
                      text(language, "decided_body", version=approval.version, who=ctx.directory.display(author),
                           at=_local(ctx, latest.created_at), decision=document.status), token)
        return
    body = reply_text(ctx.message.text, ctx.message.html)
    refuse_if_classified(ctx, ctx.message.subject, body)
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
    await start_signoff(session, ctx.office, document, version, chains_of(document, ctx.office), now=now)


def _local(ctx: Context, value: datetime) -> str:
    return value.astimezone(ctx.config.zone).strftime("%Y-%m-%d %H:%M")
