"""What a document is found by (SPEC §3 `/documents`, `q`): its numbers, source, type, title,
body, and its attachments' names and text. Kept when a version goes to sign-off and when the
document is issued (it has its number then); the attachments' text is read once per version.

Reading a Word or PDF file's text runs a parser a crafted file can make slow or huge, so it
runs in a child process with a time and memory limit (`mail/extract.py`); a file it cannot
read in time is findable by its name only."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from inkless.mail.extract import attachment_text, needs_isolation
from inkless.mail.parse import ParsedAttachment
from inkless.storage import queries
from inkless.storage.models import Document, DocumentVersion

log = logging.getLogger(__name__)
# Seconds a file's text may take to read.
EXTRACT_TIMEOUT = 20.0


async def read_text(attachment: ParsedAttachment) -> str:
    """A file's searchable text; "" when it has none or cannot be read in time."""
    if not needs_isolation(attachment.filename, attachment.content_type):
        return attachment_text(attachment.filename, attachment.content_type, attachment.data[:1_000_000])
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inkless.mail.extract", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    head = f"{attachment.filename}\n{attachment.content_type}\n".replace("\r", "").encode("utf-8", "replace")
    try:
        out, _ = await asyncio.wait_for(child.communicate(head + attachment.data), EXTRACT_TIMEOUT)
    except TimeoutError:
        child.kill()
        await child.wait()
        log.info("text of attachment %r not read within %.0f s", attachment.filename[:80], EXTRACT_TIMEOUT)
        return ""
    return out.decode("utf-8", "replace") if child.returncode == 0 else ""


async def files_text(attachments: Sequence[ParsedAttachment]) -> str:
    """What a version's files are found by: their names and text."""
    parts = []
    for attachment in attachments:
        parts += [attachment.filename, await read_text(attachment)]
    return "\n".join(part for part in parts if part)


async def index(session: AsyncSession, document: Document, version: DocumentVersion,
                attachments: Sequence[ParsedAttachment], *, new: bool = False, files: str | None = None) -> None:
    """Keep what this version of the document is found by; its files' text is read only when
    the version is new to the index (new: the document was made in this transaction, so it
    is, without looking), unless the caller read it already (`files`, from files_text)."""
    head = "\n".join(part for part in (document.number, document.incoming_number, document.source_number,
                                       document.source_organ, document.type, document.title, version.body) if part)
    if files is None and not new:
        files = await queries.indexed_files(session, document.id, version.version)
    if files is None:
        files = await files_text(attachments)
    await queries.index_document(session, document.id, version.version, head, files)
