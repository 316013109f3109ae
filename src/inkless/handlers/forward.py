"""Forwarding a document down (转发, SPEC §2.8): a receiver's `转发` makes a child document of
their unit — `关于转发《title》的通知`, the original as an attachment, linked to it — which goes
through that unit's sign-off and numbering like any document and reaches its sub-units (or
the units named). The mail reply (handlers/receipts.py) and the desk ask alike."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from inkless.directory import Directory
from inkless.handlers.chains import chains_of
from inkless.handlers.issue import issue_document
from inkless.handlers.signoff import start_signoff
from inkless.mail.parse import ParsedAttachment
from inkless.mail.texts import text
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Document, DocumentVersion, Recipient

# `转发` alone on the first line, or `转发：unit-a, unit-b`; instructions on the lines after it.
_FORWARD = re.compile(r"^\s*(?:转发|forward)\s*(?:[:：]\s*(?P<units>[^\n]*))?$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[,，、;；\s]+")
INSTRUCTIONS_LIMIT = 1000
UNITS_LIMIT = 100
LINE_LIMIT = 4000


@dataclass(frozen=True)
class ForwardRequest:
    """What a receiver asked: the units named (none: all sub-units) and their instructions."""

    units: tuple[str, ...]
    instructions: str


def read_forward(reply: str) -> ForwardRequest | None:
    """A reply's own text as a request to forward, or None when it does not ask for one."""
    lines = reply.strip()[:INSTRUCTIONS_LIMIT * 4].splitlines()
    if not lines:
        return None
    match = _FORWARD.match(lines[0][:LINE_LIMIT])
    if match is None:
        return None
    units = tuple(name[:64] for name in _SEPARATORS.split(match.group("units") or "") if name)[:UNITS_LIMIT]
    instructions = "\n".join(lines[1:]).strip()[:INSTRUCTIONS_LIMIT]
    return ForwardRequest(units, instructions)


@dataclass(frozen=True)
class Forwarded:
    """The outcome: the child document, or why there is none (a text for the receiver)."""

    child: Document | None
    refusal: str | None = None


def _resolve(names: tuple[str, ...], below: list[str], directory: Directory) -> tuple[list[str], list[str]]:
    """Named units (ids or names) among those below; (found, not found)."""
    by_name = {directory.units[unit].name: unit for unit in below}
    found, unknown = [], []
    for name in names:
        unit = name.lower() if name.lower() in below else by_name.get(name)
        if unit is None:
            unknown.append(name)
        elif unit not in found:
            found.append(unit)
    return found, unknown


async def forward_down(session: AsyncSession, office: Office, recipient: Recipient, request: ForwardRequest, *,
                       now: datetime, channel: str) -> Forwarded:
    """Make the child document for the unit this recipient signs for, or say why not."""
    directory, language = office.directory, office.config.language
    # The original is locked while its forwards are looked at, so two receivers of one unit
    # pressing at once make one forward, not two.
    document = await session.get(Document, recipient.document_id, with_for_update=True)
    person = directory.person(recipient.email)
    assert document is not None
    # The units they signed for at issue that they still sign for (a receiver may have left).
    units = [unit for unit in (recipient.signs_for or "").split("\n")
             if unit in directory.units and person is not None and directory.signs_for(person, [unit])]
    if person is None or not units:
        return Forwarded(None, text(language, "forward_not_receiver"))
    # Of the units they sign for, the first with units below it.
    unit_id = next((unit for unit in units if directory.subtree(unit)[1:]), units[0])
    unit = directory.units[unit_id]
    earlier = [child for child in await queries.children_of(session, [document.id]) if child.unit_id == unit_id]
    if earlier:
        return Forwarded(None, text(language, "forward_twice", unit=unit.name, child=earlier[0].title,
                                    at=earlier[0].created_at.astimezone(office.config.zone).strftime("%Y-%m-%d %H:%M")))
    below = directory.subtree(unit_id)[1:]
    if request.units:
        targets, unknown = _resolve(request.units, below, directory)
        if unknown:
            return Forwarded(None, text(language, "forward_unknown_units", unit=unit.name, names="、".join(unknown)))
    else:
        targets = [child for child in below if directory.units[child].parent == unit_id]
    if not targets:
        return Forwarded(None, text(language, "forward_no_units", unit=unit.name))

    original = await queries.latest_version(session, document.id)
    number = document.number or document.source_number or document.incoming_number or ""
    organ = document.source_organ or directory.units[document.unit_id].name
    child = Document(
        unit_id=unit_id, sender=person.email, type="通知",
        title=text(language, "forward_title", title=document.title)[:500], status="pending_approval",
        public=False, addressed_to="\n".join(targets), parent_id=document.id, created_at=now)
    body = text(language, "forward_body", units="、".join(directory.units[t].name for t in targets), organ=organ,
                title=document.title, number=number, unit=unit.name,
                instructions=request.instructions or text(language, "forward_default_instructions"))
    version = DocumentVersion(version=1, created_at=now, body=body, body_html=None)
    child.versions.append(version)
    await queries.add_document(session, child)
    safe_title = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", document.title[:80])
    files = [ParsedAttachment(text(language, "forward_original_name", title=safe_title),
                              "text/plain; charset=utf-8", original.body.encode("utf-8"))]
    files += [ParsedAttachment(a.filename, a.content_type, a.data)
              for a in await queries.attachments_of(session, original.id)]
    await queries.add_attachments(session, version.id, [(f.filename, f.content_type, f.data) for f in files])
    await queries.add_document_units(session, child.id, [(target, "main") for target in targets])
    record(session, now=now, actor=person.email, action="document.forwarded", subject_type="document",
           subject_id=document.id, detail={"child": child.id, "unit": unit_id, "to": targets, "channel": channel})
    chains = chains_of(child, office)
    if chains:
        await start_signoff(session, office, child, version, chains, now=now)
    else:
        await issue_document(session, child, version, files, office=office, now=now)
    return Forwarded(child)
