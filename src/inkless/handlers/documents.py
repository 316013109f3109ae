"""Documents (公文) and unit notices: mail to unit addresses is stored as a document, then
sent for sign-off (handlers/signoff.py) or issued at once (handlers/issue.py)."""

from __future__ import annotations

from inkless.handlers.context import Context
from inkless.handlers.issue import addressed_units, issue_document
from inkless.handlers.signoff import chain_of, start_signoff
from inkless.mail.parse import header_text
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Document, DocumentVersion


class DocumentHandler:
    """Mail to unit addresses becomes a document; without approvers it is issued at once."""

    name = "document"

    async def process(self, ctx: Context) -> None:
        sender = ctx.sender
        assert sender is not None, "the sender check runs first in the document pipeline"
        now = ctx.clock.now()
        subject = ctx.subject
        unit = ctx.directory.units[sender.home_unit]
        document = Document(
            unit_id=unit.id,
            sender=sender.email,
            type=subject.document_type(tuple(ctx.config.documents.extra_types)),
            title=subject.title or ctx.message.subject or "(无标题)",
            status="pending_approval",
            public=subject.public,
            addressed_to="\n".join(ctx.routes.units),
            inbound_id=ctx.inbound.id,
            created_at=now,
        )
        version = DocumentVersion(version=1, created_at=now, body=ctx.message.text, body_html=ctx.message.html)
        document.versions.append(version)
        document.answers_id = await _answered_request(ctx) if document.type == "批复" else None
        ctx.session.add(document)
        await ctx.session.flush()
        await queries.add_document_units(ctx.session, document.id,
                                         addressed_units(ctx.routes.units, ctx.routes.copies, ctx.directory))
        attachments = ctx.message.attachments
        await queries.add_attachments(ctx.session, version.id, [(a.filename, a.content_type, a.data) for a in attachments])
        record(ctx.session, now=now, actor=sender.email, action="document.created", subject_type="document",
               subject_id=document.id, detail={"title": document.title, "to": list(ctx.routes.main),
                                               "cc": list(ctx.routes.copies), "answers": document.answers_id})
        approvers = chain_of(document, ctx.office)
        if approvers:
            await start_signoff(ctx.session, ctx.office, document, version, approvers, now=now)
            return
        await issue_document(ctx.session, document, version, attachments, office=ctx.office, now=now)


async def _answered_request(ctx: Context) -> int | None:
    """The 请示 a 批复 answers: the one whose copy, sent to the 批复's sender, it replies to
    (In-Reply-To / References carry that copy's Message-ID and so its signed token)."""
    assert ctx.sender is not None
    for name in ("In-Reply-To", "References"):
        for value in ctx.message.message.get_all(name) or []:
            for token in ctx.signer.find_all(header_text(value)):
                if token.purpose != "reply" or token.kind != "d" or token.person != ctx.sender.id:
                    continue
                request = await queries.document_of_copy(ctx.session, token.item)
                if request is not None and request.type == "请示":
                    return request.id
    return None
