"""Parse a raw inbound message into text, attachments and addresses, whatever its charset.

Chinese mail is often labelled with a smaller charset than it uses (GB2312 for GBK text,
Big5 for HKSCS or Microsoft's extensions), so labelled charsets are read with their
supersets. Anything that cannot be read safely raises Quarantine with the reason.
"""

from __future__ import annotations

import binascii
import email
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import errors as email_errors
from email.feedparser import BytesFeedParser
from email.header import Header, decode_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from inkless.addresses import fold_address
from inkless.errors import Quarantine
from inkless.mail import runs as base64_runs

_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
MAX_HEADER_LINE = 16 * 1024
MAX_HEADER_SECTION = 256 * 1024
MAX_MIME_DEPTH = 20
MAX_PARTS = 1000
FEED_CHUNK = 64 * 1024
# A file at least this big has its encoded text dropped from the parsed message once decoded.
RELEASE_PAYLOAD = 256 * 1024
# Parts that hold an iCalendar object, whatever the client called them (read again by calendar/).
CALENDAR_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar", "application/x-ics")
# A base64 body with nothing but the alphabet, line breaks and final padding.
_CLEAN_BASE64 = re.compile(rb"[A-Za-z0-9+/\r\n]*(?:={1,2}[\r\n]*)?")
# A subject is kept to this many characters once decoded (SPEC §7): it becomes a title that is
# stored, shown and written into every copy.
SUBJECT_LIMIT = 500
# An RFC 2047 encoded word (printable ASCII, no "?" inside its parts), looked for in headers
# that also carry raw 8-bit text: email.header leaves those undecoded.
_ENCODED_WORD = re.compile(rb"=\?[!->@-~]+\?[bBqQ]\?[!->@-~]*\?=")

# A labelled charset → the superset that actually decodes what real clients send.
CHARSET_SUPERSETS = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "euc-cn": "gb18030",
    "csgb2312": "gb18030", "gb_2312-80": "gb18030", "x-euc-cn": "gb18030",
    "big5": "big5hkscs", "x-big5": "big5hkscs", "cn-big5": "big5hkscs", "csbig5": "big5hkscs",
    "us-ascii": "utf-8", "ascii": "utf-8", "unknown-8bit": "utf-8", "x-unknown": "utf-8",
}
# Defects that mean the MIME structure itself cannot be trusted.
FATAL_DEFECTS = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.MissingHeaderBodySeparatorDefect,
)
BASE64_DEFECTS = (
    email_errors.InvalidBase64CharactersDefect,
    email_errors.InvalidBase64PaddingDefect,
    email_errors.InvalidBase64LengthDefect,
)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode text in its labelled charset (read as its superset), falling back sensibly."""
    label = (charset or "").strip().strip('"').lower()
    candidates = [CHARSET_SUPERSETS.get(label, label)] if label else []
    if label == "big5":
        candidates.append("cp950")
    candidates += ["utf-8", "gb18030"]
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeError):  # UnicodeError: codecs such as "undefined" refuse everything
            continue
    return data.decode("utf-8", errors="replace")


def decode_header_value(value: str | Header | None) -> str:
    """Decode a header: RFC 2047 encoded words in any charset, or raw 8-bit bytes."""
    if value is None:
        return ""
    try:
        # compat32 gives raw 8-bit headers as Header objects (charset unknown-8bit).
        chunks = decode_header(value)
    except email_errors.HeaderParseError:
        chunks = [(str(value), None)]
    parts = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            # compat32 keeps raw 8-bit header bytes as surrogate escapes; some accessors
            # hand back text already decoded. Both turn back into the bytes that were sent.
            chunk = chunk.encode("utf-8", errors="surrogateescape")
        parts.append(_decode_mixed(chunk) if charset == "unknown-8bit" else decode_bytes(chunk, charset))
    # Unfold, and turn any other line break or control character (a bare CR, NUL from an
    # encoded word) into a space: decoded values end up in headers Inkless writes.
    return _CONTROLS.sub(" ", re.sub(r"\s*\r?\n\s*", " ", "".join(parts))).strip()


def _decode_mixed(raw: bytes) -> str:
    """Raw 8-bit header text that may hold encoded words too (a client that writes UTF-8 and
    encodes only some words): each piece decoded on its own, and the blanks between two
    encoded words dropped (RFC 2047 §6.2)."""
    parts: list[str] = []
    position = 0
    for match in _ENCODED_WORD.finditer(raw):
        between = raw[position:match.start()]
        if position == 0 or between.strip(b" \t\r\n"):
            parts.append(decode_bytes(between, None))
        parts.append(_decode_word(match.group().decode("ascii")))
        position = match.end()
    parts.append(decode_bytes(raw[position:], None))
    return "".join(parts)


def _decode_word(word: str) -> str:
    try:
        decoded = decode_header(word)
    except (email_errors.HeaderParseError, ValueError):  # bad base64: shown as written
        return word
    return "".join(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in decoded)


@dataclass(frozen=True)
class ParsedAttachment:
    """A file from the message, byte for byte."""

    filename: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class ParsedMessage:
    """What the handlers need from a message."""

    message: Message
    message_id: str | None
    subject: str
    from_addresses: list[tuple[str, str]]
    to: list[str]
    cc: list[str]
    date: datetime | None
    text: str
    html: str | None
    attachments: list[ParsedAttachment] = field(default_factory=list)

    @property
    def sender(self) -> str | None:
        """The single header From address (ASCII letters in lower case, see addresses.py), or
        None when absent or ambiguous."""
        if len(self.from_addresses) != 1:
            return None
        return fold_address(self.from_addresses[0][1]) or None

    @property
    def sender_name(self) -> str | None:
        return self.from_addresses[0][0] or None if len(self.from_addresses) == 1 else None

    def header(self, name: str) -> str:
        return decode_header_value(self.message.get(name))


def header_text(value: str | Header) -> str:
    """A header as text, raw 8-bit bytes kept as surrogate escapes (for address parsing)."""
    if isinstance(value, str):
        return value
    return "".join(chunk.decode("ascii", errors="surrogateescape") if isinstance(chunk, bytes) else chunk
                   for chunk, _charset in decode_header(value))


def addresses(values: Sequence[str | Header]) -> list[tuple[str, str]]:
    """Display names and addresses from address headers, decoded."""
    result = []
    for name, address in getaddresses([header_text(v) for v in values]):
        if address and "@" in address:
            result.append((decode_header_value(name), address.strip()))
    return result


def _check_header_section(raw: bytes) -> None:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw if end < 0 else raw[:end]
    if len(head) > MAX_HEADER_SECTION:
        raise Quarantine(f"header section of {len(head)} bytes exceeds {MAX_HEADER_SECTION}")
    longest = max((len(line) for line in head.split(b"\n")), default=0)
    if longest > MAX_HEADER_LINE:
        raise Quarantine(f"header line of {longest} bytes exceeds {MAX_HEADER_LINE}")


def _raw_param(part: Message, header: str, name: str) -> str | None:
    """A parameter read straight from a header that carries raw 8-bit bytes."""
    value = header_text(part.get(header) or "")
    match = re.search(rf'(?:^|;)\s*{name}\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', value, re.IGNORECASE)
    if match is None:
        return None
    found = email.utils.unquote(match.group(1).strip())
    return decode_header_value(decode_bytes(found.encode("utf-8", errors="surrogateescape"), None))


def _has_8bit(part: Message, header: str) -> bool:
    return any(ord(ch) > 127 for ch in header_text(part.get(header) or ""))


def part_filename(part: Message) -> str | None:
    """A part's file name, decoded whatever its encoding, without control characters."""
    name = _raw_filename(part)
    return _CONTROLS.sub(" ", name).strip() or None if name is not None else None


def _raw_filename(part: Message) -> str | None:
    # compat32 mangles raw 8-bit parameters (common: UTF-8 or GBK file names sent unencoded).
    for header, name in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        if _has_8bit(part, header):
            found = _raw_param(part, header, name)
            if found:
                return found
    raw = part.get_param("filename", header="content-disposition")
    if raw is None:
        raw = part.get_param("name", header="content-type")
    if raw is None:
        return None
    if isinstance(raw, tuple):
        # RFC 2231: (charset, language, percent-decoded bytes as latin-1 text).
        charset, _language, value = raw
        if isinstance(value, str):
            try:
                data = value.encode("latin-1", errors="surrogateescape")
            except UnicodeEncodeError:  # not percent-decoded bytes after all: already text
                return decode_header_value(value)
        else:
            data = value
        return decode_bytes(data, charset or "utf-8")
    return decode_header_value(email.utils.unquote(raw))


def _parse_bytes(raw: bytes) -> Message:
    """email.message_from_bytes, fed a piece at a time: given the whole message at once the
    parser splits all of it into lines first, 9 times a big message's size at the peak."""
    parser = BytesFeedParser(policy=compat32)
    view = memoryview(raw)
    for start in range(0, len(raw), FEED_CHUNK):
        parser.feed(bytes(view[start:start + FEED_CHUNK]))
    return parser.close()


def _decoded_payload(part: Message, filename: str | None, runs: base64_runs.Runs | None) -> object:
    """part.get_payload(decode=True), without the library's line-by-line copies for clean
    base64 (4 times an attachment's size): the alphabet and line breaks only, whole quartets,
    padding at the end. Anything else goes the library's way, defects and all. A body taken
    out before parsing (mail/runs.py) is decoded from the message's bytes; its text is put
    back unless the part is only a big file."""
    base64 = str(part.get("content-transfer-encoding", "")).lower() == "base64"
    if part.is_multipart() or not (base64 or runs is not None):
        return part.get_payload(decode=True)
    try:
        payload = part.get_payload()
    except (LookupError, UnicodeError):  # compat32 decodes 8-bit text in the labelled charset (idna, say)
        return part.get_payload(decode=True)
    if runs is not None and isinstance(payload, str) and runs.holds(payload):
        data = runs.decoded(payload) if base64 else None
        if data is not None and len(data) >= RELEASE_PAYLOAD and _only_a_file(part, filename):
            part.set_payload("")  # its encoded text, as big as the file, is not read again
            return data
        payload = runs.restore(payload)
        part.set_payload(payload)
        if data is not None:
            return data
    if base64 and isinstance(payload, str) and payload.isascii():
        encoded = payload.encode("ascii")
        quartets = len(encoded) - encoded.count(b"\r") - encoded.count(b"\n")
        if quartets % 4 == 0 and _CLEAN_BASE64.fullmatch(encoded):
            try:
                return binascii.a2b_base64(encoded)
            except binascii.Error:  # the library says which defect
                pass
    return part.get_payload(decode=True)


def _only_a_file(part: Message, filename: str | None) -> bool:
    """Whether a part is read only as the file it holds: not text, a report, a message or a
    calendar (those are read again from the message by the handlers)."""
    return part.get_content_maintype() not in ("text", "message", "multipart") \
        and part.get_content_type() not in CALENDAR_TYPES and not (filename or "").lower().endswith(".ics")


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw bytes; raise Quarantine when the message cannot be read safely."""
    if b"\x00" in raw:
        raise Quarantine("message contains NUL bytes")
    _check_header_section(raw)
    runs = base64_runs.take_out(raw) if len(raw) >= RELEASE_PAYLOAD else None
    parsed = _read(raw, runs)
    if runs is not None and not runs.complete:  # a run the parser put where no body reads it
        parsed = _read(raw, None)
    return parsed


def _read(raw: bytes, runs: base64_runs.Runs | None) -> ParsedMessage:
    try:
        message = _parse_bytes(raw if runs is None else runs.reduced)
    except Exception as exc:  # the parser is lenient; anything it raises means unreadable input
        raise Quarantine(f"unparseable message: {type(exc).__name__}: {exc}") from None

    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[ParsedAttachment] = []
    count = 0

    def walk(part: Message, depth: int) -> None:
        nonlocal count
        count += 1
        if depth > MAX_MIME_DEPTH:
            raise Quarantine(f"MIME nesting deeper than {MAX_MIME_DEPTH}")
        if count > MAX_PARTS:
            raise Quarantine(f"more than {MAX_PARTS} MIME parts")
        for defect in part.defects:
            if isinstance(defect, FATAL_DEFECTS):
                raise Quarantine(f"malformed MIME: {type(defect).__name__}")
        if part.is_multipart():
            payload = part.get_payload()
            if not isinstance(payload, list):
                raise Quarantine("malformed MIME: multipart without parts")
            for child in payload:
                if not isinstance(child, Message):
                    raise Quarantine("malformed MIME: a part is not a message")
                walk(child, depth + 1)  # noqa: F821 (defined: walk is deleted only after the walk, see below)
            return
        content_type = part.get_content_type()
        filename = part_filename(part)
        disposition = header_text(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        data = _decoded_payload(part, filename, runs)
        if not isinstance(data, bytes):
            data = b""
        bad = [d for d in part.defects if isinstance(d, BASE64_DEFECTS)]
        if bad and (filename or content_type not in ("text/plain", "text/html")):
            raise Quarantine(f"attachment {filename or content_type}: {type(bad[0]).__name__}")
        if filename is None and disposition != "attachment" and content_type in ("text/plain", "text/html"):
            text = decode_bytes(data, part.get_content_charset())
            (text_parts if content_type == "text/plain" else html_parts).append(text)
            return
        if content_type == "message/rfc822" and filename is None:
            filename = "message.eml"
        if not _MIME_TYPE.match(content_type):
            content_type = "application/octet-stream"  # kept byte for byte, re-sent with a type that parses
        attachments.append(ParsedAttachment(filename or f"attachment-{len(attachments) + 1}", content_type, data))
        if len(data) >= RELEASE_PAYLOAD and _only_a_file(part, filename):
            part.set_payload("")  # its encoded text, as big as the file, is not read again

    try:
        walk(message, 0)
    finally:
        # walk calls itself: the closure is a reference cycle, and it holds `runs` (the whole
        # message) until the collector's oldest generation runs. Emptying its cell breaks it.
        del walk
    date = None
    if message.get("Date"):
        try:
            date = parsedate_to_datetime(str(message["Date"]))
        except (TypeError, ValueError, IndexError):
            date = None
    return ParsedMessage(
        message=message,
        message_id=(str(message.get("Message-ID") or "").strip() or None),
        subject=decode_header_value(message.get("Subject"))[:SUBJECT_LIMIT].rstrip(),
        from_addresses=addresses(message.get_all("From") or []),
        to=[address for _, address in addresses(message.get_all("To") or [])],
        cc=[address for _, address in addresses(message.get_all("Cc") or [])],
        date=date,
        text="\n".join(text_parts).replace("\r\n", "\n"),
        html="\n".join(html_parts) or None,
        attachments=attachments,
    )
