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


# A Word file whose parts inflate beyond this is not read (a zip bomb costs nothing then).
DOCX_INFLATED_LIMIT = 20 * 1024 * 1024


def _docx(data: bytes) -> str:
    import docx

    if not zipfile.is_zipfile(io.BytesIO(data)):
        return ""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if sum(info.file_size for info in archive.infolist()) > DOCX_INFLATED_LIMIT:
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


def needs_isolation(filename: str, content_type: str) -> bool:
    """Whether reading this file's text runs a parser that a crafted file can make slow or
    large (Word, PDF): it is then read in a child process with a time and memory limit."""
    name, kind = filename.lower(), content_type.split(";")[0].strip().lower()
    return kind in (DOCX, "application/pdf") or name.endswith((".docx", ".pdf"))


def _child() -> None:
    """`python -m inkless.mail.extract`: the file on standard input (its name and type as the
    first two lines), its text on standard output."""
    import resource
    import sys

    limit = 512 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    raw = sys.stdin.buffer.read()
    name, kind, data = raw.split(b"\n", 2)
    sys.stdout.buffer.write(attachment_text(name.decode("utf-8", "replace"), kind.decode("ascii", "replace"),
                                            data).encode("utf-8", "replace"))


if __name__ == "__main__":
    _child()
