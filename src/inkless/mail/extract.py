"""The text inside attachments, for search: Word documents (python-docx), PDF text where the
file has it (pypdf), plain text in any charset. Anything unreadable gives no text, never an
error: a file that cannot be searched is still a file."""

from __future__ import annotations

import io
import logging
import zipfile

from inkless.mail.parse import decode_bytes

log = logging.getLogger(__name__)

# Text kept per file: enough to find a document by a word from its attachment.
TEXT_LIMIT = 200_000
# Pages of a PDF read: a long report's opening pages carry its words.
PDF_PAGES = 50
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def attachment_text(filename: str, content_type: str, data: bytes) -> str:
    """The searchable text of one file ("" when it has none or cannot be read)."""
    name = filename.lower()
    kind = content_type.split(";")[0].strip().lower()
    try:
        if kind == DOCX or name.endswith(".docx"):
            return _docx(data)[:TEXT_LIMIT]
        if kind == "application/pdf" or name.endswith(".pdf"):
            return _pdf(data)[:TEXT_LIMIT]
        if kind.startswith("text/") or name.endswith(".txt"):
            return decode_bytes(data[: TEXT_LIMIT * 4], None)[:TEXT_LIMIT]
    except Exception:  # a damaged or hostile file: no text, the document is still kept
        log.info("no text read from attachment %r (%s)", filename[:80], kind, exc_info=True)
    return ""


def _docx(data: bytes) -> str:
    import docx

    if not zipfile.is_zipfile(io.BytesIO(data)):
        return ""
    document = docx.Document(io.BytesIO(data))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(part for part in parts if part)


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    texts = []
    for page in reader.pages[:PDF_PAGES]:
        texts.append(page.extract_text() or "")
        if sum(map(len, texts)) > TEXT_LIMIT:
            break
    return "\n".join(texts)
