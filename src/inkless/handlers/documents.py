"""Documents (公文) and unit notices: mail to unit addresses is stored as a document, then
sent for sign-off (handlers/signoff.py) or issued at once (handlers/issue.py)."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from inkless.errors import Discard
from inkless.handlers.answer import answer
from inkless.handlers.chains import chain_people, chains_of
from inkless.handlers.context import Context
from inkless.handlers.issue import addressed_units, issue_document, number
from inkless.handlers.signoff import start_signoff
from inkless.mail.parse import header_text
from inkless.mail.texts import text as text_of
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
            direction="outgoing",
            public=subject.public,
            urgency=subject.urgency,
            addressed_to="\n".join(ctx.routes.units),
            inbound_id=ctx.inbound.id,
            created_at=now,
        )
        co_issuers, body = await _joint(ctx, unit.id)
        document.co_issuers = "\n".join(co_issuers)
        version = DocumentVersion(version=1, created_at=now, body=body,
                                  body_html=ctx.message.html if body == ctx.message.text else None)
        document.versions.append(version)
        document.answers_id = await _answered_request(ctx) if document.type == "批复" else None
        chains = chains_of(document, ctx.office)
        if not chains:
            # Issued as it comes in: numbered first, so that its row is written once (in a batch,
            # its number comes at the batch's end: queries.number_at_end).
            await number(ctx.session, document, version, office=ctx.office, now=now, signed_off=False)
        await queries.add_document(ctx.session, document)
        units = addressed_units(ctx.routes.units, ctx.routes.copies, ctx.directory)
        await queries.add_document_units(ctx.session, document.id, units)
        attachments = ctx.message.attachments
        await queries.add_attachments(ctx.session, version.id, [(a.filename, a.content_type, a.data) for a in attachments])
        record(ctx.session, now=now, actor=sender.email, action="document.created", subject_type="document",
               subject_id=document.id, detail={"title": document.title, "to": list(ctx.routes.main),
                                               "cc": list(ctx.routes.copies), "answers": document.answers_id})
        if chains:
            await start_signoff(ctx.session, ctx.office, document, version, chains, now=now)
            return
        await issue_document(ctx.session, document, version, attachments, office=ctx.office, now=now,
                             units=units, signed_off=False)


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


# `联合发文: finance, 县教育局` on the body's first line names the co-issuing units (ids or names).
_JOINT = re.compile(r"^\s*联合发文\s*[:：]\s*(?P<units>.+?)\s*$")
_SEPARATORS = re.compile(r"[,，、;；\s]+")


async def _joint(ctx: Context, own_unit: str) -> tuple[list[str], str]:
    """The co-issuers a first line `联合发文: …` names and the body without that line; a name
    that is no unit is answered (nothing is made of the mail)."""
    text = ctx.message.text
    lines = text.lstrip("\r\n").splitlines()
    match = _JOINT.match(lines[0]) if lines else None
    if match is None:
        return [], text
    by_name = {unit.name: unit_id for unit_id, unit in ctx.directory.units.items()}
    found: list[str] = []
    unknown: list[str] = []
    for name in (name for name in _SEPARATORS.split(match.group("units")) if name):
        unit_id = name.lower() if name.lower() in ctx.directory.units else by_name.get(name)
        if unit_id is None or not chain_people(ctx.office, unit_id, co_issuer=True):
            # No such unit, or no one in it (approvers, else leaders) who could agree to it.
            unknown.append(name[:64])
        elif unit_id != own_unit and unit_id not in found:
            found.append(unit_id)
    if unknown:
        sender, language = ctx.sender, ctx.config.language
        assert sender is not None

        async def tell(session: AsyncSession) -> None:
            await answer(ctx, sender, "joint_refused",
                         text_of(language, "joint_refused_subject", title=ctx.subject.title[:200]),
                         text_of(language, "joint_refused_body", names="、".join(unknown[:20])), session=session)

        raise Discard(f"联合发文 names units that do not exist: {', '.join(unknown[:20])}", tell=tell)
    return found, "\n".join(lines[1:]).lstrip("\n") + ("\n" if text.endswith("\n") else "")
