"""Compose outbound mail as a shared body plus per-copy headers.

A document goes to thousands of people with the same body and attachments: the body (a
complete MIME entity) is built and stored once, and each personal copy only adds its own
header block. `headers + body` is the message the relay gets.
"""

from __future__ import annotations

import binascii
import functools
import io
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from inkless.mail.parse import ParsedAttachment

LINE_LENGTH = 78
POLICY = SMTP.clone(max_line_length=LINE_LENGTH)
_MAX_LINE = 990  # RFC 5322 §2.1.1: 998 octets, less the field name


# Fields whose value is free text (RFC 5322 §3.6.5): encoded here as RFC 2047 words directly.
# The policy's folder would re-read the text as a header and decode anything in it that looks
# like an encoded word, which goes wrong on titles such as "[通知] =?utf-8?B?wg==?=".
_UNSTRUCTURED = frozenset({"subject", "comments", "x-inkless-title"})


def header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    """Fold and encode header fields (RFC 5322 / RFC 2047) into CRLF-terminated bytes.

    Values are made encodable first: text that came in undecodable (lone surrogates) would
    otherwise be left unencoded by the policy and fail here. Short plain-ASCII values (dates,
    message ids, addresses already encoded by `mailbox`) are written as they are: they need no
    folding, and a fan-out writes thousands of them.
    """
    return b"".join(_field(name, _encodable(value)) for name, value in headers)


def _field(name: str, value: str) -> bytes:
    if name.lower() in _UNSTRUCTURED:
        return _free_text(name, value)
    if _fits_plain(name, value):
        return f"{name}: {value}\r\n".encode("ascii")
    folded: str = POLICY.header_factory(name, value).fold(policy=POLICY)
    return folded.encode("ascii")


@functools.lru_cache(maxsize=256)
def _free_text(name: str, value: str) -> bytes:
    """A free-text field, folded and encoded: once per text, since every copy of a document
    carries the same subject (encoding a long one is 0.3 ms, times each recipient)."""
    text = " ".join(value.split())  # unfolded; controls such as CR and TAB become spaces
    if _fits_plain(name, text) and "=?" not in text:
        return f"{name}: {text}\r\n".encode("ascii")
    plain = text.isascii() and text.isprintable() and "=?" not in text
    folded = Header(text, "us-ascii" if plain else "utf-8", maxlinelen=LINE_LENGTH,
                    header_name=name).encode(linesep="\r\n")
    if plain and max(map(len, folded.split("\r\n"))) > _MAX_LINE:  # one word longer than a line may be
        folded = Header(text, "utf-8", maxlinelen=LINE_LENGTH, header_name=name).encode(linesep="\r\n")
    return f"{name}: {folded}\r\n".encode("ascii")


def _fits_plain(name: str, value: str) -> bool:
    return len(name) + 2 + len(value) <= LINE_LENGTH and value.isascii() and value.isprintable()


def _encodable(value: str) -> str:
    return value.encode("utf-8", errors="replace").decode("utf-8")


def body_entity(text: str, attachments: Iterable[ParsedAttachment] = ()) -> bytes:
    """A MIME entity (MIME-Version, Content-Type, …, blank line, body) for text and files."""
    attachments = list(attachments)
    if not attachments:
        # A notice without files (one per issued document, per reminder): the text part as a
        # copy's is written, with the header the email package would add, in its place.
        head, blank, body = text_part(text).partition(b"\r\n\r\n")
        return head + b"\r\nMIME-Version: 1.0" + blank + body
    message = EmailMessage(policy=POLICY)
    message.set_content(text, subtype="plain", charset="utf-8", cte="base64" if _needs_base64(text) else None)
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.data, maintype=maintype or "application",
                               subtype=subtype or "octet-stream", filename=attachment.filename)
    return message.as_bytes(policy=POLICY)


def _needs_base64(text: str) -> bool:
    # Mostly non-ASCII text (Chinese) is smaller in base64 than in quoted-printable.
    # Characters past ASCII, counted by the codec rather than one by one (once per copy).
    return len(text) - len(text.encode("ascii", "ignore")) > len(text) // 4


@dataclass(frozen=True)
class Envelope:
    """Who the relay is told the message is from and to."""

    mail_from: str
    rcpt: str


def mailbox(name: str | None, address: str) -> str:
    return formataddr((name, address)) if name else address


def urgency_headers(urgency: str | None) -> list[tuple[str, str]]:
    """What makes mail clients show an urgent (特急 / 加急) document as important."""
    return [("Importance", "high"), ("X-Priority", "1")] if urgency else []


def urgent_subject(subject: str, urgency: str | None) -> str:
    """`【特急】` in front of the subject of an urgent document's mail."""
    return f"【{urgency}】{subject}" if urgency else subject


def personal_headers(
    *,
    from_: str,
    to: str,
    subject: str,
    message_id: str,
    date: datetime,
    reply_to: str | None = None,
    receipt_to: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    auto_submitted: str = "auto-generated",
) -> bytes:
    """The header block of one personal copy (everything above the shared body)."""
    fields = [
        ("From", from_),
        ("To", to),
        ("Subject", subject),
        ("Date", _date(date)),
        ("Message-ID", message_id),
    ]
    if reply_to:
        fields.append(("Reply-To", reply_to))
    if receipt_to:
        fields.append(("Disposition-Notification-To", receipt_to))
    fields.append(("Auto-Submitted", auto_submitted))
    fields.extend(extra)
    return header_block(fields)


@functools.lru_cache(maxsize=16)
def _date(date: datetime) -> str:
    """The Date field's value: once for all the copies of a document, which share it."""
    return format_datetime(date)


@dataclass(frozen=True)
class SplitBody:
    """A multipart/mixed message cut in two: each copy's own text part goes in front of a
    tail (the encoded attachments and the closing boundary) stored once for all copies."""

    boundary: str
    tail: bytes

    def head(self, text: str) -> bytes:
        """MIME-Version, Content-Type and the personal text part, up to where the tail begins."""
        return (b"MIME-Version: 1.0\r\n"
                + f'Content-Type: multipart/mixed; boundary="{self.boundary}"\r\n\r\n'.encode()
                + f"--{self.boundary}\r\n".encode() + text_part(text) + b"\r\n")


_BASE64_TEXT_HEAD = (b'Content-Type: text/plain; charset="utf-8"\r\n'
                     b"Content-Transfer-Encoding: base64\r\n\r\n")


def text_part(text: str) -> bytes:
    """A text/plain part in UTF-8 (headers, blank line, body) without MIME-Version.

    Mostly Chinese text is written here directly in base64, as the email package would write
    it: one of these goes into every personal copy of a document, and building an EmailMessage
    for each costs more than the rest of the copy. Other text takes the package's choice of
    7bit or quoted-printable.
    """
    if not _needs_base64(text):
        part = EmailMessage(policy=POLICY)
        part.set_content(_encodable(text), subtype="plain", charset="utf-8")
        del part["MIME-Version"]
        return part.as_bytes(policy=POLICY)
    data = b"\r\n".join(text.encode("utf-8", errors="replace").splitlines()) + b"\r\n"
    # 57 bytes to a 76-character line, as the email package writes it; 57 is a multiple of 3,
    # so the lines of the whole text's base64 are the same as those of each 57 bytes.
    encoded = binascii.b2a_base64(data, newline=False)
    lines = [encoded[start:start + 76] for start in range(0, len(encoded), 76)]
    return _BASE64_TEXT_HEAD + b"\r\n".join(lines) + b"\r\n"


def split_body(attachments: Iterable[ParsedAttachment]) -> SplitBody:
    """Encode the attachments once; personal text parts are put in front per copy.

    The base64 is written straight into one buffer: the email package would hold each file
    about four times over on the way (lines, the joined text, the generator's output).
    """
    boundary = f"=_inkless_{secrets.token_hex(12)}"
    tail = io.BytesIO()
    for attachment in attachments:
        part = EmailMessage(policy=POLICY)
        maintype, _, subtype = attachment.content_type.partition("/")
        part.set_content(b"", maintype=maintype or "application", subtype=subtype or "octet-stream",
                         disposition="attachment", filename=attachment.filename, cte="base64")
        del part["MIME-Version"]
        head = part.as_bytes(policy=POLICY).split(b"\r\n\r\n", 1)[0]
        tail.write(f"--{boundary}\r\n".encode() + head + b"\r\n\r\n")
        _write_base64(tail, attachment.data)
        tail.write(b"\r\n")
    tail.write(f"--{boundary}--\r\n".encode())
    return SplitBody(boundary, tail.getvalue())


def _write_base64(out: io.BytesIO, data: bytes) -> None:
    """Base64 in CRLF-ended lines of 76 characters, a block of lines at a time."""
    view = memoryview(data)
    block = 57 * 1024  # 1024 lines
    for start in range(0, len(data), block):
        encoded = binascii.b2a_base64(view[start:start + block], newline=False)
        out.write(b"\r\n".join(encoded[line:line + 76] for line in range(0, len(encoded), 76)) + b"\r\n")


def calendar_body(text: str, calendar: str, method: str) -> bytes:
    """An iMIP body (RFC 6047 §2.4): the readable text and the text/calendar part as
    alternatives, the calendar part carrying its iTIP method as a parameter too."""
    message = EmailMessage(policy=POLICY)
    message.set_content(text, subtype="plain", charset="utf-8", cte="base64" if _needs_base64(text) else None)
    message.add_alternative(calendar, subtype="calendar", charset="utf-8", cte="base64", params={"method": method})
    for part in message.iter_parts():
        del part["MIME-Version"]
    return message.as_bytes(policy=POLICY)
