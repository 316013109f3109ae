"""政务公开 only after review (SPEC §3 `/public`): a [公开] document is public once it was signed
off; one from a unit without approvers is held until one of the unit's leaders confirms
publication, by replying to the request or on the desk."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.directory import PersonInfo
from inkless.errors import Discard, Quarantine
from inkless.handlers.answer import answer
from inkless.handlers.authorship import check_reply
from inkless.handlers.context import Context
from inkless.mail.reply_text import reply_text
from inkless.mail.texts import text
from inkless.mail.verdict import read_verdict, why_unclear
from inkless.office import Office
from inkless.storage.audit import record
from inkless.storage.models import Approval, Document
from inkless.tokens import Token


def confirmers(office: Office, document: Document) -> list[PersonInfo]:
    """Who may confirm a held document's publication: its unit's leaders other than its sender
    (failing those, the nearest leaders above): never the sender alone."""
    return office.directory.leaders_above(document.unit_id, besides=document.sender)


async def review(session: AsyncSession, office: Office, document: Document, *, now: datetime,
                 signed_off: bool = True) -> None:
    """At issue: a [公开] document that was signed off is public now; one that was not is held,
    and its unit's leaders are asked to confirm (signed_off=False: it went to no sign-off, so
    there is no approval to look for)."""
    if not document.public:
        return
    # Reviewed by its own unit's sign-off (a co-issuer's approval does not review it for this unit).
    reviewer = await session.scalar(select(Approval.approver).where(
        Approval.document_id == document.id, Approval.decision == "approve",
        or_(Approval.unit_id == document.unit_id, Approval.unit_id.is_(None))).order_by(Approval.decided_at.desc())
        .limit(1)) if signed_off else None
    if reviewer is not None:
        document.published_at, document.published_by = now, reviewer
        return
    language = office.config.language
    asked = confirmers(office, document)
    if not asked:
        # No leader but the sender, none above: held, and the sender is told who could publish it.
        sender = office.directory.person(document.sender)
        if sender is not None:
            await notices.send(session, office, notices.Notice(
                kind="publication_unreviewed", unit_id=document.unit_id, to_email=sender.email, to_name=sender.name,
                subject=text(language, "publish_subject", title=document.title),
                text=text(language, "publish_nobody", title=document.title),
                message_id=f"<inkless.d{document.id}.unpublished@{office.config.domain}>",
                mail_from=office.signer.address(Token("bounce", "n", document.id, sender.id))), now=now)
    for leader in asked:
        token = Token("reply", "p", document.id, leader.id)
        await notices.send(session, office, notices.Notice(
            kind="publication_request", unit_id=document.unit_id, to_email=leader.email, to_name=leader.name,
            subject=text(language, "publish_subject", title=document.title),
            text=text(language, "publish_body", title=document.title, number=document.number,
                      url=f"{office.config.web.base_url}/documents/{document.id}"),
            message_id=office.signer.message_id(token), mail_from=office.signer.address(
                Token("bounce", "p", document.id, leader.id)), reply_to=office.signer.address(token)), now=now)
    record(session, now=now, actor="inkless", action="publication.held", subject_type="document",
           subject_id=document.id, detail={"asked": [leader.email for leader in asked]})


async def confirm(session: AsyncSession, office: Office, document: Document, actor: str, *, publish: bool,
                  channel: str, now: datetime) -> bool:
    """A leader's answer on a held document: publish it (or keep it from the public). False when
    there was nothing to decide (not held any more, or not theirs)."""
    if not document.public or document.published_at is not None or document.status != "issued":
        return False
    if actor not in {leader.email for leader in confirmers(office, document)}:
        return False
    if publish:
        document.published_at, document.published_by = now, actor
    else:
        document.public = False  # 不予公开: the leader's review keeps it from the public
    record(session, now=now, actor=actor, action="publication.confirmed" if publish else "publication.refused",
           subject_type="document", subject_id=document.id, detail={"channel": channel})
    return True


async def handle_publication_reply(ctx: Context, token: Token) -> None:
    """A leader's reply to a publication request: 同意 publishes, 不同意 keeps it from the public."""
    document = await ctx.session.get(Document, token.item, with_for_update=True)
    leader = ctx.directory.person_by_id(token.person)
    if document is None or leader is None:
        raise Quarantine(f"token names no held document {token.item}")
    author = check_reply(ctx, leader.email, f"publication of document {document.id}")
    verdict = read_verdict(reply_text(ctx.message.text, ctx.message.html))
    if verdict.decision is None:
        language = ctx.config.language
        await answer(ctx, leader, "clarification", text(language, "publish_subject", title=document.title),
                     text(language, "publish_unclear", why=why_unclear(language, verdict)),
                     token=token)
        return
    if not await confirm(ctx.session, ctx.office, document, author, publish=verdict.decision == "approve",
                         channel="mail", now=ctx.clock.now()):
        raise Discard(f"publication of document {document.id} by {author}: nothing to decide")
