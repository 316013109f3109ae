"""Classified documents (涉密公文) never travel by mail: a subject tag `[秘密]`, `[机密]`,
`[绝密]` (or `【…】`) or a ★-marked 密级 (`秘密★1年`, `机密★10年`, `绝密★长期`) in the subject
or on the body's first line marks one (SPEC §2.9)."""

from __future__ import annotations

import re
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from inkless.mail.parse import decode_bytes, decode_header_value

LEVELS = "绝密|机密|秘密"
_IN_SUBJECT = re.compile(rf"[\[【〔(（]\s*({LEVELS})\s*[\]】〕)）]|({LEVELS})\s*★")
_FIRST_LINE = re.compile(rf"^\s*[\[【]?\s*({LEVELS})\s*(?:[\]】]|★|$)")
# How much of a message the SMTP edge reads to find the first line (the opening text part).
OPENING = 64 * 1024
_TAGS = re.compile(r"<[^>]*>")
REASON = "classified documents may not be sent by mail"


def marking(subject: str, text: str) -> str | None:
    """The classification a subject or the body's first non-empty line carries, or None."""
    match = _IN_SUBJECT.search(subject)
    if match is not None:
        return match.group(1) or match.group(2)
    first = next((line for line in text.splitlines() if line.strip()), "")
    match = _FIRST_LINE.match(first[:200])
    return match.group(1) if match is not None else None


def opening_text(raw: bytes) -> tuple[str, str]:
    """The subject and the first text of a raw message, read from its first 64 KB only: what
    the SMTP edge needs to refuse a classified document before storing it."""
    message = BytesParser(policy=compat32).parsebytes(raw[:OPENING])
    subject = decode_header_value(message.get("Subject"))
    part = _first_text_part(message)
    if part is None:
        return subject, ""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else str(part.get_payload()).encode("utf-8", "surrogateescape")
    text = decode_bytes(data[:8192], part.get_content_charset())
    if part.get_content_type() == "text/html":
        text = _TAGS.sub("\n", text)
    return subject, text


def _first_text_part(message: Message) -> Message | None:
    for part in message.walk():
        if part.get_content_maintype() == "text" and part.get_content_disposition() != "attachment":
            return part
    return None
