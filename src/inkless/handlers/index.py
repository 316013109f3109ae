"""What a document is found by (SPEC §3 `/documents`, `q`): its numbers, source, type, title,
body, and its attachments' names and text. Kept when a version goes to sign-off and when
the document is issued (it has its number then)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from inkless.mail.extract import attachment_text
from inkless.mail.parse import ParsedAttachment
from inkless.storage import queries
from inkless.storage.models import Document, DocumentVersion

# Files larger than this in all are read for their text in a thread: SMTP sessions go on.
IN_THREAD = 256 * 1024


async def index(session: AsyncSession, document: Document, version: DocumentVersion,
                attachments: Sequence[ParsedAttachment]) -> None:
    """Keep what this version of the document is found by."""
    head = [document.number, document.incoming_number, document.source_number, document.source_organ,
            document.type, document.title, version.body]

    def content() -> str:
        parts = [part for part in head if part]
        for attachment in attachments:
            parts += [attachment.filename, attachment_text(attachment.filename, attachment.content_type,
                                                           attachment.data)]
        return "\n".join(part for part in parts if part)

    size = sum(len(attachment.data) for attachment in attachments)
    await queries.index_document(session, document.id, await asyncio.to_thread(content) if size > IN_THREAD
                                 else content())
