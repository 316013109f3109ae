"""Classified documents (涉密公文) never travel by mail: a subject tag `[秘密]`, `[机密]`,
`[绝密]` (any bracket, simplified or traditional characters) or a ★-marked 密级 (`秘密★1年`,
`机密★10年`, `绝密★长期`), or a `密级：机密` line, in the subject or the first lines of the
body (the 版头: a 份号 may stand above the 密级) marks one (SPEC §2.9)."""

from __future__ import annotations

import html
import itertools
import logging
import re
import unicodedata
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from inkless.mail.parse import decode_bytes, decode_header_value

log = logging.getLogger(__name__)

LEVELS = "绝密|机密|秘密|絕密|機密|祕密"
_OPEN, _CLOSE = r"[\[【〔(（［〖]", r"[\]】〕)）］〗]"
_IN_SUBJECT = re.compile(rf"{_OPEN}\s*({LEVELS})\s*{_CLOSE}|({LEVELS})\s*★")
_HEAD_LINE = re.compile(rf"^\s*(?:{_OPEN}\s*)?(?:密级\s*[:：]\s*)?({LEVELS})\s*(?:{_CLOSE}|★|$)")
# The lines of a 版头 that may stand above the 密级: a 份号, the 联合发文 instruction.
_ABOVE = re.compile(r"^\s*(\d{1,8}|联合发文\s*[:：].*)\s*$")
HEAD_LINES = 5
# How much of a message the SMTP edge reads to find the first lines (the opening text part),
# and how many MIME parts it walks there: a message nested deeper is left to the pipeline.
OPENING = 64 * 1024
MAX_PARTS = 20
_TAGS = re.compile(r"<(head|style|script)\b.*?</\1\s*>|<[^>]{0,2000}>", re.IGNORECASE | re.DOTALL)
REASON = "classified documents may not be sent by mail"


def _plain(text: str) -> str:
    """Compatibility forms folded (full-width brackets, ideograph variants) and invisible
    format characters (zero-width spaces, joiners) taken out."""
    if text.isascii():  # NFKC leaves ASCII as it is, and no format character is ASCII
        return text
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) != "Cf")


def marking(subject: str, text: str, html_text: str | None = None) -> str | None:
    """The classification a subject or the body's first lines carry, or None."""
    match = _IN_SUBJECT.search(_plain(subject[:2000]))
    if match is not None:
        return match.group(1) or match.group(2)
    for body in (text, html_to_text(html_text) if html_text else ""):
        level = _head_marking(body)
        if level is not None:
            return level
    return None


def _head_marking(text: str) -> str | None:
    # Only the first lines are folded: the SMTP edge looks at every message to units, and
    # folding all of a 20 KB opening was a fifth of its time per message.
    firsts = itertools.islice((line for line in text[:20_000].splitlines() if line.strip()), HEAD_LINES)
    lines = [_plain(line[:200]) for line in firsts]
    for line in lines:
        match = _HEAD_LINE.match(line)
        if match is not None:
            return match.group(1)
        match = _IN_SUBJECT.search(line)
        if match is not None and match.group(2):
            return match.group(2)
        if not _ABOVE.match(line):
            break
    return None


def html_to_text(markup: str) -> str:
    """The visible text of an HTML body, enough to read its first lines."""
    return html.unescape(_TAGS.sub("\n", markup[:20_000]))


def opening_text(raw: bytes) -> tuple[str, str, str | None]:
    """The subject and the first text (plain and HTML) of a raw message, read from its first
    64 KB only: what the SMTP edge needs to refuse a classified document before storing it.
    A message it cannot read so cheaply gives no text here; the pipeline checks it whole."""
    prefix = raw[:OPENING]
    try:
        message = BytesParser(policy=compat32).parsebytes(prefix, headersonly=True)
        subject = decode_header_value(message.get("Subject"))
        if prefix.lower().count(b"multipart/") > MAX_PARTS:
            return subject, "", None
        if message.get_content_maintype() not in ("multipart", "message"):
            # One part: the headers read above hold its text as it is (the SMTP edge reads
            # every message to units; a second parse was a tenth of its time per message).
            if isinstance(message.get_payload(), str):
                kind = message.get_content_type()
                readable = message.get_content_disposition() != "attachment"
                return (subject, _decoded(message) if readable and kind == "text/plain" else "",
                        _decoded(message) if readable and kind == "text/html" else None)
        message = BytesParser(policy=compat32).parsebytes(prefix)
        plain = _first_part(message, "text/plain")
        rich = _first_part(message, "text/html")
        return subject, _decoded(plain) if plain else "", _decoded(rich) if rich and not plain else None
    except Exception:  # any malformed structure: the pipeline parses the whole message
        log.debug("classification pre-check could not read the message", exc_info=True)
        return "", "", None


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else str(part.get_payload()).encode("utf-8", "surrogateescape")
    return decode_bytes(data[:8192], part.get_content_charset())


def _first_part(message: Message, kind: str) -> Message | None:
    for index, part in enumerate(message.walk()):
        if index > MAX_PARTS:
            return None
        if part.get_content_type() == kind and part.get_content_disposition() != "attachment":
            return part
    return None
